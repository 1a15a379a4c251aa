"""``locustfiles/browser.py`` run by the real ``locust`` command: a short headless run that
ends by itself once the quota's pages are done, and a missing chromedriver that gives one
clear error line, a failure entry and no traceback."""

import locust  # noqa: F401,I001  (gevent patching first)

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCUST = str(Path(sys.executable).with_name("locust"))
LOCUSTFILE = str(ROOT / "locustfiles" / "browser.py")


def run_locust(args, tmp_path, env_extra=None, timeout=120):
    env = dict(os.environ, **(env_extra or {}))
    env.pop("STRESSKIT_PAGES", None)
    t0 = time.monotonic()
    proc = subprocess.run(
        [LOCUST, "-f", LOCUSTFILE, "--headless", "--csv", str(tmp_path / "run"), "--only-summary", *args],
        check=False, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path,
    )
    return proc, time.monotonic() - t0


def stats(tmp_path):
    with open(tmp_path / "run_stats.csv") as f:
        return {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}


@pytest.mark.browser
def test_browser_locustfile_processes_the_pages_and_stops_by_itself(target, tmp_path):
    proc, elapsed = run_locust(
        ["--host", target.url, "-u", "1", "-r", "1", "-t", "100s", "--pages", "3",
         "--browser-restart-every", "2"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert elapsed < 90, "the run did not stop when the pages were done"
    assert "all 3 pages finished: stopping the run" in proc.stderr
    rows = stats(tmp_path)
    page = rows[("PAGE", "/pages/[page]")]
    assert (int(page["Request Count"]), int(page["Failure Count"])) == (3, 0), proc.stderr[-4000:]
    assert float(page["Average Content Size"]) == 20.0  # rows extracted per page
    assert int(rows[("PAGE", "restart: proactive")]["Request Count"]) == 1  # --browser-restart-every 2
    assert int(rows[("PAGE", "session start")]["Failure Count"]) == 0


def test_missing_chromedriver_is_one_clear_error_without_traceback(target, tmp_path):
    proc, elapsed = run_locust(
        ["--host", target.url, "-u", "2", "-r", "2", "-t", "4s"], tmp_path,
        env_extra={"STRESSKIT_CHROMEDRIVER": "/nonexistent"}, timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1  # the failure entries fail the run
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "/nonexistent" in line and "ERROR" in line]
    assert len(lines) == 1, output[-3000:]
    assert "STRESSKIT_CHROMEDRIVER" in lines[0] and "page processor cannot start a browser" in lines[0]
    start = stats(tmp_path)[("PAGE", "session start")]
    assert (int(start["Request Count"]), int(start["Failure Count"])) == (2, 2)
    assert elapsed < 40
