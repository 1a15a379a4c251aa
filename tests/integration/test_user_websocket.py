"""WebSocketUser against real servers: the reference target (aiohttp) and a server built on the
`websockets` library in a subprocess. Users run in a real Locust LocalRunner in this process."""

import locust  # noqa: F401,I001  (gevent patching first)

import json
import logging
import subprocess
import sys
import urllib.request

import pytest
from locust import constant, task
from locust.env import Environment

from stresskit.clients.websocket import WebSocketConnection
from stresskit.target.launcher import free_port
from stresskit.users.websocket import WebSocketUser
from tests.conftest import ADMIN_TOKEN
from tests.support.wait import wait_for

pytestmark = pytest.mark.timeout(120)


def entry(env: Environment, name: str):
    return env.stats.entries.get((name, "WS"))


def count(env: Environment, name: str) -> int:
    e = entry(env, name)
    return e.num_requests if e else 0


def failures(env: Environment, name: str) -> int:
    e = entry(env, name)
    return e.num_failures if e else 0


def users_of(runner) -> list:
    return [g.args[0] for g in runner.user_greenlets]


def start(user_class, host: str, users: int = 1):
    env = Environment(user_classes=[user_class], host=host)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=100)
    return env, runner


class EchoUser(WebSocketUser):
    wait_time = constant(0.02)

    @task
    def ping_pong(self):
        reply = self.echo({"n": 1})
        if reply is not None:
            assert reply["payload"] == {"n": 1}


# -- the reference target ----------------------------------------------------------------------


def test_echo_rtt_and_message_rates_are_stats_entries(target):
    env, runner = start(EchoUser, target.url, users=3)
    try:
        wait_for(lambda: count(env, "rtt echo") >= 60, what="60 echo round trips")
    finally:
        runner.quit()
    rtt = entry(env, "rtt echo")
    assert rtt.num_failures == 0 and rtt.avg_response_time > 0
    out, inbound = entry(env, "messages out"), entry(env, "messages in")
    # one frame out and one in per round trip; no response time, so they do not skew the percentiles
    assert out.num_requests >= rtt.num_requests and inbound.num_requests >= rtt.num_requests
    assert out.num_none_requests == out.num_requests and inbound.num_none_requests == inbound.num_requests
    assert out.total_content_length > 0
    assert count(env, "connect") == 3 and env.stats.total.num_failures == 0


def test_broadcast_reaches_every_subscriber_with_delivery_latency(target):
    env = Environment(host=target.url)
    env.create_local_runner()  # the runner hooks the stats to the request event
    subscribers = [WebSocketConnection(target.url.replace("http", "ws") + "/ws", env.events.request)
                   for _ in range(3)]
    sender = WebSocketConnection(target.url.replace("http", "ws") + "/ws", env.events.request)
    try:
        for conn in subscribers:
            assert conn.connect() and conn.subscribe()
        assert sender.connect()
        acks = [sender.request("broadcast", {"i": i}) for i in range(5)]
        assert all(ack is not None for ack in acks)
        delivered = sum(ack["delivered"] for ack in acks)
        assert delivered >= 15  # at least our 3 subscribers (other tests' users may be subscribed too)
        wait_for(lambda: count(env, "broadcast delivery") == 15, what="15 deliveries")
    finally:
        for conn in [*subscribers, sender]:
            conn.close()
    delivery = entry(env, "broadcast delivery")
    assert delivery.num_failures == 0
    assert 0 <= delivery.avg_response_time < 1000  # server timestamp → receipt, same host
    assert count(env, "rtt broadcast") == 5


def test_connection_limit_mode_records_refusals_with_close_code(target_factory):
    server = target_factory(extra_args=["--ws-max-connections", "6"])

    class Holder(WebSocketUser):
        wait_time = constant(0.2)
        connections_per_user = 4

        @task
        def idle(self):
            pass

    env, runner = start(Holder, server.url, users=2)
    try:
        wait_for(lambda: failures(env, "refused (close 1013)") == 2, what="2 refusals")
        wait_for(lambda: sum(u.held_connections for u in users_of(runner)) == 6, what="6 held connections")
        assert server.health()["ws_connections"] == 6
    finally:
        runner.quit()
    assert count(env, "connect") == 8  # the target accepts the upgrade, then closes with 1013
    error = next(e for e in env.stats.errors.values() if e.name == "refused (close 1013)")
    assert "1013" in str(error.error) and "connection limit" in str(error.error)
    assert count(env, "reconnect") == 0  # refusals are recorded, not retried


def test_cut_without_close_frame_reports_unexpected_close_and_reconnect_time(target):
    class Cuttable(EchoUser):
        backoff_base = 0.2

    env, runner = start(Cuttable, target.url)
    try:
        wait_for(lambda: count(env, "rtt echo") >= 5, what="echoes")
        user = users_of(runner)[0]
        conn = user.ws
        assert user.cut() == 1
        assert conn.reconnected.wait(10), "no reconnect after the cut"
        before = count(env, "rtt echo")
        wait_for(lambda: count(env, "rtt echo") >= before + 5, what="echoes after the reconnect")
    finally:
        runner.quit()
    closed = next(e for e in env.stats.errors.values() if e.name == "closed unexpectedly")
    assert "1006" in str(closed.error) and "without a close frame" in str(closed.error)
    reconnect = entry(env, "reconnect")
    assert reconnect.num_requests == 1 and reconnect.num_failures == 0
    assert reconnect.min_response_time >= 0.2 * 0.8 * 1000  # the first backoff step is part of it


def test_server_side_drop_and_idle_close_are_failures_then_reconnect(target_factory):
    server = target_factory(extra_args=["--ws-idle-timeout", "0.5"])

    class Silent(WebSocketUser):
        wait_time = constant(0.1)
        keepalive_interval = 60.0
        backoff_base = 0.05

        @task
        def nothing(self):
            pass

    env, runner = start(Silent, server.url)
    try:
        wait_for(lambda: failures(env, "closed unexpectedly") >= 1, what="the idle close")
        wait_for(lambda: count(env, "reconnect") >= 1, what="a reconnect")
        request = urllib.request.Request(server.url + "/admin/ws/drop", method="POST",
                                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        wait_for(lambda: users_of(runner)[0].ws.connected, what="connected again")
        drops_before = failures(env, "closed unexpectedly")
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert json.loads(resp.read())["dropped"] == 1
        wait_for(lambda: failures(env, "closed unexpectedly") > drops_before, what="the drop")
    finally:
        runner.quit()
    messages = [str(e.error) for e in env.stats.errors.values() if e.name == "closed unexpectedly"]
    assert any("code 4000" in m for m in messages)  # the target's idle close code
    assert any("code 1006" in m for m in messages)  # aborted transport, no close frame


def test_on_stop_kills_receive_loops_and_closes_connections(target_factory):
    server = target_factory()

    class Pair(EchoUser):
        connections_per_user = 2

    env, runner = start(Pair, server.url, users=3)
    wait_for(lambda: server.health()["ws_connections"] == 6, what="6 open connections")
    users = users_of(runner)
    runner.quit()
    for user in users:
        for conn in user.connections:
            assert conn.live_greenlets() == 0 and not conn.connected
    wait_for(lambda: server.health()["ws_connections"] == 0, what="the server to see every close")
    assert count(env, "closed unexpectedly") == 0  # our own closes are not failures


# -- bad input ---------------------------------------------------------------------------------


def test_refused_upgrade_is_one_failure_and_the_user_stops(target, caplog):
    class WrongPath(EchoUser):
        ws_path = "/api/items/1"  # a JSON endpoint, not a WebSocket

    with caplog.at_level(logging.ERROR, logger="stresskit.users.websocket"):
        env, runner = start(WrongPath, target.url, users=2)
        try:
            wait_for(lambda: failures(env, "connect") == 2 and runner.user_count == 0, what="the users to stop")
        finally:
            runner.quit()
    assert count(env, "connect") == failures(env, "connect") == 2  # one per user, no retries
    error = next(iter(env.stats.errors.values()))
    assert "refused the WebSocket upgrade: HTTP 200" in str(error.error)
    lines = [r for r in caplog.records if r.name == "stresskit.users.websocket"]
    assert len(lines) == 1 and "refused the WebSocket upgrade" in lines[0].getMessage()
    assert "Traceback" not in caplog.text


def test_unreachable_host_gives_bounded_failures_and_the_user_stops(caplog):
    class Nowhere(EchoUser):
        max_attempts = 3
        backoff_base = 0.05

    with caplog.at_level(logging.ERROR):
        env, runner = start(Nowhere, f"http://127.0.0.1:{free_port()}", users=2)
        try:
            wait_for(lambda: failures(env, "connect") == 6 and runner.user_count == 0, what="the users to stop")
        finally:
            runner.quit()
    assert failures(env, "connect") == count(env, "connect") == 6  # 3 attempts × 2 users
    assert "Connection refused" in str(next(iter(env.stats.errors.values())).error)
    assert len([r for r in caplog.records if r.name == "stresskit.users.websocket"]) == 1
    assert "Traceback" not in caplog.text


# -- a server the project did not write: the `websockets` library ------------------------------

WEBSOCKETS_SERVER = r"""
import asyncio, sys
from http import HTTPStatus
from websockets.asyncio.server import serve

port, limit = int(sys.argv[1]), int(sys.argv[2])
open_connections = set()

def process_request(connection, request):
    if request.path != "/ws":
        return connection.respond(HTTPStatus.FORBIDDEN, "only /ws here\n")

async def handler(ws):
    if len(open_connections) >= limit:
        await ws.close(1013, "server full")
        return
    open_connections.add(ws)
    try:
        async for message in ws:          # a plain echo server
            await ws.send(message)
    finally:
        open_connections.discard(ws)

async def main():
    async with serve(handler, "127.0.0.1", port, process_request=process_request):
        print("ready", flush=True)
        await asyncio.Future()

asyncio.run(main())
"""


@pytest.fixture
def websockets_server():
    """A `websockets` echo server in a subprocess: only /ws, at most 3 connections (close 1013)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", WEBSOCKETS_SERVER, str(port), "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", "websockets server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_websockets_library_server_echo_limit_and_refused_upgrade(websockets_server):
    class Holder(EchoUser):
        connections_per_user = 2

    env, runner = start(Holder, websockets_server, users=2)
    try:
        wait_for(lambda: failures(env, "refused (close 1013)") == 1, what="the 4th connection refused")
        wait_for(lambda: count(env, "rtt echo") >= 20, what="echo round trips")
    finally:
        runner.quit()
    assert entry(env, "rtt echo").num_failures == 0
    assert "server full" in str(next(e for e in env.stats.errors.values() if e.name.startswith("refused")).error)

    class WrongPath(EchoUser):
        ws_path = "/other"

    env, runner = start(WrongPath, websockets_server)
    try:
        wait_for(lambda: failures(env, "connect") == 1 and runner.user_count == 0, what="the user to stop")
    finally:
        runner.quit()
    assert failures(env, "connect") == 1
    assert "HTTP 403" in str(next(iter(env.stats.errors.values())).error)
