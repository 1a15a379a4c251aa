"""Drill: a worker SIGKILLed mid-run under ``--processes 2``.

Its Chromium and chromedriver die with it (the browser guard), ``_run.json`` names it in
``lost_workers`` with the pages reclaimed from it, and the master — stopped by SIGTERM afterwards
— still writes its files and leaves nothing running.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from stresskit.core.exitcodes import ExitCode
from stresskit.target.launcher import free_port
from tests.conftest import ROOT
from tests.e2e.test_drills_lifecycle import _child_env, _finish, _poll, _still_running, _tree
from tests.support.reap import reap

pytestmark = pytest.mark.timeout(240)

SCENARIOS = """
[scenarios.two_browsers]
description = "browsers and a few API users; more pages due than browsers can do, so a page is always held"
pages = 5000
duration = "3m"
failure_rate = 0.0
conditions = ["basic_validation"]
users = { api = 2, browser = 2 }
spawn_rate = 4
stages = [{ name = "steady", duration = "3m", load = 1.0 }]
"""


def _browsers_of(pid: int) -> dict[int, tuple[float, str]]:
    return {p: v for p, v in _tree(pid).items() if "chrom" in v[1]}


def _has_driver(pid: int) -> bool:
    return any("chromedriver" in name for _, name in _browsers_of(pid).values())


def _start(tmp_path, target, redis_server):
    scenario_file = tmp_path / "scenarios.toml"
    scenario_file.write_text(SCENARIOS)
    prefix = tmp_path / "run"
    log = tmp_path / "master.log"
    command = [sys.executable, "-m", "locust", "-f", "locustfiles/production.py", "--headless", "--only-summary",
               "--processes", "2", "--host", target.url, "--redis-url", redis_server.url,
               "--scenario-file", str(scenario_file), "--scenario", "two_browsers", "--csv", str(prefix)]
    port = free_port()  # never Locust's default 5557: other runs may share this machine
    command += ["--master-bind-port", str(port), "--master-port", str(port)]
    with open(log, "wb") as out:
        master = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=out, stderr=subprocess.STDOUT)

    def workers_running_browsers():
        assert master.poll() is None, log.read_text()[-3000:]
        workers = [c.pid for c in psutil.Process(master.pid).children() if "chrom" not in c.name()]
        return workers if len(workers) == 2 and any(_has_driver(w) for w in workers) else None

    workers = _poll(workers_running_browsers, 120, "two workers, one running a browser")
    return master, workers, prefix, log


def test_sigkilled_worker_takes_its_browsers_and_is_named_in_run_json(tmp_path, target, redis_server):
    master, workers, prefix, log = _start(tmp_path, target, redis_server)
    whole_run = _tree(master.pid)
    try:
        victim = next(w for w in workers if _has_driver(w))
        survivor = next(w for w in workers if w != victim)
        survivor_drivers = {p: v for p, v in _browsers_of(survivor).items() if "chromedriver" in v[1]}
        whole_run = _tree(master.pid)

        def pages_done():
            live = Path(f"{prefix}_live.json")
            return live.exists() and json.loads(live.read_text() or "{}").get("pages_completed", 0) >= 3

        _poll(pages_done, 60, "the browsers to process pages (each user then always holds one)")
        victim_tree = _tree(victim)
        assert sum("chrom" in n and "driver" not in n for _, n in victim_tree.values()) >= 2
        psutil.Process(victim).send_signal(signal.SIGKILL)
        # the guard kills the victim's browser groups at once; the survivor's keep running
        _poll(lambda: not _still_running(victim_tree), 20, "the killed worker's browsers to be gone")
        assert len(_still_running(survivor_drivers)) == len(survivor_drivers), "the other worker's browser was hit"
        _poll(lambda: "missing" in Path(f"{prefix}_workers.csv").read_text(), 30, "the master to miss the worker")
        _poll(lambda: "is gone: pages" in log.read_text(), 15, "the master to reclaim the worker's page")
        master.send_signal(signal.SIGTERM)
        code = _finish(master, log)
    finally:
        reap(master, whole_run)
    output = log.read_text()
    assert code == ExitCode.INTERRUPTED, output[-3000:]
    doc = json.loads(Path(f"{prefix}_run.json").read_text())
    assert doc["interrupted"] == "SIGTERM", doc
    assert len(doc["lost_workers"]) == 1, doc["lost_workers"]
    lost = doc["lost_workers"][0]
    assert lost["worker"] in doc["workers"] and doc["started"] < lost["lost_at"] <= doc["ended"]
    assert lost["pages_reclaimed"] and all(isinstance(p, int) and p > 0 for p in lost["pages_reclaimed"]), lost
    assert _poll(lambda: not _still_running(whole_run), 20, "every process of the run to be gone")


def test_sigkilled_master_takes_its_workers_and_their_browsers(tmp_path, target, redis_server):
    master, _, _, _ = _start(tmp_path, target, redis_server)
    whole_run = _tree(master.pid)
    try:
        assert sum("chromedriver" in n for _, n in whole_run.values()) >= 1
        master.send_signal(signal.SIGKILL)
        master.wait(10)
        try:
            _poll(lambda: not _still_running(whole_run), 30, "the workers and their browsers to be gone")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: still running {_still_running(whole_run)}") from None
    finally:
        reap(master, whole_run)


def test_sigterm_to_a_worker_quits_it_cleanly_with_its_browsers(tmp_path, target, redis_server):
    """A worker stopped by SIGTERM (a node drained) quits through Locust's path: its users stop,
    their browsers are quit, the run goes on with the other worker."""
    master, workers, prefix, log = _start(tmp_path, target, redis_server)
    whole_run = _tree(master.pid)
    try:
        victim = next(w for w in workers if _has_driver(w))
        victim_tree = _tree(victim)
        psutil.Process(victim).send_signal(signal.SIGTERM)
        _poll(lambda: not _still_running(victim_tree), 30, "the worker and its browsers to be gone")
        assert master.poll() is None, "the run must go on with the other worker"
        whole_run.update(_tree(master.pid))
        master.send_signal(signal.SIGTERM)
        code = _finish(master, log)
    finally:
        reap(master, whole_run)
    assert code == ExitCode.INTERRUPTED, log.read_text()[-3000:]
    doc = json.loads(Path(f"{prefix}_run.json").read_text())
    assert doc["lost_workers"] == []  # it quit, it was not lost
    assert _poll(lambda: not _still_running(whole_run), 20, "every process of the run to be gone")
