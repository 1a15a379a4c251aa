"""ApiUser next to a bare FastHttpUser: requests per second against the same target, same mix.

Starts the reference target with no base latency and no effective rate limit, then runs two
locustfiles against it, interleaved (A B A B ...) so drift hits both alike:

  * bare — a FastHttpUser with three weighted @task methods calling ``self.client.get``;
  * api  — an ApiUser with the same three endpoints as data (weights, templates, grouped
           names), each response's status and JSON shape validated, X-Client-Id per user;
  * api-status — the same ApiUser with ``validate = "status"`` (no JSON decoding).

Each run is one headless Locust process (32 users, no wait time), pinned to one core with the
target pinned to the other. The ratio api/bare is the
cost of ApiUser's features; the goal is >= 0.97. The Locust process's CPU is sampled too: near
100% means the generator, not the target, is the limit — which is what makes the ratio mean
something.

    .venv/bin/python benchmarks/bench_api_user.py [--seconds 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stresskit.target.launcher import start_target

PROBE = """
import json, os, time
from locust import events

_mark = {}

@events.init.add_listener
def _init(environment, **kw):
    _mark["env"] = environment

@events.spawning_complete.add_listener
def _start(user_count, **kw):
    _mark["start"] = (time.process_time(), time.monotonic(), _mark["env"].stats.total.num_requests)

@events.test_stop.add_listener
def _stop(**kw):
    cpu0, wall0, n0 = _mark["start"]
    _mark["window"] = {"cpu_seconds": time.process_time() - cpu0, "wall_seconds": time.monotonic() - wall0,
                       "requests": _mark["env"].stats.total.num_requests - n0}

@events.quitting.add_listener
def _write(environment, **kw):
    with open(os.environ["BENCH_PROBE"], "w") as fh:
        json.dump(_mark.get("window", {}), fh)
"""

BARE = PROBE + """
import random
from locust import FastHttpUser, constant, task

class Bare(FastHttpUser):
    wait_time = constant(0)

    @task(3)
    def item(self):
        self.client.get(f"/api/items/{random.randint(1, 1000)}", name="/api/items/[id]")

    @task(1)
    def items(self):
        self.client.get("/api/items?limit=10", name="/api/items")

    @task(1)
    def health(self):
        self.client.get("/healthz")
"""

API = PROBE + """
from locust import constant
from stresskit.users.api import ApiUser, Endpoint

ITEM = {"id": int, "name": str, "price": float}

class Api(ApiUser):
    wait_time = constant(0)
    endpoints = (
        Endpoint("GET", "/api/items/{id}", weight=3, params=lambda u: {"id": u.random.randint(1, 1000)}, shape=ITEM),
        Endpoint("GET", "/api/items?limit=10", weight=1, name="/api/items", shape={"items": [ITEM], "total": int}),
        Endpoint("GET", "/healthz", weight=1, shape={"status": str, "pid": int}),
    )


class ApiStatusOnly(Api):
    validate = "status"
"""


def run(locustfile: Path, host: str, seconds: int, workdir: Path, tag: str, classes: list[str],
        target_pid: int) -> dict[str, float]:
    """One headless run: Aggregated req/s, failures, requests per Locust CPU-second, CPU of both sides."""
    prefix = workdir / tag
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "32", "-r", "32",
         "--run-time", f"{seconds}s", "--host", host, "--csv", str(prefix), "--only-summary",
         "--loglevel", "WARNING", *classes],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "BENCH_PROBE": str(prefix) + "_probe.json"},
    )
    ps, target = psutil.Process(proc.pid), psutil.Process(target_pid)
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(proc.pid, {1})  # the generator on one core, the target on the other
    samples: list[float] = []
    target_samples: list[float] = []
    ps.cpu_percent(None)  # the first reading is meaningless
    target.cpu_percent(None)
    deadline = time.monotonic() + seconds + 60
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(1.0)
        try:
            samples.append(ps.cpu_percent(None))
            target_samples.append(target.cpu_percent(None))
        except psutil.NoSuchProcess:
            break
    proc.wait(30)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    busy = sorted(samples)[len(samples) // 4:] if samples else [0.0]  # drop start-up and shutdown
    target_busy = sorted(target_samples)[len(target_samples) // 4:] if target_samples else [0.0]
    window = json.loads(Path(f"{prefix}_probe.json").read_text())
    return {"rps": float(row["Requests/s"]), "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]), "cpu": statistics.median(busy),
            "target_cpu": statistics.median(target_busy),
            "per_cpu_second": window["requests"] / window["cpu_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    (workdir / "bare.py").write_text(BARE)
    (workdir / "api_mix.py").write_text(API)
    target = start_target(workdir=workdir, extra_args=["--latency-ms", "0", "--rate-limit", "1000000",
                                                      "--rate-burst", "1000000"])
    variants = {"bare": ("bare.py", []), "api": ("api_mix.py", ["Api"]), "api-status": ("api_mix.py", ["ApiStatusOnly"])}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(target.pid, {0})
    try:
        for i in range(args.repeat):
            for name, (file, classes) in variants.items():
                result = run(workdir / file, target.url, args.seconds, workdir, f"{name}{i}", classes, target.pid)
                results[name].append(result)
                print(f"run {i + 1}/{args.repeat} {name:10}: {result['rps']:8.1f} req/s, "
                      f"{result['per_cpu_second']:8.1f} req per CPU-second, "
                      f"{result['failures']} failures, CPU locust {result['cpu']:.0f}% / target "
                      f"{result['target_cpu']:.0f}%", flush=True)
    finally:
        target.stop()
    load = os.getloadavg()[0]
    print()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores, "
          f"load average at the end {load:.1f}")
    print(f"| user class | req/s (median of {args.repeat} runs, {args.seconds}s each) | "
          "req per Locust CPU-second (median) | failures | CPU Locust / target (median) |")
    print("|---|---:|---:|---:|---:|")
    labels = {"bare": "bare FastHttpUser", "api": "ApiUser (status + JSON shape)", "api-status": "ApiUser (status only)"}
    for key, label in labels.items():
        runs = results[key]
        print(f"| {label} | {statistics.median(r['rps'] for r in runs):.0f} | "
              f"{statistics.median(r['per_cpu_second'] for r in runs):.0f} | "
              f"{sum(r['failures'] for r in runs)} | {statistics.median(r['cpu'] for r in runs):.0f}% / "
              f"{statistics.median(r['target_cpu'] for r in runs):.0f}% |")
    for variant in ("api", "api-status"):
        for key, what in (("rps", "req/s"), ("per_cpu_second", "req per CPU-second")):
            pairs = [a[key] / b[key] for a, b in zip(results[variant], results["bare"], strict=False)]
            ratio = statistics.median(pairs)
            print(f"{labels[variant]} / bare, {what}: median of pairs {ratio:.3f} (pairs: "
                  + ", ".join(f"{p:.3f}" for p in pairs) + f"); goal >= 0.97: {'met' if ratio >= 0.97 else 'NOT met'}")


if __name__ == "__main__":
    main()
