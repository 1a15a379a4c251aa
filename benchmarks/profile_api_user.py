"""Where ApiUser's cost per request goes next to a bare FastHttpUser: deterministic call counts.

Runs each user class in-process (Locust ``LocalRunner``, 8 users, no wait) against the reference
target under cProfile until N requests are done, and prints per request: Python function calls
(deterministic: independent of machine load), CPU microseconds (``time.process_time``; load
inflates it a little) and the functions whose calls per request differ most from bare. Use it
to see what a change to ``stresskit/users/api.py`` or ``stresskit/clients/endpoints.py`` costs
before taking a req/s measurement on a quiet machine (``bench_api_user.py``).

    .venv/bin/python benchmarks/profile_api_user.py [--requests 20000] [--top 25]
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import cProfile
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

import gevent

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from locust import FastHttpUser, constant, task
from locust.env import Environment

from stresskit.target.launcher import start_target
from stresskit.users.api import ApiUser, Endpoint

ITEM = {"id": int, "name": str, "price": float}


class Bare(FastHttpUser):
    wait_time = constant(0)

    @task(3)
    def item(self) -> None:
        self.client.get(f"/api/items/{random.randint(1, 1000)}", name="/api/items/[id]")

    @task(1)
    def items(self) -> None:
        self.client.get("/api/items?limit=10", name="/api/items")

    @task(1)
    def health(self) -> None:
        self.client.get("/healthz")


class Api(ApiUser):
    wait_time = constant(0)
    endpoints = (
        Endpoint("GET", "/api/items/{id}", weight=3, params=lambda u: {"id": u.random.randint(1, 1000)}, shape=ITEM),
        Endpoint("GET", "/api/items?limit=10", weight=1, name="/api/items", shape={"items": [ITEM], "total": int}),
        Endpoint("GET", "/healthz", weight=1, shape={"status": str, "pid": int}),
    )


class ApiStatusOnly(Api):
    validate = "status"


def profile(cls: type, host: str, requests: int) -> tuple[pstats.Stats, int, float]:
    """Run ``cls`` until ``requests`` more requests are done; (profile, requests, CPU seconds)."""
    env = Environment(user_classes=[cls], host=host)
    runner = env.create_local_runner()
    runner.start(8, spawn_rate=1000)
    deadline = time.monotonic() + 60
    while env.stats.total.num_requests < 500 and time.monotonic() < deadline:  # warm up
        gevent.sleep(0.05)
    prof = cProfile.Profile()
    n0, cpu0 = env.stats.total.num_requests, time.process_time()
    prof.enable()
    while env.stats.total.num_requests - n0 < requests and time.monotonic() < deadline + 120:
        gevent.sleep(0.05)
    prof.disable()
    done, cpu = env.stats.total.num_requests - n0, time.process_time() - cpu0
    runner.quit()
    if env.stats.total.num_failures:
        print(f"  {cls.__name__}: {env.stats.total.num_failures} failures!", file=sys.stderr)
    return pstats.Stats(prof), done, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    target = start_target(workdir=Path(tempfile.mkdtemp(prefix="prof-api-")),
                          extra_args=["--latency-ms", "0", "--rate-limit", "1000000", "--rate-burst", "1000000"])
    try:
        results = {cls.__name__: profile(cls, target.url, args.requests) for cls in (Bare, Api, ApiStatusOnly)}
    finally:
        target.stop()
    per_call: dict[str, dict[tuple, float]] = {}
    for name, (stats, done, cpu) in results.items():
        calls = sum(v[1] for v in stats.stats.values())  # type: ignore[attr-defined]
        print(f"{name:14} {done:7d} requests: {calls / done:7.1f} Python calls per request, "
              f"{1e6 * cpu / done:6.1f} CPU µs per request (profiled)")
        per_call[name] = {k: v[1] / done for k, v in stats.stats.items()}  # type: ignore[attr-defined]
    for variant in ("Api", "ApiStatusOnly"):
        keys = set(per_call[variant]) | set(per_call["Bare"])
        diff = sorted(((per_call[variant].get(k, 0) - per_call["Bare"].get(k, 0), k) for k in keys), reverse=True)
        print(f"\n{variant}: functions called more often per request than in Bare")
        for delta, (file, line, func) in diff[: args.top]:
            if delta < 0.05:
                break
            print(f"  +{delta:5.2f}  {func}  ({Path(file).name}:{line})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
