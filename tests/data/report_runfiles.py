"""Helpers of the report tests: a real short Locust run's files plus synthetic resources, faults
and run.json files written per :mod:`stresskit.core.schema`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from stresskit.core.schema import FAULT_COLUMNS, RESOURCE_COLUMNS

LOCUSTFILE = Path(__file__).with_name("report_locustfile.py")
ROOT = Path(__file__).resolve().parents[2]


def run_locust(prefix: Path, host: str, seconds: int = 6, users: int = 4, extra: tuple[str, ...] = (),
               timeout: float = 90.0) -> subprocess.CompletedProcess:
    """A real headless Locust run with --csv and --csv-full-history (bounded in time)."""
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-H", host, "-u", str(users),
            "-r", str(users), "-t", f"{seconds}s", "--csv", str(prefix), "--csv-full-history", "--only-summary",
            "--stop-timeout", "2", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def write_resources(path: Path, start: float, seconds: int, leak_mb_per_h: float = 0.0, hot_cpu: bool = False,
                    processes: int = 2) -> None:
    """1 Hz samples: a system row, ``processes`` tracked processes (process 0 leaking ``leak_mb_per_h``),
    the browser group and one generator row every 3 s; a gap row in the middle."""
    rng = np.random.default_rng(7)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESOURCE_COLUMNS)
        writer.writeheader()
        for i in range(seconds):
            t = start + i
            used = 4e9 + rng.normal(0, 1e6)
            cpu = 95.0 if hot_cpu else 30 + rng.normal(0, 3)
            writer.writerow({"timestamp": f"{t:.3f}", "host": "target-a", "seq": i, "kind": "system", "name": "system",
                             "cpu_percent": round(cpu, 1), "memory_percent": round(used / 16e9 * 100, 2),
                             "rss_bytes": int(used), "available_bytes": int(16e9 - used), "swap_percent": 0,
                             "load1": 0.5, "connections": 40 + i % 5})
            for p in range(processes):
                rss = 2e8 + p * 5e7 + (leak_mb_per_h * 1e6 * i / 3600 if p == 0 else 0) + 3e6 * ((i % 20) / 20)
                writer.writerow({"timestamp": f"{t:.3f}", "host": "target-a", "seq": i, "kind": "process",
                                 "name": f"backend-{p}", "pid": 100 + p, "cpu_percent": 10 + p,
                                 "memory_percent": round(rss / 16e9 * 100, 3), "rss_bytes": int(rss), "threads": 4,
                                 "open_files": 9, "connections": 3})
            writer.writerow({"timestamp": f"{t:.3f}", "host": "target-a", "seq": i, "kind": "browsers",
                             "name": "browsers", "rss_bytes": int(6e8 + rng.normal(0, 1e6)), "count": 3})
            if i % 3 == 0:
                writer.writerow({"timestamp": f"{t:.3f}", "host": "local", "kind": "generator", "name": "local",
                                 "pid": 42, "cpu_percent": 20, "rss_bytes": int(9e7)})
            if i == seconds // 2:
                writer.writerow({"timestamp": f"{t:.3f}", "host": "target-a", "kind": "gap", "name": "target-a",
                                 "count": 2})


def write_faults(path: Path, start: float) -> None:
    rows = [
        (start + 1, "injected", "browser_crash", "u1", "local", "killed chrome", ""),
        (start + 3, "recovered", "browser_crash", "u1", "local", "", "2.0"),
        (start + 2, "injected", "rate_limiting", "u2", "local", "burst", ""),
        (start + 2.5, "recovered", "rate_limiting", "u2", "local", "", "0.5"),
        (start + 4, "injected", "websocket_drop", "u3", "local", "", ""),
        (start + 9, "critical", "websocket_drop", "u3", "local", "not recovered in 5 s", ""),
    ]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FAULT_COLUMNS)
        writer.writerows(rows)


def write_run_json(path: Path, start: float, end: float, *, pages_completed: int = 9, critical: int = 0,
                   threshold_passed: bool = True) -> None:
    doc = {"scenario": "light", "time_scale": 0.01, "scenario_duration": 900, "started": start, "ended": end,
           "pages_total": 10, "pages_completed": pages_completed, "session_restarts": 1,
           "critical_failures": critical, "requests": 0, "failures": 0, "fail_ratio": None, "stopped_early": False,
           "stop_reason": "", "exit_code": 0, "verdict": "pass",
           "criteria": [
               {"name": "page_completion", "passed": pages_completed >= 8, "value": pages_completed / 10,
                "limit": 0.8, "detail": f"{pages_completed} of 10 pages completed"},
               {"name": "critical_failures", "passed": critical == 0, "value": float(critical), "limit": 0.0,
                "detail": f"{critical} critical failure(s)"},
               {"name": "resources_stable", "passed": True, "value": None, "limit": 0.0,
                "detail": "not evaluated: no resource agent sent samples"}],
           "thresholds": [{"expression": "p95:/api/items<5000", "passed": threshold_passed, "value": 12.0,
                           "abort_on_fail": False}],
           "workers": ["local"], "run_state": {"cache_hit_rate": None}}
    path.write_text(json.dumps(doc, indent=1))


def history_span(prefix: Path) -> tuple[float, float]:
    with open(f"{prefix}_stats_history.csv") as fh:
        ts = [float(row["Timestamp"]) for row in csv.DictReader(fh)]
    return min(ts), max(ts) + 1


PCTS = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
STATS_HEADER = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
                "Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s", *PCTS]
HISTORY_HEADER = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", *PCTS,
                  "Total Request Count", "Total Failure Count", "Total Median Response Time",
                  "Total Average Response Time", "Total Min Response Time", "Total Max Response Time",
                  "Total Average Content Size"]


def write_synthetic_locust(prefix: Path, start: float, seconds: int, rate: int = 10, fail_every: int = 0,
                           p95: float = 40.0, names: tuple[tuple[str, str], ...] = (("GET", "/a"), ("PAGE", "/pages/[page]"))
                           ) -> None:
    """Locust-format _stats.csv / _stats_history.csv / _failures.csv / _exceptions.csv with known counts:
    each name gets ``rate`` requests per second; every ``fail_every``-th second's requests of the first name fail."""
    totals = {n: 0 for n in names}
    fails = {n: 0 for n in names}
    with open(f"{prefix}_stats_history.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HISTORY_HEADER)
        for i in range(seconds):
            ts = int(start) + i
            agg_new = agg_fail = 0
            for j, name in enumerate(names):
                totals[name] += rate
                agg_new += rate
                if fail_every and j == 0 and i % fail_every == 0:
                    fails[name] += rate
                    agg_fail += rate
                pct = [p95 / 2, p95 / 1.8, p95 / 1.6, p95 / 1.5, p95 / 1.2, p95, p95 * 1.2, p95 * 1.4, p95 * 2,
                       p95 * 2.2, p95 * 2.5]
                w.writerow([ts, 5, name[0], name[1], rate, 0, *[int(v) for v in pct], totals[name], fails[name],
                            int(p95 / 2), p95 / 2, 1, int(p95 * 2.5), 100])
            w.writerow([ts, 5, "", "Aggregated", agg_new, agg_fail, *[int(p95 * f) for f in
                                                                     (.5, .55, .6, .65, .8, 1, 1.2, 1.4, 2, 2.2, 2.5)],
                        sum(totals.values()), sum(fails.values()), int(p95 / 2), p95 / 2, 1, int(p95 * 2.5), 100])
    with open(f"{prefix}_stats.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(STATS_HEADER)
        for name in names:
            w.writerow([name[0], name[1], totals[name], fails[name], int(p95 / 2), p95 / 2, 1, int(p95 * 2.5), 100,
                        rate, 0, *[int(p95 * f) for f in (.5, .55, .6, .65, .8, 1, 1.2, 1.4, 2, 2.2, 2.5)]])
        w.writerow(["", "Aggregated", sum(totals.values()), sum(fails.values()), int(p95 / 2), p95 / 2, 1,
                    int(p95 * 2.5), 100, rate * len(names), 0,
                    *[int(p95 * f) for f in (.5, .55, .6, .65, .8, 1, 1.2, 1.4, 2, 2.2, 2.5)]])
    with open(f"{prefix}_failures.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"])
        if fail_every:
            w.writerow([names[0][0], names[0][1], "HTTPError('503 Server Error: Service Unavailable')",
                        fails[names[0]], start, start + seconds])
    with open(f"{prefix}_exceptions.csv", "w", newline="") as fh:
        csv.writer(fh).writerow(["Count", "Message", "Traceback", "Nodes"])


def synthetic_run(prefix: Path, seconds: int = 600, leak_mb_per_h: float = 0.0, **kwargs) -> Path:
    """A complete synthetic run (Locust CSVs, resources, faults, run.json) under ``prefix``."""
    start = 1_700_000_000.0
    write_synthetic_locust(prefix, start, seconds, **{k: v for k, v in kwargs.items()
                                                       if k in ("rate", "fail_every", "p95")})
    write_resources(Path(f"{prefix}_resources.csv"), start, seconds, leak_mb_per_h=leak_mb_per_h,
                    hot_cpu=kwargs.get("hot_cpu", False))
    write_faults(Path(f"{prefix}_faults.csv"), start)
    write_run_json(Path(f"{prefix}_run.json"), start, start + seconds,
                   pages_completed=kwargs.get("pages_completed", 9), critical=kwargs.get("critical", 0),
                   threshold_passed=kwargs.get("threshold_passed", True))
    return prefix
