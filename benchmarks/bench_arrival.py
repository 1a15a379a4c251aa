"""Open-model pacing: start precision on one worker and the achieved rate over two workers.

Two measurements against a server of the tests' own (tests/support/stall_server.py without
stalls: a threaded HTTP server that answers at once), each a real Locust run of
tests/e2e/locustfiles/arrival_api.py with one stage ``rate = { api = RATE }``:

  * one process (local runner) at RATE/s: P99 of (actual start − scheduled start) of the
    iterations, from ``_run.json`` ``arrival.api.start_lag_ms``, and the Locust process's CPU;
    the goal is P99 < 5 ms while that process is below 80% CPU;
  * a master and two worker processes at RATE/s: iterations started / iterations the rate asked
    for (``achieved_ratio``) and completed requests per second; the goal is within 1%;
  * the pacer alone (benchmarks/arrival_pacer_child.py: one process, no HTTP, each iteration
    spins 50 µs and sleeps 2 ms): the start lag the dispatcher itself adds.

The load average is printed before and after: on a shared machine the figures are not goal
measurements.

    .venv/bin/python benchmarks/bench_arrival.py [--rate 1000] [--seconds 20] [--max-users 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stresskit.target.launcher import free_port

LOCUSTFILE = "tests/e2e/locustfiles/arrival_api.py"


def scenario_file(directory: Path, rate: float, seconds: float, max_users: int) -> Path:
    path = directory / "scenarios.toml"
    path.write_text(textwrap.dedent(f"""
        [scenarios.bench]
        pages = 0
        duration = "{seconds}s"
        failure_rate = 0
        users = {{ api = 0 }}
        stages = [ {{ duration = "{seconds}s", rate = {{ api = {rate} }}, max_users = {{ api = {max_users} }} }} ]
    """))
    return path


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/support/stall_server.py"), str(port), "--stall", "0"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, f"http://127.0.0.1:{port}"


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("STRESSKIT_", "LOCUST_"))} | {
        "PYTHONPATH": str(ROOT)}


def one_worker(host: str, scenarios: Path, work: Path) -> dict:
    prefix = work / "one"
    proc = subprocess.Popen([sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary",
                             "--host", host, "--scenario-file", str(scenarios), "--scenario", "bench",
                             "--csv", str(prefix)], cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    samples = []
    ps.cpu_percent()
    while proc.poll() is None:
        time.sleep(1.0)
        try:
            samples.append(ps.cpu_percent())
        except psutil.NoSuchProcess:
            break
    doc = json.loads(Path(f"{prefix}_run.json").read_text())
    api = doc["arrival"]["api"]
    busy = sorted(samples[2:-1]) or samples
    return {"start_lag_ms": api["start_lag_ms"], "due": api["due"], "dropped": api["dropped"],
            "achieved_ratio": api["achieved_ratio"], "cpu_median": busy[len(busy) // 2] if busy else None,
            "cpu_max": max(busy) if busy else None}


def two_workers(host: str, scenarios: Path, work: Path, seconds: float) -> dict:
    prefix = work / "two"
    port = free_port()
    base = [sys.executable, "-m", "locust", "-f", LOCUSTFILE]
    master = subprocess.Popen([*base, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                               "--expect-workers", "2", "--headless", "--only-summary", "--host", host,
                               "--scenario-file", str(scenarios), "--scenario", "bench", "--csv", str(prefix)],
                              cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = [subprocess.Popen([*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    try:
        master.wait(timeout=seconds + 120)
    finally:
        for proc in [master, *workers]:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
    doc = json.loads(Path(f"{prefix}_run.json").read_text())
    api = doc["arrival"]["api"]
    return {"scheduled": api["scheduled"], "due": api["due"], "started": api["started"], "dropped": api["dropped"],
            "achieved_ratio": api["achieved_ratio"], "start_lag_ms": api["start_lag_ms"], "workers": doc["workers"]}


def pacer_only(rate: float, seconds: float, users: int) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks/arrival_pacer_child.py"), str(rate), str(seconds),
                           str(users)], cwd=ROOT, env=env(), capture_output=True, text=True, timeout=seconds + 60,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--max-users", type=int, default=100)
    args = parser.parse_args()
    load_before = os.getloadavg()
    server, host = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            scenarios = scenario_file(work, args.rate, args.seconds, args.max_users)
            one = one_worker(host, scenarios, work)
            two = two_workers(host, scenarios, work, args.seconds)
            alone = pacer_only(args.rate, min(args.seconds, 10), 50)
    finally:
        server.terminate()
        server.wait(timeout=10)
    result = {"rate": args.rate, "seconds": args.seconds, "max_users": args.max_users, "cpus": os.cpu_count(),
              "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
              "one_worker": one, "two_workers": two,
              "pacer_alone": alone}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
