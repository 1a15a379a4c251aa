"""Every scenario as a real ``locust --headless`` process against the reference target, and each
criterion and threshold passing and failing with its exit code.

The locustfile (tests/e2e/locustfiles/scenario_mix.py) runs stresskit's API, WebSocket and cache
users and an HTTP page processor against a real target and a real redis-server; durations are
shrunk with ``--time-scale`` so each run takes seconds. Results are read from ``<prefix>_run.json``
(never from printed output), except the one error line that bad configuration must print.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from stresskit.agent.launcher import start_agent
from stresskit.core.exitcodes import ExitCode
from stresskit.run.scenarios import load_scenarios
from stresskit.target.launcher import free_port, start_target
from tests.conftest import ADMIN_TOKEN, ROOT

LOCUSTFILE = "tests/e2e/locustfiles/scenario_mix.py"
SCENARIOS = load_scenarios(ROOT / "stresskit" / "data" / "scenarios.toml")
RUN_TIMEOUT = 90
AGENT_TOKEN = "e2e-agent-token"


@pytest.fixture(scope="module")
def mix_target(redis_server, tmp_path_factory):
    """A reference target with all 724 pages, fast pages and a rate limit the users never reach."""
    server = start_target(workdir=tmp_path_factory.mktemp("mix-target"), redis_url=redis_server.url,
                          admin_token=ADMIN_TOKEN,
                          extra_args=["--latency-ms", "1", "--rate-limit", "20000", "--rate-burst", "40000"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """A real resource agent on this host (the target's host), sampling every 0.2 s."""
    with start_agent(["--interval", "0.2"], token=AGENT_TOKEN, workdir=tmp_path_factory.mktemp("agent")) as proc:
        yield proc


class LocustRun:
    """The outcome of one locust process: exit code, output, and its run.json (if written)."""

    def __init__(self, completed: subprocess.CompletedProcess, prefix: Path) -> None:
        self.code = completed.returncode
        self.output = completed.stdout + completed.stderr
        path = Path(f"{prefix}_run.json")
        self.doc = json.loads(path.read_text()) if path.exists() else None

    @property
    def criteria(self) -> dict:
        return {c["name"]: c["passed"] for c in self.doc["criteria"]}

    @property
    def thresholds(self) -> dict:
        return {t["expression"]: t["passed"] for t in self.doc["thresholds"]}

    @property
    def elapsed(self) -> float:
        return self.doc["ended"] - self.doc["started"]

    def explain(self) -> str:
        return f"exit {self.code}\n" + "\n".join(self.output.splitlines()[-40:])


def run_locust(tmp_path, host, redis_url, *args, env=None, name="run", timeout=RUN_TIMEOUT) -> LocustRun:
    """Run scenario_mix.py headless to its end (bounded by ``timeout``) from the repository root."""
    prefix = tmp_path / name
    child_env = dict(os.environ, E2E_REDIS_URL=redis_url, **(env or {}))
    for var in ("STRESSKIT_SCENARIO", "STRESSKIT_TIME_SCALE", "STRESSKIT_THRESHOLD", "STRESSKIT_SCENARIO_FILE"):
        if var not in (env or {}):
            child_env.pop(var, None)
    command = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary",
               "--host", host, "--csv", str(prefix), *args]
    completed = subprocess.run(command, check=False, cwd=ROOT, env=child_env, capture_output=True, text=True,
                               timeout=timeout)
    return LocustRun(completed, prefix)


def admin_faults(target, **knobs):
    request = urllib.request.Request(f"{target.url}/admin/faults", data=json.dumps(knobs).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


# scenario, time scale (≈ 5–7 s runs), seconds a page user waits between pages
RUNS = [
    ("light", 0.006, 0.25),
    ("medium", 0.0015, 0.06),
    ("heavy", 0.00075, 0.05),
    ("production", 0.0001, 0.01),  # without a wait, 724 pages can be done before the first users spawn
    ("endurance", 0.0002, 0.01),
]
CLASS_KIND = {"Api": "api", "Chat": "websocket", "Sessions": "cache", "HttpPages": "browser"}


@pytest.mark.parametrize(("name", "scale", "page_wait"), RUNS, ids=[r[0] for r in RUNS])
def test_every_scenario_runs_headless_and_passes(tmp_path, mix_target, redis_server, agent, name, scale, page_wait):
    scenario = SCENARIOS.get(name).scaled(scale)
    thresholds = ["p95:/api/items<5000", "fail_ratio<0.05", "cache_hit_rate>0.05"] if name == "light" else []
    args = ["--scenario", name, "--time-scale", str(scale), "--agent", agent.url, "--agent-token", AGENT_TOKEN]
    for expression in thresholds:
        args += ["--threshold", expression]
    run = run_locust(tmp_path, mix_target.url, redis_server.url, *args, env={"E2E_PAGE_WAIT": str(page_wait)})
    assert run.code == ExitCode.PASS, run.explain()
    doc = run.doc
    assert (doc["scenario"], doc["time_scale"], doc["exit_code"]) == (name, scale, 0)
    assert doc["scenario_duration"] == pytest.approx(scenario.duration)
    assert all(run.criteria.values()), doc["criteria"]
    stable = doc["criteria"][3]
    assert stable["value"] == 0 and stable["detail"].startswith("no sustained >90% CPU/memory in "), stable
    assert all(run.thresholds.values()) and len(run.thresholds) == len(thresholds), doc["thresholds"]
    # the run lasts its duration; its pages are paced over it and all are due by the end
    assert doc["pages_total"] == doc["pages_due"] == scenario.pages
    assert "duration" in doc["stop_reason"] and doc["pages_completed"] >= 0.8 * scenario.pages
    assert scenario.duration - 0.5 <= run.elapsed <= scenario.duration + 4  # the first 1 s tick after the duration
    # users per kind follow the scenario's mix: at least the first stage's, at most the largest stage's
    stages = [scenario.stage_users(stage) for stage in scenario.stages]
    for cls, kind in CLASS_KIND.items():
        assert stages[0][kind] <= doc["peak_users"].get(cls, 0) <= max(s[kind] for s in stages), (cls, doc)


def test_duration_ends_the_run_and_too_few_pages_fail_the_criterion(tmp_path, mix_target, redis_server):
    scenario = SCENARIOS.get("light").scaled(0.006)  # 5.4 s: 1.08 s warm-up, 3.6 s steady, 0.72 s cool-down
    run = run_locust(tmp_path, mix_target.url, redis_server.url, "--scenario", "light", "--time-scale", "0.006",
                     env={"E2E_PAGE_WAIT": "3"})  # one page user, a page every 3 s: 2 of 10 pages
    assert run.code == ExitCode.CRITERIA_FAILED, run.explain()
    assert run.criteria == {"page_completion": False, "critical_failures": True, "error_ratio": True,
                            "resources_stable": True, "availability": True, "kind_error_ratio": True}
    assert run.doc["pages_completed"] < 8
    assert run.doc["stop_reason"] == "scenario duration (5.4s) over"
    assert scenario.duration - 0.5 <= run.elapsed <= scenario.duration + 4
    assert run.doc["peak_users"] == {"Api": 4, "Chat": 2, "Sessions": 2, "HttpPages": 1}, "the steady stage's mix"


def test_a_resource_alert_fails_the_resources_criterion(tmp_path, mix_target, redis_server, agent):
    """The real agent's memory readings against a 1% alert threshold held for 0.5 s: a real alert."""
    run = run_locust(tmp_path, mix_target.url, redis_server.url, "--scenario", "light", "--time-scale", "0.004",
                     "--agent", agent.url, "--agent-token", AGENT_TOKEN, "--alert-memory", "1",
                     "--alert-cpu", "100", "--alert-sustain", "0.5", env={"E2E_PAGE_WAIT": "0.3"})
    assert run.code == ExitCode.CRITERIA_FAILED, run.explain()
    assert run.criteria == {"page_completion": True, "critical_failures": True, "error_ratio": True,
                            "resources_stable": False, "availability": True, "kind_error_ratio": True}
    assert run.doc["criteria"][3]["detail"].startswith("1 alert(s); first: memory_percent at")
    assert [a["metric"] for a in run.doc["run_state"]["alerts"]] == ["memory_percent"]


def test_failing_thresholds_exit_with_the_threshold_code(tmp_path, mix_target, redis_server):
    run = run_locust(tmp_path, mix_target.url, redis_server.url, "--scenario", "light", "--time-scale", "0.004",
                     "--threshold", "p95:/api/items<1", "--threshold", "fail_ratio<0.05",
                     "--threshold", "cache_hit_rate>0.999", "--threshold", "p95:/api/no-such-endpoint<5000",
                     env={"E2E_PAGE_WAIT": "0.1"})
    assert run.code == ExitCode.THRESHOLD_FAILED, run.explain()
    assert run.thresholds == {"p95:/api/items<1": False, "fail_ratio<0.05": True, "cache_hit_rate>0.999": False,
                              "p95:/api/no-such-endpoint<5000": False}
    assert all(run.criteria.values())
    assert not run.doc["stopped_early"]


def test_abort_on_fail_threshold_stops_the_run_early(tmp_path, mix_target, redis_server):
    scenario = SCENARIOS.get("light").scaled(0.02)  # 18 s if nothing stopped it
    run = run_locust(tmp_path, mix_target.url, redis_server.url, "--scenario", "light", "--time-scale", "0.02",
                     "--threshold", "p50:/api/items/[id]<1,abort", env={"E2E_PAGE_WAIT": "5"})
    assert run.code == ExitCode.STOPPED_EARLY, run.explain()
    assert run.doc["stopped_early"] is True
    assert run.doc["stop_reason"].startswith("abort-on-fail threshold 'p50:/api/items/[id]<1,abort' crossed")
    assert run.elapsed < scenario.duration / 2


API_ONLY = """
[scenarios.api-only]
description = "API users only, for the error-ratio guard"
pages = 0
duration = "30s"
failure_rate = 0.0
users = { api = 4 }
stages = [{ duration = "30s", spawn_rate = 10 }]
"""


def test_error_ratio_above_half_stops_the_run_early(tmp_path, target_factory, redis_server):
    target = target_factory(extra_args=["--latency-ms", "1", "--rate-limit", "20000", "--rate-burst", "40000"])
    admin_faults(target, error_ratio=1.0)  # every /api call answers 500
    scenario_file = tmp_path / "api-only.toml"
    scenario_file.write_text(API_ONLY)
    run = run_locust(tmp_path, target.url, redis_server.url, "--scenario-file", str(scenario_file),
                     "--scenario", "api-only")
    assert run.code == ExitCode.STOPPED_EARLY, run.explain()
    assert run.doc["stop_reason"].startswith("error ratio 100% > 50%")
    assert run.criteria["error_ratio"] is False and run.criteria["page_completion"] is True
    assert run.elapsed < 10, "stopped within seconds of a 30 s scenario"


def test_a_critical_failure_exits_with_its_own_code(tmp_path, mix_target, redis_server):
    gone = f"http://127.0.0.1:{free_port()}"  # the pages backend crashed before the run and never returns
    run = run_locust(tmp_path, mix_target.url, redis_server.url, "--scenario", "light", "--time-scale", "0.006",
                     env={"E2E_PAGES_HOST": gone, "E2E_PAGE_ATTEMPTS": "3"})
    assert run.code == ExitCode.CRITICAL_FAILURE, run.explain()
    assert run.doc["critical_failures"] >= 1  # each page user the shape (re)starts fails the same way
    assert run.criteria["critical_failures"] is False and run.criteria["error_ratio"] is True
    assert f"pages backend {gone} unreachable" in run.doc["run_state"]["critical_details"][0]


class ConnectionCounter:
    """A TCP listener that counts connections: proof that no load was sent."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()


BAD = [
    ([], {"STRESSKIT_SCENARIO": "gigantic"},  # the variable behind --scenario
     ("unknown scenario 'gigantic' in stresskit/data/scenarios.toml; known scenarios: light, medium, heavy, production, "
      "endurance")),
    (["--threshold", "p95:/api/items<<500"], {}, "malformed --threshold 'p95:/api/items<<500'"),
    (["--time-scale", "0"], {}, "--time-scale must be a number > 0"),
    (["--scenario-file", "BAD_FILE"], {}, "scenario 'light': field 'failure_rate': 2 must be <= 1"),
]


@pytest.mark.parametrize(("args", "env", "message"), BAD, ids=["scenario", "threshold", "scale-0", "scenario-file"])
def test_bad_configuration_is_one_line_and_no_load(tmp_path, args, env, message):
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text((ROOT / "stresskit" / "data" / "scenarios.toml").read_text().replace("failure_rate = 0.02",
                                                                                  "failure_rate = 2", 1))
    args = [str(bad_file) if a == "BAD_FILE" else a for a in args]
    counter = ConnectionCounter()
    try:
        started = time.monotonic()
        run = run_locust(tmp_path, f"http://127.0.0.1:{counter.port}", f"redis://127.0.0.1:{counter.port}/0",
                         *args, env=env, timeout=60)
        took = time.monotonic() - started
    finally:
        counter.close()
    assert run.code == ExitCode.BAD_CONFIG, run.explain()
    errors = [line for line in run.output.splitlines() if "ERROR" in line or "Traceback" in line]
    assert len(errors) == 1, run.output
    assert "bad configuration: " in errors[0] and message in errors[0], errors
    assert counter.count == 0, "no connection may reach the host before the configuration is valid"
    assert run.doc is None
    assert took < 30


def test_class_picker_runs_the_shape_picked_in_the_web_ui(tmp_path, mix_target, redis_server):
    """Locust's web UI with --class-picker offers every shape; swarming with one runs its scenario."""
    port = free_port()
    prefix = tmp_path / "ui"
    env = dict(os.environ, E2E_REDIS_URL=redis_server.url, E2E_PAGE_WAIT="0.01")
    env.pop("STRESSKIT_SCENARIO", None)
    command = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--class-picker", "--web-host", "127.0.0.1",
               "--web-port", str(port), "--host", mix_target.url, "--time-scale", "0.0003", "--csv", str(prefix)]
    with open(tmp_path / "ui.log", "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        page = _poll(lambda: _get(f"http://127.0.0.1:{port}/"), 30, "web UI up")
        for shape in ("SelectedScenario", "LightShape", "MediumShape", "HeavyShape", "ProductionShape",
                      "EnduranceShape"):
            assert f'"{shape}"' in page
        form = urllib.parse.urlencode({"user_count": 1, "spawn_rate": 1, "host": mix_target.url,
                                       "shape_class": "EnduranceShape"}).encode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/swarm", data=form, timeout=10) as response:
            assert json.loads(response.read())["success"] is True
        run_file = Path(f"{prefix}_run.json")
        _poll(lambda: run_file.exists(), 40, "the picked scenario to finish")  # verdict written at test stop
        doc = json.loads(run_file.read_text())
        assert (doc["scenario"], doc["time_scale"], doc["exit_code"]) == ("endurance", 0.0003, 0)
        assert doc["pages_total"] == 200
    finally:
        process.terminate()
        code = process.wait(30)
    assert code == ExitCode.PASS, (tmp_path / "ui.log").read_text()[-3000:]


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def _poll(probe, timeout, what):
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.browser
def test_light_with_real_page_processors(tmp_path, mix_target):
    """The light scenario with stresskit's PageProcessorUser: one headless Chromium walks 10 pages."""
    prefix = tmp_path / "browser"
    command = [sys.executable, "-m", "locust", "-f", "tests/e2e/locustfiles/scenario_browser.py", "--headless",
               "--only-summary", "--host", mix_target.url, "--scenario", "light", "--time-scale", "0.03",
               "--end-on-quota", "--csv", str(prefix)]
    completed = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    run = LocustRun(completed, prefix)
    assert run.code == ExitCode.PASS, run.explain()
    doc = run.doc
    assert (doc["pages_completed"], doc["pages_total"], doc["stop_reason"]) == (10, 10, "page quota complete")
    peak = doc["peak_users"]
    assert set(peak) == {"Api", "Pages"}, "websocket and cache users skipped: no class of that kind"
    # a fast Chromium can finish the 10 pages before the steady stage: warm-up (2) to steady (4) API users
    assert peak["Pages"] == 1 and 2 <= peak["Api"] <= 4, peak
    assert run.elapsed < SCENARIOS.get("light").scaled(0.03).duration
