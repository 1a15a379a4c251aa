"""Resources of the run: min/max/mean per host and per process, time above the alert thresholds,
the memory series for the leak regression, and chart-sized timelines.

Works from ``PREFIX_resources.csv`` (see :data:`stresskit.schema.RESOURCE_COLUMNS`). Process rows
of the same (host, name) at the same timestamp are summed (a process and its children, or a
process restarted under a new pid, stay one series). :func:`analyze_resources` takes a path so it
can run in a child process beside the stats work; its result is small and picklable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from stresskit.report.leak import MB, LeakResult, LeakRule, analyze_leak
from stresskit.report.load import InputNote, read_resources

__all__ = ["ResourceOptions", "ResourcesResult", "analyze_resources", "time_above"]


@dataclass(frozen=True)
class ResourceOptions:
    """Thresholds and the leak rule; ``sustain_s`` is how long an excursion must last to count as sustained."""

    cpu_threshold: float = 90.0
    memory_threshold: float = 90.0
    sustain_s: float = 60.0
    chart_points: int = 600
    rule: LeakRule = field(default_factory=LeakRule)


@dataclass
class ResourcesResult:
    note: InputNote
    hosts: pd.DataFrame = field(default_factory=pd.DataFrame)
    processes: pd.DataFrame = field(default_factory=pd.DataFrame)
    leaks: list[LeakResult] = field(default_factory=list)
    timelines: dict[str, pd.DataFrame] = field(default_factory=dict)  # system / process / browsers / generator
    gaps: dict[str, Any] = field(default_factory=dict)
    span: tuple[float, float] | None = None


def time_above(t: np.ndarray, v: np.ndarray, threshold: float) -> tuple[float, float]:
    """(total seconds above ``threshold``, longest continuous stretch above it).

    Each sample stands for the interval until the next one, capped at three median intervals so
    a gap in the data is not counted as time above.
    """
    if len(t) < 2:
        return 0.0, 0.0
    dt = np.diff(t)
    med = float(np.median(dt))
    dt = np.minimum(np.append(dt, med), 3 * med)
    above = np.nan_to_num(v, nan=-np.inf) > threshold
    if not above.any():
        return 0.0, 0.0
    total = float(dt[above].sum())
    # run lengths of consecutive "above" samples
    edges = np.diff(np.concatenate(([0], above.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    csum = np.concatenate(([0.0], np.cumsum(dt)))
    longest = float(np.max(csum[ends] - csum[starts]))
    return total, longest


def _stat(values: np.ndarray) -> dict[str, float | None]:
    values = values[np.isfinite(values)]
    if not len(values):
        return {"min": None, "max": None, "mean": None}
    return {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean())}


def _bucket(t: np.ndarray, columns: dict[str, np.ndarray], step: float) -> pd.DataFrame:
    """Mean of each column per ``step``-second bucket (NaN-aware), for chart-sized timelines."""
    key = np.floor(t / step) * step
    buckets, inverse = np.unique(key, return_inverse=True)
    out = {"t": buckets}
    for name, values in columns.items():
        values = np.asarray(values, dtype=float)
        finite = np.isfinite(values)
        total = np.bincount(inverse, weights=np.where(finite, values, 0.0), minlength=len(buckets))
        count = np.bincount(inverse, weights=finite.astype(float), minlength=len(buckets))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(count > 0, total / count, np.nan)
    return pd.DataFrame(out)


def _series(frame: pd.DataFrame) -> list[tuple[tuple[str, str], np.ndarray, dict[str, np.ndarray]]]:
    """Split rows by (host, name); rows at the same timestamp are summed."""
    if frame.empty:
        return []
    hcodes, hosts = pd.factorize(frame["host"])
    ncodes, names = pd.factorize(frame["name"])
    pairs, codes = np.unique(hcodes.astype(np.int64) * len(names) + ncodes, return_inverse=True)
    uniques = [(hosts[p // len(names)], names[p % len(names)]) for p in pairs]
    t = frame["timestamp"].to_numpy(dtype=float)
    order = np.lexsort((t, codes))
    codes, t = codes[order], t[order]
    cols = {c: frame[c].to_numpy(dtype=float)[order] for c in ("rss_bytes", "cpu_percent", "connections")}
    boundaries = np.flatnonzero(np.diff(codes)) + 1
    out = []
    for lo, hi in zip(np.r_[0, boundaries], np.r_[boundaries, len(codes)]):
        tt = t[lo:hi]
        newt = np.ones(len(tt), dtype=bool)
        newt[1:] = tt[1:] != tt[:-1]
        if newt.all():
            values = {c: v[lo:hi] for c, v in cols.items()}
            out.append((uniques[codes[lo]], tt, values))
            continue
        starts = np.flatnonzero(newt)
        values = {c: np.add.reduceat(np.nan_to_num(v[lo:hi]), starts) for c, v in cols.items()}
        out.append((uniques[codes[lo]], tt[starts], values))
    return out


def analyze_resources(path: str, options: ResourceOptions | None = None) -> ResourcesResult:
    """Everything the report needs from the resources file (runs standalone, e.g. in a child process)."""
    options = options or ResourceOptions()
    read = read_resources(path)
    result = ResourcesResult(note=read.note)
    frame = read.frame
    if frame is None or frame.empty:
        return result
    t_all = frame["timestamp"].to_numpy(dtype=float)
    result.span = (float(np.min(t_all)), float(np.max(t_all)))
    span = result.span[1] - result.span[0]
    step = max(span / options.chart_points, 1.0)
    kinds = {k: g for k, g in frame.groupby("kind", sort=False)}

    # -- hosts (system rows) --------------------------------------------------------------------
    hosts = []
    available_at_end: dict[str, float] = {}
    system_tl = []
    system = kinds.get("system")
    if system is not None:
        for host, group in system.groupby("host", sort=True):
            group = group.sort_values("timestamp")
            t = group["timestamp"].to_numpy(dtype=float)
            cpu = group["cpu_percent"].to_numpy(dtype=float)
            mem = group["memory_percent"].to_numpy(dtype=float)
            used = group["rss_bytes"].to_numpy(dtype=float)
            avail = group["available_bytes"].to_numpy(dtype=float)
            finite_avail = avail[np.isfinite(avail)]
            if len(finite_avail):
                available_at_end[host] = float(finite_avail[-1])
            cpu_above, cpu_longest = time_above(t, cpu, options.cpu_threshold)
            mem_above, mem_longest = time_above(t, mem, options.memory_threshold)
            hosts.append({"host": host, "samples": len(group),
                          **{f"cpu_{k}": v for k, v in _stat(cpu).items()},
                          **{f"memory_percent_{k}": v for k, v in _stat(mem).items()},
                          **{f"used_mb_{k}": (v / MB if v is not None else None) for k, v in _stat(used).items()},
                          "cpu_above_s": cpu_above, "cpu_longest_above_s": cpu_longest,
                          "memory_above_s": mem_above, "memory_longest_above_s": mem_longest,
                          "sustained": bool(max(cpu_longest, mem_longest) >= options.sustain_s)})
            if np.isfinite(used).sum() >= 2:
                result.leaks.append(analyze_leak(t, used, series=f"{host}: system memory used", host=host,
                                                 kind="system", name="system", available_bytes=available_at_end.get(host),
                                                 rule=options.rule))
            bucket = _bucket(t, {"cpu_percent": cpu, "memory_percent": mem, "used_mb": used / MB,
                                 "connections": group["connections"].to_numpy(dtype=float)}, step)
            bucket.insert(1, "host", host)
            system_tl.append(bucket)
    result.hosts = pd.DataFrame(hosts)
    if system_tl:
        result.timelines["system"] = pd.concat(system_tl, ignore_index=True)

    # -- processes, browsers, generators ----------------------------------------------------------
    processes = []
    for kind in ("process", "browsers", "generator"):
        group = kinds.get(kind)
        if group is None:
            continue
        timeline = []
        for (host, name), t, values in _series(group):
            rss = values["rss_bytes"]
            cpu = values["cpu_percent"]
            label = {"process": f"{host}: {name}", "browsers": f"{host}: browsers (total)",
                     "generator": f"load generator {host}"}[kind]
            processes.append({"host": host, "kind": kind, "name": name, "samples": len(t),
                              **{f"rss_mb_{k}": (v / MB if v is not None else None) for k, v in _stat(rss).items()},
                              **{f"cpu_{k}": v for k, v in _stat(cpu).items()}})
            if np.isfinite(rss).sum() >= 2:
                available = available_at_end.get(host) if kind != "generator" else None
                result.leaks.append(analyze_leak(t, rss, series=label, host=host, kind=kind, name=name,
                                                 available_bytes=available, rule=options.rule))
            bucket = _bucket(t, {"rss_mb": rss / MB, "cpu_percent": cpu}, step)
            bucket.insert(1, "series", label)
            timeline.append(bucket)
        if timeline:
            result.timelines[kind] = pd.concat(timeline, ignore_index=True)
    result.processes = pd.DataFrame(processes)

    gaps = kinds.get("gap")
    if gaps is not None and not gaps.empty:
        result.gaps = {"events": int(len(gaps)), "samples_lost": int(np.nansum(gaps["count"].to_numpy(dtype=float))),
                       "hosts": sorted(set(gaps["name"].astype(str)) | set(gaps["host"].astype(str)) - {""})}
    return result
