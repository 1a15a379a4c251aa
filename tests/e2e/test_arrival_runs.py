"""Open-model arrival rates end to end: real ``locust`` runs against a server of the test's own.

wrk2's demonstration as a known-answer test: a server that stalls every response for 1 s once
every 5 s, driven at a fixed arrival rate, shows the stall in the latency measured from the
intended start (P99 >= 0.5 s), while a closed-model run against the same server keeps its P99
low (its users wait for the stall and send nothing meanwhile). A steady server gives corrected
≈ uncorrected. A ceiling too small for the rate drops iterations, warns, and fails the run.
Results come from ``_run.json`` and ``_latency.jsonl``, never from printed output (except the one
error line bad configuration must print).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stresskit.core.exitcodes import ExitCode
from stresskit.report.latency import read_latency
from stresskit.target.launcher import free_port
from tests.conftest import ROOT
from tests.support.wait import wait_for

LOCUSTFILE = "tests/e2e/locustfiles/arrival_api.py"
KEY = ("GET", "/")

SCENARIOS = textwrap.dedent("""
    [scenarios.open]
    pages = 0
    duration = "8s"
    failure_rate = 0
    users = { api = 0 }
    stages = [ { name = "steady", duration = "8s", rate = { api = 100 }, max_users = { api = 150 } } ]

    [scenarios.starved]
    pages = 0
    duration = "8s"
    failure_rate = 0
    users = { api = 0 }
    stages = [ { name = "steady", duration = "8s", rate = { api = 100 }, max_users = { api = 2 } } ]

    [scenarios.closed]
    pages = 0
    duration = "8s"
    failure_rate = 0
    users = { api = 4 }
    spawn_rate = 50
    stages = [ { name = "steady", duration = "8s" } ]
""")


class Server:
    def __init__(self, stall: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests/support/stall_server.py"), str(self.port),
                                      "--stall", str(stall), "--period", "5"], stdout=subprocess.DEVNULL)
        wait_for(self._up, timeout=15, what="the stall server to listen")

    def _up(self) -> bool:
        assert self.proc.poll() is None, "the stall server exited"
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def stalling():
    server = Server(stall=1.0)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def steady():
    server = Server(stall=0.0)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("arrival") / "scenarios.toml"
    path.write_text(SCENARIOS)
    return path


def run(tmp_path: Path, host: str, scenario_file: Path, scenario: str, *args: str, name: str = "run"):
    prefix = tmp_path / name
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRESSKIT_")}
    command = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary", "--host", host,
               "--scenario-file", str(scenario_file), "--scenario", scenario, "--csv", str(prefix), *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False)
    path = Path(f"{prefix}_run.json")
    doc = json.loads(path.read_text()) if path.exists() else None
    latency, _ = read_latency(f"{prefix}_latency.jsonl")
    return done, doc, latency


def explain(done) -> str:
    return f"exit {done.returncode}\n" + "\n".join((done.stdout + done.stderr).splitlines()[-30:])


def p99(hist) -> float:
    return hist.quantiles((0.99,))[0]


def test_stall_shows_in_latency_from_the_intended_start_but_not_in_a_closed_model_run(tmp_path, stalling,
                                                                                     scenario_file):
    done, doc, latency = run(tmp_path, stalling.url, scenario_file, "open", name="open")
    assert done.returncode == ExitCode.PASS, explain(done)
    arrival = doc["arrival"]["api"]
    assert doc["dropped_iterations"] == {"api": arrival["dropped"]} and arrival["dropped"] <= 0.01 * arrival["due"]
    assert 0.85 * 800 <= arrival["due"] <= 1.02 * 800, arrival  # 100/s for 8 s (the pool starts on its first user)
    criterion = next(c for c in doc["criteria"] if c["name"] == "dropped_iterations")
    assert criterion["passed"] is True and criterion["limit"] == 0.01
    corrected = p99(latency.intended_run[KEY])
    assert corrected >= 500, f"the stall must show from the intended start: P99 {corrected:.0f} ms"

    done, doc, latency = run(tmp_path, stalling.url, scenario_file, "closed", name="closed")
    assert done.returncode == ExitCode.PASS, explain(done)
    assert "dropped_iterations" not in doc and not latency.intended_run
    closed = p99(latency.run[KEY])
    assert closed < 200, f"a closed-model run hides the stall (coordinated omission): P99 {closed:.0f} ms"


def test_a_steady_server_gives_corrected_about_equal_to_uncorrected(tmp_path, steady, scenario_file):
    done, _, latency = run(tmp_path, steady.url, scenario_file, "open")
    assert done.returncode == ExitCode.PASS, explain(done)
    sent, intended = latency.run[KEY], latency.intended_run[KEY]
    assert sent.n == intended.n > 500
    s50, i50 = sent.quantiles((0.5,))[0], intended.quantiles((0.5,))[0]
    assert s50 <= i50 <= s50 + 5, (s50, i50)
    assert p99(sent) <= p99(intended) <= p99(sent) + 30, (p99(sent), p99(intended))


def test_a_ceiling_that_cannot_sustain_the_rate_drops_warns_and_fails(tmp_path, stalling, scenario_file):
    done, doc, _ = run(tmp_path, stalling.url, scenario_file, "starved")
    assert done.returncode == ExitCode.CRITERIA_FAILED, explain(done)
    criterion = next(c for c in doc["criteria"] if c["name"] == "dropped_iterations")
    assert criterion["passed"] is False and criterion["value"] > 0.05, criterion
    assert doc["dropped_iterations"]["api"] > 40
    stats = (tmp_path / "run_stats.csv").read_text()
    assert "DROPPED,api," in stats, "dropped iterations have their own stats entry"
    output = done.stdout + done.stderr
    assert "open model: api dropped" in output and "max_users.api" in output


def test_the_dropped_limit_is_configurable(tmp_path, stalling, scenario_file):
    done, doc, _ = run(tmp_path, stalling.url, scenario_file, "starved", "--max-dropped-ratio", "60%")
    criterion = next(c for c in doc["criteria"] if c["name"] == "dropped_iterations")
    assert criterion["limit"] == 0.6 and criterion["passed"] is True, criterion
    assert done.returncode == ExitCode.PASS, explain(done)


@pytest.mark.parametrize(("stage", "field"), [
    ('rate = { api = -1 }, max_users = { api = 2 }', "rate.api"),
    ('rate = { api = 10 }', "rate.api"),
    ('rate = { api = 10 }, max_users = { api = 2 }, users = { api = 1 }', "users.api"),
])
def test_bad_rates_exit_2_with_one_line_before_any_load(tmp_path, steady, stage, field):
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(f"""
        [scenarios.bad]
        pages = 0
        duration = "5s"
        failure_rate = 0
        users = {{ api = 0 }}
        stages = [ {{ name = "only", duration = "5s", {stage} }} ]
    """))
    done, doc, _ = run(tmp_path, steady.url, path, "bad")
    assert done.returncode == ExitCode.BAD_CONFIG, explain(done)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "bad configuration" in line]
    assert len(lines) == 1, lines
    assert str(path) in lines[0] and "scenario 'bad'" in lines[0] and f"stages[0] (only).{field}" in lines[0]
    assert doc is None
    stats = tmp_path / "run_stats.csv"
    assert not stats.exists() or "GET," not in stats.read_text(), "no request may have been sent"
