"""``use_stresskit(events)`` honours ``--scenario`` without a shape import, or says why it cannot (exit 2).

Real ``locust --headless`` processes run tests/e2e/locustfiles/own_users.py — a team's own
locustfile with ApiUser / WebSocketUser subclasses — against the reference target on loopback.
"""

import json
import os
import subprocess
import sys

from stresskit.core.exitcodes import ExitCode
from stresskit.run.scenarios import load_scenarios
from tests.conftest import ROOT

LOCUSTFILE = "tests/e2e/locustfiles/own_users.py"
SCALE = 0.005  # light: 15 min -> 4.5 s


def run(tmp_path, target, *args, shape=""):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRESSKIT_")}
    env["OWN_SHAPE"] = shape
    prefix = tmp_path / "run"
    completed = subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary", "--host", target.url,
         "--time-scale", str(SCALE), "--pages", "0", "--csv", str(prefix), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False)
    path = tmp_path / "run_run.json"
    return completed, (json.loads(path.read_text()) if path.exists() else None)


def test_scenario_runs_without_a_shape_import(tmp_path, target):
    completed, doc = run(tmp_path, target, "--scenario", "light")
    output = completed.stdout + completed.stderr
    assert completed.returncode == ExitCode.PASS, output[-3000:]
    assert "SelectedScenario runs --scenario light" in output
    assert "No run time limit set" not in output
    scenario = load_scenarios().get("light").scaled(SCALE)
    assert doc["scenario"] == "light"
    assert doc["ended"] - doc["started"] <= scenario.duration + 4
    # the scenario's mix, not Locust's default single user
    assert doc["peak_users"]["Catalogue"] == scenario.users["api"]
    assert doc["peak_users"]["Chat"] == scenario.users["websocket"]


def test_scenario_with_a_plain_shape_of_ones_own_is_bad_configuration(tmp_path, target):
    completed, _ = run(tmp_path, target, "--scenario", "heavy", shape="plain")
    assert completed.returncode == ExitCode.BAD_CONFIG
    lines = [line for line in completed.stderr.splitlines() if "bad configuration" in line]
    assert len(lines) == 1 and "TwoUsersForThreeSeconds" in lines[0] and "--scenario heavy" in lines[0], lines


def test_a_plain_shape_of_ones_own_runs_and_says_so(tmp_path, target):
    completed, _ = run(tmp_path, target, shape="plain")
    assert completed.returncode == ExitCode.PASS, completed.stderr[-3000:]
    assert "own shape TwoUsersForThreeSeconds runs" in completed.stderr


def test_scenario_the_only_imported_shape_does_not_offer_is_bad_configuration(tmp_path, target):
    completed, _ = run(tmp_path, target, "--scenario", "heavy", shape="light")
    assert completed.returncode == ExitCode.BAD_CONFIG
    assert "only offers LightShape (scenario light)" in completed.stderr
