"""stresskit's own cost per request: the same FastHttpUser locustfile with and without use_stresskit.

Two measurements, both against the reference target (no base latency, no effective rate limit):

1. **Per listener** (``--listeners``, load-robust): one short headless run of the stresskit
   locustfile; once the users are running, a probe takes every listener on
   ``environment.events.request`` (stresskit's request feed, and Locust's own stats listener for
   scale) and each part the feed calls (availability, latency sketches, fault injector), and calls
   each one N times with the arguments a successful GET fires (and N/10 times with a failure),
   timing it in CPU time of the process (``time.process_time``), so other load on the machine
   barely moves the figure. Printed as microseconds per request per listener.
2. **End to end** (``--repeat``, needs a quiet machine for a goal figure): the bare locustfile
   and the same one with ``use_stresskit(events, faults=False, scenarios=False, embedded_target=False)`` (no shape: the
   same 32 users as bare), interleaved bare → stresskit,
   each one headless Locust process (32 users, no wait) pinned to one core with the target on the
   other; req/s and requests per Locust CPU-second, ratio stresskit/bare (goal >= 0.97).

    .venv/bin/python benchmarks/bench_stresskit_cost.py --listeners            # ~15 s
    .venv/bin/python benchmarks/bench_stresskit_cost.py --seconds 10 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_api_user import PROBE, run

from stresskit.target.launcher import start_target

BODY = """
import random
from locust import FastHttpUser, constant, task

class Bare(FastHttpUser):
    wait_time = constant(0)
    kind = "api"  # stresskit's per-kind availability counts it; plain Locust ignores the attribute

    @task
    def item(self):
        self.client.get(f"/api/items/{random.randint(1, 1000)}", name="/api/items/[id]")
"""

BARE = PROBE + BODY

WITH_STRESSKIT = PROBE + """
from locust import events as _events
from stresskit.compose import use_stresskit

use_stresskit(_events, faults=False, scenarios=False, embedded_target=False)
""" + BODY

LISTENER_PROBE = """
import gevent

@_events.spawning_complete.add_listener
def _time_listeners(user_count, **kw):
    gevent.spawn_later(1.0, _measure)


def _measure():
    env = _mark["env"]
    n = int(os.environ.get("BENCH_N", "20000"))
    out = []
    for handler in list(env.events.request._handlers):
        label = getattr(handler, "__qualname__", repr(handler))
        module = getattr(handler, "__module__", "") or ""
        row = {"listener": f"{module}.{label}"}
        for kind, count, exc in (("ok", n, None), ("failure", max(1, n // 10), RuntimeError("HTTP 503"))):
            ctx = {}
            t0 = time.process_time()
            for i in range(count):
                handler(request_type="GET", name="/api/items/[id]", response_time=1.5 + (i % 7),
                        response_length=60, response=None, context=ctx, exception=exc,
                        start_time=time.time(), url="http://127.0.0.1/api/items/1")
            row[f"us_{kind}"] = 1e6 * (time.process_time() - t0) / count
        out.append(row)
        for part in getattr(getattr(handler, "__self__", None), "_listeners", ()):  # stresskit's request feed
            row = {"listener": f"  via the feed: {part.__module__}.{part.__qualname__}", "part": True}
            for kind, count, exc in (("ok", n, None), ("failure", max(1, n // 10), RuntimeError("HTTP 503"))):
                t0 = time.process_time()
                for i in range(count):
                    part("GET", "/api/items/[id]", 1.5 + (i % 7), exc, time.time())
                row[f"us_{kind}"] = 1e6 * (time.process_time() - t0) / count
            out.append(row)
    with open(os.environ["BENCH_LISTENERS"], "w") as fh:
        json.dump(out, fh)
    env.runner.quit()
"""


def listeners(host: str, workdir: Path, n: int) -> list[dict]:
    """Time each request listener of a use_stresskit run, in CPU microseconds per call."""
    file = workdir / "listeners.py"
    file.write_text(WITH_STRESSKIT + LISTENER_PROBE)
    out = workdir / "listeners.json"
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(file), "--headless", "-u", "4", "-r", "4", "--run-time", "60s",
         "--host", host, "--loglevel", "WARNING", "--only-summary"],
        check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT), "BENCH_PROBE": str(workdir / "l_probe.json"),
             "BENCH_LISTENERS": str(out), "BENCH_N": str(n)})
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--listeners", action="store_true", help="only the per-listener CPU micro-benchmark")
    parser.add_argument("--n", type=int, default=20000, help="calls per listener (default 20000)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sk-cost-"))
    target = start_target(workdir=workdir, extra_args=["--latency-ms", "0", "--rate-limit", "1000000",
                                                      "--rate-burst", "1000000"])
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    try:
        rows = listeners(target.url, workdir, args.n)
        print("| request listener | CPU µs per request (success) | CPU µs per request (failure) |")
        print("|---|---:|---:|")
        for row in rows:
            print(f"| `{row['listener']}` | {row['us_ok']:.2f} | {row['us_failure']:.2f} |")
        stresskit_rows = [r for r in rows if not r["listener"].startswith("locust.") and not r.get("part")]
        print(f"| stresskit listeners together | {sum(r['us_ok'] for r in stresskit_rows):.2f} | "
              f"{sum(r['us_failure'] for r in stresskit_rows):.2f} |", flush=True)
        if args.listeners:
            return 0
        (workdir / "bare.py").write_text(BARE)
        (workdir / "with_stresskit.py").write_text(WITH_STRESSKIT)  # not stresskit.py: it would shadow the package
        if len(os.sched_getaffinity(0)) >= 2:
            os.sched_setaffinity(target.pid, {0})
        results: dict[str, list[dict[str, float]]] = {"bare": [], "stresskit": []}
        for i in range(args.repeat):
            for name, runs in results.items():
                started = time.monotonic()
                file = workdir / ("bare.py" if name == "bare" else "with_stresskit.py")
                result = run(file, target.url, args.seconds, workdir, f"{name}{i}", [], target.pid)
                runs.append(result)
                print(f"run {i + 1}/{args.repeat} {name:9}: {result['rps']:8.1f} req/s, "
                      f"{result['per_cpu_second']:8.1f} req per CPU-second, {result['failures']} failures, "
                      f"CPU locust {result['cpu']:.0f}% / target {result['target_cpu']:.0f}% "
                      f"({time.monotonic() - started:.0f} s)", flush=True)
        for key, what in (("rps", "req/s"), ("per_cpu_second", "req per CPU-second")):
            pairs = [a[key] / b[key] for a, b in zip(results["stresskit"], results["bare"], strict=False)]
            ratio = statistics.median(pairs)
            print(f"use_stresskit / bare, {what}: median of pairs {ratio:.3f} (pairs: "
                  + ", ".join(f"{p:.3f}" for p in pairs) + f"); goal >= 0.97: {'met' if ratio >= 0.97 else 'NOT met'}")
    finally:
        target.stop()
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
