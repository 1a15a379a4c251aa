"""The Faults tab of Locust's web UI: a real web UI served by a local runner, read over HTTP."""

import locust  # noqa: F401,I001  (gevent patching first)

import json
import sys
import urllib.request

import pytest
from locust.env import Environment

from stresskit.faults.log import attach_log, report
from stresskit.faults.webui import TAB_KEY, extend_web_ui
from stresskit.target.launcher import free_port

pytestmark = pytest.mark.timeout(60)


def test_faults_tab_lists_each_kind_with_its_recoveries(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["locust"])  # the web UI parses the command line for its options
    env = Environment(user_classes=[])
    env.create_local_runner()
    port = free_port()
    web_ui = env.create_web_ui("127.0.0.1", port)
    try:
        log = attach_log(env)
        assert extend_web_ui(web_ui, log)
        assert not extend_web_ui(web_ui, log)  # once
        report(env, "injected", "websocket_drop", user="w0/Chat/0")
        report(env, "recovered", "websocket_drop", user="w0/Chat/0", recovery_time=0.5)
        report(env, "injected", "websocket_drop", user="w0/Chat/1")
        report(env, "recovered", "websocket_drop", user="w0/Chat/1", recovery_time=1.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=5) as response:
            body = json.loads(response.read())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            page = response.read().decode()
    finally:
        web_ui.stop()
    table = next(e["data"] for e in body["extended_stats"] if e["key"] == TAB_KEY)
    assert table == [{"kind": "websocket_drop", "injected": 2, "recovered": 2, "critical": 0,
                      "median_recovery": 1.0, "max_recovery": 1.5}]
    assert '"title": "Faults"' in page or "Faults" in page
