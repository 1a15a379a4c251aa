"""What a run recorded about itself beyond its criteria, read from ``PREFIX_run.json``.

Several parts of stresskit add keys to ``_run.json`` (the shared contract, see
``stresskit/schemas/run.schema.json``): per-kind ``availability`` with outage windows, scenario
``conditions`` and the ones the user opted out of (``not_evaluated``), how a run was ``interrupted``,
files ``truncated`` by a write error, ``lost_workers`` and the pages they gave back, ``pages_due`` /
``pages_behind`` by the pace, and ``dropped_iterations`` per kind. Every key is optional and any
value may be malformed (a run killed mid-write, an older or newer writer): :func:`run_extras`
keeps what is well-formed and ignores the rest, so the report reads any run.

The result is one JSON-safe dict; the text summary, the HTML and the report JSON all show it,
and :func:`extra_criteria` turns the parts that bear on the verdict into criteria.
"""

from __future__ import annotations

import math
from typing import Any

from stresskit.core.kinds import KIND_NAMES
from stresskit.report.verdict import FAIL, NOT_EVALUATED, PASS, Criterion

__all__ = ["CLIENT_KINDS", "extra_criteria", "extras_lines", "run_extras"]

CLIENT_KINDS = KIND_NAMES
CONDITION_STATUSES = ("produced", "not evaluated", "not produced")


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None and number >= 0 else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _outages(items: Any) -> list[dict[str, Any]]:
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        start, end = _num(item.get("start")), _num(item.get("end"))
        if start is None or end is None or end < start:
            continue
        seconds = _num(item.get("seconds"))
        out.append({"kind": _str(item.get("kind")), "start": start, "end": end,
                    "seconds": seconds if seconds is not None and seconds >= 0 else end - start})
    return out


def _availability(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    kinds = {}
    for kind, item in (data.get("kinds") or {}).items() if isinstance(data.get("kinds"), dict) else ():
        if not isinstance(item, dict):
            continue
        share = _num(item.get("availability"))
        ratio = _num(item.get("error_ratio"))
        kinds[str(kind)] = {
            "availability": share if share is not None and 0 <= share <= 1 else None,
            "requests": _int(item.get("requests")), "failures": _int(item.get("failures")),
            "error_ratio": ratio if ratio is not None and 0 <= ratio <= 1 else None,
            "windows": _int(item.get("windows")), "windows_up": _int(item.get("windows_up")),
            "outages": [{**o, "kind": o["kind"] or str(kind)} for o in _outages(item.get("outages"))]}
    return {"resolution_seconds": _num(data.get("resolution_seconds")),
            "max_unavailable_share": _num(data.get("max_unavailable_share")),
            "max_outage_seconds": _num(data.get("max_outage_seconds")), "kinds": kinds}


def _conditions(items: Any) -> list[dict[str, str]]:
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("name"):
            status = _str(item.get("status"))
            out.append({"name": _str(item["name"]), "status": status if status in CONDITION_STATUSES else "unknown",
                        "detail": _str(item.get("detail"))})
    return out


def run_extras(run: dict[str, Any] | None) -> dict[str, Any]:
    """The shared-contract keys present in ``run`` (well-formed parts only); {} for none."""
    if not run:
        return {}
    out: dict[str, Any] = {}
    if "availability" in run and (availability := _availability(run["availability"])) is not None:
        out["availability"] = availability
    if "conditions" in run:
        out["conditions"] = _conditions(run["conditions"])
    if isinstance(run.get("not_evaluated"), list):
        out["not_evaluated"] = [_str(n) for n in run["not_evaluated"] if n]
    if "interrupted" in run:
        out["interrupted"] = _str(run["interrupted"]) or None
        if out["interrupted"]:
            out["stop_reason"] = _str(run.get("stop_reason")) or f"interrupted by {out['interrupted']}"
    if isinstance(run.get("truncated_files"), list):
        out["truncated_files"] = [{"file": _str(i.get("file")), "error": _str(i.get("error")),
                                   "at": _num(i.get("at"))} for i in run["truncated_files"] if isinstance(i, dict)]
    if isinstance(run.get("lost_workers"), list):
        out["lost_workers"] = [{"worker": _str(i.get("worker")), "lost_at": _num(i.get("lost_at")),
                                "pages_reclaimed": [int(p) for p in (i.get("pages_reclaimed") or [])
                                                    if isinstance(p, int) and not isinstance(p, bool)]
                                if isinstance(i.get("pages_reclaimed"), list) else []}
                               for i in run["lost_workers"] if isinstance(i, dict)]
    for key in ("pages_due", "pages_behind"):
        if key in run and (value := _int(run[key])) is not None:
            out[key] = value
    if isinstance(run.get("dropped_iterations"), dict):
        out["dropped_iterations"] = {str(k): v for k, v in
                                     ((k, _int(v)) for k, v in run["dropped_iterations"].items()) if v is not None}
    return out


def extra_criteria(extras: dict[str, Any], existing: set[str]) -> list[Criterion]:
    """Criteria the extras imply and the run did not already record under the same name.

    Each scenario condition is one criterion: produced → pass, not produced → fail, opted out →
    not evaluated (which keeps the verdict from reading as a plain PASS). Truncated files and
    lost workers are warnings: the figures stand, with less data behind them.
    """
    out: list[Criterion] = []
    opted_out = set(extras.get("not_evaluated") or ())
    seen = set()
    for cond in extras.get("conditions") or []:
        name = f"condition {cond['name']}"
        seen.add(cond["name"])
        if name in existing or cond["name"] in existing:
            continue
        status = {"produced": PASS, "not produced": FAIL}.get(cond["status"], NOT_EVALUATED)
        if cond["name"] in opted_out:
            status = NOT_EVALUATED
        detail = cond["detail"] or cond["status"]
        if status == NOT_EVALUATED and not detail.startswith("not evaluated"):
            detail = f"not evaluated: {detail}"
        out.append(Criterion(name, "condition", status, detail))
    for name in sorted(opted_out - seen):
        if f"condition {name}" not in existing and name not in existing:
            out.append(Criterion(f"condition {name}", "condition", NOT_EVALUATED,
                                 "not evaluated: the user opted out (--skip-condition)"))
    truncated = extras.get("truncated_files") or []
    if truncated:
        out.append(Criterion("files complete", "run", "warning",
                             "stopped being written: " + "; ".join(f"{t['file']} ({t['error']})" for t in truncated[:4])
                             + " — figures from these files cover only part of the run", required=False))
    lost = extras.get("lost_workers") or []
    if lost:
        pages = sum(len(w["pages_reclaimed"]) for w in lost)
        out.append(Criterion("workers kept", "run", "warning",
                             f"{len(lost)} worker(s) lost ({', '.join(w['worker'] for w in lost[:4])}); "
                             f"{pages} page(s) reclaimed by the others", required=False))
    return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def extras_lines(extras: dict[str, Any], origin: float | None = None) -> list[str]:
    """Plain-text lines for the summary (times as seconds since ``origin`` when known)."""

    def at(t: float | None) -> str:
        if t is None:
            return "?"
        return f"{t - origin:.0f} s" if origin is not None else f"{t:.0f}"

    lines = []
    if extras.get("interrupted"):
        lines.append(f"stopped    {extras.get('stop_reason')}: the scenario did not run its full duration")
    availability = extras.get("availability")
    if availability and availability["kinds"]:
        res = availability.get("resolution_seconds")
        lines.append("availability" + (f" (per {res:g} s window)" if res else ""))
        for kind, item in availability["kinds"].items():
            outages = item["outages"]
            text = (f"  {kind:<10} {_pct(item['availability'])} up, {item['requests'] or 0} requests, "
                    f"{item['failures'] or 0} failed ({_pct(item['error_ratio'])})")
            if outages:
                longest = max(o["seconds"] for o in outages)
                text += f"; {len(outages)} outage(s), longest {longest:.0f} s"
            lines.append(text)
            for o in outages[:5]:
                lines.append(f"             outage {at(o['start'])} → {at(o['end'])} ({o['seconds']:.0f} s)")
    for cond in extras.get("conditions") or []:
        lines.append(f"condition  {cond['name']}: {cond['status']}" + (f" — {cond['detail']}" if cond["detail"] else ""))
    if extras.get("not_evaluated"):
        lines.append(f"opted out  {', '.join(extras['not_evaluated'])} (not evaluated)")
    if "pages_due" in extras:
        lines.append(f"pace       {extras['pages_due']} page(s) due by the end, "
                     f"{extras.get('pages_behind', 0)} behind")
    dropped = {k: v for k, v in (extras.get("dropped_iterations") or {}).items() if v}
    if "dropped_iterations" in extras:
        lines.append("dropped    " + (", ".join(f"{k} {v}" for k, v in dropped.items()) if dropped
                                      else "no iteration dropped")
                     + " (iterations the pace asked for but no user was free to start)")
    for w in extras.get("lost_workers") or []:
        pages = w["pages_reclaimed"]
        lines.append(f"lost       worker {w['worker']} at {at(w['lost_at'])}; {len(pages)} page(s) reclaimed"
                     + (f": {', '.join(map(str, pages[:10]))}" if pages else ""))
    for t in extras.get("truncated_files") or []:
        lines.append(f"truncated  {t['file']} at {at(t['at'])}: {t['error']}")
    return lines
