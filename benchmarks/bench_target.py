"""How fast is the reference target, next to what one Locust process can send?

Starts the target (no base latency, no effective rate limit) and measures, side by side in one
run, on the same endpoints:
  * wrk (a C load generator) — the target's ceiling;
  * one Locust FastHttpUser process, headless — what a load generator asks of it.
The ratio wrk/locust says how much headroom the target has: above 1 the target is not the
bottleneck when the load generator is measured.

    .venv/bin/python benchmarks/bench_target.py [--seconds 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stresskit.target.launcher import start_target  # noqa: E402

ENDPOINTS = ["/healthz", "/api/items/42", "/api/items?limit=10", "/api/search?q=alpha"]

LOCUSTFILE = """
from locust import FastHttpUser, constant, task
PATH = {path!r}
class Bare(FastHttpUser):
    wait_time = constant(0)
    @task
    def hit(self):
        self.client.get(PATH)
"""


def wrk_rps(url: str, seconds: int) -> float:
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", url], capture_output=True, text=True,
                         check=True, timeout=seconds + 30).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def locust_rps(url_base: str, path: str, seconds: int, workdir: Path) -> float:
    lf = workdir / "bare.py"
    lf.write_text(LOCUSTFILE.format(path=path))
    prefix = workdir / "bare"
    subprocess.run([sys.executable, "-m", "locust", "-f", str(lf), "--headless", "-u", "32", "-r", "32",
                    "--run-time", f"{seconds}s", "--host", url_base, "--csv", str(prefix), "--only-summary",
                    "--loglevel", "WARNING"], capture_output=True, check=False, timeout=seconds + 60)
    with open(f"{prefix}_stats.csv") as fh:
        for row in csv.DictReader(fh):
            if row["Name"] == "Aggregated":
                return float(row["Requests/s"])
    raise RuntimeError("no Aggregated row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_target: wrk not found: run scripts/install-system-deps.sh")
    workdir = Path(tempfile.mkdtemp(prefix="bench-target-"))
    target = start_target(workdir=workdir, extra_args=["--latency-ms", "0", "--rate-limit", "1e9",
                                                      "--rate-burst", "1000000000"])
    try:
        print(f"machine: {platform.machine()}, {platform.python_version()}, cores={__import__('os').cpu_count()}")
        print(f"| endpoint | wrk req/s (median of {args.repeat}) | Locust FastHttpUser req/s (median) | wrk / locust |")
        print("|---|---:|---:|---:|")
        for path in ENDPOINTS:
            w, lo = [], []
            for _ in range(args.repeat):  # interleaved, so drift hits both alike
                w.append(wrk_rps(target.url + path, args.seconds))
                lo.append(locust_rps(target.url, path, args.seconds, workdir))
            mw, ml = statistics.median(w), statistics.median(lo)
            print(f"| `{path}` | {mw:,.0f} | {ml:,.0f} | {mw / ml:.2f} |", flush=True)
    finally:
        target.stop()


if __name__ == "__main__":
    main()
