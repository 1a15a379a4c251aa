"""Benchmark: detection rate and false-alarm rate of the leak verdict on synthetic memory series.

Each trial draws a 2-hour, 1 Hz memory series (level 500 MB) from one family, runs
``stresskit.report.leak.analyze_leak`` with the default rule and records the verdict:

- null families (no leak): white noise; a GC sawtooth (random period 30-600 s, amplitude 5-30% of
  the level) with noise; slowly wandering AR(1) noise (autocorrelated, the hard case for a trend
  test); a sawtooth whose amplitude changes;
- leak families: a linear leak growing the floor by 1%, 2%, 5%, 10% or 20% of the level over the
  run, under a GC sawtooth and noise.

Detection rate = share of leak trials judged "leak"; false-alarm rate = share of null trials
judged "leak". With the default rule a growth below 2% is not a leak by definition, so the 1%
family shows how the rule treats a leak below its practical size.

    .venv/bin/python benchmarks/bench_leak.py [--trials 200] [--hours 2] [--interval 1]
        [--families "leak 2%;AR(1) wander"] [--sweep 1,1.5,2]

``--sweep`` re-judges the same trials at other practical sizes (``--leak-growth`` of
``stresskit report``): every part of the rule but the size is independent of it, so one set of
trials gives detection and false-alarm rates for each size. It also prints the spread of the
estimated growth of each leak family, which is what limits detection at a size equal to the rule's.
Load-independent: the figures depend on the seed, not on the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stresskit.report.leak import LeakRule, analyze_leak

MB = 1e6
LEVEL = 500 * MB


def _sawtooth(rng, t, amp_range=(0.05, 0.30)):
    period = rng.uniform(30, 600)
    amp = rng.uniform(*amp_range) * LEVEL
    phase = rng.uniform(0, period)
    return amp * (((t + phase) % period) / period)


def family(name: str, rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    n = len(t)
    noise = rng.normal(0, rng.uniform(0.001, 0.01) * LEVEL, n)
    if name == "white noise":
        return LEVEL + noise
    if name == "GC sawtooth":
        return LEVEL + _sawtooth(rng, t) + noise
    if name == "AR(1) wander":
        phi = 0.999
        eps = rng.normal(0, 0.0015 * LEVEL, n)
        x = np.empty(n)
        x[0] = 0
        for i in range(1, n):
            x[i] = phi * x[i - 1] + eps[i]
        return LEVEL + x + noise
    if name == "sawtooth, changing amplitude":
        amp = np.interp(t, [t[0], t[-1]], [rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)])
        period = rng.uniform(30, 600)
        return LEVEL + amp * LEVEL * ((t % period) / period) + noise
    if name.startswith("leak"):
        growth = float(name.split()[1].rstrip("%")) / 100
        slope = growth * LEVEL / (t[-1] - t[0])
        return LEVEL + slope * (t - t[0]) + _sawtooth(rng, t) + noise
    raise ValueError(name)


NULLS = ["white noise", "GC sawtooth", "AR(1) wander", "sawtooth, changing amplitude"]
LEAKS = ["leak 1%", "leak 2%", "leak 5%", "leak 10%", "leak 20%"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples (default 1)")
    parser.add_argument("--families", default="", help="semicolon-separated subset of the families (default all)")
    parser.add_argument("--sweep", default="", help="comma-separated practical sizes (%%) to re-judge the trials at")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    t = np.arange(0, args.hours * 3600, args.interval) + 1.7e9
    chosen = [f.strip() for f in args.families.split(";") if f.strip()] or NULLS + LEAKS
    unknown = [f for f in chosen if f not in NULLS + LEAKS]
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {NULLS + LEAKS}")
    sweep = [float(v) for v in args.sweep.split(",") if v.strip()]
    trials: dict[str, list] = {}
    rule = LeakRule()
    print(f"{args.trials} trials per family, {args.hours:g} h, one sample every {args.interval:g} s, "
          f"level 500 MB, default rule:\n{rule.text()}\n")
    print("| family | leak | no leak | inconclusive | slope error (median, leaks) |")
    print("|---|---:|---:|---:|---:|")
    started = time.perf_counter()
    totals = {"null": Counter(), "leak": Counter()}
    for name in chosen:
        verdicts = Counter()
        errors = []
        for _ in range(args.trials):
            y = family(name, rng, t)
            result = analyze_leak(t, y, rule=rule)
            verdicts[result.verdict] += 1
            trials.setdefault(name, []).append(result)
            if name.startswith("leak") and result.slope_mb_per_h is not None:
                growth = float(name.split()[1].rstrip("%")) / 100
                true = growth * LEVEL / MB / args.hours
                errors.append(abs(result.slope_mb_per_h - true) / true)
        group = "leak" if name.startswith("leak") else "null"
        if name != "leak 1%":
            totals[group].update(verdicts)
        n = args.trials
        err = f"{100 * np.median(errors):.1f}%" if errors else "–"
        print(f"| {name} | {100 * verdicts['leak'] / n:.1f}% | {100 * verdicts['no leak'] / n:.1f}% | "
              f"{100 * verdicts['inconclusive'] / n:.1f}% | {err} |")
    null_n = sum(totals["null"].values())
    leak_n = sum(totals["leak"].values())
    if null_n:
        print(f"\nfalse-alarm rate (all null families): {100 * totals['null']['leak'] / null_n:.2f}% "
              f"({totals['null']['leak']} of {null_n})")
    if leak_n:
        print(f"detection rate (leaks of >= 2% growth): {100 * totals['leak']['leak'] / leak_n:.2f}% "
              f"({totals['leak']['leak']} of {leak_n})")
    elapsed = time.perf_counter() - started
    print(f"{elapsed:.1f} s, {1000 * elapsed / (args.trials * len(chosen)):.1f} ms per series")
    spread(trials, rule)
    if sweep:
        print_sweep(trials, rule, sweep)
    return 0


def spread(trials: dict[str, list], rule: LeakRule) -> None:
    """The estimated growth over the observed span (% of the level) per family: what the size test sees."""
    print("\n| family | estimated growth over the observed span, mean | sd | share >= the rule's "
          f"{rule.min_growth_pct:g}% | significant trend (p < {rule.alpha:g}, CI low > 0) |")
    print("|---|---:|---:|---:|---:|")
    for name, results in trials.items():
        g = np.array([r.growth_pct for r in results if r.growth_pct is not None])
        sig = np.mean([significant(r, rule) for r in results])
        if len(g):
            print(f"| {name} | {g.mean():.3f}% | {g.std(ddof=1) if len(g) > 1 else 0:.3f}% | "
                  f"{100 * np.mean(g >= rule.min_growth_pct):.1f}% | {100 * sig:.1f}% |")


def significant(result, rule: LeakRule) -> bool:
    """The parts of the leak rule that do not depend on the practical size."""
    return (result.kendall_tau is not None and result.kendall_tau > 0 and result.kendall_p is not None
            and result.kendall_p < rule.alpha and result.ci_low_mb_per_h is not None and result.ci_low_mb_per_h > 0)


def print_sweep(trials: dict[str, list], rule: LeakRule, sizes: list[float]) -> None:
    """Re-judge the same trials with another practical size: leak share per family and size."""
    print("\n| family | " + " | ".join(f"leak at size {s:g}%" for s in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for name, results in trials.items():
        cells = []
        for size in sizes:
            leak = [significant(r, rule) and r.growth_mb is not None and r.level_mb is not None
                    and r.growth_mb >= max(size / 100 * r.level_mb, rule.min_growth_bytes / MB) for r in results]
            cells.append(f"{100 * np.mean(leak):.1f}%")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
