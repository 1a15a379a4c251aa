"""Throughput, failures by category, injected faults and recoveries, pages, cache and WebSocket figures.

Inputs are the frames :mod:`stresskit.report.load` reads; outputs are small DataFrames and dicts.
Request types follow stresskit's users: ``WS``, ``REDIS``, ``PAGE`` and the HTTP methods. Page
entries are the ``PAGE`` names that are not ``restart: <reason>``; cache reads are the ``REDIS``
entries ``GET hit`` / ``GET miss``; WebSocket connects are the ``WS`` entry ``connect``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CATEGORIES", "Throughput", "categorize_error", "failure_categories", "fault_summary", "throughput"]

AGGREGATED = "Aggregated"
HTTP_TYPES = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rate limited (429)", re.compile(r"\b429\b|throttl|rate.?limit|too many requests", re.IGNORECASE)),
    ("timeout", re.compile(r"time[d ]?\s?out|timeout", re.IGNORECASE)),
    ("connection", re.compile(r"refused|reset by peer|connection (error|aborted|closed)|unreachable|broken pipe"
                              r"|ConnectionError|RemoteDisconnected|EOF", re.IGNORECASE)),
    ("websocket", re.compile(r"closed unexpectedly|close code|websocket|refused \(close", re.IGNORECASE)),
    ("browser", re.compile(r"stale|no ?such ?element|element not found|javascript|webdriver|chrome|browser"
                           r"|session", re.IGNORECASE)),
    ("cache", re.compile(r"redis|cache", re.IGNORECASE)),
    ("HTTP 5xx", re.compile(r"\b5\d\d\b")),
    ("HTTP 4xx", re.compile(r"\b4\d\d\b")),
)


def categorize_error(method: str, error: str) -> str:
    """The category of one Locust failure (method = request type, error = its message)."""
    text = f"{error}"
    for name, pattern in CATEGORIES:
        if pattern.search(text):
            return name
    kind = (method or "").upper()
    if kind == "WS":
        return "websocket"
    if kind == "PAGE":
        return "browser"
    if kind == "REDIS":
        return "cache"
    return "other"


@dataclass
class Throughput:
    """Run-wide counts and per-window timelines."""

    requests: float = 0.0
    failures: float = 0.0
    duration_s: float | None = None
    by_type: pd.DataFrame = field(default_factory=pd.DataFrame)  # type, requests, failures, rps
    timeline: pd.DataFrame = field(default_factory=pd.DataFrame)  # start, rps, fail_per_s, users
    type_timeline: pd.DataFrame = field(default_factory=pd.DataFrame)  # start, type, rps
    pages_completed_stats: float | None = None
    pages_failed_stats: float | None = None
    restarts_stats: float | None = None
    cache_hit_rate: float | None = None
    cache_timeline: pd.DataFrame | None = None  # start, hits, misses, hit_rate
    ws_timeline: pd.DataFrame | None = None  # start, connects, unexpected_closes

    @property
    def error_ratio(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    @property
    def rps(self) -> float | None:
        return self.requests / self.duration_s if self.requests and self.duration_s else None

    def peak_rps(self) -> float | None:
        if self.timeline.empty:
            return None
        return float(self.timeline["rps"].max())


def _is_page(frame: pd.DataFrame) -> pd.Series:
    return (frame["type"] == "PAGE") & ~frame["name"].str.startswith("restart")


def _covered(starts: np.ndarray, window_s: float, span: tuple[float, float] | None) -> np.ndarray:
    """Seconds of each window inside the run (the first and last windows are usually partial)."""
    if span is None:
        return np.full(len(starts), window_s)
    lo = np.maximum(starts, span[0])
    hi = np.minimum(starts + window_s, span[1])
    return np.clip(hi - lo, 1.0, window_s)


def throughput(stats: pd.DataFrame | None, hwin: pd.DataFrame | None, window_s: float,
               duration_s: float | None, span: tuple[float, float] | None = None) -> Throughput:
    """Totals from ``_stats.csv`` (or the history's last counters), timelines from the history windows.

    Rates per window are divided by the part of the window inside ``span`` (the run's start and
    end), so a run's first and last partial windows do not show a false dip.
    """
    result = Throughput(duration_s=duration_s)
    per_name: pd.DataFrame | None = None
    if stats is not None:
        per_name = pd.DataFrame({"type": stats["Type"].astype(str), "name": stats["Name"].astype(str),
                                 "count": stats["Request Count"].astype(float),
                                 "failures": stats["Failure Count"].fillna(0).astype(float)})
    elif hwin is not None:
        per_name = hwin.groupby(["type", "name"], as_index=False)[["count", "failures"]].sum()
    if per_name is not None:
        agg = per_name[per_name["name"] == AGGREGATED]
        names = per_name[per_name["name"] != AGGREGATED]
        if not agg.empty:
            result.requests, result.failures = float(agg["count"].iloc[0]), float(agg["failures"].iloc[0])
        else:
            result.requests, result.failures = float(names["count"].sum()), float(names["failures"].sum())
        by_type = names.groupby("type", as_index=False)[["count", "failures"]].sum()
        by_type = by_type.rename(columns={"count": "requests"})
        if duration_s:
            by_type["rps"] = by_type["requests"] / duration_s
        result.by_type = by_type
        pages = names[_is_page(names)]
        if not pages.empty:
            result.pages_completed_stats = float((pages["count"] - pages["failures"]).sum())
            result.pages_failed_stats = float(pages["failures"].sum())
        restarts = names[(names["type"] == "PAGE") & names["name"].str.startswith("restart")]
        if not restarts.empty:
            result.restarts_stats = float((restarts["count"] - restarts["failures"]).sum())
        cache = names[names["type"] == "REDIS"]
        hits = float(cache.loc[cache["name"] == "GET hit", "count"].sum())
        misses = float(cache.loc[cache["name"] == "GET miss", "count"].sum())
        if hits + misses:
            result.cache_hit_rate = hits / (hits + misses)
    if hwin is not None and not hwin.empty:
        agg = hwin[hwin["name"] == AGGREGATED]
        if agg.empty:
            agg = hwin.groupby("start", as_index=False).agg(count=("count", "sum"), failures=("failures", "sum"),
                                                             users=("users", "max"))
        agg = agg.sort_values("start")
        covered = _covered(agg["start"].to_numpy(dtype=float), window_s, span)
        result.timeline = pd.DataFrame({"start": agg["start"].to_numpy(), "rps": agg["count"].to_numpy() / covered,
                                        "fail_per_s": agg["failures"].to_numpy() / covered,
                                        "users": agg["users"].to_numpy(), "requests": agg["count"].to_numpy()})
        names = hwin[hwin["name"] != AGGREGATED]
        if not names.empty:
            tt = names.groupby(["start", "type"], as_index=False)["count"].sum()
            tt["rps"] = tt["count"] / _covered(tt["start"].to_numpy(dtype=float), window_s, span)
            result.type_timeline = tt.drop(columns="count")
            cache = names[(names["type"] == "REDIS") & names["name"].isin(["GET hit", "GET miss"])]
            if not cache.empty:
                pivot = cache.pivot_table(index="start", columns="name", values="count", aggfunc="sum").fillna(0)
                hits = pivot.get("GET hit", pd.Series(0.0, index=pivot.index))
                misses = pivot.get("GET miss", pd.Series(0.0, index=pivot.index))
                total = hits + misses
                result.cache_timeline = pd.DataFrame({
                    "start": pivot.index.to_numpy(), "hits": hits.to_numpy(), "misses": misses.to_numpy(),
                    "hit_rate": np.where(total > 0, hits / total.where(total > 0, 1), np.nan)})
            ws = names[names["type"] == "WS"]
            if not ws.empty:
                connects = ws[ws["name"] == "connect"].groupby("start")["count"].sum()
                closes = ws[ws["name"] == "closed unexpectedly"].groupby("start")["count"].sum()
                index = connects.index.union(closes.index)
                if len(index):
                    result.ws_timeline = pd.DataFrame({
                        "start": index.to_numpy(), "connects": connects.reindex(index, fill_value=0).to_numpy(),
                        "unexpected_closes": closes.reindex(index, fill_value=0).to_numpy()})
    return result


def failure_categories(failures: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts per category, the 20 most frequent (type, name, error) rows with their category)."""
    if failures is None or failures.empty:
        empty = pd.DataFrame(columns=["category", "count"])
        return empty, pd.DataFrame(columns=["type", "name", "error", "count", "category"])
    frame = pd.DataFrame({"type": failures["Method"].astype(str), "name": failures["Name"].astype(str),
                          "error": failures["Error"].astype(str), "count": failures["Occurrences"].fillna(0)})
    frame["category"] = [categorize_error(m, e) for m, e in zip(frame["type"], frame["error"], strict=False)]
    by = frame.groupby("category", as_index=False)["count"].sum().sort_values("count", ascending=False)
    top = frame.sort_values("count", ascending=False).head(20)
    return by.reset_index(drop=True), top.reset_index(drop=True)


def fault_summary(faults: pd.DataFrame | None, window_s: float) -> dict[str, Any] | None:
    """Injected, recovered and critical counts per fault kind, recovery times, and a timeline."""
    if faults is None or faults.empty:
        return None
    rows = []
    for kind, group in faults.groupby("kind", sort=True):
        rec = group.loc[group["event"] == "recovered", "recovery_time"].dropna().to_numpy(dtype=float)
        injected = int((group["event"] == "injected").sum())
        recovered = int((group["event"] == "recovered").sum())
        rows.append({"kind": kind, "injected": injected, "recovered": recovered,
                     "critical": int((group["event"] == "critical").sum()),
                     "unrecovered": max(injected - recovered, 0),
                     "recovery_p50_s": float(np.percentile(rec, 50)) if len(rec) else None,
                     "recovery_p95_s": float(np.percentile(rec, 95)) if len(rec) else None,
                     "recovery_max_s": float(rec.max()) if len(rec) else None})
    timeline = faults.assign(start=np.floor(faults["timestamp"] / window_s) * window_s)
    timeline = timeline.groupby(["start", "event"]).size().unstack(fill_value=0).reset_index()
    return {"injected": int((faults["event"] == "injected").sum()),
            "recovered": int((faults["event"] == "recovered").sum()),
            "critical": int((faults["event"] == "critical").sum()),
            "by_kind": pd.DataFrame(rows), "timeline": timeline,
            "events": faults[["timestamp", "event", "kind"]].head(20000)}
