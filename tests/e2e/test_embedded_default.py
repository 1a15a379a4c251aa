"""``locust -f locustfiles/production.py --headless`` with nothing else starts and stops the demo target."""

import csv
import re
import socket
import subprocess
import sys

from tests.conftest import ROOT


def test_production_locustfile_runs_against_the_embedded_target(tmp_path):
    prefix = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "production.py"), "--headless",
         "-u", "3", "-r", "3", "--run-time", "4s", "--csv", str(prefix), "--only-summary"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    started = re.search(r"started the demo target at http://127\.0\.0\.1:(\d+)", log)
    assert started, log[-3000:]
    with open(f"{prefix}_stats.csv") as fh:
        total = next(row for row in csv.DictReader(fh) if row["Name"] == "Aggregated")
    assert int(total["Request Count"]) > 0
    # the demo target was stopped with the run: nothing listens on its port any more
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(started.group(1)))) != 0


def test_embedded_target_is_not_started_when_host_is_given(target, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "production.py"), "--headless",
         "-u", "1", "-r", "1", "--run-time", "2s", "--host", target.url, "--only-summary"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "started the demo target" not in result.stdout + result.stderr
