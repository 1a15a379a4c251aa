"""One Locust worker process holding thousands of WebSocket connections to the reference target.

Raises this process's open-files limit (children inherit it), starts the reference target with
a connection limit and idle timeout out of the way, then a real Locust master and ONE worker
process. The worker's users run ``WebSocketUser`` in connection-limit mode (each holds
``--per-user`` connections, pinged every 20 s). The benchmark polls the target's
``/healthz`` until it counts ``--connections`` open WebSocket connections, holds them
``--hold`` seconds, and reports:

  * the peak of connections the target saw open at once, and how long opening them took;
  * the worker's resident memory before the first connection and at the peak, and the
    difference per connection (the cost of a connection in the load generator);
  * the target's own resident memory per connection, for reference;
  * the run's connect failures, refusals and unexpected closes (all should be 0).

    .venv/bin/python benchmarks/bench_ws_connections.py [--connections 5000] [--per-user 50] [--hold 10]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stresskit.target.launcher import free_port, start_target

LOCUSTFILE = """
from locust import constant, task
from stresskit.users.websocket import WebSocketUser

class Holder(WebSocketUser):
    wait_time = constant(5)
    connections_per_user = {per_user}
    connect_timeout = 30.0

    @task
    def hold(self):
        pass
"""


def raise_open_files(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (capped by the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--per-user", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=20.0)
    parser.add_argument("--hold", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=90.0, help="give up opening connections after this")
    args = parser.parse_args()
    users = -(-args.connections // args.per_user)
    limit = raise_open_files(args.connections * 2 + 2000)
    if limit < args.connections + 1000:
        sys.exit(f"bench_ws_connections: open-files limit {limit} is too low for {args.connections} connections; "
                 "raise the hard limit (ulimit -Hn) first")

    workdir = Path(tempfile.mkdtemp(prefix="bench-ws-"))
    (workdir / "holder.py").write_text(LOCUSTFILE.format(per_user=args.per_user))
    target = start_target(workdir=workdir, extra_args=["--ws-max-connections", str(args.connections * 2),
                                                      "--ws-idle-timeout", "600", "--latency-ms", "0"])
    port = str(free_port())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run_seconds = int(args.timeout + args.hold + 30)
    common = [sys.executable, "-m", "locust", "-f", str(workdir / "holder.py"), "--host", target.url,
              "--loglevel", "WARNING"]
    master_log = open(workdir / "master.log", "w")  # noqa: SIM115  (closed in the finally below)
    worker_log = open(workdir / "worker.log", "w")  # noqa: SIM115
    master = subprocess.Popen(
        [*common, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--headless",
         "--expect-workers", "1", "-u", str(users), "-r", str(args.spawn_rate), "-t", f"{run_seconds}s",
         "--csv", str(workdir / "ws"), "--only-summary"],
        stdout=subprocess.DEVNULL, stderr=master_log, cwd=ROOT, env=env)
    worker = subprocess.Popen(
        [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", port],
        stdout=subprocess.DEVNULL, stderr=worker_log, cwd=ROOT, env=env)
    try:
        baseline = target_base = None
        peak = 0
        first = reached = None
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            health = target.health() or {}
            open_now = health.get("ws_connections", 0)
            if open_now == 0:
                baseline, target_base = rss_mib(worker.pid), rss_mib(target.pid)
            elif first is None:
                first = time.monotonic()
            peak = max(peak, open_now)
            if open_now >= args.connections:
                reached = time.monotonic()
                break
            if worker.poll() is not None or master.poll() is not None:
                break
            time.sleep(0.25)
        if reached is None:
            print(f"did not reach {args.connections} connections (peak {peak}); logs in {workdir}")
        else:
            worker_peak, target_peak = rss_mib(worker.pid), rss_mib(target.pid)
            hold_until = time.monotonic() + args.hold
            held_min = peak
            while time.monotonic() < hold_until:
                held_min = min(held_min, (target.health() or {}).get("ws_connections", 0))
                time.sleep(0.5)
            worker_peak = max(worker_peak, rss_mib(worker.pid))
    finally:
        master.terminate()  # stops the run; the worker follows its master
        try:
            master.wait(60)
            worker.wait(60)
        except subprocess.TimeoutExpired:
            for proc in (master, worker):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        target.stop()
        master_log.close()
        worker_log.close()
    stats = {}
    try:
        with open(workdir / "ws_stats.csv", newline="") as fh:
            stats = {row["Name"]: row for row in csv.DictReader(fh)}
    except OSError:
        pass

    def failures(name: str) -> str:
        return stats[name]["Failure Count"] if name in stats else "0"

    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores, "
          f"RLIMIT_NOFILE soft {limit}, load average {os.getloadavg()[0]:.1f}")
    if reached is None:
        sys.exit(1)
    per_conn_worker = (worker_peak - baseline) * 1024 / peak
    per_conn_target = (target_peak - target_base) * 1024 / peak
    print(f"| connections held by one worker | time to open | lowest while held {args.hold:.0f}s | "
          "worker RSS before → at peak | worker KiB / connection | target KiB / connection |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {peak} | {reached - first:.1f} s | {held_min} | {baseline:.0f} → {worker_peak:.0f} MiB | "
          f"{per_conn_worker:.1f} | {per_conn_target:.1f} |")
    connects = stats.get('connect', {}).get('Request Count', '?')
    print(f"users {users} × {args.per_user} connections; connect requests {connects}, "
          f"connect failures {failures('connect')}, refused {failures('refused (close 1013)')}, "
          f"unexpected closes {failures('closed unexpectedly')}")


if __name__ == "__main__":
    main()
