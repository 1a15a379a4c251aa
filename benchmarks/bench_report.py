"""Benchmark: `stresskit report` on a 20-hour production run's worth of files.

Generates (once, cached under the output directory) the files a 20-hour run writes:

- ``_resources.csv``: 1 Hz samples of the target host (one system row, 50 tracked processes,
  the browser group) plus one load-generator row per worker every 3 s — about 3.8 million rows;
- ``_stats_history.csv``: Locust's ``--csv-full-history`` at 1 row per second for 30 request
  names and the Aggregated row — about 2.2 million rows;
- ``_stats.csv``, ``_failures.csv``, ``_faults.csv``, ``_run.json``.

Then runs ``stresskit report PREFIX`` (HTML, JSON and JUnit) in fresh processes, ``--repeats``
times (3) each of two kinds, alternating: timed runs give the median wall time and the CPU time
(user + sys of the report and its helper process); sampled runs read the process tree's RSS every
20 ms for the peak summed RSS (this sampling takes CPU from the run, so their wall time is shown
apart). The largest single process's peak RSS is printed too. Other work on the machine inflates
wall time: the load average is printed beside it.
The goal (issue 16): at most 3 s and 1 GiB on a 2-core machine.

    .venv/bin/python benchmarks/bench_report.py [--hours 20] [--dir /tmp/stresskit-bench-report]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stresskit.core.schema import FAULT_COLUMNS, RESOURCE_COLUMNS

START = 1_700_000_000.0
PERCENTILE_COLUMNS = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
HISTORY_COLUMNS = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", *PERCENTILE_COLUMNS,
                   "Total Request Count", "Total Failure Count", "Total Median Response Time",
                   "Total Average Response Time", "Total Min Response Time", "Total Max Response Time",
                   "Total Average Content Size"]
STATS_COLUMNS = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time",
                 "Average Response Time", "Min Response Time", "Max Response Time", "Average Content Size",
                 "Requests/s", "Failures/s", *PERCENTILE_COLUMNS]


def _fmt(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.char.mod(f"%.{decimals}f", values)


def write_resources(path: Path, seconds: int, processes: int, rng: np.random.Generator) -> int:
    """Write the resources file in chunks (bounded memory); returns the number of rows."""
    rows = 0
    chunk = 3600
    with open(path, "w") as fh:
        fh.write(",".join(RESOURCE_COLUMNS) + "\n")
        seq = 0
        for start in range(0, seconds, chunk):
            ts = START + np.arange(start, min(start + chunk, seconds), dtype=float)
            n = len(ts)
            frames = []
            # system row
            used = 8e9 + 2e3 * (ts - START) + rng.normal(0, 5e7, n)
            frames.append(pd.DataFrame({
                "timestamp": ts, "host": "target-1", "seq": seq + np.arange(n), "kind": "system", "name": "system",
                "pid": "", "cpu_percent": np.clip(rng.normal(55, 10, n), 0, 100).round(1),
                "memory_percent": (used / 32e9 * 100).round(2), "rss_bytes": used.astype(np.int64),
                "available_bytes": (32e9 - used).astype(np.int64), "swap_percent": 0.0, "load1": 1.5,
                "threads": "", "open_files": "", "connections": rng.integers(200, 900, n),
                "disk_read_bps": rng.integers(0, 10**6, n), "disk_write_bps": rng.integers(0, 10**6, n),
                "net_sent_bps": rng.integers(0, 10**7, n), "net_recv_bps": rng.integers(0, 10**7, n), "count": "",
            }))
            for p in range(processes):
                base = 1e8 + p * 1e7
                slope = 2e3 if p % 10 == 0 else 0.0  # every tenth process leaks 7.2 MB/h
                saw = (ts % (60 + p)) / (60 + p) * 2e7
                rss = base + slope * (ts - START) + saw + rng.normal(0, 1e5, n)
                frames.append(pd.DataFrame({
                    "timestamp": ts, "host": "target-1", "seq": seq + np.arange(n), "kind": "process",
                    "name": f"proc-{p:02d}", "pid": 1000 + p, "cpu_percent": np.abs(rng.normal(5, 2, n)).round(1),
                    "memory_percent": (rss / 32e9 * 100).round(3), "rss_bytes": rss.astype(np.int64),
                    "available_bytes": "", "swap_percent": "", "load1": "", "threads": 8, "open_files": 12,
                    "connections": 4, "disk_read_bps": "", "disk_write_bps": "", "net_sent_bps": "",
                    "net_recv_bps": "", "count": "",
                }))
            brss = 2e9 + rng.normal(0, 5e7, n)
            frames.append(pd.DataFrame({
                "timestamp": ts, "host": "target-1", "seq": seq + np.arange(n), "kind": "browsers", "name": "browsers",
                "pid": "", "cpu_percent": 30.0, "memory_percent": 6.0, "rss_bytes": brss.astype(np.int64),
                "available_bytes": "", "swap_percent": "", "load1": "", "threads": "", "open_files": "",
                "connections": "", "disk_read_bps": "", "disk_write_bps": "", "net_sent_bps": "",
                "net_recv_bps": "", "count": 8,
            }))
            gts = ts[::3]
            for w in range(2):
                frames.append(pd.DataFrame({
                    "timestamp": gts, "host": f"worker-{w}", "seq": "", "kind": "generator", "name": f"worker-{w}",
                    "pid": 500 + w, "cpu_percent": 40.0, "memory_percent": 0.5,
                    "rss_bytes": (1.5e8 + rng.normal(0, 1e6, len(gts))).astype(np.int64),
                    "available_bytes": "", "swap_percent": "", "load1": "", "threads": "", "open_files": "",
                    "connections": "", "disk_read_bps": "", "disk_write_bps": "", "net_sent_bps": "",
                    "net_recv_bps": "", "count": "",
                }))
            seq += n
            df = pd.concat(frames, ignore_index=True).sort_values("timestamp", kind="stable")
            df.to_csv(fh, header=False, index=False, float_format="%.3f")
            rows += len(df)
    return rows


def write_history(path: Path, seconds: int, names: int, rng: np.random.Generator) -> int:
    """Write a full stats history: one row per second per name plus the Aggregated row."""
    rows = 0
    chunk = 3600
    types = ["GET", "POST", "WS", "REDIS", "PAGE"]
    totals = np.zeros(names + 1, dtype=np.int64)
    fails = np.zeros(names + 1, dtype=np.int64)
    with open(path, "w") as fh:
        fh.write(",".join(HISTORY_COLUMNS) + "\n")
        for start in range(0, seconds, chunk):
            ts = (START + np.arange(start, min(start + chunk, seconds))).astype(np.int64)
            n = len(ts)
            frames = []
            agg_rps = np.zeros(n)
            agg_new = np.zeros(n, dtype=np.int64)
            agg_fail = np.zeros(n, dtype=np.int64)
            for i in range(names):
                new = rng.poisson(10, n)
                newf = rng.binomial(new, 0.01)
                cum = totals[i] + np.cumsum(new)
                cumf = fails[i] + np.cumsum(newf)
                totals[i] = cum[-1]
                fails[i] = cumf[-1]
                agg_new += new
                agg_fail += newf
                rps = new.astype(float)
                agg_rps += rps
                base = 20 + i * 5
                jitter = rng.lognormal(0, 0.1, n)
                factors = (1, 1.2, 1.3, 1.4, 1.8, 2.2, 2.8, 3.2, 5, 6, 7)
                pct = {c: np.round(base * f * jitter) for c, f in zip(PERCENTILE_COLUMNS, factors, strict=False)}
                frame = pd.DataFrame({"Timestamp": ts, "User Count": 100, "Type": types[i % len(types)],
                                      "Name": f"/endpoint/{i:02d}", "Requests/s": rps, "Failures/s": newf * 1.0,
                                      **pct, "Total Request Count": cum, "Total Failure Count": cumf,
                                      "Total Median Response Time": base, "Total Average Response Time": base * 1.1,
                                      "Total Min Response Time": 1, "Total Max Response Time": base * 9,
                                      "Total Average Content Size": 512})
                frames.append(frame)
            cum = totals[names] + np.cumsum(agg_new)
            cumf = fails[names] + np.cumsum(agg_fail)
            totals[names] = cum[-1]
            fails[names] = cumf[-1]
            frames.append(pd.DataFrame({"Timestamp": ts, "User Count": 100, "Type": "", "Name": "Aggregated",
                                        "Requests/s": agg_rps, "Failures/s": agg_fail * 1.0,
                                        **{c: 60.0 for c in PERCENTILE_COLUMNS},
                                        "Total Request Count": cum, "Total Failure Count": cumf,
                                        "Total Median Response Time": 60, "Total Average Response Time": 70,
                                        "Total Min Response Time": 1, "Total Max Response Time": 900,
                                        "Total Average Content Size": 512}))
            df = pd.concat(frames, ignore_index=True).sort_values("Timestamp", kind="stable")
            df.to_csv(fh, header=False, index=False, float_format="%.6f")
            rows += len(df)
    stats = pd.DataFrame([[types[i % len(types)], f"/endpoint/{i:02d}", totals[i], fails[i], 20 + i * 5,
                           22 + i * 5.5, 1, (20 + i * 5) * 9, 512, 10.0, 0.1,
                           *[round((20 + i * 5) * f) for f in (1, 1.2, 1.3, 1.4, 1.8, 2.2, 2.8, 3.2, 5, 6, 7)]]
                          for i in range(names)]
                         + [["", "Aggregated", totals[names], fails[names], 60, 70, 1, 900, 512, 300.0, 3.0,
                             *[60] * 11]], columns=STATS_COLUMNS)
    stats.to_csv(str(path).replace("_stats_history.csv", "_stats.csv"), index=False)
    return rows


def generate(directory: Path, hours: float = 20.0, processes: int = 50, names: int = 30) -> str:
    """Write a run's files under ``directory`` (skipped when already there); returns the prefix."""
    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / f"run{hours:g}h"
    marker = Path(f"{prefix}.complete")
    if marker.exists():
        return str(prefix)
    rng = np.random.default_rng(1)
    seconds = int(hours * 3600)
    t0 = time.perf_counter()
    n_res = write_resources(Path(f"{prefix}_resources.csv"), seconds, processes, rng)
    n_hist = write_history(Path(f"{prefix}_stats_history.csv"), seconds, names, rng)
    pd.DataFrame([["GET", "/endpoint/01", "HTTPError('500 Server Error')", 120, START, START + seconds]],
                 columns=["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"]
                 ).to_csv(f"{prefix}_failures.csv", index=False)
    faults = pd.DataFrame({
        "timestamp": START + np.sort(rng.uniform(0, seconds, 2000)),
        "event": np.tile(["injected", "recovered"], 1000), "kind": "browser_crash", "user": "u1",
        "worker": "worker-0", "detail": "", "recovery_time": np.tile([np.nan, 4.2], 1000)})
    faults = faults[list(FAULT_COLUMNS)]
    faults.to_csv(f"{prefix}_faults.csv", index=False)
    Path(f"{prefix}_run.json").write_text(json.dumps({
        "scenario": "production", "time_scale": 1.0, "started": START, "ended": START + seconds,
        "pages_total": 724, "pages_completed": 700, "session_restarts": 12, "critical_failures": 0,
        "stopped_early": False, "stop_reason": "", "exit_code": 0,
        "criteria": [{"name": "pages completed >= 80%", "passed": True, "value": 0.967, "limit": 0.8, "detail": ""}],
        "thresholds": []}))
    marker.write_text(f"resources rows {n_res}, history rows {n_hist}, {time.perf_counter() - t0:.0f}s\n")
    return str(prefix)


SIDE_FILES = ("_resources.csv", "_stats_history.csv")
"""The CSVs a real run writes columnar side files of (the collector's, and Locust's history via
stresskit.observe.historyside)."""


def side_file(prefix: str) -> None:
    """Write the columnar side files of the resources CSV and the stats history (once), as a real run
    has them: the CSVs' cells, read back as text, go through the same writer a run uses."""
    from stresskit.report.columnar import HISTORY_NUMERIC, HISTORY_TEXT, SIDE_SUFFIX, ColumnarWriter

    for suffix in SIDE_FILES:
        path = f"{prefix}{suffix}"
        done = Path(f"{prefix}{suffix}.side-complete")
        if os.path.isdir(path + SIDE_SUFFIX) and done.exists():
            continue
        t0 = time.perf_counter()
        if suffix == "_resources.csv":
            writer = ColumnarWriter(path)
        else:
            header = list(pd.read_csv(path, nrows=0).columns)
            writer = ColumnarWriter(path, numeric=tuple(c for c in HISTORY_NUMERIC if c in header),
                                    text=tuple(c for c in HISTORY_TEXT if c in header))
        size = os.path.getsize(path)
        for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=200_000):
            writer.append(chunk.to_dict("records"), size)
        writer.close()
        done.write_text(f"side file of {writer.rows} rows, {time.perf_counter() - t0:.0f}s\n")


def _swap_side_file(prefix: str, away: bool) -> None:
    """Move the side files aside (the report then parses the CSVs) or back."""
    from stresskit.report.columnar import SIDE_SUFFIX

    for suffix in SIDE_FILES:
        here = f"{prefix}{suffix}{SIDE_SUFFIX}"
        there = here + ".away"
        if away and os.path.exists(here):
            os.replace(here, there)
        elif not away and os.path.exists(there):
            os.replace(there, here)


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(prefix: str, repeats: int) -> list[dict[str, float]]:
    """Run ``stresskit report`` ``2 * repeats`` times in fresh processes, alternating two kinds of run.

    A timed run only waits for the process: its wall seconds and CPU seconds (user + sys of the
    report and its helper). A sampled run reads the process tree's RSS every 20 ms for the peak of
    the summed RSS (MiB), which also takes CPU from the run it measures, so its wall time is shown
    apart and is not the figure. Per pair: ``wall``, ``cpu``, ``wall_sampled``, ``peak_mib``.
    """
    results = []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = _start(prefix)
        proc.wait()
        elapsed = time.perf_counter() - t0
        _check(proc)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        t0 = time.perf_counter()
        proc = _start(prefix)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.02)
        sampled = time.perf_counter() - t0
        _check(proc)
        results.append({"wall": elapsed, "cpu": cpu, "wall_sampled": sampled, "peak_mib": peak / 2**20})
    return results


def _start(prefix: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stresskit", "report", prefix, "--quiet"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _check(proc: subprocess.Popen) -> None:
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode not in (0, 3, 4, 5, 6, 7, 8, 9):
        sys.exit(f"report failed ({proc.returncode}): {err.strip()[-2000:]}")


def largest_process_mib() -> float:
    """The peak RSS of the largest single process this benchmark has waited for (the report's main
    process; a forked helper shares pages with it, which the summed tree figure counts twice)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


PHASES = r"""
import os, resource, sys
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")  # as stresskit report sets it
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
c0 = cpu()
role, P = sys.argv[1], sys.argv[2]
if role == "child":
    from stresskit.report.resources import analyze_resources, ResourceOptions
    c1 = cpu(); analyze_resources(P + "_resources.csv", ResourceOptions(), judge=False); c2 = cpu()
    print(f"helper process (resources): imports {c1 - c0:.2f} s, "
          f"read + checks + memory series measured {c2 - c1:.2f} s = {c2 - c0:.2f} s")
else:
    from stresskit.report import load
    from stresskit.report.latency import history_windows
    from stresskit.report.build import build_report
    from stresskit.report.charts import resource_charts, traffic_charts
    from stresskit.report.leak import import_statistics
    c1 = cpu(); h = load.read_history(P); c2 = cpu(); history_windows(h.frame, 60); c3 = cpu()
    import_statistics(); c3s = cpu()
    rep = build_report(P, jobs=1)
    c4 = cpu(); traffic_charts(rep.started, rep.ended, rep.throughput, rep.latency, rep.faults); c5 = cpu()
    resource_charts(rep.started, rep.ended, rep.resources, rep.leaks); c5r = cpu()
    rep.to_json(); c6 = cpu()
    total = (c1 - c0) + (c2 - c1) + (c3 - c2) + (c3s - c3) + (c5 - c4) + (c5r - c5) + (c6 - c5r)
    print(f"main process (stats): imports {c1 - c0:.2f} s, history read {c2 - c1:.2f} s, windows {c3 - c2:.2f} s,"
          f" scipy.stats {c3s - c3:.2f} s, request/latency charts {c5 - c4:.2f} s, memory/CPU charts "
          f"{c5r - c5:.2f} s, JSON {c6 - c5r:.2f} s = {total:.2f} s (and the leak verdicts: ~0.1 s)")
"""


def phases(prefix: str) -> None:
    """CPU seconds of each process's share of the work, measured one at a time (no contention)."""
    for role in ("parent", "child"):
        out = subprocess.run([sys.executable, "-c", PHASES, role, prefix], cwd=ROOT, capture_output=True, text=True,
                             check=False)
        print(out.stdout.strip() or out.stderr.strip()[-500:])


def compare_csv(prefix: str, repeats: int) -> None:
    """The side-file lever, measured: report runs alternating with and without the side files."""
    runs: dict[str, list[dict[str, float]]] = {"side file": [], "CSV parsed": []}
    try:
        for _ in range(repeats):
            for variant, results in runs.items():
                _swap_side_file(prefix, away=variant == "CSV parsed")
                results.extend(measure(prefix, 1))
    finally:
        _swap_side_file(prefix, away=False)
    for variant, results in runs.items():
        print(f"{variant:10}: median wall {statistics.median(r['wall'] for r in results):.2f} s, median CPU "
              f"{statistics.median(r['cpu'] for r in results):.2f} s, peak RSS "
              f"{max(r['peak_mib'] for r in results):.0f} MiB (runs: "
              + ", ".join(f"{r['wall']:.2f}" for r in results) + f"); load average now {os.getloadavg()[0]:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--names", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/stresskit-bench-report")
    parser.add_argument("--phases", action="store_true", help="also measure each process's CPU share")
    parser.add_argument("--compare-csv", action="store_true",
                        help="interleave runs with the side files and with the CSVs parsed (the lever)")
    args = parser.parse_args()
    prefix = generate(Path(args.dir), args.hours, args.processes, args.names)
    side_file(prefix)
    if args.compare_csv:
        compare_csv(prefix, args.repeats)
        return 0
    sizes = {s: os.path.getsize(f"{prefix}{s}") / 2**20 for s in ("_resources.csv", "_stats_history.csv")}
    print(f"data: {Path(prefix + '.complete').read_text().strip()}; "
          + ", ".join(f"{k} {v:.0f} MiB" for k, v in sizes.items()))
    load_before = os.getloadavg()[0]
    results = measure(prefix, args.repeats)
    times = [r["wall"] for r in results]
    print(f"stresskit report (HTML, JSON, JUnit): median wall {statistics.median(times):.2f} s (runs: "
          + ", ".join(f"{t:.2f}" for t in times) + f"); median CPU {statistics.median(r['cpu'] for r in results):.2f} s"
          f" (user+sys, both processes); peak RSS of the process tree {max(r['peak_mib'] for r in results):.0f} MiB"
          f" (sampled runs, median wall {statistics.median(r['wall_sampled'] for r in results):.2f} s), largest "
          f"process {largest_process_mib():.0f} MiB; load average before {load_before:.1f}, after "
          f"{os.getloadavg()[0]:.1f} (on {os.cpu_count()} cores)")
    if args.phases:
        phases(prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
