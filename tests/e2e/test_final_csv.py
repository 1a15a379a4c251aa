"""The ``--csv`` stats file holds the run's final numbers: every request fired, to the last one."""

import csv
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_stats_csv_counts_every_request_of_the_run(target, tmp_path):
    prefix = tmp_path / "run"
    count_file = tmp_path / "fired"
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "tests/e2e/locustfiles/final_csv.py"), "--headless",
         "-u", "2", "-r", "2", "-t", "2s", "--host", target.url, "--csv", str(prefix), "--only-summary"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=dict(os.environ, FINAL_COUNT_FILE=str(count_file)),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    fired = int(count_file.read_text())
    with open(f"{prefix}_stats.csv") as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "/healthz")
    assert fired > 20
    assert int(row["Request Count"]) == fired
