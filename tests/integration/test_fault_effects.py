"""Per-user faults against real servers — the reference target, the fault proxy, a resource agent:
each kind's real effect and the user's real recovery (RECOVERY entries, fault log rows).

Users run in a Locust LocalRunner in this process; every run lasts a few seconds."""

import locust  # noqa: F401,I001  (gevent patching first)

import time
from functools import partial

import psutil
import pytest
from locust import constant, task
from locust.env import Environment

from stresskit.faults.config import FaultConfig
from stresskit.faults.injector import FaultInjector
from stresskit.faults.log import attach_log
from stresskit.faults.proxy import start_fault_proxy
from stresskit.users.api import ApiUser, Endpoint
from stresskit.users.websocket import WebSocketUser
from tests.conftest import ADMIN_TOKEN
from tests.support.wait import wait_for as poll_until

pytestmark = pytest.mark.timeout(120)


# the shared poll with this module's default: a fault and its recovery take up to tens of seconds
wait_for = partial(poll_until, timeout=30.0)


def entry(env, name, kind):
    return env.stats.entries.get((name, kind))


def count(env, name, kind, failures=False) -> int:
    e = entry(env, name, kind)
    return 0 if e is None else (e.num_failures if failures else e.num_requests)


def start(user_class, host, config, users=1):
    env = Environment(user_classes=[user_class], host=host)
    runner = env.create_local_runner()
    log = attach_log(env)
    injector = FaultInjector(env, config)
    runner.start(users, spawn_rate=100)
    return env, runner, log, injector


def the_user(runner):
    return [g.args[0] for g in runner.user_greenlets][0]


class Items(ApiUser):
    wait_time = constant(0.01)
    network_timeout = 0.5
    connection_timeout = 0.5
    endpoints = (Endpoint("GET", "/api/items?limit=5", name="/api/items"),)


# -- rate_limiting -----------------------------------------------------------------------------


def test_rate_limiting_burst_trips_the_real_limiter_and_the_user_honours_retry_after(target_factory):
    target = target_factory(["--rate-limit", "40", "--rate-burst", "40", "--latency-ms", "0"])
    env, runner, log, injector = start(Items, target.url, FaultConfig(rate=0.0))
    try:
        wait_for(lambda: count(env, "/api/items", "GET") >= 5, what="first requests")
        throttled_before = target.health()["throttled"]
        assert injector.inject(the_user(runner), "rate_limiting")
        wait_for(lambda: count(env, "rate_limiting", "RECOVERY") == 1, what="recovery")
    finally:
        runner.quit()
        injector.remove()
    # the target's own limiter answered 429s (the burst's and then the user's own requests)
    assert target.health()["throttled"] > throttled_before
    assert count(env, "/api/items (throttled)", "GET") >= 1
    # the user waited Retry-After (1 s) before its next success: that is the recovery time
    assert entry(env, "rate_limiting", "RECOVERY").min_response_time >= 900
    row = next(r for r in log.rows if r["event"] == "injected")
    assert "tripped the limiter" in row["detail"] and the_client_id_in(row["detail"])


def the_client_id_in(detail: str) -> bool:
    return "client id stresskit-" in detail


# -- network_timeout -------------------------------------------------------------------------------


def test_network_timeout_through_the_fault_proxy_times_requests_out_then_recovers(target, tmp_path):
    proxy = start_fault_proxy(f"127.0.0.1:{target.port}", workdir=tmp_path)
    try:
        config = FaultConfig(rate=0.0, duration=1.5, proxy_api=proxy.api)
        env, runner, log, injector = start(Items, proxy.url, config)
        try:
            wait_for(lambda: count(env, "/api/items", "GET") >= 5, what="requests through the proxy")
            assert injector.inject(the_user(runner), "network_timeout")
            names = [t["name"] for t in proxy.client().toxics("target")]
            assert len(names) == 2 and all(n.startswith("stresskit_network_timeout_timeout_") for n in names)
            wait_for(lambda: count(env, "network_timeout", "RECOVERY") == 1, what="recovery")
            wait_for(lambda: not proxy.client().toxics("target"), timeout=3, what="the toxics lifted")
        finally:
            runner.quit()
            injector.remove()
    finally:
        proxy.stop()
    failures = [e for e in env.stats.errors.values() if e.name == "/api/items"]
    assert failures and any("timeout" in str(e.error).lower() or "timed out" in str(e.error).lower()
                            for e in failures)
    assert entry(env, "network_timeout", "RECOVERY").min_response_time >= 1400


def test_a_request_begun_in_the_blackhole_does_not_hang_past_its_end(target, tmp_path):
    """CI runs of 39a9b4c and 74d2fc6: a bystander's request sent while a 0.5 s blackhole was on (another
    user's network_timeout, or a network_instability episode) lost its bytes; a timeout toxic closes a
    connection only ``timeout`` after it first held it, so a connection opened during the blackhole
    outlived the toxic open and silent, and the request hung to its client timeout: 30 s later its
    own recovery from rate_limiting was a critical failure made by the harness. The blackhole's end
    now closes every connection it held, and only those: the proxy keeps listening."""
    import socket

    import gevent

    from stresskit.faults.effects.network import timeout_via_proxy

    proxy = start_fault_proxy(f"127.0.0.1:{target.port}", workdir=tmp_path)
    try:
        client = proxy.client()
        injected = timeout_via_proxy(client, "target", duration=0.5)
        # the connection opens after the toxic: its own watchdog would close it only 0.5 s later,
        # after the fault has gone, so only the end of the blackhole can free it
        sock = socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=20)
        sock.sendall(b"GET /api/items?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = gevent.spawn(lambda: sock.recv(4096))
        gevent.sleep(0)  # the recv is waiting before the fault ends
        ended = time.monotonic()
        injected.release()
        reader.join(timeout=5)
        assert reader.ready(), "the request hung on after the blackhole"
        assert time.monotonic() - ended < 3
        assert reader.value == b"" or isinstance(reader.exception, OSError)  # closed, nothing answered
        sock.close()
        assert client.proxy("target")["enabled"] and not client.toxics("target")
        # the proxy serves again at once
        with socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=5) as again:
            again.sendall(b"GET /api/items?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert again.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        proxy.stop()


def test_a_get_caught_by_a_blackhole_is_answered_right_after_its_end_not_at_the_client_timeout(target, tmp_path):
    """What a bystander ApiUser sees: its keep-alive GET sent into the blackhole is answered once the
    blackhole ends (the closed connection makes the HTTP client send it again on a fresh one), well
    before its 60 s network timeout; a connection the blackhole never held is left alone."""
    import socket

    import gevent
    from geventhttpclient import HTTPClient

    from stresskit.faults.effects.network import timeout_via_proxy

    proxy = start_fault_proxy(f"127.0.0.1:{target.port}", workdir=tmp_path)
    try:
        client = proxy.client()
        http = HTTPClient("127.0.0.1", proxy.listen_port, network_timeout=60, connection_timeout=60)
        first = http.get("/api/items?limit=1")
        assert first.status_code == 200
        first.read()
        # a second proxy the blackhole is not on: its connection must survive the first's end
        client.create_proxy("other", "127.0.0.1:0", f"127.0.0.1:{target.port}")
        other_port = int(client.proxy("other")["listen"].rsplit(":", 1)[1])
        bystander = socket.create_connection(("127.0.0.1", other_port), timeout=10)
        injected = timeout_via_proxy(client, "target", duration=0.5)
        sent = time.monotonic()
        caught = gevent.spawn(lambda: http.get("/api/items?limit=1"))
        caught.join(timeout=0.3)
        assert not caught.ready(), "the blackhole let the request through"
        injected.release()
        caught.join(timeout=10)
        assert caught.successful(), caught.exception
        assert caught.value.status_code == 200
        assert time.monotonic() - sent < 5  # answered after the ~0.5 s blackhole, not at the 60 s timeout
        bystander.sendall(b"GET /api/items?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert bystander.recv(64).startswith(b"HTTP/1.1 200")
        bystander.close()
        http.close()
    finally:
        proxy.stop()


def test_network_timeout_without_a_proxy_delays_responses_past_the_client_timeout(target_factory):
    target = target_factory(["--latency-ms", "0"])
    config = FaultConfig(rate=0.0, duration=1.0, admin_token=ADMIN_TOKEN)
    env, runner, log, injector = start(Items, target.url, config)
    try:
        wait_for(lambda: count(env, "/api/items", "GET") >= 5, what="first requests")
        assert injector.inject(the_user(runner), "network_timeout")
        wait_for(lambda: count(env, "/api/items", "GET", failures=True) >= 1, what="a real client timeout")
        wait_for(lambda: count(env, "network_timeout", "RECOVERY") == 1, what="recovery")
    finally:
        runner.quit()
        injector.remove()
    assert any("timed out" in str(e.error).lower() or "timeout" in str(e.error).lower()
               for e in env.stats.errors.values())
    # the latency knob is back to where it was
    import json
    import urllib.request

    request = urllib.request.Request(target.url + "/admin/faults", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["latency_ms"] == 0


def test_a_second_network_timeout_while_one_is_on_is_skipped(target_factory):
    target = target_factory(["--latency-ms", "0"])
    env, runner, log, injector = start(Items, target.url, FaultConfig(rate=0.0, duration=2.0, admin_token=ADMIN_TOKEN),
                                       users=2)
    try:
        wait_for(lambda: len(runner.user_greenlets) == 2 and count(env, "/api/items", "GET") >= 4, what="2 users")
        first, second = [g.args[0] for g in runner.user_greenlets]
        assert injector.inject(first, "network_timeout")
        assert not injector.inject(second, "network_timeout")
        assert injector.stats["skipped:network_timeout"] == 1
    finally:
        runner.quit()
        injector.remove()


# -- websocket_drop ------------------------------------------------------------------------------


class Chat(WebSocketUser):
    wait_time = constant(0.02)
    backoff_base = 0.05

    @task
    def ping(self):
        self.echo({"n": 1})


def test_websocket_drop_cuts_the_users_socket_without_a_close_frame_and_it_reconnects(target):
    env, runner, log, injector = start(Chat, target.url, FaultConfig(rate=0.0))
    try:
        wait_for(lambda: count(env, "rtt echo", "WS") >= 5, what="echo round trips")
        user = the_user(runner)
        connects_before = user.ws.connects
        assert injector.inject(user, "websocket_drop")
        wait_for(lambda: count(env, "websocket_drop", "RECOVERY") == 1, what="recovery")
        assert user.ws.connects == connects_before + 1
    finally:
        runner.quit()
        injector.remove()
    closed = [e for e in env.stats.errors.values() if e.name == "closed unexpectedly"]
    assert closed and "without a close frame" in str(closed[0].error)
    assert count(env, "reconnect", "WS") >= 1


# -- memory_pressure (agent) ---------------------------------------------------------------------


def test_memory_pressure_holds_real_memory_on_the_agent_host_then_releases_it(target, tmp_path):
    from stresskit.agent.launcher import start_agent

    agent = start_agent(["--allow-faults", "--max-memory-mb", "128", "--max-fault-seconds", "10"],
                        token="agent-token", workdir=tmp_path)
    try:
        config = FaultConfig(rate=0.0, duration=2.0, memory_mb=64, agents=(agent.url,), agent_token="agent-token")
        env, runner, log, injector = start(Items, target.url, config)
        try:
            wait_for(lambda: count(env, "/api/items", "GET") >= 3, what="first requests")
            assert injector.inject(the_user(runner), "memory_pressure")
            children = psutil.Process(agent.pid).children(recursive=True)
            held = sum(child.memory_info().rss for child in children)
            assert held >= 60 * 2**20, f"agent children hold only {held / 2**20:.0f} MiB"
            wait_for(lambda: count(env, "memory_pressure", "RECOVERY") == 1, what="recovery")
            wait_for(lambda: not psutil.Process(agent.pid).children(recursive=True), timeout=8,
                     what="the hold to end")
        finally:
            runner.quit()
            injector.remove()
    finally:
        agent.stop()
    assert "64 MB held" in next(r for r in log.rows if r["event"] == "injected")["detail"]


def test_an_agent_without_allow_faults_refuses_and_nothing_is_counted(target, tmp_path):
    from stresskit.agent.launcher import start_agent

    agent = start_agent([], token="agent-token", workdir=tmp_path)
    try:
        config = FaultConfig(rate=0.0, duration=1.0, memory_mb=16, agents=(agent.url,), agent_token="agent-token")
        env, runner, log, injector = start(Items, target.url, config)
        try:
            wait_for(lambda: count(env, "/api/items", "GET") >= 3, what="first requests")
            assert not injector.inject(the_user(runner), "memory_pressure")
        finally:
            runner.quit()
            injector.remove()
        assert injector.stats["failed:memory_pressure"] == 1 and not log.rows
    finally:
        agent.stop()


# -- critical failures -----------------------------------------------------------------------------


def test_a_user_that_does_not_recover_within_the_limit_is_a_critical_failure(target_factory):
    from stresskit.core.runstate import run_state_of

    target = target_factory(["--latency-ms", "0"])
    config = FaultConfig(rate=0.0, duration=3.0, recovery_limit=1.0, admin_token=ADMIN_TOKEN)
    env, runner, log, injector = start(Items, target.url, config)
    try:
        wait_for(lambda: count(env, "/api/items", "GET") >= 3, what="first requests")
        assert injector.inject(the_user(runner), "network_timeout")  # 3 s of timeouts > the 1 s limit
        wait_for(lambda: run_state_of(env).critical_failures == 1, timeout=5, what="a critical failure")
    finally:
        runner.quit()
        injector.remove()
    assert count(env, "network_timeout", "RECOVERY", failures=True) == 1
    assert [r["event"] for r in log.rows] == ["injected", "critical"]
    assert "not recovered within 1s" in run_state_of(env).critical_details[0]
