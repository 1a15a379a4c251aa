"""Open-model rates over a real master and two real worker processes (on loopback).

The master splits the rate evenly (each worker its share and a phase), sums the workers' ticket
counts and judges ``dropped_iterations``; when a worker is lost mid-run the remaining one takes
the whole rate from that moment on. Results come from the master's ``_run.json`` and stats.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stresskit.target.launcher import free_port
from tests.conftest import ROOT
from tests.e2e.test_arrival_runs import Server

LOCUSTFILE = "tests/e2e/locustfiles/arrival_api.py"
RATE = 200
DURATION = 12

SCENARIO = textwrap.dedent(f"""
    [scenarios.open2]
    pages = 0
    duration = "{DURATION}s"
    failure_rate = 0
    users = {{ api = 0 }}
    stages = [ {{ name = "steady", duration = "{DURATION}s", rate = {{ api = {RATE} }}, max_users = {{ api = 100 }} }} ]
""")


@pytest.fixture(scope="module")
def steady():
    server = Server(stall=0.0)
    yield server
    server.stop()


class Cluster:
    """A headless master expecting two workers, and the two workers; stopped by pid at the end."""

    def __init__(self, tmp_path: Path, host: str) -> None:
        scenarios = tmp_path / "scenarios.toml"
        scenarios.write_text(SCENARIO)
        self.prefix = tmp_path / "run"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRESSKIT_", "LOCUST_"))}
        base = [sys.executable, "-m", "locust", "-f", LOCUSTFILE]
        self.master = subprocess.Popen(
            [*base, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--expect-workers", "2", "--headless", "--only-summary", "--host", host,
             "--scenario-file", str(scenarios), "--scenario", "open2", "--csv", str(self.prefix)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.workers = [subprocess.Popen([*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                         cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        for _ in range(2)]

    def requests(self) -> int:
        try:
            with open(f"{self.prefix}_stats.csv", newline="") as fh:
                return sum(int(r["Request Count"]) for r in csv.DictReader(fh) if r["Name"] == "/")
        except (FileNotFoundError, KeyError, ValueError):
            return 0

    def wait(self, timeout: float = 120) -> tuple[int, str, dict]:
        try:
            output, _ = self.master.communicate(timeout=timeout)
        finally:
            self.stop()
        doc = json.loads(Path(f"{self.prefix}_run.json").read_text())
        return self.master.returncode, output, doc

    def stop(self) -> None:
        for proc in [self.master, *self.workers]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [self.master, *self.workers]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def stats_count(prefix: Path) -> int:
    with open(f"{prefix}_stats.csv", newline="") as fh:
        return sum(int(r["Request Count"]) for r in csv.DictReader(fh) if r["Type"] == "GET" and r["Name"] == "/")


def test_the_master_splits_the_rate_over_two_workers(tmp_path, steady):
    code, output, doc = Cluster(tmp_path, steady.url).wait()
    assert code == 0, output[-3000:]
    assert len(doc["workers"]) == 2
    api = doc["arrival"]["api"]
    assert api["scheduled"] >= 0.85 * RATE * DURATION, api  # pacing starts when a worker's first user is ready
    assert abs(api["due"] - api["scheduled"]) <= 0.01 * api["scheduled"] + 2, api
    assert api["achieved_ratio"] >= 0.99 and api["dropped"] <= 0.01 * api["due"], api
    completed = stats_count(tmp_path / "run")
    assert abs(completed - api["started"]) <= 0.01 * api["started"], (completed, api)


def test_a_lost_worker_leaves_its_share_to_the_other(tmp_path, steady):
    cluster = Cluster(tmp_path, steady.url)
    deadline = time.monotonic() + 60
    while cluster.requests() < RATE * 3:  # about 3 s into the paced run (the stats file is written each second)
        assert time.monotonic() < deadline and cluster.master.poll() is None, "the run did not start"
        time.sleep(0.2)
    cluster.workers[0].send_signal(signal.SIGTERM)
    code, output, doc = cluster.wait()
    api = doc["arrival"]["api"]
    # without a rebalance the lost half of the remaining ~8 s would be missing (due ≈ 0.67 of the whole)
    assert api["due"] >= 0.8 * RATE * DURATION, (api, doc["criteria"], output[-3000:])
    assert "rate rebalanced" in output, output[-3000:]
    assert code in (0, 3), (code, doc["criteria"], output[-3000:])  # a lost worker may drop a poll interval's
