"""``stresskit suite`` as a real command: light → medium → heavy against the reference target, the
go / no-go summary, and the stop at the first scenario that fails critically (distributed)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.e2e.test_scenario_runs import admin_faults, mix_target  # noqa: F401  (module fixture)

LOCUSTFILE = "tests/e2e/locustfiles/scenario_mix.py"


def suite(tmp_path, *args, env=None, timeout=240):
    child_env = dict(os.environ, **(env or {}))
    for var in ("STRESSKIT_SCENARIO", "STRESSKIT_TIME_SCALE", "STRESSKIT_THRESHOLD", "STRESSKIT_SCENARIO_FILE"):
        child_env.pop(var, None)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "stresskit", "suite", "-f", LOCUSTFILE, "--out", str(out), *args]
    done = subprocess.run(command, check=False, cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=timeout)
    summary_path = out / "suite_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return done, out, summary


def test_light_medium_heavy_go(tmp_path, mix_target, redis_server):  # noqa: F811
    done, out, summary = suite(tmp_path, "--host", mix_target.url, "--time-scale", "0.001",
                               "--progress-interval", "1", "light", "medium", "heavy", "--", "--end-on-quota",
                               env={"E2E_REDIS_URL": redis_server.url, "E2E_PAGE_WAIT": "0.05"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary["verdict"] == "GO" and summary["exit_code"] == 0 and summary["time_scale"] == 0.001
    rows = summary["scenarios"]
    assert [r["scenario"] for r in rows] == ["light", "medium", "heavy"]
    for row, pages in zip(rows, (10, 50, 100), strict=True):
        assert row["exit_code"] == 0 and row["verdict"] == "GO", row
        assert (row["pages_completed"], row["pages_total"]) == (pages, pages)
        assert row["success_rate"] > 0.99
        assert row["duration_s"] > 0
        assert row["pages_per_hour"] == pytest.approx(pages / (row["duration_s"] / 3600), rel=0.05)
        assert row["session_restarts"] == 0 and row["critical_failures"] == 0
        run = json.loads((out / f"{row['scenario']}_run.json").read_text())
        assert run["scenario"] == row["scenario"] and run["time_scale"] == 0.001
    document = (out / "suite_summary.md").read_text()
    assert document.startswith("# stresskit suite: GO")
    table = [[cell.strip() for cell in line.strip("|").split("|")] for line in document.splitlines()
             if line.startswith("|")]
    assert table[0] == ["scenario", "verdict", "duration", "pages", "success rate", "pages/hour", "session restarts",
                        "critical failures"]
    assert [row[0] for row in table[2:]] == ["light", "medium", "heavy"] and table[4][3] == "100 of 100"
    # progress while it runs: heavy (7.2 s scaled) prints at least one live line from heavy_live.json
    progress = [line for line in done.stdout.splitlines() if line.startswith("[3/3 heavy] 0:")]
    assert any("users" in line and "requests" in line for line in progress), done.stdout


STOP_FILE = """
[scenarios.light]
description = "cache and WebSocket users only: untouched by the target's API fault knob"
pages = 0
duration = "8s"
failure_rate = 0.0
users = { cache = 2, websocket = 1 }
stages = [{ duration = "8s", spawn_rate = 10 }]

[scenarios.medium]
description = "API users only: every call fails while the knob is on"
pages = 0
duration = "40s"
failure_rate = 0.0
users = { api = 4 }
stages = [{ duration = "40s", spawn_rate = 10 }]

[scenarios.heavy]
description = "never reached"
pages = 0
duration = "4s"
failure_rate = 0.0
users = { api = 2 }
stages = [{ duration = "4s", spawn_rate = 10 }]
"""


def test_suite_stops_at_the_first_critical_failure_distributed(tmp_path, target_factory, redis_server):
    target = target_factory(extra_args=["--latency-ms", "1", "--rate-limit", "20000", "--rate-burst", "40000"])
    admin_faults(target, error_ratio=1.0)  # the backend answers every /api call with 500
    scenario_file = tmp_path / "scenarios.toml"
    scenario_file.write_text(STOP_FILE)
    done, out, summary = suite(tmp_path, "--host", target.url, "--scenario-file", str(scenario_file),
                               "light", "medium", "heavy", "--", "--processes", "2",
                               env={"E2E_REDIS_URL": redis_server.url})
    assert done.returncode == 5, done.stdout + done.stderr
    assert summary["verdict"] == "NO-GO" and summary["exit_code"] == 5
    light, medium, heavy = summary["scenarios"]
    assert light["exit_code"] == 0 and light["verdict"] == "GO", (out / "light.log").read_text()[-3000:]
    assert light["pages_total"] == 0, "no page processors in this scenario: no page quota"
    assert medium["exit_code"] == 5 and medium["stop_reason"].startswith("error ratio 100% > 50%")
    assert medium["duration_s"] < 30, "stopped early, long before its 40 s"
    assert heavy["exit_code"] is None and heavy["verdict"] == "not run"
    assert heavy["note"] == "not run: medium failed critically"
    assert not (out / "heavy.log").exists() and not (out / "heavy_run.json").exists()
    medium_run = json.loads((out / "medium_run.json").read_text())
    assert len(medium_run["workers"]) == 2, "the run was distributed over two worker processes"
    assert "| heavy " in (out / "suite_summary.md").read_text()


def test_unknown_scenario_starts_nothing(tmp_path):
    done, out, summary = suite(tmp_path, "light", "gigantic", timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        ("stresskit suite: error: unknown scenario 'gigantic' in stresskit/data/scenarios.toml; known scenarios: light, "
         "medium, heavy, production, endurance, open_api")]
    assert summary is None and not out.exists()
