"""A scenario runs its duration: its pages are paced over it, and finishing them does not end the run.

Real ``locust --headless`` processes (tests/e2e/locustfiles/scenario_mix.py) against the reference
target and a real redis-server, with a scenario file of the test's own (8 s). The page users could
finish all 12 pages in well under a second; paced, page k goes out only once it is due, so the
run's live file shows pages due growing with the pace and the run ends at its duration. With
``--end-on-quota`` the same pages end the run within seconds of a 60 s scenario.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from stresskit.core.exitcodes import ExitCode
from stresskit.run.pacing import PagePace
from stresskit.run.scenarios import load_scenarios
from tests.conftest import ROOT
from tests.e2e.test_scenario_runs import LOCUSTFILE, LocustRun, run_locust

PAGES = 12
PACED = f"""
[scenarios.paced]
description = "12 pages paced over 8 s: a third in the first half (load 0.5), two thirds in the second"
pages = {PAGES}
duration = "8s"
failure_rate = 0.0
users = {{ api = 1, browser = 2 }}
stages = [
  {{ name = "half", duration = "4s", load = 0.5, spawn_rate = 10 }},
  {{ name = "full", duration = "4s", load = 1.0, spawn_rate = 10 }},
]

[scenarios.quick]
description = "the same pages in a 60 s scenario, for --end-on-quota"
pages = {PAGES}
duration = "60s"
failure_rate = 0.0
users = {{ api = 1, browser = 2 }}
stages = [{{ duration = "60s", spawn_rate = 10 }}]
"""
TARGET_ARGS = ["--latency-ms", "1", "--rate-limit", "20000", "--rate-burst", "40000"]


def scenario_file(tmp_path) -> Path:
    path = tmp_path / "paced.toml"
    path.write_text(PACED)
    return path


def test_a_paced_run_lasts_its_duration_and_pages_follow_the_pace(tmp_path, target_factory, redis_server):
    target = target_factory(extra_args=TARGET_ARGS)
    file = scenario_file(tmp_path)
    pace = PagePace.for_scenario(load_scenarios(file).get("paced"))
    prefix = tmp_path / "paced"
    env = dict(os.environ, E2E_REDIS_URL=redis_server.url, E2E_PAGE_WAIT="0.05")
    for var in ("STRESSKIT_SCENARIO", "STRESSKIT_TIME_SCALE", "STRESSKIT_END_ON_QUOTA", "STRESSKIT_PAGES"):
        env.pop(var, None)
    command = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary",
               "--host", target.url, "--csv", str(prefix), "--scenario-file", str(file), "--scenario", "paced"]
    live = Path(f"{prefix}_live.json")
    samples = []
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                doc = json.loads(live.read_text())
            except (OSError, ValueError):
                doc = None
            if doc and (not samples or doc["updated"] != samples[-1]["updated"]):
                samples.append(doc)
            time.sleep(0.1)  # a poll interval of the live file, bounded by the deadline above
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    run = LocustRun(subprocess.CompletedProcess(command, process.returncode, out, err), prefix)
    assert run.code == ExitCode.PASS, run.explain()
    doc = run.doc
    assert doc["stop_reason"] == "scenario duration (8s) over", "finishing the pages must not end the run"
    assert run.elapsed >= 7.5
    assert (doc["pages_total"], doc["pages_due"]) == (PAGES, PAGES)
    assert doc["pages_completed"] >= 0.8 * PAGES and doc["pages_behind"] == PAGES - doc["pages_completed"]
    assert doc["run_state"]["pages_due"] == PAGES
    criterion = doc["criteria"][0]
    assert criterion["name"] == "page_completion" and criterion["passed"]
    assert f"of {PAGES} pages due completed" in criterion["detail"]
    # while it ran: never more pages finished than were due, and the pace held pages back mid-run
    assert samples, "the live file was written while the run lasted"
    for sample in samples:
        assert sample["pages_completed"] <= sample["pages_due"] <= PAGES, sample
        expected = pace.due_at(sample["elapsed"], PAGES)
        assert abs(sample["pages_due"] - expected) <= 2, (sample, expected)  # the file lags a tick (1 s)
    assert any(s["pages_due"] < PAGES and 1 <= s["elapsed"] <= 6 for s in samples), samples


def test_end_on_quota_ends_the_run_when_its_pages_are_done(tmp_path, target_factory, redis_server):
    target = target_factory(extra_args=TARGET_ARGS)
    # The run lasts about a second: the api kind has at most one complete second of evidence, which
    # its first request (sometimes a failing /api/cache call) decides alone. Availability is judged by
    # every other run of this suite; this one is about the quota ending the run.
    run = run_locust(tmp_path, target.url, redis_server.url, "--scenario-file", str(scenario_file(tmp_path)),
                     "--scenario", "quick", "--end-on-quota", "--availability-max-unavailable", "100%",
                     env={"E2E_PAGE_WAIT": "0.05"})
    assert run.code == ExitCode.PASS, run.explain()
    doc = run.doc
    assert doc["stop_reason"] == "page quota complete"
    assert (doc["pages_total"], doc["pages_due"], doc["pages_completed"], doc["pages_behind"]) == (PAGES, PAGES,
                                                                                                  PAGES, 0)
    assert run.elapsed < 30, "ended by its pages, not its 60 s duration"
