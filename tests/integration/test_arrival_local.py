"""Arrival rates inside one process (a real LocalRunner, real users, a real HTTP server): users take
tickets while their kind is paced and fall back to their own wait time after; the web UI's
"Open model" tab shows the arrivals and both latency series with what each means."""

import json
import sys
import textwrap
import tomllib
import urllib.request

import pytest
from locust import constant
from locust.env import Environment

from stresskit.arrival import arrival_control_of, use_arrival
from stresskit.arrival.webui import TAB_KEY
from stresskit.observe.latency import use_latency
from stresskit.report.latency import SERIES_MEANING
from stresskit.run.scenarios import parse_scenarios
from stresskit.target.launcher import free_port
from stresskit.users import ApiUser
from stresskit.users.api import Endpoint
from tests.e2e.test_arrival_runs import Server
from tests.support.wait import wait_for

pytestmark = pytest.mark.timeout(90)

SCENARIO = parse_scenarios(tomllib.loads(textwrap.dedent("""
    [scenarios.local]
    pages = 0
    duration = "60s"
    failure_rate = 0
    users = { api = 0 }
    stages = [ { duration = "60s", rate = { api = 50 }, max_users = { api = 5 } } ]
""")), "test").get("local")


class PacedApi(ApiUser):
    wait_time = constant(0.05)
    endpoints = (Endpoint("GET", "/", name="/"),)


@pytest.fixture
def server():
    srv = Server(stall=0.0)
    yield srv
    srv.stop()


def test_paced_users_tab_and_fallback_to_closed_model(monkeypatch, server):
    monkeypatch.setattr(sys, "argv", ["locust"])
    env = Environment(user_classes=[PacedApi], host=server.url)
    runner = env.create_local_runner()
    port = free_port()
    web_ui = env.create_web_ui("127.0.0.1", port)
    try:
        use_latency(env.events)
        use_arrival(env.events)
        env.events.init.fire(environment=env, runner=runner, web_ui=web_ui)
        control = arrival_control_of(env)
        control.start(SCENARIO, None)
        runner.start(5, spawn_rate=100)
        wait_for(lambda: control.counts()["api"]["started"] >= 60, timeout=30, what="60 paced iterations")
        counts = control.counts()["api"]
        assert counts["dropped"] == 0 and abs(counts["due"] - counts["scheduled"]) <= 2, counts
        # 5 users with a 0.05 s wait would do ~100/s closed-model; paced, each request is a ticket of 50/s
        assert counts["started"] - 5 <= env.stats.get("/", "GET").num_requests <= counts["started"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=5) as response:
            body = json.loads(response.read())
        rows = next(e["data"] for e in body["extended_stats"] if e["key"] == TAB_KEY)
        items = {row["item"]: row for row in rows}
        assert "rate now 50 requests per second, at most 5 busy users" in items["api"]["note"]
        assert items["GET /"]["sent"] and items["GET /"]["intended"]
        assert items["(intended)"]["note"] == SERIES_MEANING["intended"]
        assert items["(sent)"]["note"] == SERIES_MEANING["sent"]

        control.stop()  # no more rate: the users go back to their own wait time (closed model)
        before = env.stats.get("/", "GET").num_requests
        wait_for(lambda: env.stats.get("/", "GET").num_requests >= before + 20, timeout=20,
                 what="closed-model requests after pacing ended")
    finally:
        runner.quit()
        web_ui.stop()
