"""The report as a JSON document (schema ``stresskit.report/1``, documented in docs/report.md).

Every number is a JSON number or ``null`` (never NaN); times are Unix seconds; latencies are
milliseconds; memory is MB (10^6 bytes). Timelines are column-oriented (``{"start": [...],
"rps": [...]}``) to keep long runs compact.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

import numpy as np
import pandas as pd

from stresskit.report.latency import SERIES_MEANING

SCHEMA = "stresskit.report/1"
"""The report JSON document's schema id (``stresskit/schemas/report.schema.json``)."""

__all__ = ["SCHEMA", "clean", "columns", "records", "report_dict"]


class _Clean(list):
    """A list already JSON-safe (from :func:`columns`): :func:`clean` passes it through."""


def clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf → None, numpy scalars → Python, containers recursively."""
    if isinstance(value, _Clean):
        return value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, pd.DataFrame):
        return records(value)
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return clean(frame.to_dict(orient="records"))


def columns(frame: pd.DataFrame | None, rounding: int | None = 3) -> dict[str, list[Any]]:
    if frame is None or frame.empty:
        return {}
    out: dict[str, list[Any]] = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_float_dtype(series.dtype):
            values = series.to_numpy(dtype=float)
            if rounding is not None:
                values = values.round(rounding)
            finite = np.isfinite(values)
            if finite.all():
                out[str(name)] = _Clean(values.tolist())
            else:
                out[str(name)] = _Clean(np.asarray(np.where(finite, values, None)).tolist())
        elif pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            out[str(name)] = _Clean(series.to_numpy().tolist())
        else:
            out[str(name)] = _Clean(clean(series.tolist()))
    return out


def _latency(report: Any) -> dict[str, Any] | None:
    lat = report.latency
    if lat is None:
        return None
    windows = lat.windows
    per_name = []
    overall = {}
    if windows is not None and not windows.empty:
        for (rtype, name), group in windows.groupby(["type", "name"], sort=True):
            cols = columns(group.drop(columns=["type", "name"]).sort_values("start"))
            if name == "Aggregated" and rtype == "":
                overall = cols
            else:
                per_name.append({"type": rtype, "name": name, **cols})
    return {"source": lat.source, "precision": lat.precision, "window_s": lat.window_s, "notes": lat.notes,
            "overall": lat.overall(), "requests": records(lat.requests),
            "windows": {"overall": overall, "requests": per_name},
            **({"series": SERIES_MEANING} if lat.has_intended else {})}


def report_dict(report: Any) -> dict[str, Any]:
    """The JSON document of a :class:`stresskit.report.build.Report`."""
    tp = report.throughput
    res = report.resources
    faults = report.faults
    run = report.run or {}
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "generated": _dt.datetime.fromtimestamp(report.generated, _dt.UTC).isoformat(),
        "prefix": report.prefix,
        "verdict": report.verdict.as_dict(),
        "summary": report.summary,
        "run": {k: run.get(k) for k in ("scenario", "time_scale", "started", "ended", "pages_total",
                                         "pages_completed", "session_restarts", "critical_failures",
                                         "stopped_early", "stop_reason", "exit_code", "workers")}
        | report.extras if run else None,
        "data_checks": [{"file": n.file, "rows_left_out": n.implausible_rows, "reasons": n.implausible}
                        for n in report.inputs if n.implausible_rows],
        "inputs": [n.as_dict() for n in report.inputs],
        "window_s": report.window_s,
        "duration_s": report.duration_s,
        "started": report.started,
        "ended": report.ended,
        "throughput": {
            "requests": tp.requests, "failures": tp.failures, "error_ratio": tp.error_ratio,
            "requests_per_s": tp.rps, "peak_requests_per_s": tp.peak_rps(),
            "by_type": records(tp.by_type),
            "timeline": columns(tp.timeline),
            "by_type_timeline": columns(tp.type_timeline),
            "pages_completed_in_stats": tp.pages_completed_stats,
            "pages_failed_in_stats": tp.pages_failed_stats,
            "session_restarts_in_stats": tp.restarts_stats,
            "cache_hit_rate": tp.cache_hit_rate if tp.cache_hit_rate is not None
            else (run.get("run_state") or {}).get("cache_hit_rate"),
            "cache_timeline": columns(tp.cache_timeline),
            "websocket_timeline": columns(tp.ws_timeline),
        },
        "latency": _latency(report),
        "failures": {"by_category": records(report.failures_by_category), "top": records(report.failures_top),
                     "exceptions": records(report.exceptions.head(20)) if report.exceptions is not None else []},
        "faults": None if faults is None else {
            "injected": faults["injected"], "recovered": faults["recovered"], "critical": faults["critical"],
            "by_kind": records(faults["by_kind"]), "timeline": columns(faults["timeline"])},
        "resources": None if res is None else {
            "thresholds": {"cpu_percent": report.resource_options.cpu_threshold,
                           "memory_percent": report.resource_options.memory_threshold,
                           "sustain_s": report.resource_options.sustain_s},
            "hosts": records(res.hosts), "processes": records(res.processes), "gaps": res.gaps,
            "timelines": {k: columns(v) for k, v in res.timelines.items()}},
        "leaks": {"rule": report.leak_rule.text(), "series": [lk.as_dict() for lk in report.leaks]},
        "baseline": report.baseline,
    }
    return clean(doc)
