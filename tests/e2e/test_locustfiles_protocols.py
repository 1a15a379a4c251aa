"""The ready locustfiles for WebSocket, API and cache users, run as real `locust --headless`
processes (local and master/worker) against the reference target and redis-server.

Assertions read the run's CSV stats and the exit code, never the printed table."""

import csv
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stresskit.target.launcher import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(180)

LOCUST = str(Path(sys.executable).with_name("locust"))


def locust(locustfile: str, *args: str, csv_prefix: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRESSKIT_", "LOCUST_"))}
    argv = [LOCUST, "-f", str(ROOT / "locustfiles" / locustfile), "--headless", "--only-summary", *args]
    if csv_prefix is not None:
        argv += ["--csv", str(csv_prefix)]
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def error_lines(stderr: str, logger: str) -> list[str]:
    """Log lines at ERROR from ``logger`` (Locust's format: ``host/LEVEL/logger: message``)."""
    return [line for line in stderr.splitlines() if f"/ERROR/{logger}:" in line]


def stats_rows(prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}


def requests(rows, kind: str, name: str) -> int:
    row = rows.get((kind, name))
    return int(row["Request Count"]) if row else 0


def test_websocket_locustfile(target_factory, tmp_path):
    target = target_factory()  # its own target: other tests drop the shared target's WebSockets
    result = locust("websocket.py", "--host", target.url, "-u", "6", "-r", "6", "-t", "3s", csv_prefix=tmp_path / "ws")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = stats_rows(tmp_path / "ws")
    assert requests(rows, "WS", "connect") == 6
    assert requests(rows, "WS", "rtt echo") + requests(rows, "WS", "rtt broadcast") >= 6  # a first task each
    assert requests(rows, "WS", "rtt subscribe") == 6
    assert requests(rows, "WS", "messages in") >= requests(rows, "WS", "rtt echo")
    assert rows[("", "Aggregated")]["Failure Count"] == "0"  # closing at the end is not an unexpected close


def test_api_locustfile(target_factory, redis_factory, tmp_path):
    target = target_factory(redis_url=redis_factory().url)  # its own target and Redis: no one else's faults
    result = locust("api.py", "--host", target.url, "-u", "4", "-r", "4", "-t", "3s", csv_prefix=tmp_path / "api")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = stats_rows(tmp_path / "api")
    assert requests(rows, "GET", "/api/items/[id]") > 5 and requests(rows, "GET", "/api/items") > 0
    assert rows[("", "Aggregated")]["Failure Count"] == "0"


@pytest.mark.parametrize("threshold, code", [("0.01", 0), ("100%", 3)])
def test_cache_locustfile_and_its_hit_rate_threshold(target, redis_factory, tmp_path, threshold, code):
    redis_server = redis_factory()
    result = locust("cache.py", "--host", target.url, "--redis-url", redis_server.url, "-u", "4", "-r", "4",
                    "-t", "3s", "--cache-min-hit-rate", threshold, csv_prefix=tmp_path / "cache")
    assert result.returncode == code, result.stderr[-2000:]
    rows = stats_rows(tmp_path / "cache")
    assert requests(rows, "REDIS", "GET hit") > 0 and requests(rows, "REDIS", "GET miss") > 0
    assert requests(rows, "REDIS", "connect") == 4


def test_cache_hit_rate_reaches_the_master_of_a_distributed_run(target, redis_factory, tmp_path):
    """With 100% required the master can only fail the run (exit 3) if the workers' counts arrived."""
    redis_server = redis_factory()
    port = str(free_port())
    common = ["--redis-url", redis_server.url, "--host", target.url]
    worker = subprocess.Popen(
        [LOCUST, "-f", str(ROOT / "locustfiles" / "cache.py"), "--worker", "--master-host", "127.0.0.1",
         "--master-port", port, *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )
    try:
        result = locust("cache.py", "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                        "--expect-workers", "1", "-u", "4", "-r", "4", "-t", "4s", "--cache-min-hit-rate", "1.0",
                        *common, csv_prefix=tmp_path / "dist")
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert result.returncode == 3, result.stderr[-2000:]
    rows = stats_rows(tmp_path / "dist")
    assert requests(rows, "REDIS", "GET hit") + requests(rows, "REDIS", "GET miss") > 0


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("locustfile, option, value", [
    ("cache.py", "--cache-read-ratio", "2"),
    ("websocket.py", "--ws-connections-per-user", "0"),
    ("api.py", "--api-max-retry-after", "-1"),
])
def test_bad_option_values_are_one_line_and_exit_2(target, locustfile, option, value):
    result = locust(locustfile, "--host", target.url, "-t", "1s", option, value)
    assert result.returncode == 2
    assert option in result.stderr and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1


def test_wrong_redis_password_is_one_clear_failure(target, redis_factory, tmp_path):
    server = redis_factory(password="s3cret")
    result = locust("cache.py", "--host", target.url, "--redis-url", f"redis://127.0.0.1:{server.port}/0",
                    "--redis-password", "wrong", "-u", "2", "-r", "2", "-t", "2s", csv_prefix=tmp_path / "pw")
    assert result.returncode == 1
    lines = error_lines(result.stderr, "stresskit.users.cache")
    assert len(lines) == 1 and "rejected the credentials" in lines[0] and "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr and "wrong" not in result.stderr.replace("wrong-", "")
    rows = stats_rows(tmp_path / "pw")
    assert rows[("REDIS", "connect")]["Failure Count"] == "2" and rows[("", "Aggregated")]["Request Count"] == "2"


def test_refused_websocket_upgrade_is_one_clear_failure(target, tmp_path):
    result = locust("websocket.py", "--host", target.url, "--ws-path", "/api/items", "-u", "2", "-r", "2",
                    "-t", "2s", csv_prefix=tmp_path / "up")
    assert result.returncode == 1
    lines = error_lines(result.stderr, "stresskit.users.websocket")
    assert len(lines) == 1 and "refused the WebSocket upgrade" in lines[0] and "Traceback" not in result.stderr
    assert stats_rows(tmp_path / "up")[("WS", "connect")]["Failure Count"] == "2"


def test_unreachable_api_host_is_one_clear_failure(tmp_path):
    result = locust("api.py", "--host", f"http://127.0.0.1:{free_port()}", "-u", "2", "-r", "2", "-t", "2s",
                    csv_prefix=tmp_path / "down")
    assert result.returncode == 1
    lines = error_lines(result.stderr, "stresskit.users.api")
    assert len(lines) == 1 and "Connection refused" in lines[0] and "Traceback" not in result.stderr
    aggregated = stats_rows(tmp_path / "down")[("", "Aggregated")]
    assert aggregated["Failure Count"] == aggregated["Request Count"] and int(aggregated["Request Count"]) <= 12


def test_options_and_cache_tab_are_in_the_web_ui(target, redis_server):
    """Started with its web UI: every option is a start-form field, secrets masked, plus the Cache tab."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRESSKIT_", "LOCUST_"))}
    proc = subprocess.Popen(
        [LOCUST, "-f", ",".join(str(ROOT / "locustfiles" / f) for f in ("websocket.py", "api.py", "cache.py")),
         "--web-host", "127.0.0.1", "--web-port", str(port), "--host", target.url, "--redis-url", redis_server.url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as resp:
                    html = resp.read().decode()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the web UI did not come up"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)
    args = json.loads(re.search(r"templateArgs = (\{.*?\})\s*</script>", html, re.DOTALL).group(1))
    options = args["extra_options"]
    assert {"ws_url", "ws_path", "ws_connections_per_user", "api_token", "api_validate", "redis_url",
            "redis_password", "cache_read_ratio", "cache_min_hit_rate"} <= set(options)
    assert options["redis_password"]["is_secret"] and options["api_token"]["is_secret"]
    assert not options["redis_url"]["is_secret"]
    assert {"key": "stresskit-cache", "title": "Cache"} in args["extended_tabs"]
