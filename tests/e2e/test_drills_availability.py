"""Drills with a known verdict: a dead backend fails the run, a healthy one passes.

Each drill is a real ``locust --headless`` process (tests/e2e/locustfiles/drill_availability.py:
API, WebSocket and cache users under a 20 s scenario) against servers this test starts itself —
a reference target and a redis-server on free loopback ports — and, for the failing drills,
SIGKILLs by pid once the run is under way (seen in its ``_live.json``, never a fixed sleep):

* healthy → PASS (exit 0), every kind 100% available;
* backend (the target) SIGKILLed mid-run → FAIL (exit 3) on ``availability``, the API and
  WebSocket outages in ``_run.json`` and in the live log, the cache untouched — although the
  cache users' successes keep the global error ratio low;
* the same kill in a distributed run (``--processes 2``): the workers' per-second counts reach
  the master and the verdict is the same;
* the cache users' redis-server SIGKILLed mid-run → FAIL, a cache outage, API and WebSocket fine;
* cache users without a Redis URL drop out at start → FAIL: a kind the scenario runs sent nothing;
* a backend that is not the reference target (Python's own http.server, started by the test)
  SIGKILLed and started again on its port: the outage is shown, started and ended in the log,
  and the run passes under a limit the outage fits in (``--availability-max-unavailable 40%``);
* web UI: a second test on the same master, stopped with STOP, reports no stop reason of the first.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stresskit.core.exitcodes import ExitCode
from tests.conftest import ROOT
from tests.support.wait import wait_for

LOCUSTFILE = "tests/e2e/locustfiles/drill_availability.py"
DURATION = 20
SCENARIO = """
[scenarios.drill]
description = "availability drill"
pages = 0
duration = "{duration}s"
failure_rate = 0
conditions = ["basic_validation"]
users = {{ {users} }}
spawn_rate = 20
stages = [{{ name = "steady", duration = "{duration}s", load = 1.0 }}]
"""
RUN_TIMEOUT = 120
ALL_KINDS = "api = 2, websocket = 2, cache = 2"


class Drill:
    """One locust process of the drill, started in the background."""

    def __init__(self, tmp_path: Path, host: str, redis_url: str, *args: str, duration: int = DURATION,
                 users: str = ALL_KINDS, extra_env: dict | None = None) -> None:
        scenario_file = tmp_path / "drill.toml"
        scenario_file.write_text(SCENARIO.format(duration=duration, users=users))
        self.prefix = tmp_path / "drill"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRESSKIT_")}
        env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
        env.update(extra_env or {})
        self.log = open(tmp_path / "locust.log", "w+")  # noqa: SIM115  closed in finish()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary",
             "--host", host, "--redis-url", redis_url, "--scenario-file", str(scenario_file),
             "--scenario", "drill", "--csv", str(self.prefix), *args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def live(self) -> dict:
        try:
            return json.loads(Path(f"{self.prefix}_live.json").read_text())
        except (OSError, ValueError):
            return {}

    def wait_until_loaded(self, seconds: float) -> None:
        """Poll the run's live file until it has run ``seconds`` with requests flowing."""
        wait_for(lambda: self.process.poll() is not None
                 or (self.live().get("elapsed", 0) >= seconds and self.live().get("requests", 0) > 50),
                 timeout=60, what=f"the drill to run {seconds}s", interval=0.2)
        assert self.process.poll() is None, self.output()

    def finish(self) -> tuple[int, dict, str]:
        try:
            code = self.process.wait(RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise
        finally:
            self.log.close()
        doc = json.loads(Path(f"{self.prefix}_run.json").read_text())
        return code, doc, self.output()

    def output(self) -> str:
        return (self.prefix.parent / "locust.log").read_text()


def criteria(doc: dict) -> dict:
    return {c["name"]: c for c in doc["criteria"]}


@pytest.fixture
def servers(target_factory, redis_factory, redis_server):
    """A target of this test's own (its data in the session Redis) and a Redis for the cache users."""
    return target_factory(extra_args=["--latency-ms", "1", "--rate-limit", "20000", "--rate-burst", "40000"],
                          redis_url=redis_server.url), redis_factory()


def test_healthy_backend_passes(tmp_path, servers):
    target, cache = servers
    code, doc, output = Drill(tmp_path, target.url, cache.url).finish()
    assert code == ExitCode.PASS, output[-3000:]
    kinds = doc["availability"]["kinds"]
    assert set(kinds) == {"api", "websocket", "cache"}
    for kind, figures in kinds.items():
        assert figures["availability"] == 1.0 and figures["outages"] == [], (kind, figures)
        assert figures["windows"] >= DURATION - 4 and figures["failures"] == 0, (kind, figures)
    assert criteria(doc)["availability"]["passed"] and criteria(doc)["kind_error_ratio"]["passed"]
    assert "pass  availability" in output and "outage started" not in output


@pytest.mark.parametrize("distributed", [False, True], ids=["local", "processes-2"])
def test_backend_killed_mid_run_fails_with_the_outage(tmp_path, servers, distributed):
    target, cache = servers
    drill = Drill(tmp_path, target.url, cache.url, *(["--processes", "2"] if distributed else []))
    drill.wait_until_loaded(5)
    killed_at = time.time()
    os.kill(target.pid, signal.SIGKILL)  # the backend dies; nothing restarts it
    code, doc, output = drill.finish()

    assert code == ExitCode.CRITERIA_FAILED, output[-3000:]
    assert criteria(doc)["availability"]["passed"] is False
    kinds = doc["availability"]["kinds"]
    for kind in ("api", "websocket"):
        outages = kinds[kind]["outages"]
        assert outages, (kind, kinds[kind])
        longest = max(outages, key=lambda o: o["seconds"])
        assert killed_at - 2 <= longest["start"] <= killed_at + 6, (kind, longest, killed_at)
        assert longest["end"] >= doc["ended"] - 3 and longest["seconds"] >= 8, (kind, longest)
        assert kinds[kind]["availability"] < 0.8
        assert f"availability: {kind} outage started" in output
    assert kinds["cache"]["availability"] == 1.0 and kinds["cache"]["outages"] == []
    assert "FAILED: down" in criteria(doc)["availability"]["detail"]


def test_redis_killed_mid_run_fails_with_a_cache_outage(tmp_path, servers):
    target, cache = servers
    drill = Drill(tmp_path, target.url, cache.url)
    drill.wait_until_loaded(5)
    killed_at = time.time()
    os.kill(cache.pid, signal.SIGKILL)
    code, doc, output = drill.finish()

    assert code == ExitCode.CRITERIA_FAILED, output[-3000:]
    kinds = doc["availability"]["kinds"]
    outage = max(kinds["cache"]["outages"], key=lambda o: o["seconds"])
    assert killed_at - 2 <= outage["start"] <= killed_at + 4 and outage["seconds"] >= 8, outage
    assert kinds["cache"]["failures"] > 0
    assert kinds["api"]["availability"] == 1.0 and kinds["websocket"]["availability"] == 1.0
    assert "availability: cache outage started" in output
    detail = criteria(doc)["availability"]["detail"]
    assert "cache" in detail and "FAILED" in detail


def test_a_kind_that_drops_out_fails_the_run(tmp_path, servers):
    """An empty --redis-url (what a web UI form sends): the cache users give up at start."""
    target, _ = servers
    code, doc, output = Drill(tmp_path, target.url, "", duration=8).finish()
    assert code == ExitCode.CRITERIA_FAILED, output[-3000:]
    kinds = doc["availability"]["kinds"]
    assert kinds["cache"]["requests"] == 0 and kinds["cache"]["availability"] is None
    assert kinds["api"]["availability"] == 1.0
    assert "cache – FAILED: sent no request at all" in criteria(doc)["availability"]["detail"]


def test_a_second_test_on_the_same_master_starts_clean(tmp_path, servers):
    """Web UI: the first test ends with its scenario's duration; a second one stopped with STOP
    must not report the first one's stop reason, nor its figures."""
    import requests

    from stresskit.target.launcher import free_port

    target, cache = servers
    scenario_file = tmp_path / "drill.toml"
    scenario_file.write_text(SCENARIO.format(duration=4, users=ALL_KINDS))
    port = free_port()
    prefix = tmp_path / "ui"
    log = open(tmp_path / "locust.log", "w+")  # noqa: SIM115  closed below
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRESSKIT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--web-host", "127.0.0.1", "--web-port", str(port),
         "--host", target.url, "--redis-url", cache.url, "--scenario-file", str(scenario_file),
         "--scenario", "drill", "--csv", str(prefix)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    run_json = Path(f"{prefix}_run.json")

    def get(path):
        try:
            return requests.get(base + path, timeout=2)
        except requests.ConnectionError:
            return None

    def state():
        response = get("/stats/requests")
        return response.json().get("state") if response is not None else None

    def finished_run(after):
        return run_json.exists() and run_json.stat().st_mtime > after and json.loads(run_json.read_text())

    try:
        wait_for(lambda: proc.poll() is not None or get("/") is not None, timeout=60, what="the web UI",
                 interval=0.2)
        assert proc.poll() is None, (tmp_path / "locust.log").read_text()
        started = time.time()
        assert requests.post(base + "/swarm", data={"host": target.url}, timeout=10).json()["success"]
        first = wait_for(lambda: finished_run(started), timeout=60, what="the first test's run.json", interval=0.2)
        assert first["stop_reason"].startswith("scenario duration"), first["stop_reason"]
        assert first["exit_code"] == 0, first["criteria"]
        wait_for(lambda: state() == "stopped", timeout=30, what="the first test to stop", interval=0.2)

        second_start = time.time()
        assert requests.post(base + "/swarm", data={"host": target.url}, timeout=10).json()["success"]
        wait_for(lambda: state() == "running", timeout=30, what="the second test to run", interval=0.2)
        wait_for(lambda: json.loads(get("/stats/requests").text)["total_rps"] > 0, timeout=30,
                 what="requests in the second test", interval=0.2)
        assert requests.post(base + "/stop", timeout=10).json()["success"]
        second = wait_for(lambda: finished_run(second_start + 0.001), timeout=60, what="the second run.json",
                          interval=0.2)
        assert second["stop_reason"] == "", second["stop_reason"]
        assert second["started"] >= second_start - 1
        for figures in second["availability"]["kinds"].values():
            assert figures["windows"] <= time.time() - second_start + 1, figures

        # SIGTERM to the idle master (what `docker stop` sends after an ad-hoc session): nothing runs,
        # so nothing is interrupted — the last test's verdict is the exit code and run.json keeps it
        wait_for(lambda: state() == "stopped", timeout=30, what="the second test to stop", interval=0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == second["exit_code"], (tmp_path / "locust.log").read_text()[-3000:]
        last = json.loads(run_json.read_text())
        assert last["interrupted"] is None and last["exit_code"] == second["exit_code"], last["stop_reason"]
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def start_http_server(directory: Path, port: int) -> subprocess.Popen:
    """Python's http.server on loopback, serving ``directory``; returns once it answers."""
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers():
        assert proc.poll() is None, "http.server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_for(answers, timeout=20, what="http.server", interval=0.1)
    return proc


def test_own_http_backend_killed_and_restarted_shows_the_outage(tmp_path):
    from stresskit.target.launcher import free_port

    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "ok.txt").write_text("ok")
    port = free_port()
    backend = start_http_server(tmp_path / "www", port)
    restarted = None
    try:
        drill = Drill(tmp_path, f"http://127.0.0.1:{port}", "", "--availability-max-unavailable", "40%",
                      users="api = 2", extra_env={"DRILL_API_PATH": "/ok.txt"})
        drill.wait_until_loaded(5)
        killed_at = time.time()
        backend.kill()  # SIGKILL, by its pid
        backend.wait(10)
        wait_for(lambda: drill.live().get("failures", 0) > 0 or drill.process.poll() is not None, timeout=20,
                 what="failed requests while the backend is down", interval=0.2)
        restarted = start_http_server(tmp_path / "www", port)
        restarted_at = time.time()
        code, doc, output = drill.finish()
    finally:
        for proc in (backend, restarted):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)

    assert code == ExitCode.PASS, output[-3000:]
    api = doc["availability"]["kinds"]["api"]
    assert set(doc["availability"]["kinds"]) == {"api"}
    assert len(api["outages"]) == 1 and api["failures"] > 0, api
    outage = api["outages"][0]
    assert killed_at - 2 <= outage["start"] <= killed_at + 3, (outage, killed_at)
    # the users back off (up to 10 s between tries), so the outage ends at their first try after the restart
    assert restarted_at - 1 <= outage["end"] <= restarted_at + 12, (outage, restarted_at)
    assert "availability: api outage started" in output and "availability: api outage ended" in output
    assert criteria(doc)["availability"]["passed"] is True
