"""The schedule in real runs against the reference target: the measured injection rate matches the
configured rate (binomial test), and the same seed gives the same schedule (different seed, not)."""

import locust  # noqa: F401,I001  (gevent patching first)

import re
import time

import gevent
import pytest
from locust import constant, task
from locust.env import Environment
from scipy.stats import binomtest

from stresskit.faults.config import FaultConfig
from stresskit.faults.injector import FaultInjector
from stresskit.faults.log import attach_log
from stresskit.users.websocket import WebSocketUser

pytestmark = pytest.mark.timeout(120)
RATE = 0.1


class Chat(WebSocketUser):
    wait_time = constant(0.005)
    backoff_base = 0.02

    @task
    def ping(self):
        self.echo({"n": 1})


class Other(Chat):
    pass


def run_once(url: str, seed: int, actions: int = 400) -> tuple[list[tuple[str, int]], FaultInjector, dict]:
    """Run until the injector has seen ``actions`` user actions; return [(slot, action)] of the
    faults, the injector and the number of actions each slot made."""
    env = Environment(user_classes=[Chat, Other], host=url)
    runner = env.create_local_runner()
    log = attach_log(env)
    injector = FaultInjector(env, FaultConfig(rate=RATE, seed=seed, kinds=("websocket_drop",),
                                              recovery_limit=20))
    runner.start(2, spawn_rate=100)
    deadline = time.monotonic() + 40
    try:
        while injector.stats["actions"] < actions and time.monotonic() < deadline:
            gevent.sleep(0.05)
        made = {state.slot: state.schedule.actions for state in injector._users.values()}
    finally:
        runner.quit()
        injector.remove()
    assert injector.stats["actions"] >= actions, injector.stats
    faults = []
    for row in log.rows:
        if row["event"] == "injected":
            faults.append((row["user"], int(re.search(r"\(action (\d+)\)", row["detail"]).group(1))))
    return faults, injector, made


def per_slot(faults, upto: dict[str, int]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for slot, action in faults:
        if action <= upto.get(slot, 0):
            out.setdefault(slot, []).append(action)
    return out


def test_same_seed_same_schedule_and_the_measured_rate_matches(target):
    first, inj1, made1 = run_once(target.url, seed=42)
    second, inj2, made2 = run_once(target.url, seed=42)
    other, inj3, made3 = run_once(target.url, seed=43)

    # Compare the schedules over the actions both runs of each slot really made.
    common = {slot: min(made1.get(slot, 0), made2.get(slot, 0)) for slot in made1}
    assert set(common) == {"w0/Chat/0", "w0/Other/0"}
    same1, same2 = per_slot(first, common), per_slot(second, common)
    assert same1 and same1 == same2
    common3 = {slot: min(made1.get(slot, 0), made3.get(slot, 0)) for slot in made1}
    assert per_slot(first, common3) != per_slot(other, common3)

    # Every drawn fault was really injected (a cut socket each time), and the rate is the configured one.
    for injector in (inj1, inj2, inj3):
        assert injector.stats["failed"] == 0 and injector.stats["skipped"] == 0
    injected = sum(i.stats["injected"] for i in (inj1, inj2, inj3))
    actions = sum(i.stats["actions"] for i in (inj1, inj2, inj3))
    assert binomtest(injected, actions, RATE).pvalue > 0.001, f"{injected}/{actions} at rate {RATE}"
    assert sum(i.stats["recovered"] for i in (inj1, inj2, inj3)) >= injected - 6  # the last ones may be cut off
