"""The ready error-recovery runs (locustfiles/recovery_*.py) as real headless Locust processes:
backend crash and restart, Redis connections cut (and redis-server restarted), WebSocket drops
at scale, a partition through the fault proxy. Each run is a few seconds long."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from stresskit.core.schema import FAULT_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def run(locustfile: str, tmp_path: Path, *args: str, users: int = 6, seconds: int = 9) -> tuple[int, str, Path]:
    prefix = tmp_path / "run"
    argv = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / locustfile), "--headless",
            "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", str(prefix),
            "--exit-code-on-error", "0", "--only-summary", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=100, cwd=tmp_path)
    return result.returncode, result.stderr + result.stdout, prefix


def fault_rows(prefix: Path) -> list[dict]:
    with open(f"{prefix}_faults.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == FAULT_COLUMNS
        return list(reader)


def recovery_stats(prefix: Path, kind: str) -> dict:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Type"] == "RECOVERY" and row["Name"] == kind:
                return row
    raise AssertionError(f"no RECOVERY {kind} row in the stats")


def check_run(code: int, output: str, prefix: Path, kind: str, users: int) -> list[dict]:
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    rows = fault_rows(prefix)
    injected = [r for r in rows if r["event"] == "injected"]
    assert injected and all(r["kind"] == kind and r["user"] == "" for r in injected)
    per_user = [r for r in rows if r["event"] == "recovered" and r["user"]]
    assert len({r["user"] for r in per_user}) == users, f"not every user recovered: {per_user}"
    assert not [r for r in rows if r["event"] == "critical"], rows
    stats = recovery_stats(prefix, kind)
    assert int(stats["Request Count"]) == len(per_user) and int(stats["Failure Count"]) == 0
    return rows


def test_backend_crash_and_restart_every_user_recovers_and_the_time_is_measured(tmp_path):
    # 14 s: a restart on a loaded machine can take seconds, and every user must be back before the end
    code, output, prefix = run("recovery_backend.py", tmp_path, "--recovery-at", "3", "--recovery-down", "2",
                               seconds=14)
    rows = check_run(code, output, prefix, "backend_crash", users=6)
    crash = next(r for r in rows if r["event"] == "injected")
    assert crash["detail"].startswith("SIGKILL target pid ")
    back = next(r for r in rows if r["event"] == "recovered" and not r["user"])
    assert "restarted as pid" in back["detail"]
    assert 2.0 <= float(back["recovery_time"]) < 15.0
    # no user can be back before the target is: every user's recovery is at least the downtime
    user_times = [float(r["recovery_time"]) for r in rows if r["event"] == "recovered" and r["user"]]
    assert min(user_times) >= 2.0
    # real failures while it was down
    assert "ConnectionRefusedError" in output or "Connection refused" in output


def test_cache_disconnect_client_kill_every_cache_and_api_user_recovers(tmp_path):
    code, output, prefix = run("recovery_cache.py", tmp_path, "--recovery-at", "3", "--recovery-down", "1")
    rows = check_run(code, output, prefix, "cache_disconnect", users=6)
    kill = next(r for r in rows if r["event"] == "injected")
    assert "CLIENT KILL TYPE normal" in kill["detail"]
    assert int(kill["detail"].split(": ")[1].split()[0]) >= 1   # real connections were dropped
    users = {r["user"].split("/")[1] for r in rows if r["event"] == "recovered" and r["user"]}
    assert users == {"RecoveringCacheUser", "CachedApiUser"}


def test_cache_disconnect_with_redis_restart(tmp_path):
    code, output, prefix = run("recovery_cache.py", tmp_path, "--recovery-at", "3", "--recovery-down", "1.5",
                               "--recovery-restart-redis", users=4, seconds=12)
    rows = check_run(code, output, prefix, "cache_disconnect", users=4)
    assert next(r for r in rows if r["event"] == "injected")["detail"].startswith("SIGKILL redis-server pid ")
    assert "redis-server restarted as pid" in next(r for r in rows if r["event"] == "recovered" and not r["user"])[
        "detail"]
    assert min(float(r["recovery_time"]) for r in rows if r["event"] == "recovered" and r["user"]) >= 1.5


def test_websocket_drops_at_scale_every_user_reconnects_each_time(tmp_path):
    users = 150
    code, output, prefix = run("recovery_websocket.py", tmp_path, "--recovery-at", "3", "--recovery-down", "0.5",
                               "--recovery-every", "3", users=users, seconds=10)
    assert code == 0, output[-3000:]
    rows = fault_rows(prefix)
    drops = [r for r in rows if r["event"] == "injected"]
    assert len(drops) == 3
    for drop in drops:
        assert int(drop["detail"].split()[2]) >= users * 0.95  # "target cut N WebSocket(s)"
    recovered = [r for r in rows if r["event"] == "recovered" and r["user"]]
    assert len(recovered) >= 2 * users  # the last drop may end with the run
    assert not [r for r in rows if r["event"] == "critical"]
    stats = recovery_stats(prefix, "websocket_drop_all")
    assert int(stats["Failure Count"]) == 0 and float(stats["95%"]) < 5000


def test_partition_through_the_fault_proxy(tmp_path):
    code, output, prefix = run("recovery_partition.py", tmp_path, "--recovery-at", "3", "--recovery-down", "2")
    rows = check_run(code, output, prefix, "network_partition", users=6)
    assert "down (connections cut and refused)" in next(r for r in rows if r["event"] == "injected")["detail"]
    assert min(float(r["recovery_time"]) for r in rows if r["event"] == "recovered" and r["user"]) >= 2.0
