"""Benchmark: does a long run stay healthy? A time-scaled production soak, measured from outside.

Starts a redis-server and the reference target on loopback, then runs
``locust -f locustfiles/production.py --headless --scenario production --time-scale 0.05``
(the 20 h production day in one hour) for ``--minutes`` (default 60: the whole scenario), as one
local process or as a master with ``--workers N``. Every ``--interval`` seconds it samples with
psutil the RSS of the load generator (the local process, or each worker), of the master, and of
the target, and the size of every file the run writes. At the end it reports:

* the RSS slope of each process after the warm-up (Theil–Sen, MB per hour of real time);
* the same slope within each stage of constant load long enough to fit (its first
  ``STAGE_SETTLE_S`` left out), and from the end of the busiest stage to the end of the run: a
  process that holds more users holds more memory, and a step when the load rises is its new
  high-water mark, not a leak — growth while the load is constant is;
* the master's RSS at the end of the warm-up and at the end;
* the run's files: bytes written per hour and how straight a line their growth is (R²);
* how long ``stresskit report PREFIX`` takes on the run's files.

    .venv/bin/python benchmarks/bench_soak.py                         # one hour, one process
    .venv/bin/python benchmarks/bench_soak.py --minutes 8 --warmup 2  # a short look
    .venv/bin/python benchmarks/bench_soak.py --minutes 10 --workers 2 --probe
    .venv/bin/python benchmarks/bench_soak.py --summarize runs/soak-TIME   # again, from its samples.json

``--probe`` also loads benchmarks/soak_probe.py into the locust process: tracemalloc snapshots
after the warm-up and at the end, and the allocation sites that grew most (slows the run down).
``--probe-target`` does the same inside the reference target (benchmarks/target_probe/).
Production's conditions (memory pressure, network instability, resource exhaustion) are skipped
with ``--skip-condition``: they would hold memory on purpose. Failure injection stays on.
Load goes to loopback only; every process started here is stopped by its pid at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
from scipy import stats as sstats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stresskit.run.scenarios import load_scenarios
from stresskit.target.launcher import free_port, start_redis, start_target

MB = 1024 * 1024
SKIPPED_CONDITIONS = ("memory_pressure", "network_instability", "resource_exhaustion")
"""Production's conditions are opted out: held memory and a network proxy would be what the
benchmark measures, not the generator's and the target's own growth (failure injection stays on)."""
STAGE_SETTLE_S = 120.0
"""Seconds of a stage left out of its slope: the users of the new load are still spawning."""
STAGE_MIN_S = 180.0
"""A stage needs this many seconds after settling to get a slope of its own."""


def slope_mb_per_hour(times: list[float], values: list[float]) -> float | None:
    """Theil–Sen slope of ``values`` (bytes) over ``times`` (s), in MB per hour; None with < 3 points."""
    if len(times) < 3:
        return None
    result = sstats.theilslopes(np.asarray(values, dtype=float) / MB, np.asarray(times, dtype=float))
    return float(result[0] * 3600)


def linear_fit(times: list[float], values: list[float]) -> tuple[float | None, float | None]:
    """(bytes per hour, R²) of a least-squares line through the samples."""
    if len(times) < 3 or max(values) == min(values):
        return None, None
    fit = sstats.linregress(times, values)
    return float(fit.slope * 3600), float(fit.rvalue ** 2)


def rss(pid: int) -> int | None:
    try:
        return psutil.Process(pid).memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def locust_command(args: argparse.Namespace, prefix: Path, host: str, redis_url: str, role: list[str]) -> list[str]:
    files = "locustfiles/production.py" + (",benchmarks/soak_probe.py" if args.probe else "")
    return [sys.executable, "-m", "locust", "-f", files, "--headless", "--only-summary", "--host", host,
            "--redis-url", redis_url, "--scenario", "production", "--time-scale", str(args.time_scale),
            "--run-time", f"{int(args.minutes * 60)}s", "--csv", str(prefix), "--csv-full-history",
            *[a for c in SKIPPED_CONDITIONS for a in ("--skip-condition", c)], *role]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the run (default 60)")
    parser.add_argument("--time-scale", type=float, default=0.05, help="production's time scale (default 0.05)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="minutes left out of the slopes (default: a sixth of the run, at least 1)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--workers", type=int, default=0, help="run as a master with N workers (default: local)")
    parser.add_argument("--probe", action="store_true", help="tracemalloc the locust process (see soak_probe.py)")
    parser.add_argument("--probe-target", action="store_true",
                        help="tracemalloc the reference target (see target_probe/sitecustomize.py)")
    parser.add_argument("--out", type=Path, default=None, help="directory for the run (default runs/soak-TIME)")
    parser.add_argument("--summarize", type=Path, default=None, metavar="DIR",
                        help="run nothing: summarize an earlier run's DIR/samples.json again")
    args = parser.parse_args()
    if args.summarize is not None:
        return resummarize(args.summarize)
    if not (args.minutes > 0 and args.time_scale > 0 and args.interval > 0 and args.workers >= 0):
        parser.error("--minutes, --time-scale and --interval must be > 0, --workers >= 0")
    warmup = (args.warmup if args.warmup is not None else max(1.0, args.minutes / 6)) * 60
    out = args.out or ROOT / "runs" / f"soak-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / "run"
    redis = start_redis(workdir=out / "redis")
    probe_env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "benchmarks" / "target_probe"),
                                                os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                 "STRESSKIT_TARGET_PROBE": str(out / "target_probe.json"),
                 "STRESSKIT_TARGET_PROBE_WARMUP": str(warmup),
                 "STRESSKIT_TARGET_PROBE_END": str(max(warmup + 60, args.minutes * 60 - 20))} if args.probe_target else {}
    saved = {k: os.environ.get(k) for k in probe_env}
    os.environ.update(probe_env)  # the target's process only: put back before the load starts
    try:
        target = start_target(workdir=out / "target", redis_url=redis.url, admin_token="bench-soak",
                              extra_args=["--latency-ms", "2"])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    env = dict(os.environ, STRESSKIT_SOAK_PROBE=str(out / "probe.json"),
               STRESSKIT_SOAK_PROBE_WARMUP=str(warmup),
               STRESSKIT_SOAK_PROBE_END=str(max(warmup + 60, args.minutes * 60 - 20))) if args.probe else dict(os.environ)
    for var in ("STRESSKIT_SCENARIO", "STRESSKIT_TIME_SCALE", "STRESSKIT_PAGES", "STRESSKIT_END_ON_QUOTA"):
        env.pop(var, None)
    procs: dict[str, subprocess.Popen] = {}
    logs = []
    samples: list[dict] = []
    code = None
    try:
        if args.workers:
            port = free_port()
            role = ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                    "--expect-workers", str(args.workers)]
            names = ["master"] + [f"worker{i}" for i in range(args.workers)]
            roles = [role] + [["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]] * args.workers
        else:
            names, roles = ["local"], [[]]
        for name, r in zip(names, roles, strict=True):
            log = open(out / f"{name}.log", "wb")  # noqa: SIM115  closed in finally
            logs.append(log)
            procs[name] = subprocess.Popen(locust_command(args, prefix, target.url, redis.url, r), cwd=ROOT,
                                           env=env, stdout=log, stderr=subprocess.STDOUT)
        main_proc = procs["master" if args.workers else "local"]
        started = time.monotonic()
        deadline = started + args.minutes * 60 + 180
        while main_proc.poll() is None and time.monotonic() < deadline:
            row = {"t": time.monotonic() - started, "target": rss(target.pid)}
            row.update({name: rss(p.pid) for name, p in procs.items()})
            row["files"] = {f.name: f.stat().st_size for f in out.glob("run_*") if f.is_file()}
            samples.append(row)
            time.sleep(args.interval)  # the sampling period of this benchmark, bounded by the deadline
        code = main_proc.wait(timeout=60) if main_proc.poll() is None else main_proc.returncode
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        for log in logs:
            log.close()
        target.stop()
        redis.stop()
    report_started = time.monotonic()
    report = subprocess.run([sys.executable, "-m", "stresskit", "report", str(prefix)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, check=False)
    report_seconds = time.monotonic() - report_started
    result = summarize(samples, warmup, list(procs) + ["target"], code, report.returncode, report_seconds, args)
    run_file = Path(f"{prefix}_run.json")
    if run_file.exists():
        run = json.loads(run_file.read_text())
        result["run"] = {k: run.get(k) for k in ("verdict", "stop_reason", "pages_total", "pages_due",
                                                 "pages_completed", "pages_behind", "requests", "failures")}
    (out / "samples.json").write_text(json.dumps(samples))
    (out / "bench_soak.json").write_text(json.dumps(result, indent=2))
    print_result(result, out)
    return 0


def summarize(samples: list[dict], warmup: float, names: list[str], code: int | None, report_code: int,
              report_seconds: float, args: argparse.Namespace) -> dict:
    after = [s for s in samples if s["t"] >= warmup]
    processes = {}
    for name in names:
        points = [(s["t"], s[name]) for s in after if s.get(name)]
        processes[name] = {
            "rss_after_warmup_mb": points[0][1] / MB if points else None,
            "rss_end_mb": points[-1][1] / MB if points else None,
            "slope_mb_per_h": slope_mb_per_hour([p[0] for p in points], [p[1] for p in points]),
            "samples": len(points),
        }
    files = {}
    for name in sorted({n for s in after for n in s["files"]}):
        points = [(s["t"], s["files"][name]) for s in after if name in s["files"]]
        per_hour, r2 = linear_fit([p[0] for p in points], [p[1] for p in points])
        files[name] = {"bytes_end": points[-1][1], "bytes_per_h": per_hour, "r2": r2}
    return {"minutes": args.minutes, "time_scale": args.time_scale, "workers": args.workers,
            "warmup_s": warmup, "locust_exit_code": code, "processes": processes, "files": files,
            "stages": stage_slopes(samples, names, args.time_scale),
            "report_exit_code": report_code, "report_seconds": report_seconds,
            "samples": len(samples), "load_average": os.getloadavg()}


def stage_slopes(samples: list[dict], names: list[str], time_scale: float) -> list[dict]:
    """RSS slope of each process per stage of constant load, and after the busiest stage.

    Sample times count from the start of the locust processes, which is within a few seconds of
    the scenario's start: the first :data:`STAGE_SETTLE_S` of each stage are left out anyway.
    """
    scenario = load_scenarios().get("production").scaled(time_scale)
    windows, start = [], 0.0
    for stage in scenario.stages:
        windows.append((stage.name or "stage", start + STAGE_SETTLE_S, start + stage.duration))
        start += stage.duration
    busiest = max(range(len(scenario.stages)), key=lambda i: scenario.stages[i].load)
    windows.append((f"after {windows[busiest][0]}", windows[busiest][2] + STAGE_SETTLE_S, start))
    out = []
    for label, lo, hi in windows:
        inside = [s for s in samples if lo <= s["t"] < hi]
        if not inside or inside[-1]["t"] - inside[0]["t"] < STAGE_MIN_S:
            continue
        slopes = {}
        for name in names:
            points = [(s["t"], s[name]) for s in inside if s.get(name)]
            slopes[name] = slope_mb_per_hour([p[0] for p in points], [p[1] for p in points])
        out.append({"stage": label, "from_s": lo, "to_s": min(hi, inside[-1]["t"]), "slope_mb_per_h": slopes})
    return out


def resummarize(out: Path) -> int:
    """Summarize an earlier run again from its samples.json and bench_soak.json (e.g. after a change here)."""
    earlier = json.loads((out / "bench_soak.json").read_text())
    samples = json.loads((out / "samples.json").read_text())
    args = argparse.Namespace(minutes=earlier["minutes"], time_scale=earlier["time_scale"],
                              workers=earlier["workers"])
    result = summarize(samples, earlier["warmup_s"], list(earlier["processes"]), earlier["locust_exit_code"],
                       earlier["report_exit_code"], earlier["report_seconds"], args)
    result["load_average"] = earlier["load_average"]
    if "run" in earlier:
        result["run"] = earlier["run"]
    print_result(result, out)
    return 0


def print_result(result: dict, out: Path) -> None:
    print(f"soak: production at time scale {result['time_scale']:g}, {result['minutes']:g} min, "
          f"warm-up {result['warmup_s']:.0f} s, locust exit {result['locust_exit_code']}, "
          f"load average {result['load_average'][0]:.1f}")
    print(f"{'process':<10} {'RSS after warm-up MB':>21} {'RSS end MB':>11} {'slope MB/h':>11}")
    for name, p in result["processes"].items():
        slope = "–" if p["slope_mb_per_h"] is None else f"{p['slope_mb_per_h']:+.2f}"
        first = "–" if p["rss_after_warmup_mb"] is None else f"{p['rss_after_warmup_mb']:.1f}"
        last = "–" if p["rss_end_mb"] is None else f"{p['rss_end_mb']:.1f}"
        print(f"{name:<10} {first:>21} {last:>11} {slope:>11}")
    for stage in result.get("stages", []):
        slopes = ", ".join(f"{name} {'–' if v is None else f'{v:+.2f}'}" for name, v in stage["slope_mb_per_h"].items())
        print(f"  {stage['stage']} ({stage['from_s'] / 60:.0f}–{stage['to_s'] / 60:.0f} min) MB/h: {slopes}")
    print(f"{'file':<28} {'bytes at end':>13} {'MB/h':>8} {'R²':>6}")
    for name, f in result["files"].items():
        rate = "–" if f["bytes_per_h"] is None else f"{f['bytes_per_h'] / MB:.2f}"
        r2 = "–" if f["r2"] is None else f"{f['r2']:.3f}"
        print(f"{name:<28} {f['bytes_end']:>13} {rate:>8} {r2:>6}")
    if result.get("run"):
        run = result["run"]
        print(f"run: {run['verdict']}; {run['stop_reason']}; pages due {run['pages_due']}, completed "
              f"{run['pages_completed']}, behind {run['pages_behind']} of {run['pages_total']}; "
              f"{run['failures']} of {run['requests']} requests failed")
    print(f"stresskit report: exit {result['report_exit_code']} in {result['report_seconds']:.1f} s; files in {out}")


if __name__ == "__main__":
    sys.exit(main())
