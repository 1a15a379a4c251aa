"""Latency percentiles per request name and overall, for the whole run and per time window.

Two sources, and the report says which one it used:

- **ddsketch** (``PREFIX_latency.jsonl``, written by :mod:`stresskit.observe.latency`): every response
  time recorded on the workers into DDSketches merged on the master; each percentile is within
  1% (relative) of a recorded value at that rank, per window and for the whole run.
- **locust** (``_stats.csv`` and ``_stats_history.csv``): Locust rounds each response time to
  about two significant digits before bucketing (e.g. 147 ms → 150 ms, 1234 ms → 1200 ms).
  Whole-run percentiles come from ``_stats.csv``. Per window, Locust only has rolling ~10 s
  percentiles sampled each second; a window's value is their mean weighted by each row's
  ``Requests/s`` (an approximation), and its max is the largest rolling max.

Request and failure counts always come from Locust's files, which count every request exactly.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from stresskit.report.load import InputNote, percentile_columns
from stresskit.report.sketch import Hist, decode_hist

__all__ = [
    "INTENDED",
    "INTENDED_COLUMNS",
    "PRECISION_LOCUST",
    "PRECISION_SKETCH",
    "QUANTILES",
    "SERIES_MEANING",
    "LatencyData",
    "LatencyResult",
    "history_windows",
    "latency_result",
    "read_latency",
]

INTENDED = "intended"
"""The ``series`` of sketch lines measured from the intended start (open model, see stresskit.arrival)."""
SERIES_MEANING = {
    "sent": "latency from when the request was sent: what the server took, as Locust measures it",
    "intended": ("latency from when the request was due by the arrival rate (open-model kinds only): what a user "
                 "arriving on schedule waited, coordinated omission corrected (wrk2)"),
}
"""One sentence per latency series, shown beside the numbers in every rendering."""
QUANTILES = (0.5, 0.95, 0.99, 0.999)
PCT_NAMES = ("p50", "p95", "p99", "p999")
AGGREGATED = "Aggregated"
PRECISION_SKETCH = ("DDSketch, 1% relative accuracy: each percentile is within 1% of a response time "
                    "recorded at that rank; merged across workers without loss")
PRECISION_LOCUST = ("Locust stats: response times rounded to ~2 significant digits before bucketing; "
                    "per-window values are request-weighted means of Locust's rolling ~10 s percentiles "
                    "(approximate); record precise ones with stresskit.observe.latency.use_latency")


@dataclass
class LatencyData:
    """The sketches of a ``_latency.jsonl`` file, merged per (type, name)."""

    window_s: float
    windows: dict[tuple[str, str], dict[float, Hist]]
    run: dict[tuple[str, str], Hist]
    intended_windows: dict[tuple[str, str], dict[float, Hist]] = field(default_factory=dict)
    """Open-model requests: latency from the intended start of their iteration (lines with
    ``"series": "intended"``), per (type, name) and window."""
    intended_run: dict[tuple[str, str], Hist] = field(default_factory=dict)


@dataclass
class LatencyResult:
    """Whole-run and per-window percentiles (milliseconds)."""

    source: str
    precision: str
    window_s: float
    requests: pd.DataFrame  # type, name, count, failures, p50, p95, p99, p999, max, mean
    windows: pd.DataFrame  # start, type, name, count, p50, p95, p99, p999, max
    notes: list[str] = field(default_factory=list)

    def overall(self) -> dict[str, Any]:
        rows = self.requests[self.requests["name"] == AGGREGATED]
        return {} if rows.empty else _clean(rows.iloc[0].to_dict())

    @property
    def has_intended(self) -> bool:
        """Whether the run had open-model requests, with latency from their intended start too."""
        return INTENDED_COLUMNS[0] in self.requests.columns


def read_latency(path: str) -> tuple[LatencyData | None, InputNote]:
    """Read a ``_latency.jsonl`` file; bad lines are skipped and counted."""
    note = InputNote(file=path, status="ok")
    if not os.path.exists(path):
        note.status, note.detail = "missing", "not found; percentiles come from Locust's rounded stats"
        return None, note
    window_s = 60.0
    series: dict[str, tuple[dict[tuple[str, str], dict[float, Hist]], dict[tuple[str, str], Hist]]] = {
        "": ({}, {}), INTENDED: ({}, {})}
    good = bad = 0
    try:
        handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        note.status, note.detail = "unreadable", str(exc)
        return None, note
    with handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                kind = line["kind"]
                if kind == "meta":
                    window_s = float(line.get("window_s", window_s))
                    continue
                key = (str(line.get("type", "")), str(line["name"]))
                windows, run = series[str(line.get("series", ""))]
                hist = decode_hist(line)
                if kind == "window":
                    start = float(line["start"])
                    per = windows.setdefault(key, {})
                    per[start] = per[start].merged(hist) if start in per else hist
                elif kind == "run":
                    run[key] = run[key].merged(hist) if key in run else hist
                else:
                    raise ValueError(f"unknown kind {kind!r}")
                good += 1
            except (ValueError, KeyError, TypeError, AttributeError):
                bad += 1
    note.rows, note.skipped_rows = good, bad
    if not good:
        note.status, note.detail = "empty", "no usable sketch lines"
        return None, note
    for windows, run in series.values():
        if not run and windows:  # the run was killed before it wrote its totals: sum the windows
            for key, per in windows.items():
                total: Hist | None = None
                for hist in per.values():
                    total = hist if total is None else total.merged(hist)
                if total is not None:
                    run[key] = total
            note.detail = "no whole-run lines (run cut short?): totals summed from the windows"
    (windows, run), (iwindows, irun) = series[""], series[INTENDED]
    return LatencyData(window_s=window_s, windows=windows, run=run, intended_windows=iwindows,
                       intended_run=irun), note


def _text_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64), np.asarray(values.cat.categories, dtype=object)
    codes, uniques = pd.factorize(values.astype(str))
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


MAX_GRID_CELLS = 8_000_000


def history_windows(history: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """Per (type, name, window) figures from Locust's stats history.

    Columns: start, type, name, count, failures, users, p50, p95, p99, p999, max. Counts are
    exact: per window, the last value of Locust's cumulative counters minus the previous
    window's. Percentiles as explained in the module doc, weighted by each row's ``Requests/s``.
    Works on a (name × window) grid in one pass, without sorting the rows.
    """
    frame = history
    if not len(frame):
        return pd.DataFrame(columns=["start", "type", "name", "count", "failures", "users", *PCT_NAMES, "max"])
    tcodes, types = _text_codes(frame["Type"])
    ncodes, names = _text_codes(frame["Name"])
    key = tcodes * len(names) + ncodes
    ngroups = len(types) * len(names)
    ts = frame["Timestamp"].to_numpy(dtype=float)
    win = np.floor(ts / window_s).astype(np.int64)
    wmin = int(win.min())
    nwin = int(win.max()) - wmin + 1
    if ngroups * nwin > MAX_GRID_CELLS:
        return _history_windows_sorted(frame, window_s)
    cell = key * nwin + (win - wmin)
    size = ngroups * nwin
    rows = np.bincount(cell, minlength=size)
    cum = frame["Total Request Count"].to_numpy(dtype=float)
    cumf = np.nan_to_num(frame["Total Failure Count"].to_numpy(dtype=float))
    last = np.full(size, -np.inf)
    np.maximum.at(last, cell, cum)
    first = np.full(size, np.inf)
    np.minimum.at(first, cell, cum)
    grid = np.maximum.accumulate(np.where(np.isfinite(last), last, -np.inf).reshape(ngroups, nwin), axis=1)
    previous = np.concatenate([np.zeros((ngroups, 1)), np.maximum(grid[:, :-1], 0)], axis=1).ravel()
    present = rows > 0
    if np.any(present & (first < previous)):  # a counter went back (stats reset): do it row by row
        return _history_windows_sorted(frame, window_s)
    lastf = np.full(size, -np.inf)
    np.maximum.at(lastf, cell, cumf)
    gridf = np.maximum.accumulate(lastf.reshape(ngroups, nwin), axis=1)
    prevf = np.concatenate([np.zeros((ngroups, 1)), np.maximum(gridf[:, :-1], 0)], axis=1).ravel()
    out: dict[str, np.ndarray] = {}
    idx = np.flatnonzero(present)
    out["start"] = ((idx % nwin) + wmin) * window_s
    group = idx // nwin
    out["count"] = (np.maximum(grid.ravel(), 0) - previous)[idx]
    out["failures"] = (np.maximum(gridf.ravel(), 0) - prevf)[idx]
    users = np.nan_to_num(frame["User Count"].to_numpy(dtype=float))
    umax = np.zeros(size)
    np.maximum.at(umax, cell, users)
    out["users"] = umax[idx]
    weight = np.nan_to_num(frame["Requests/s"].to_numpy(dtype=float))
    pcols = percentile_columns(frame)
    for q, name in zip(QUANTILES, PCT_NAMES, strict=False):
        column = pcols.get(q)
        if column is None:
            out[name] = np.full(len(idx), np.nan)
            continue
        values = frame[column].to_numpy(dtype=float)
        ok = np.isfinite(values) & (weight > 0)
        wsum = np.bincount(cell, weights=np.where(ok, weight, 0.0), minlength=size)[idx]
        vsum = np.bincount(cell, weights=np.where(ok, values * weight, 0.0), minlength=size)[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(wsum > 0, vsum / wsum, np.nan)
    maxcol = pcols.get(1.0)
    vmax = np.full(size, -np.inf)
    if maxcol is not None:
        values = frame[maxcol].to_numpy(dtype=float)
        np.maximum.at(vmax, cell, np.where(np.isfinite(values) & (weight > 0), values, -np.inf))
    vmax = vmax[idx]
    out["max"] = np.where(np.isfinite(vmax), vmax, np.nan)
    result = pd.DataFrame(out)
    result.insert(1, "type", types[group // len(names)])
    result.insert(2, "name", names[group % len(names)])
    return result[["start", "type", "name", "count", "failures", "users", *PCT_NAMES, "max"]]


def _history_windows_sorted(history: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """The row-by-row variant of :func:`history_windows`, for counters that were reset mid-run."""
    frame = history
    ts = frame["Timestamp"].to_numpy(dtype=float)
    tcodes, types = _text_codes(frame["Type"])
    ncodes, names = _text_codes(frame["Name"])
    pairs, codes = np.unique(tcodes.astype(np.int64) * len(names) + ncodes, return_inverse=True)
    order = np.argsort(codes, kind="stable")  # Locust writes history in time order
    if np.any((codes[order][1:] == codes[order][:-1]) & (ts[order][1:] < ts[order][:-1])):
        order = np.lexsort((ts, codes))
    codes_s = codes[order]
    ts_s = ts[order]
    cum = frame["Total Request Count"].to_numpy(dtype=float)[order]
    cumf = frame["Total Failure Count"].fillna(0).to_numpy(dtype=float)[order]
    same = np.zeros(len(order), dtype=bool)
    same[1:] = codes_s[1:] == codes_s[:-1]
    new = np.where(same, np.diff(cum, prepend=0.0), cum)
    newf = np.where(same, np.diff(cumf, prepend=0.0), cumf)
    reset = new < 0  # Locust's stats were reset (e.g. --reset-stats): the counter starts again
    new[reset] = cum[reset]
    newf = np.where(newf < 0, cumf, newf)
    win = np.floor(ts_s / window_s).astype(np.int64)
    wmin = int(win.min()) if len(win) else 0
    nwin = int(win.max()) - wmin + 1 if len(win) else 0
    gkey = codes_s.astype(np.int64) * nwin + (win - wmin)
    first = np.ones(len(gkey), dtype=bool)
    first[1:] = gkey[1:] != gkey[:-1]  # sorted by code then time: each group is one run of rows
    inverse = np.cumsum(first) - 1
    groups = gkey[first]
    count = np.bincount(inverse, weights=new)
    failures = np.bincount(inverse, weights=newf)
    out = {"start": ((groups % nwin) + wmin) * window_s, "code": groups // nwin, "count": count,
           "failures": failures}
    users = frame["User Count"].to_numpy(dtype=float)[order]
    users = np.where(np.isfinite(users), users, 0.0)
    umax = np.zeros(len(groups))
    np.maximum.at(umax, inverse, users)
    out["users"] = umax
    pcols = percentile_columns(frame)
    weight = np.nan_to_num(frame["Requests/s"].to_numpy(dtype=float))[order]
    for q, name in zip(QUANTILES, PCT_NAMES, strict=False):
        column = pcols.get(q)
        if column is None:
            out[name] = np.full(len(groups), np.nan)
            continue
        values = frame[column].to_numpy(dtype=float)[order]
        ok = np.isfinite(values) & (weight > 0)
        wsum = np.bincount(inverse, weights=np.where(ok, weight, 0.0))
        vsum = np.bincount(inverse, weights=np.where(ok, values * weight, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(wsum > 0, vsum / wsum, np.nan)
    maxcol = pcols.get(1.0)
    if maxcol is not None:
        values = frame[maxcol].to_numpy(dtype=float)[order]
        values = np.where(np.isfinite(values) & (weight > 0), values, -np.inf)
        vmax = np.full(len(groups), -np.inf)
        np.maximum.at(vmax, inverse, values)
        out["max"] = np.where(np.isfinite(vmax), vmax, np.nan)
    else:
        out["max"] = np.full(len(groups), np.nan)
    result = pd.DataFrame(out)
    code = result["code"].to_numpy()
    result["type"] = types[pairs[code] // len(names)]
    result["name"] = names[pairs[code] % len(names)]
    return result.drop(columns="code")[["start", "type", "name", "count", "failures", "users", *PCT_NAMES, "max"]]


def _stats_requests(stats: pd.DataFrame) -> pd.DataFrame:
    pcols = percentile_columns(stats)
    out = pd.DataFrame({"type": stats["Type"].astype(str).to_numpy(), "name": stats["Name"].astype(str).to_numpy(),
                        "count": stats["Request Count"].to_numpy(dtype=float),
                        "failures": stats["Failure Count"].fillna(0).to_numpy(dtype=float)})
    for q, name in zip(QUANTILES, PCT_NAMES, strict=False):
        out[name] = stats[pcols[q]].to_numpy(dtype=float) if q in pcols else np.nan
    out["max"] = stats["Max Response Time"].to_numpy(dtype=float) if "Max Response Time" in stats else np.nan
    out["mean"] = stats["Average Response Time"].to_numpy(dtype=float) if "Average Response Time" in stats else np.nan
    agg = out["name"] == AGGREGATED
    out.loc[agg, "type"] = ""
    return out


def _sketch_requests(data: LatencyData) -> pd.DataFrame:
    rows = []
    total: Hist | None = None
    for (rtype, name), hist in sorted(data.run.items()):
        total = hist if total is None else total.merged(hist)
        rows.append((rtype, name, hist))
    if total is not None:
        rows.append(("", AGGREGATED, total))
    records = []
    for rtype, name, hist in rows:
        values = hist.quantiles((*QUANTILES, 1.0))
        records.append({"type": rtype, "name": name, "count": hist.n, "failures": np.nan,
                        **dict(zip(PCT_NAMES, values[:-1], strict=False)), "max": values[-1], "mean": hist.mean})
    frame = pd.DataFrame.from_records(records, columns=["type", "name", "count", "failures", *PCT_NAMES, "max", "mean"])
    return _with_intended(frame, data)


INTENDED_COLUMNS = tuple(f"intended_{name}" for name in (*PCT_NAMES, "max"))
"""Columns of the requests table for latency from the intended start (present only for open-model runs)."""


def _with_intended(frame: pd.DataFrame, data: LatencyData) -> pd.DataFrame:
    """Add ``intended_*`` columns beside the send-time ones, for names that were paced (else NaN)."""
    if not data.intended_run:
        return frame
    hists = dict(data.intended_run)
    total: Hist | None = None
    for hist in data.intended_run.values():
        total = hist if total is None else total.merged(hist)
    if total is not None:
        hists[("", AGGREGATED)] = total
    values = {key: hist.quantiles((*QUANTILES, 1.0)) for key, hist in hists.items()}
    for i, column in enumerate(INTENDED_COLUMNS):
        frame[column] = [(values.get((t, n)) or [np.nan] * 5)[i] for t, n in zip(frame["type"], frame["name"], strict=False)]
    return frame


def _sketch_windows(data: LatencyData, window_s: float) -> pd.DataFrame:
    factor = max(1, round(window_s / data.window_s))
    step = data.window_s * factor
    overall: dict[float, Hist] = {}
    records = []
    for (rtype, name), per in sorted(data.windows.items()):
        merged: dict[float, Hist] = {}
        for start, hist in per.items():
            bucket = math.floor(start / step) * step
            merged[bucket] = merged[bucket].merged(hist) if bucket in merged else hist
        for start, hist in sorted(merged.items()):
            overall[start] = overall[start].merged(hist) if start in overall else hist
            values = hist.quantiles((*QUANTILES, 1.0))
            records.append({"start": start, "type": rtype, "name": name, "count": hist.n,
                            **dict(zip(PCT_NAMES, values[:-1], strict=False)), "max": values[-1]})
    for start, hist in sorted(overall.items()):
        values = hist.quantiles((*QUANTILES, 1.0))
        records.append({"start": start, "type": "", "name": AGGREGATED, "count": hist.n,
                        **dict(zip(PCT_NAMES, values[:-1], strict=False)), "max": values[-1]})
    return pd.DataFrame.from_records(records, columns=["start", "type", "name", "count", *PCT_NAMES, "max"])


def latency_result(stats: pd.DataFrame | None, hwin: pd.DataFrame | None, sketches: LatencyData | None,
                   window_s: float) -> LatencyResult | None:
    """Combine the sources: sketches for percentiles when present, Locust's files for counts."""
    if sketches is not None:
        requests = _sketch_requests(sketches)
        windows = _sketch_windows(sketches, window_s)
        notes = []
        if stats is not None:
            base = _stats_requests(stats).set_index(["type", "name"])
            idx = pd.MultiIndex.from_frame(requests[["type", "name"]])
            requests["failures"] = base["failures"].reindex(idx).to_numpy()
            locust_counts = base["count"].reindex(idx).to_numpy()
            requests["locust_count"] = locust_counts
            differ = np.isfinite(locust_counts) & (np.abs(locust_counts - requests["count"].to_numpy()) > 0)
            if differ.any():
                notes.append(_count_note(float(np.nansum(requests["count"].to_numpy()[differ])),
                                         float(np.nansum(locust_counts[differ])), int(differ.sum())))
        if sketches.window_s > window_s:
            notes.append(f"sketch windows are {sketches.window_s:g} s; shown at that size")
        return LatencyResult("ddsketch", PRECISION_SKETCH, max(window_s, sketches.window_s), requests, windows, notes)
    if stats is None and hwin is None:
        return None
    requests = _stats_requests(stats) if stats is not None else pd.DataFrame(
        columns=["type", "name", "count", "failures", *PCT_NAMES, "max", "mean"])
    windows = hwin[["start", "type", "name", "count", *PCT_NAMES, "max"]] if hwin is not None else pd.DataFrame(
        columns=["start", "type", "name", "count", *PCT_NAMES, "max"])
    notes = [] if hwin is not None else [("no stats history: no percentiles over time (run Locust with "
                                          "--csv-full-history)")]
    if hwin is not None and set(hwin["name"].unique()) <= {AGGREGATED}:
        notes.append("stats history has only the Aggregated row: run Locust with --csv-full-history for per-name "
                     "windows")
    return LatencyResult("locust", PRECISION_LOCUST, window_s, requests, windows, notes)


def _count_note(sketched: float, counted: float, names: int) -> str:
    """A plain statement of how the sketches' request count differs from Locust's, and why."""
    diff = round(sketched - counted)
    where = f"{names} request name{'s' if names != 1 else ''}"
    if diff > 0:
        return (f"The latency percentiles cover {diff:,} more requests than Locust's counts "
                f"({round(sketched):,} against {round(counted):,}, over {where}): Locust writes its CSV files once "
                "a second and missed the run's last moments. Request counts in this report are Locust's.")
    return (f"The latency percentiles cover {-diff:,} fewer requests than Locust counted "
            f"({round(sketched):,} of {round(counted):,}, over {where}): the latency recorder started after the "
            "first requests, or a worker's last report was lost. Percentiles are from the requests it saw; "
            "request counts in this report are Locust's.")


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if isinstance(value, (float, np.floating)):
            value = None if not np.isfinite(value) else float(value)
        elif isinstance(value, np.integer):
            value = int(value)
        out[key] = value
    return out
