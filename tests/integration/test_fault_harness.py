"""The harness never blames the target (issue 11 §2), against real servers:

* toxics of different faults (a user's network_timeout, the run-wide instability) and of the same fault
  twice never collide on the fault proxy;
* a failure of the harness's own machinery (the fault proxy's API gone) is a harness error — the run
  stops with exit code 1 — never a critical failure;
* a condition's recovery is owed from its lift and only by users that failed while it was on; a user
  with nothing to do owes nothing.
"""

import locust  # noqa: F401,I001  (gevent patching first)

import contextlib
import time
from functools import partial

import gevent
import pytest
from locust import HttpUser, constant, task
from locust.env import Environment

from stresskit.faults.admin import TargetAdmin
from stresskit.faults.conditions import conditions_of
from stresskit.faults.config import FaultConfig
from stresskit.faults.effects.network import timeout_via_proxy
from stresskit.faults.injector import FaultInjector
from stresskit.faults.log import attach_log
from stresskit.faults.proxy import start_fault_proxy
from stresskit.faults.recovery import announce_recovery, start_conditions
from stresskit.core.idle import idle
from stresskit.core.runstate import run_state_of
from stresskit.users.api import ApiUser, Endpoint
from tests.conftest import ADMIN_TOKEN
from tests.support.wait import wait_for as poll_until

pytestmark = pytest.mark.timeout(120)

wait_for = partial(poll_until, timeout=30.0)


class Items(ApiUser):
    wait_time = constant(0.02)
    network_timeout = 0.5
    connection_timeout = 0.5
    endpoints = (Endpoint("GET", "/api/items?limit=5", name="/api/items"),)


def start(host, config, users=1, user_class=Items):
    env = Environment(user_classes=[user_class], host=host)
    runner = env.create_local_runner()
    log = attach_log(env)
    injector = FaultInjector(env, config)
    runner.start(users, spawn_rate=100)
    return env, runner, log, injector


def users_of(runner):
    return [g.args[0] for g in runner.user_greenlets]


def count(env, name, kind, failures=False):
    entry = env.stats.entries.get((name, kind))
    return 0 if entry is None else (entry.num_failures if failures else entry.num_requests)


def test_toxics_of_different_faults_and_of_the_same_fault_twice_never_collide(target, tmp_path):
    proxy = start_fault_proxy(f"127.0.0.1:{target.port}", workdir=tmp_path)
    client = proxy.client()
    env = Environment(user_classes=[])
    env.create_local_runner()
    attach_log(env)
    try:
        # the run-wide instability: its latency toxic for the test, and a blackhole window every period
        start_conditions(env, FaultConfig(duration=1.5, proxy_api=proxy.api, conditions=("network_instability",)),
                         period=1.0)
        wait_for(lambda: len(client.toxics("target")) == 3, what="the instability's blackhole window")
        # a user's network_timeout and the same fault from a second worker, during that window
        first = timeout_via_proxy(client, "target", 1.0)
        second = timeout_via_proxy(client, "target", 1.0)
        names = [t["name"] for t in client.toxics("target")]
        assert len(names) == 7 and len(set(names)) == 7, names
        first.release()
        second.release()
        assert len(client.toxics("target")) <= 3
    finally:
        env.events.test_stop.fire(environment=env)
        for driver in getattr(env, "_stresskit_conditions", []):
            driver.remove()
        proxy.stop()
    assert conditions_of(env).harness_errors == [] and run_state_of(env).critical_failures == 0


def test_a_fault_proxy_api_that_is_gone_is_a_harness_error_not_a_critical_failure(target, tmp_path):
    proxy = start_fault_proxy(f"127.0.0.1:{target.port}", workdir=tmp_path)
    config = FaultConfig(rate=0.0, duration=1.0, proxy_api=proxy.api, recovery_limit=1.0)
    env, runner, log, injector = start(proxy.url, config)
    try:
        wait_for(lambda: count(env, "/api/items", "GET") >= 3, what="requests through the proxy")
        proxy.stop()  # the harness's own proxy dies: its API and the users' path with it
        assert not injector.inject(users_of(runner)[0], "network_timeout")
        wait_for(lambda: runner.state in ("stopped", "stopping") or runner.state == "quitting" or
                 not runner.user_greenlets, what="the run to stop")
    finally:
        runner.quit()
        injector.remove()
    state = conditions_of(env)
    assert len(state.harness_errors) == 1 and "could not inject network_timeout" in state.harness_errors[0]
    assert "fault proxy" in state.harness_errors[0]
    assert run_state_of(env).critical_failures == 0
    assert not [r for r in log.rows if r["event"] == "critical"]
    assert state.adjust(0) == 1


def test_a_condition_is_owed_from_its_lift_and_only_by_the_users_it_hit(target_factory):
    target = target_factory(["--latency-ms", "0", "--rate-limit", "20000", "--rate-burst", "40000"])
    admin = TargetAdmin(target.url, ADMIN_TOKEN)
    env, runner, log, injector = start(target.url, FaultConfig(rate=0.0, recovery_limit=5.0), users=3)
    try:
        wait_for(lambda: count(env, "/api/items", "GET") >= 10, what="first requests")
        # a condition that touched nobody: lifted now, nobody owes anything
        began = time.time()
        gevent.sleep(0.3)
        announce_recovery(env, "memory_pressure", time.time(), "lifted", affected_since=began)
        assert injector.pending_count() == 0
        # a condition under which every request failed: each user that failed owes a recovery from the lift
        began = time.time()
        admin.set_faults(error_ratio=1.0)
        wait_for(lambda: count(env, "/api/items", "GET", failures=True) >= 6, what="failures under the condition")
        admin.set_faults(error_ratio=0.0)
        lifted = time.time()
        announce_recovery(env, "memory_pressure", lifted, "lifted", affected_since=began)
        assert injector.pending_count() == 3
        wait_for(lambda: count(env, "memory_pressure", "RECOVERY") == 3, what="three recoveries")
    finally:
        runner.quit()
        injector.remove()
    recovered = [r for r in log.rows if r["event"] == "recovered"]
    assert len(recovered) == 3 and all(float(r["recovery_time"]) < 2.0 for r in recovered)  # timed from the lift
    assert run_state_of(env).critical_failures == 0


class GoesIdle(HttpUser):
    """Works, then has nothing to do (like a page user once the quota is done): no request at all."""

    wait_time = constant(0.02)
    idle = False

    @task
    def work(self):
        if type(self).idle:
            gevent.sleep(0.1)
        else:
            self.client.get("/api/items?limit=5", name="/api/items")


def test_a_user_with_nothing_to_do_owes_no_recovery(target):
    env, runner, log, injector = start(target.url, FaultConfig(rate=0.0, recovery_limit=1.0), user_class=GoesIdle)
    try:
        wait_for(lambda: count(env, "/api/items", "GET") >= 3, what="first requests")
        GoesIdle.idle = True
        gevent.sleep(0.2)
        assert injector.begin_run_fault("backend_crash", time.time(), "drill") == 1
        wait_for(lambda: injector.stats["excused"] == 1 or injector.stats["critical"], timeout=5,
                 what="the debt dropped at the limit")
        assert injector.stats["excused"] == 1, (injector.stats, [r for r in log.rows])
    finally:
        GoesIdle.idle = False
        runner.quit()
        injector.remove()
    assert run_state_of(env).critical_failures == 0 and not [r for r in log.rows if r["event"] == "critical"]


def test_an_agent_refusing_a_condition_mid_run_is_a_harness_error_not_a_critical_failure(tmp_path):
    from stresskit.agent.launcher import start_agent

    # the agent allows faults but only 16 MB: the condition's 64 MB hold is refused when the episode begins
    agent = start_agent(["--allow-faults", "--max-memory-mb", "16", "--max-fault-seconds", "10"], token="tok",
                        workdir=tmp_path)
    env = Environment(user_classes=[])
    env.create_local_runner()
    log = attach_log(env)
    try:
        start_conditions(env, FaultConfig(memory_mb=64, agents=(agent.url,), agent_token="tok",
                                          conditions=("memory_pressure",)), period=2.0)
        wait_for(lambda: conditions_of(env).harness_errors, timeout=15, what="the refusal")
    finally:
        for driver in getattr(env, "_stresskit_conditions", []):
            driver.remove()
        agent.stop()
    [error] = conditions_of(env).harness_errors
    assert error.startswith("could not begin memory_pressure: agent ") and "refused to hold 64 MB" in error
    assert run_state_of(env).critical_failures == 0 and not [r for r in log.rows if r["event"] == "critical"]
    assert conditions_of(env).adjust(0) == 1


@pytest.mark.parametrize(("throttle", "unavailable"), [("", True), ("5:40", False)],
                         ids=["no-limiter", "limiter-tripped-once"])
def test_a_burst_that_falls_short_disables_the_fault_only_if_it_was_never_produced(tmp_path, throttle, unavailable):
    """A backend without a limiter: the first burst spends its budget, the fault is reported once and never drawn
    again. A backend whose limiter tripped once (then let a burst through): the next burst's shortfall is a missed
    injection, not a verdict on the backend — the fault stays in the draw (the demo once said "cannot be produced"
    after a slow burst on a busy generator, though the target's limiter had tripped seconds before)."""
    from tests.support.counting_server import CountingServer

    server = CountingServer(tmp_path, throttle=throttle)
    env, runner, log, injector = start(server.url, FaultConfig(rate=0.0))
    try:
        wait_for(lambda: count(env, "/api/items", "GET") >= 1, what="the user's first request")
        user = users_of(runner)[0]
        first = injector.inject(user, "rate_limiting")
        assert first is not unavailable, (injector.stats, log.rows)
        if not unavailable:  # once the hold is over (single flight), a second burst that gets no 429 at all
            wait_for(lambda: injector.inject(user, "rate_limiting") is False and injector.stats["failed:rate_limiting"],
                     what="a second burst that falls short")
        else:
            assert injector.inject(user, "rate_limiting") is False and injector.stats["skipped:rate_limiting"] == 1
        assert injector.stats["failed:rate_limiting"] == 1, injector.stats
        assert ("rate_limiting" in injector.unavailable) is unavailable, injector.unavailable
        notices = [r for r in log.rows if r["event"] == "unavailable"]
        assert len(notices) == (1 if unavailable else 0), notices
    finally:
        runner.quit()
        injector.remove()
        server.stop()


class FailsThenWaitsForWork(HttpUser):
    """Fails while the fault is on, then waits 2.5 s for its next piece of work (like a page user
    whose next page is not due yet), then works again. ``marks_idle``: the wait is marked as time
    with nothing to do (as the page quota and the arrival dispatcher mark theirs)."""

    wait_time = constant(0.02)
    phase = "work"
    marks_idle = True

    @task
    def work(self):
        cls = type(self)
        if cls.phase == "fail":
            self.client.get("/does-not-exist", name="/api/items")  # a 404: a failure of its own action
            cls.phase = "wait"
        elif cls.phase == "wait":
            with idle(self) if cls.marks_idle else contextlib.nullcontext():
                gevent.sleep(2.5)
            cls.phase = "work"
        else:
            self.client.get("/api/items?limit=5", name="/api/items")


@pytest.mark.parametrize("marks_idle", [True, False])
def test_time_with_nothing_to_do_does_not_count_against_the_recovery_limit(target, marks_idle):
    """Seen in a quiet 1-hour soak: a page user struck by an armed fault waited ~35 s for its next
    page to fall due, and was called "not recovered within 30s" (a critical failure the harness
    made). Idle time is added to the limit; a wait not marked idle still fails at the limit."""
    FailsThenWaitsForWork.phase, FailsThenWaitsForWork.marks_idle = "work", marks_idle
    env, runner, log, injector = start(target.url, FaultConfig(rate=0.0, recovery_limit=1.0),
                                       user_class=FailsThenWaitsForWork)
    try:
        wait_for(lambda: count(env, "/api/items", "GET") >= 3, what="first requests")
        assert injector.begin_run_fault("backend_crash", time.time(), "drill") == 1
        FailsThenWaitsForWork.phase = "fail"
        wait_for(lambda: log_rows(log, "recovered") or log_rows(log, "critical"), timeout=10,
                 what="the recovery judged")
        if marks_idle:
            wait_for(lambda: log_rows(log, "recovered"), timeout=10, what="the recovery after the wait")
    finally:
        FailsThenWaitsForWork.phase = "work"
        runner.quit()
        injector.remove()
    if marks_idle:
        [row] = log_rows(log, "recovered")
        assert float(row["recovery_time"]) > 2.5 and "with nothing to do" in row["detail"], row
        assert not log_rows(log, "critical") and run_state_of(env).critical_failures == 0
    else:
        [row] = log_rows(log, "critical")
        assert "not recovered within 1s" in row["detail"], row
        assert run_state_of(env).critical_failures == 1


def log_rows(log, event):
    return [r for r in log.rows if r["event"] == event]
