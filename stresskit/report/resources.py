"""Resources of the run: min/max/mean per host and per process, time above the alert thresholds,
the memory series for the leak regression, and chart-sized timelines.

Works from ``PREFIX_resources.csv`` (see :data:`stresskit.core.schema.RESOURCE_COLUMNS`). Process rows
of the same (host, name) at the same timestamp are summed (a process and its children, or a
process restarted under a new pid, stay one series). :func:`analyze_resources` takes a path so it
can run in a child process beside the stats work; its result is small and picklable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from stresskit.core.limits import RESOURCE_ALERT_PERCENT
from stresskit.report.leak import MB, LeakResult, LeakRule, PendingLeak, judge_leak, measure_leak
from stresskit.report.load import InputNote, read_resources

__all__ = ["ResourceOptions", "ResourcesResult", "analyze_resources", "time_above"]


@dataclass(frozen=True)
class ResourceOptions:
    """Thresholds and the leak rule; ``sustain_s`` is how long an excursion must last to count as sustained."""

    cpu_threshold: float = RESOURCE_ALERT_PERCENT
    memory_threshold: float = RESOURCE_ALERT_PERCENT
    sustain_s: float = 60.0
    chart_points: int = 600
    rule: LeakRule = field(default_factory=LeakRule)
    bounds: tuple[float, float] | None = None  # when a sample can be of this run (plausible.time_bounds)


@dataclass
class ResourcesResult:
    note: InputNote
    hosts: pd.DataFrame = field(default_factory=pd.DataFrame)
    processes: pd.DataFrame = field(default_factory=pd.DataFrame)
    leaks: list[LeakResult] = field(default_factory=list)
    timelines: dict[str, pd.DataFrame] = field(default_factory=dict)  # system / process / browsers / generator
    gaps: dict[str, Any] = field(default_factory=dict)
    span: tuple[float, float] | None = None
    pending: list[PendingLeak] = field(default_factory=list)  # measured, not judged yet (judge_leaks)

    def add_leak(self, measured: LeakResult | PendingLeak) -> None:
        """A series' result: final, or measured and waiting for :meth:`judge_leaks`."""
        if isinstance(measured, PendingLeak):
            self.pending.append(measured)
            measured = measured.result
        self.leaks.append(measured)

    def judge_leaks(self) -> ResourcesResult:
        """Judge the measured series (scipy.stats), in place: each is already in :attr:`leaks` (a
        pickled copy keeps that sharing, so this works in the process the result was sent to)."""
        for pending in self.pending:
            judge_leak(pending)
        self.pending = []
        return self


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
    if len(key) and np.all(key[1:] >= key[:-1]):  # time-ordered: buckets are runs of rows
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        buckets = key[starts]
        out = {"t": buckets}
        for name, values in columns.items():
            values = np.asarray(values, dtype=float)
            finite = np.isfinite(values)
            total = np.add.reduceat(np.where(finite, values, 0.0), starts)
            count = np.add.reduceat(finite.astype(float), starts)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = np.where(count > 0, total / count, np.nan)
        return pd.DataFrame(out)
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


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes and labels of a (categorical) text column."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64), [str(c) for c in values.cat.categories]
    codes, uniques = pd.factorize(values.astype(str))
    return codes.astype(np.int64), [str(u) for u in uniques]


def _group_order(key: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row order grouping ``key`` and, within a group, by time.

    A stable sort by key keeps each key's rows in file order, which is time order when the file is
    (the collector writes one per host); numpy sorts 16-bit keys by radix, ~8x faster than int64.
    Only when a key's own rows are out of time order does it sort by (key, time).
    """
    narrow = key
    if len(key) and 0 <= key.min() and key.max() < np.iinfo(np.int16).max:
        narrow = key.astype(np.int16)
    order = np.argsort(narrow, kind="stable")
    if len(t) > 1 and np.any(t[1:] < t[:-1]):  # not time-ordered as a whole (several hosts): per key?
        ks, ts = key[order], t[order]
        if np.any((ks[1:] == ks[:-1]) & (ts[1:] < ts[:-1])):
            order = np.lexsort((t, key))
    return order


def _series(t: np.ndarray, key: np.ndarray, cols: dict[str, np.ndarray]
            ) -> list[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
    """Split rows by ``key``; rows of one key at the same timestamp are summed."""
    if not len(t):
        return []
    order = _group_order(key, t)
    key, t = np.take(key, order), np.take(t, order)
    cols = {c: np.take(v, order) for c, v in cols.items()}
    boundaries = np.flatnonzero(key[1:] != key[:-1]) + 1
    out = []
    for lo, hi in zip(np.r_[0, boundaries], np.r_[boundaries, len(key)], strict=False):
        tt = t[lo:hi]
        newt = np.ones(len(tt), dtype=bool)
        newt[1:] = tt[1:] != tt[:-1]
        if newt.all():
            out.append((int(key[lo]), tt, {c: v[lo:hi] for c, v in cols.items()}))
            continue
        starts = np.flatnonzero(newt)
        values = {c: np.add.reduceat(np.nan_to_num(v[lo:hi]), starts) for c, v in cols.items()}
        out.append((int(key[lo]), tt[starts], values))
    return out


def analyze_resources(path: str, options: ResourceOptions | None = None, *, judge: bool = True) -> ResourcesResult:
    """Everything the report needs from the resources file (runs standalone, e.g. in a child process).

    With ``judge=False`` the memory series are measured but not judged (no scipy import): the
    caller runs :meth:`ResourcesResult.judge_leaks`, e.g. in another process.
    """
    result = _analyze(path, options or ResourceOptions())
    return result.judge_leaks() if judge else result


def _analyze(path: str, options: ResourceOptions) -> ResourcesResult:
    read = read_resources(path, options.bounds)
    result = ResourcesResult(note=read.note)
    frame = read.frame
    if frame is None or frame.empty:
        return result
    t_all = frame["timestamp"].to_numpy(dtype=float)
    kcodes, kinds = _codes(frame["kind"])
    hcodes, hosts = _codes(frame["host"])
    ncodes, names = _codes(frame["name"])
    numeric = {c: frame[c].to_numpy(dtype=float) for c in ("cpu_percent", "memory_percent", "rss_bytes",
                                                          "available_bytes", "connections", "count")}
    del frame, read
    result.span = (float(np.min(t_all)), float(np.max(t_all)))
    span = result.span[1] - result.span[0]
    step = max(span / options.chart_points, 1.0)
    rows_of = {kind: np.flatnonzero(kcodes == i) for i, kind in enumerate(kinds)}

    # -- hosts (system rows) --------------------------------------------------------------------
    hosts_out = []
    available_at_end: dict[str, float] = {}
    system_tl = []
    idx = rows_of.get("system")
    if idx is not None and len(idx):
        for code, t, v in _series(t_all[idx], hcodes[idx], {c: numeric[c][idx] for c in (
                "cpu_percent", "memory_percent", "rss_bytes", "available_bytes", "connections")}):
            host = hosts[code]
            cpu, mem, used, avail = v["cpu_percent"], v["memory_percent"], v["rss_bytes"], v["available_bytes"]
            finite_avail = avail[np.isfinite(avail)]
            if len(finite_avail):
                available_at_end[host] = float(finite_avail[-1])
            cpu_above, cpu_longest = time_above(t, cpu, options.cpu_threshold)
            mem_above, mem_longest = time_above(t, mem, options.memory_threshold)
            hosts_out.append({"host": host, "samples": len(t),
                              **{f"cpu_{k}": x for k, x in _stat(cpu).items()},
                              **{f"memory_percent_{k}": x for k, x in _stat(mem).items()},
                              **{f"used_mb_{k}": (x / MB if x is not None else None) for k, x in _stat(used).items()},
                              "cpu_above_s": cpu_above, "cpu_longest_above_s": cpu_longest,
                              "memory_above_s": mem_above, "memory_longest_above_s": mem_longest,
                              "sustained": bool(max(cpu_longest, mem_longest) >= options.sustain_s)})
            if np.isfinite(used).sum() >= 2:
                result.add_leak(measure_leak(t, used, series=f"{host}: system memory used", host=host,
                                             kind="system", name="system",
                                             available_bytes=available_at_end.get(host), rule=options.rule))
            bucket = _bucket(t, {"cpu_percent": cpu, "memory_percent": mem, "used_mb": used / MB,
                                 "connections": v["connections"]}, step)
            bucket.insert(1, "host", host)
            system_tl.append(bucket)
    result.hosts = pd.DataFrame(hosts_out)
    if system_tl:
        result.timelines["system"] = pd.concat(system_tl, ignore_index=True)

    # -- processes, browsers, generators ----------------------------------------------------------
    processes = []
    for kind in ("process", "browsers", "generator"):
        idx = rows_of.get(kind)
        if idx is None or not len(idx):
            continue
        key = hcodes[idx] * max(len(names), 1) + ncodes[idx]
        timeline = []
        for code, t, v in _series(t_all[idx], key, {c: numeric[c][idx] for c in ("rss_bytes", "cpu_percent")}):
            host, name = hosts[code // max(len(names), 1)], names[code % max(len(names), 1)]
            rss, cpu = v["rss_bytes"], v["cpu_percent"]
            label = {"process": f"{host}: {name}", "browsers": f"{host}: browsers (total)",
                     "generator": f"load generator {host}"}[kind]
            processes.append({"host": host, "kind": kind, "name": name, "samples": len(t),
                              **{f"rss_mb_{k}": (x / MB if x is not None else None) for k, x in _stat(rss).items()},
                              **{f"cpu_{k}": x for k, x in _stat(cpu).items()}})
            if np.isfinite(rss).sum() >= 2 and np.nanmax(rss) > 0:  # (no browsers at all: nothing to regress)
                available = available_at_end.get(host) if kind != "generator" else None
                result.add_leak(measure_leak(t, rss, series=label, host=host, kind=kind, name=name,
                                             available_bytes=available, rule=options.rule))
            bucket = _bucket(t, {"rss_mb": rss / MB, "cpu_percent": cpu}, step)
            bucket.insert(1, "series", label)
            timeline.append(bucket)
        if timeline:
            result.timelines[kind] = pd.concat(timeline, ignore_index=True)
    result.processes = pd.DataFrame(processes)

    idx = rows_of.get("gap")
    if idx is not None and len(idx):
        result.gaps = {"events": len(idx), "samples_lost": int(np.nansum(numeric["count"][idx])),
                       "hosts": sorted({hosts[c] for c in hcodes[idx]} - {""})}
    return result
