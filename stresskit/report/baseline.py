"""Comparing a run with an earlier one (``--baseline OTHER_PREFIX``) against a stated tolerance.

A metric is *worse* when it moved the bad way by more than the tolerance (default 10%):

- throughput (requests/s): current < baseline × (1 − tolerance);
- latency percentiles (P50/P95/P99, overall and per request name with at least ``min_count``
  requests in both runs): current > baseline × (1 + tolerance) and by more than 1 ms;
- error ratio: current − baseline > max(tolerance × baseline, 0.005) (half a percentage point);
- leak slopes (series matched by name): the current series is a leak and the baseline's was not,
  or both leak and the slope grew by more than the tolerance.

The regression verdict is ``regression`` when any metric is worse, else ``no regression``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DEFAULT_TOLERANCE", "compare"]

DEFAULT_TOLERANCE = 0.10
MIN_COUNT = 20
ERROR_RATIO_FLOOR = 0.005


def _rel(current: float | None, base: float | None) -> float | None:
    if current is None or base is None or not np.isfinite(current) or not np.isfinite(base) or base == 0:
        return None
    return (current - base) / abs(base)


def _row(metric: str, base: float | None, current: float | None, worse: bool, rule: str) -> dict[str, Any]:
    return {"metric": metric, "baseline": base, "current": current,
            "change": (None if base is None or current is None else current - base),
            "change_pct": (None if (rel := _rel(current, base)) is None else 100 * rel),
            "worse": bool(worse), "rule": rule}


def compare(current: Any, baseline: Any, tolerance: float = DEFAULT_TOLERANCE,
            min_count: int = MIN_COUNT) -> dict[str, Any]:
    """Deltas of ``current`` against ``baseline`` (both :class:`stresskit.report.build.Report`)."""
    tol = float(tolerance)
    rows = []
    c_rps, b_rps = current.throughput.rps, baseline.throughput.rps
    if c_rps is not None and b_rps is not None:
        rows.append(_row("throughput requests/s", b_rps, c_rps, c_rps < b_rps * (1 - tol),
                         f"worse if below baseline × {1 - tol:g}"))
    c_err, b_err = current.throughput.error_ratio, baseline.throughput.error_ratio
    if c_err is not None and b_err is not None:
        rows.append(_row("error ratio", b_err, c_err, c_err - b_err > max(tol * b_err, ERROR_RATIO_FLOOR),
                         f"worse if up by more than max({tol:g} × baseline, {ERROR_RATIO_FLOOR:g})"))
    if current.latency is not None and baseline.latency is not None:
        cur = current.latency.requests.set_index(["type", "name"])
        base = baseline.latency.requests.set_index(["type", "name"])
        for key in cur.index.intersection(base.index):
            c, b = cur.loc[key], base.loc[key]
            if isinstance(c, type(cur)) or isinstance(b, type(base)):  # duplicated names: skip
                continue
            if not (c["count"] >= min_count and b["count"] >= min_count):
                continue
            label = "overall" if key[1] == "Aggregated" else f"{key[0]} {key[1]}".strip()
            for pct in ("p50", "p95", "p99"):
                cv, bv = c[pct], b[pct]
                if cv is None or bv is None or not np.isfinite(cv) or not np.isfinite(bv):
                    continue
                rows.append(_row(f"{pct} {label} (ms)", float(bv), float(cv),
                                 cv > bv * (1 + tol) and cv - bv > 1.0, f"worse if above baseline × {1 + tol:g}"))
    base_leaks = {lk.series: lk for lk in baseline.leaks}
    for leak in current.leaks:
        old = base_leaks.get(leak.series)
        if old is None or leak.slope_mb_per_h is None or old.slope_mb_per_h is None:
            continue
        worse = leak.verdict == "leak" and (old.verdict != "leak" or
                                           leak.slope_mb_per_h > old.slope_mb_per_h * (1 + tol))
        rows.append(_row(f"leak slope {leak.series} (MB/h)", old.slope_mb_per_h, leak.slope_mb_per_h, worse,
                         "worse if now a leak, or a leak whose slope grew beyond the tolerance"))
    worse = [r for r in rows if r["worse"]]
    return {"prefix": baseline.prefix, "tolerance": tol, "verdict": "regression" if worse else "no regression",
            "worse": [r["metric"] for r in worse], "deltas": rows, "compared": len(rows)}
