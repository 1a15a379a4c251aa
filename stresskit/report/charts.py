"""Charts of the report, drawn with matplotlib (Agg) and returned as SVG ``data:`` URIs, so the
HTML file carries them inline and opens offline.

Each function takes the analysed frames and returns a :class:`Chart` or None when there is
nothing to draw. Lines are thinned to a few hundred points per series before drawing.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Chart", "all_charts"]

MAX_POINTS = 600
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22"]


@dataclass
class Chart:
    key: str
    title: str
    uri: str
    caption: str = ""


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3,
                         "text.parse_math": False,  # a request name with "$" is text, not TeX
                         "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "stresskit"})
    return plt


class _Clock:
    """Converts wall-clock seconds to seconds, minutes or hours since the start of the run (0 on the axis)."""

    def __init__(self, origin: float, span: float, window_s: float | None = None) -> None:
        self.origin = origin
        self.unit, self.label = ((3600.0, "hours since start") if span > 3 * 3600 else
                                 (60.0, "minutes since start") if span > 300 else (1.0, "seconds since start"))
        self.window_s = window_s

    def __call__(self, t: Any) -> np.ndarray:
        return (np.asarray(t, dtype=float) - self.origin) / self.unit

    def windows(self, starts: Any) -> np.ndarray:
        """Window starts on the axis: a window that began before the run (windows are aligned to
        the clock, the run is not) is drawn at the run's start."""
        return np.maximum(self(starts), 0.0)

    def per(self, what: str) -> str:
        """``"per 1 s window"``-style caption text."""
        return f"{what} per {self.window_s:g} s window" if self.window_s else f"{what} per window"


def _thin(x: np.ndarray, *ys: np.ndarray) -> tuple[np.ndarray, ...]:
    if len(x) <= MAX_POINTS:
        return (x, *ys)
    idx = np.linspace(0, len(x) - 1, MAX_POINTS).astype(int)
    return (x[idx], *(y[idx] for y in ys))


def _figure(plt, height: float = 3.0):
    fig, ax = plt.subplots(figsize=(10, height), dpi=100)
    return fig, ax


# Margins in inches, set from what a chart shows instead of by matplotlib's constrained layout,
# which measured every text's extent again at each draw (about 40% of the 20-hour report's
# drawing time). Fonts are 9 pt (8 pt in legends).
_MARGIN_LEFT_IN = 0.42  # the y-axis label and the gap to the tick labels
_TICK_CHAR_IN = 0.068  # one character of a 9 pt tick label
_MARGIN_RIGHT_IN = 0.15
_MARGIN_BOTTOM_IN = 0.48  # tick labels and the x-axis label
_MARGIN_TOP_IN = 0.12
_LEGEND_ROW_IN = 0.19
_LEGEND_ROWS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
"""Rows of the legend :func:`_legend` put above an axes."""


def _place(fig) -> None:
    """Set the axes' margins: room for the longest y tick label on the left and for the legend's
    rows above the axes (:func:`_legend` puts it there)."""
    ax = fig.axes[0]
    width, height = fig.get_size_inches()
    chars = max((len(label.get_text()) for label in ax.get_yticklabels()), default=0)
    left = _MARGIN_LEFT_IN + max(chars, 2) * _TICK_CHAR_IN
    top = _MARGIN_TOP_IN + _LEGEND_ROWS.get(ax, 0) * _LEGEND_ROW_IN
    fig.subplots_adjust(left=left / width, right=1 - _MARGIN_RIGHT_IN / width, bottom=_MARGIN_BOTTOM_IN / height,
                        top=1 - top / height)


def _label(text: str, limit: int = 48) -> str:
    """A legend/tick label: printable characters only, shortened."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _readable(fig) -> None:
    """Plain numbers on log axes (math text is off, so matplotlib's 10^n labels would show raw),
    and dots on series too short to draw a line (a run shorter than a few windows)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter, ScalarFormatter

    for ax in fig.axes:
        ax.set_xlim(left=0)  # the run starts at 0; samples before it are not of the run
        if ax.get_yscale() == "log":
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        elif isinstance(ax.yaxis.get_major_formatter(), ScalarFormatter):
            ax.ticklabel_format(axis="y", useOffset=False, style="plain")  # "+4e3" above the axes: legend's place
        for line in ax.get_lines():
            if len(line.get_xdata()) <= 3 and line.get_marker() in (None, "None", "none", ""):
                line.set_marker("o")
                line.set_markersize(4)


def _finish(plt, fig, key: str, title: str, caption: str = "") -> Chart:
    _readable(fig)
    _place(fig)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a glyph missing from the font: not the reader's problem
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    uri = "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return Chart(key, title, uri, caption)


def _legend(ax, n: int) -> None:
    if n:
        _, labels = ax.get_legend_handles_labels()
        longest = max((len(label) for label in labels), default=0)
        per_row = 5 if longest <= 18 else 4 if longest <= 26 else 3
        ncols = max(1, min(n, per_row))
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncols=ncols, frameon=False,
                  borderaxespad=0.2)
        _LEGEND_ROWS[ax] = math.ceil(len(labels) / ncols)


def chart_throughput(plt, clock: _Clock, tp: Any, outages: list[dict[str, Any]] | None = None) -> Chart | None:
    tl = tp.timeline
    if tl is None or tl.empty:
        return None
    fig, ax = _figure(plt)
    x, rps, fails = _thin(clock.windows(tl["start"]), tl["rps"].to_numpy(), tl["fail_per_s"].to_numpy())
    ax.plot(x, rps, color=PALETTE[0], lw=1.4, label="all requests")
    lines = 1
    tt = tp.type_timeline
    if tt is not None and not tt.empty and tt["type"].nunique() > 1:
        for i, (rtype, group) in enumerate(sorted(tt.groupby("type"), key=lambda g: -g[1]["rps"].sum())[:6]):
            gx, gy = _thin(clock.windows(group["start"]), group["rps"].to_numpy())
            ax.plot(gx, gy, lw=0.9, color=PALETTE[(i + 2) % len(PALETTE)], label=_label(rtype or "(none)"))
            lines += 1
    if tl["fail_per_s"].max() > 0:
        ax.plot(x, fails, color=PALETTE[1], lw=1.0, ls="--", label="failures")
        lines += 1
    for i, outage in enumerate(outages or []):  # each client kind's outage, from _run.json availability
        ax.axvspan(*clock([outage["start"], outage["end"]]), color=PALETTE[1], alpha=0.12, lw=0,
                   label="outage (a client kind down)" if i == 0 else None)
    lines += bool(outages)
    ax.set_ylabel("requests / s")
    ax.set_xlabel(clock.label)
    ax.set_ylim(bottom=0)
    _legend(ax, lines)
    caption = clock.per("mean rate") + "; dashed: failures per second"
    if outages:
        kinds = sorted({o["kind"] for o in outages})
        caption += f"; shaded: {len(outages)} outage(s) of {', '.join(kinds)}"
    return _finish(plt, fig, "rps", "Requests per second", caption)


def chart_users(plt, clock: _Clock, tp: Any) -> Chart | None:
    tl = tp.timeline
    if tl is None or tl.empty or not np.isfinite(tl["users"]).any():
        return None
    fig, ax = _figure(plt, 2.4)
    ax.step(clock.windows(tl["start"]), tl["users"], where="post", color=PALETTE[2], lw=1.4)
    ax.set_ylabel("users")
    ax.set_xlabel(clock.label)
    ax.set_ylim(bottom=0)
    return _finish(plt, fig, "users", "Users", clock.per("highest user count"))


def chart_latency(plt, clock: _Clock, latency: Any) -> Chart | None:
    if latency is None or latency.windows is None or latency.windows.empty:
        return None
    overall = latency.windows[latency.windows["name"] == "Aggregated"].sort_values("start")
    if overall.empty:
        return None
    fig, ax = _figure(plt)
    for i, (col, label) in enumerate((("p50", "P50"), ("p95", "P95"), ("p99", "P99"), ("p999", "P99.9"),
                                      ("max", "max"))):
        x, y = _thin(clock.windows(overall["start"]), overall[col].to_numpy(dtype=float))
        if np.isfinite(y).any():
            ax.plot(x, y, lw=1.2 if col != "max" else 0.8, ls="-" if col != "max" else ":", label=label,
                    color=PALETTE[i])
    values = overall[["p50", "max"]].to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) and values.max() / max(values.min(), 1e-3) > 50:
        ax.set_yscale("log")
    ax.set_ylabel("response time (ms)")
    ax.set_xlabel(clock.label)
    _legend(ax, 5)
    return _finish(plt, fig, "latency", "Latency percentiles over time (all requests)",
                   f"percentiles per {latency.window_s:g} s window; source: {latency.source}")


def chart_latency_names(plt, clock: _Clock, latency: Any) -> Chart | None:
    if latency is None or latency.windows is None or latency.windows.empty:
        return None
    names = latency.windows[latency.windows["name"] != "Aggregated"]
    if names.empty:
        return None
    top = names.groupby(["type", "name"])["count"].sum().sort_values(ascending=False).head(8).index
    fig, ax = _figure(plt)
    for i, key in enumerate(top):
        group = names[(names["type"] == key[0]) & (names["name"] == key[1])].sort_values("start")
        gx, gy = _thin(clock.windows(group["start"]), group["p95"].to_numpy(dtype=float))
        ax.plot(gx, gy, lw=1.0, color=PALETTE[i % len(PALETTE)], label=_label(f"{key[0]} {key[1]}".strip(), 40))
    ax.set_ylabel("P95 (ms)")
    ax.set_xlabel(clock.label)
    ax.set_yscale("log")
    _legend(ax, len(top))
    return _finish(plt, fig, "latency_names", "P95 per request name over time",
                   f"the 8 busiest request names, P95 per {latency.window_s:g} s window")


def _leak_for(leaks: list[Any], series: str) -> Any:
    return next((lk for lk in leaks if lk.series == series), None)


def chart_memory(plt, clock: _Clock, resources: Any, leaks: list[Any]) -> list[Chart]:
    charts: list[Chart] = []
    if resources is None:
        return charts
    system = resources.timelines.get("system")
    if system is not None and not system.empty:
        fig, ax = _figure(plt)
        for i, (host, group) in enumerate(system.groupby("host")):
            color = PALETTE[i % len(PALETTE)]
            x, y = _thin(group["t"].to_numpy(), group["used_mb"].to_numpy())
            ax.plot(clock(x), y, lw=1.0, color=color, label=_label(f"{host} used"))
            lk = _leak_for(leaks, f"{host}: system memory used")
            _fit(ax, clock, lk, color)
        ax.set_ylabel("memory used (MB)")
        ax.set_xlabel(clock.label)
        _legend(ax, system["host"].nunique() * 2)
        charts.append(_finish(plt, fig, "memory_system", "Memory of the target host, with the fitted leak line",
                              "solid: used memory (bucket means); dashed: Theil–Sen fit of the window floors"))
    for kind, title in (("process", "Tracked processes: RSS with fitted leak lines"),
                        ("browsers", "Browser processes (total RSS)"),
                        ("generator", "Load generator RSS")):
        tl = resources.timelines.get(kind)
        if tl is None or tl.empty:
            continue
        order = sorted(tl["series"].unique(), key=lambda s: (
            (_leak_for(leaks, s) is None or _leak_for(leaks, s).verdict != "leak"),
            -(_leak_for(leaks, s).slope_mb_per_h or 0) if _leak_for(leaks, s) else 0))[:8]
        fig, ax = _figure(plt)
        for i, series in enumerate(order):
            group = tl[tl["series"] == series]
            color = PALETTE[i % len(PALETTE)]
            x, y = _thin(group["t"].to_numpy(), group["rss_mb"].to_numpy())
            lk = _leak_for(leaks, series)
            tag = f" ({lk.verdict})" if lk is not None else ""
            ax.plot(clock(x), y, lw=1.0, color=color, label=_label(f"{series}{tag}"))
            _fit(ax, clock, lk, color)
        ax.set_ylabel("RSS (MB)")
        ax.set_xlabel(clock.label)
        _legend(ax, len(order))
        more = tl["series"].nunique() - len(order)
        charts.append(_finish(plt, fig, f"memory_{kind}", title,
                              "leaks first, then by slope" + (f"; {more} more series in the tables" if more > 0 else "")))
    return charts


def _fit(ax, clock: _Clock, leak: Any, color: str) -> None:
    if leak is None or leak.slope_mb_per_h is None or not leak.floors_t:
        return
    t = np.array([leak.floors_t[0], leak.floors_t[-1]])
    ax.plot(clock(t), leak.fitted(t), ls="--", lw=1.6, color=color, alpha=0.9)
    ax.plot(clock(np.array(leak.floors_t)), leak.floors_mb, ls="none", marker=".", ms=3, color=color, alpha=0.6)


def chart_cpu(plt, clock: _Clock, resources: Any, threshold: float = 90.0) -> Chart | None:
    if resources is None:
        return None
    system = resources.timelines.get("system")
    procs = resources.timelines.get("process")
    if (system is None or system.empty) and (procs is None or procs.empty):
        return None
    fig, ax = _figure(plt)
    lines = 0
    if system is not None:
        for i, (host, group) in enumerate(system.groupby("host")):
            x, y = _thin(group["t"].to_numpy(), group["cpu_percent"].to_numpy())
            ax.plot(clock(x), y, lw=1.3, color=PALETTE[i % len(PALETTE)], label=_label(f"{host} (system)"))
            lines += 1
    if procs is not None and not procs.empty:
        busiest = procs.groupby("series")["cpu_percent"].mean().sort_values(ascending=False).head(5).index
        for i, series in enumerate(busiest):
            group = procs[procs["series"] == series]
            x, y = _thin(group["t"].to_numpy(), group["cpu_percent"].to_numpy())
            ax.plot(clock(x), y, lw=0.8, ls="--", color=PALETTE[(i + 3) % len(PALETTE)], label=_label(series, 40))
            lines += 1
    ax.axhline(threshold, color="#999", lw=0.8, ls=":")
    ax.set_ylabel("CPU %")
    ax.set_xlabel(clock.label)
    ax.set_ylim(bottom=0)
    _legend(ax, lines)
    return _finish(plt, fig, "cpu", "CPU", "system CPU of each host; dashed: the busiest tracked processes "
                   "(% of one core)")


def chart_extras(plt, clock: _Clock, tp: Any, faults: Any) -> list[Chart]:
    charts = []
    if tp.cache_timeline is not None and not tp.cache_timeline.empty:
        fig, ax = _figure(plt, 2.4)
        ax.plot(clock.windows(tp.cache_timeline["start"]), 100 * tp.cache_timeline["hit_rate"], color=PALETTE[4],
                lw=1.3)
        ax.set_ylabel("hit rate %")
        ax.set_ylim(0, 100)
        ax.set_xlabel(clock.label)
        charts.append(_finish(plt, fig, "cache", "Cache hit rate over time",
                              clock.per("REDIS GET hit / (hit + miss)")))
    if tp.ws_timeline is not None and not tp.ws_timeline.empty:
        fig, ax = _figure(plt, 2.4)
        x = clock.windows(tp.ws_timeline["start"])
        ax.plot(x, tp.ws_timeline["connects"], color=PALETTE[0], lw=1.2, label="connects")
        ax.plot(x, tp.ws_timeline["unexpected_closes"], color=PALETTE[1], lw=1.0, label="unexpected closes")
        ax.set_ylabel("per window")
        ax.set_xlabel(clock.label)
        _legend(ax, 2)
        charts.append(_finish(plt, fig, "websocket", "WebSocket connections over time",
                              clock.per("connects and unexpected closes")))
    events = faults.get("events") if faults is not None else None
    if events is not None and not events.empty:
        kinds = sorted(events["kind"].astype(str).unique())
        fig, ax = _figure(plt, max(2.0, 0.9 + 0.28 * len(kinds)))
        styles = {"injected": ("v", PALETTE[3]), "recovered": ("^", PALETTE[2]), "critical": ("X", PALETTE[1])}
        for event, (marker, color) in styles.items():
            sel = events[events["event"] == event]
            if not sel.empty:
                ax.scatter(clock(sel["timestamp"]), [kinds.index(k) for k in sel["kind"].astype(str)], marker=marker,
                           s=22, color=color, label=event, alpha=0.8, linewidths=0)
        ax.set_yticks(range(len(kinds)), [_label(k, 30) for k in kinds])
        ax.set_ylim(-0.6, len(kinds) - 0.4)
        ax.set_xlabel(clock.label)
        _legend(ax, 3)
        charts.append(_finish(plt, fig, "faults", "Injected faults and recoveries",
                              "each fault-log event at its time: ▼ injected, ▲ recovered, ✕ critical"))
    return charts


def _clock(origin: float | None, end: float | None, window_s: float | None = None) -> _Clock | None:
    if origin is None:
        return None
    return _Clock(origin, (end or origin) - origin, window_s)


def traffic_charts(origin: float | None, end: float | None, throughput: Any, latency: Any,
                   faults: Any, window_s: float | None = None,
                   outages: list[dict[str, Any]] | None = None) -> tuple[list[Chart], list[Chart]]:
    """(main charts: requests/s, users, latency; extra charts: cache, WebSocket, faults)."""
    clock = _clock(origin, end, window_s)
    if clock is None:
        return [], []
    plt = _plt()
    main = [c for c in (chart_throughput(plt, clock, throughput, outages), chart_users(plt, clock, throughput),
                        chart_latency(plt, clock, latency), chart_latency_names(plt, clock, latency)) if c is not None]
    return main, chart_extras(plt, clock, throughput, faults)


def resource_charts(origin: float | None, end: float | None, resources: Any, leaks: list[Any],
                    cpu_threshold: float = 90.0) -> list[Chart]:
    """Memory with the fitted leak lines, CPU and connections."""
    if resources is None:
        return []
    if origin is None and resources.span:
        origin, end = resources.span
    clock = _clock(origin, end)
    if clock is None:
        return []
    plt = _plt()
    charts = chart_memory(plt, clock, resources, leaks)
    cpu = chart_cpu(plt, clock, resources, cpu_threshold)
    conns = chart_connections(plt, clock, resources)
    return charts + [c for c in (cpu, conns) if c is not None]


def chart_connections(plt, clock: _Clock, resources: Any) -> Chart | None:
    """Open inet connections on each target host (WebSocket clients included) over time."""
    system = resources.timelines.get("system")
    if system is None or system.empty or not np.isfinite(system["connections"].to_numpy(dtype=float)).any():
        return None
    fig, ax = _figure(plt, 2.4)
    for i, (host, group) in enumerate(system.groupby("host")):
        x, y = _thin(group["t"].to_numpy(), group["connections"].to_numpy(dtype=float))
        ax.plot(clock(x), y, lw=1.2, color=PALETTE[i % len(PALETTE)], label=_label(str(host)))
    ax.set_ylabel("connections")
    ax.set_xlabel(clock.label)
    ax.set_ylim(bottom=0)
    _legend(ax, system["host"].nunique())
    return _finish(plt, fig, "connections", "Open connections on the target host",
                   "inet connections counted by the agent (WebSocket clients included), bucket means")


def all_outages(extras: dict[str, Any]) -> list[dict[str, Any]]:
    """Every client kind's outage windows recorded in ``_run.json`` (see stresskit.report.runinfo)."""
    kinds = ((extras or {}).get("availability") or {}).get("kinds") or {}
    return sorted((o for item in kinds.values() for o in item["outages"]), key=lambda o: o["start"])


def all_charts(report: Any) -> list[Chart]:
    """Every chart the report's data allows, in reading order (pre-rendered parts are reused)."""
    origin, end = report.started, report.ended
    if origin is None and report.resources is not None and report.resources.span:
        origin, end = report.resources.span
    middle = resource_charts(origin, end, report.resources, report.leaks, report.resource_options.cpu_threshold)
    pending = getattr(report, "charts", None)  # being drawn by the report's helper while the line above ran
    cached = pending() if pending is not None else None
    if cached is not None:
        main, extras = cached
    else:
        main, extras = traffic_charts(origin, end, report.throughput, report.latency, report.faults,
                                      report.window_s, all_outages(report.extras))
    return main + middle + extras
