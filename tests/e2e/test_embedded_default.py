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
         "--scenario", "light", "--time-scale", "0.01", "--pages", "3", "--csv", str(prefix), "--only-summary"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    started = re.search(r"started the demo target at http://127\.0\.0\.1:(\d+)", log)
    assert started, log[-3000:]
    with open(f"{prefix}_stats.csv") as fh:
        rows = list(csv.DictReader(fh))
    total = next(row for row in rows if row["Name"] == "Aggregated")
    assert int(total["Request Count"]) > 0
    kinds = {row["Type"] for row in rows}
    assert {"WS", "REDIS", "PAGE", "GET"} <= kinds, kinds  # all four client kinds ran
    # the demo target was stopped with the run: nothing listens on its port any more
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(started.group(1)))) != 0


def test_embedded_target_is_not_started_when_host_is_given(target, redis_server, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "production.py"), "--headless",
         "--time-scale", "0.005", "--pages", "1", "--host", target.url, "--redis-url", redis_server.url,
         "--only-summary"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "started the demo target" not in result.stdout + result.stderr
