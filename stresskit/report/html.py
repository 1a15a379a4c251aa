"""The HTML report: one self-contained file (inline CSS, charts as inline SVG data URIs, no script,
no external resource), laid out for a laptop screen, the verdict first.
"""

from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from stresskit.report.charts import all_charts
from stresskit.report.latency import SERIES_MEANING
from stresskit.report.text import fmt_duration

__all__ = ["render_html"]

CSS = """
:root { --pass: #1b7f3b; --fail: #b42318; --inc: #9a6700; --muted: #667085; --line: #e4e7ec; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #101828;
       background: #f9fafb; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 20px; margin: 8px 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid
var(--line); padding-bottom: 4px; } h3 { font-size: 14px; margin: 16px 0 6px; }
.verdict { border-radius: 8px; padding: 14px 18px; color: #fff; margin: 8px 0 16px; }
.verdict.pass { background: var(--pass); } .verdict.fail { background: var(--fail); }
.verdict.inconclusive, .verdict.qualified { background: var(--inc); }
.verdict .word { font-size: 22px; font-weight: 700; letter-spacing: .5px; }
.verdict ul { margin: 6px 0 0 18px; padding: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 8px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.card .k { color: var(--muted); font-size: 12px; } .card .v { font-size: 17px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f4f7; font-weight: 600; position: sticky; top: 0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.st-pass { color: var(--pass); font-weight: 600; } .st-fail { color: var(--fail); font-weight: 600; }
.st-warning, .st-inconclusive { color: var(--inc); font-weight: 600; } .st-leak { color: var(--fail); font-weight: 700;
}
.st-not { color: var(--muted); }
figure { margin: 12px 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figure img { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
.muted { color: var(--muted); } .scroll { max-height: 420px; overflow: auto; border: 1px solid var(--line); }
code { background: #f2f4f7; padding: 1px 4px; border-radius: 3px; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value: Any, spec: str = "{:,.1f}") -> str:
    if value is None:
        return "–"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "–"
        if spec == "{:,.1f}" and float(value).is_integer():  # a count: "118", not "118.0"
            return f"{int(value):,}"
        return spec.format(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return _e(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool] | None = None,
           scroll: bool = False, raw: Sequence[bool] | None = None) -> str:
    numeric = numeric or [False] * len(headers)
    raw = raw or [False] * len(headers)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for value, is_num, is_raw in zip(row, numeric, raw, strict=False):
            text = value if is_raw else (_fmt(value) if is_num else _e(value))
            cells.append(f'<td class="n">{text}</td>' if is_num else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return '<p class="muted">none</p>'
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table}</div>' if scroll else table


def _status(status: str) -> str:
    cls = {"pass": "st-pass", "fail": "st-fail", "warning": "st-warning", "leak": "st-leak",
           "inconclusive": "st-inconclusive", "no leak": "st-pass"}.get(status, "st-not")
    return f'<span class="{cls}">{_e(status.upper())}</span>'


def _cards(report: Any) -> str:
    s = report.summary
    tp = report.throughput
    o = report.latency.overall() if report.latency is not None else {}
    cards = [
        ("scenario", s.get("scenario") or "–"),
        ("duration", fmt_duration(s.get("duration_s"))),
        ("pages completed", s.get("pages_processed") or "–"),
        ("pages per hour", _fmt(s.get("pages_per_hour"), "{:,.0f}")),
        ("requests", _fmt(tp.requests, "{:,.0f}")),
        ("requests / s", _fmt(tp.rps, "{:,.1f}")),
        ("success rate", _fmt(s.get("success_rate"), "{:.2%}")),
        ("session restarts", _fmt(s.get("session_restarts"))),
        ("critical failures", _fmt(s.get("critical_failures"))),
        ("P95 / P99 (ms)", f"{_fmt(o.get('p95'), '{:,.0f}')} / {_fmt(o.get('p99'), '{:,.0f}')}"),
        ("cache hit rate", _fmt(tp.cache_hit_rate if tp.cache_hit_rate is not None else
                                ((report.run or {}).get("run_state") or {}).get("cache_hit_rate"), "{:.1%}")),
        ("time scale", _fmt(s.get("time_scale"), "{:g}")),
    ]
    return '<div class="grid">' + "".join(
        f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>' for k, v in cards) + "</div>"


def _verdict(report: Any) -> str:
    v = report.verdict
    reasons = [*v.reasons[:8]]
    doubtful = [n for n in report.inputs if n.implausible_rows]
    if doubtful:
        reasons.append(f"left out {sum(n.implausible_rows for n in doubtful)} row(s) of the run's files that cannot "
                       "be true (see Input files); the verdict does not count them")
    items = "".join(f"<li>{_e(r)}</li>" for r in reasons)
    qualified = " qualified" if v.not_evaluated else ""
    return (f'<section class="verdict {v.status}{qualified}" id="verdict"><div class="word">{_e(v.word())}</div>'
            f"<div>exit code {v.exit_code}</div><ul>{items}</ul></section>")


def _when(report: Any, t: float | None) -> str:
    if t is None:
        return "–"
    if report.started is not None:
        return f"{t - report.started:,.0f} s"
    return f"{_dt.datetime.fromtimestamp(t, _dt.UTC):%H:%M:%S} UTC"


def _run_extras(report: Any) -> str:
    """Availability per kind and its outages, conditions, pace, dropped iterations, lost workers and
    truncated files, whichever the run recorded (see stresskit.report.runinfo)."""
    x = report.extras
    if not x:
        return ""
    parts = ["<h2 id='run'>The run</h2>"]
    if x.get("interrupted"):
        parts.append(f"<p class='st-fail'>{_e(x.get('stop_reason'))}: the scenario did not run its full "
                     "duration.</p>")
    availability = x.get("availability")
    if availability and availability["kinds"]:
        res, share, longest = (availability.get(k) for k in ("resolution_seconds", "max_unavailable_share",
                                                              "max_outage_seconds"))
        limits = []
        if share is not None:
            limits.append(f"at most {share:.0%} of the run unavailable")
        if longest is not None:
            limits.append(f"no outage longer than {longest:g} s")
        parts.append("<h3 id='availability'>Availability per client kind</h3><p class='muted'>"
                     + _e((f"share of {res:g} s windows with at least one success" if res else "share of windows up")
                          + ("; limits: " + ", ".join(limits) if limits else "")) + "</p>")
        rows: list[tuple[Any, ...]] = [(kind, _fmt(i["availability"], "{:.2%}"), i["requests"], i["failures"],
                 _fmt(i["error_ratio"], "{:.2%}"), i["windows_up"], i["windows"], len(i["outages"]))
                for kind, i in availability["kinds"].items()]
        parts.append(_table(["kind", "availability", "requests", "failures", "error ratio", "windows up", "windows",
                             "outages"], rows, numeric=[False] + [True] * 7))
        outages = [o for i in availability["kinds"].values() for o in i["outages"]]
        if outages:
            parts.append("<h3>Outages</h3>" + _table(
                ["kind", "start", "end", "seconds"],
                [(o["kind"], _when(report, o["start"]), _when(report, o["end"]), o["seconds"])
                 for o in sorted(outages, key=lambda o: o["start"])],
                numeric=[False, True, True, True], scroll=len(outages) > 15))
    if x.get("conditions") or x.get("not_evaluated"):
        rows = [(c["name"], c["status"], c["detail"]) for c in x.get("conditions") or []]
        named = {c["name"] for c in x.get("conditions") or []}
        rows += [(n, "not evaluated", "the user opted out (--skip-condition)") for n in x.get("not_evaluated") or []
                 if n not in named]
        parts.append("<h3 id='conditions'>Scenario conditions</h3>" + _table(["condition", "status", "detail"], rows))
    if "pages_due" in x:
        parts.append(f"<p>Pace: {x['pages_due']:,} page(s) due by the end of the run, "
                     f"{x.get('pages_behind', 0):,} behind.</p>")
    if "dropped_iterations" in x:
        dropped = x["dropped_iterations"]
        parts.append("<p>Dropped iterations (due by the pace, no user free to start them): "
                     + _e(", ".join(f"{k} {v:,}" for k, v in dropped.items()) if any(dropped.values()) else "none")
                     + ".</p>")
    if x.get("lost_workers"):
        parts.append("<h3 id='lost-workers'>Lost workers</h3>" + _table(
            ["worker", "lost at", "pages reclaimed"],
            [(w["worker"], _when(report, w["lost_at"]), ", ".join(map(str, w["pages_reclaimed"])) or "none")
             for w in x["lost_workers"]]))
    if x.get("truncated_files"):
        parts.append("<h3 id='truncated'>Files that stopped being written</h3>" + _table(
            ["file", "at", "error"], [(t["file"], _when(report, t["at"]), t["error"]) for t in x["truncated_files"]]))
    return "".join(parts) if len(parts) > 1 else ""


def _criteria(report: Any) -> str:
    rows = [(_status(c.status), c.name, c.source, c.detail, c.value, c.limit) for c in report.verdict.criteria]
    return _table(["status", "criterion", "source", "detail", "value", "limit"], rows,
                  numeric=[False, False, False, False, True, True], raw=[True, False, False, False, False, False])


def _latency(report: Any) -> str:
    lat = report.latency
    if lat is None:
        return '<p class="muted">no stats: no latency figures</p>'
    req = lat.requests
    rows: list[tuple[Any, ...]] = [(r.type, r.name, r.count, r.failures, r.p50, r.p95, r.p99, r.p999, r.max)
                                   for r in req.itertuples()]
    notes = "".join(f"<p class='muted'>{_e(n)}</p>" for n in lat.notes)
    html = (f"<p>Source: <b>{_e(lat.source)}</b> — {_e(lat.precision)}.</p>{notes}"
            + _table(["type", "name", "requests", "failures", "P50", "P95", "P99", "P99.9", "max"], rows,
                     numeric=[False, False] + [True] * 7, scroll=len(rows) > 15))
    if lat.has_intended:  # open model: from the send time and from the intended start, side by side
        paced = req[req["intended_p50"].notna()]
        rows = [(r.type, r.name, r.p50, r.intended_p50, r.p99, r.intended_p99, r.max, r.intended_max)
                for r in paced.itertuples()]
        meaning = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in SERIES_MEANING.items())
        html += ("<h3>Open model: latency from the send time and from the intended start</h3>"
                 f"<ul>{meaning}</ul>"
                 + _table(["type", "name", "P50 sent", "P50 intended", "P99 sent", "P99 intended", "max sent",
                           "max intended"], rows, numeric=[False, False] + [True] * 6, scroll=len(rows) > 15))
    return html


def _leaks(report: Any) -> str:
    leaks = sorted(report.leaks, key=lambda lk: ({"leak": 0, "inconclusive": 1}.get(lk.verdict, 2), lk.series))
    if not leaks:
        return '<p class="muted">no memory series (resources file missing or empty)</p>'
    rows = [(_status(lk.verdict), lk.series, lk.slope_mb_per_h,
             f"{_fmt(lk.ci_low_mb_per_h, '{:.3g}')} … {_fmt(lk.ci_high_mb_per_h, '{:.3g}')}",
             lk.ols_slope_mb_per_h, lk.r2, lk.kendall_tau, lk.kendall_p, lk.level_mb, lk.growth_pct,
             lk.hours_to_exhaustion, lk.n_windows, lk.reason) for lk in leaks]
    return (f"<p class='muted'>Rule: {_e(report.leak_rule.text())}</p>"
            + _table(["verdict", "series", "Theil–Sen MB/h", "95% CI", "OLS MB/h", "R²", "Kendall τ", "p",
                      "level MB", "growth %", "hours to exhaustion", "windows", "why"], rows,
                     numeric=[False, False, True, False, True, True, True, True, True, True, True, True, False],
                     raw=[True] + [False] * 12, scroll=len(rows) > 15))


def _resources(report: Any) -> str:
    res = report.resources
    if res is None:
        return '<p class="muted">no resource samples</p>'
    parts = []
    if not res.hosts.empty:
        rows: list[tuple[Any, ...]] = [
            (h.host, h.samples, h.cpu_mean, h.cpu_max, h.memory_percent_mean, h.memory_percent_max,
                 h.used_mb_min, h.used_mb_max, h.cpu_above_s, h.memory_above_s,
                 max(h.cpu_longest_above_s, h.memory_longest_above_s)) for h in res.hosts.itertuples()]
        o = report.resource_options
        parts.append(f"<h3>Hosts</h3><p class='muted'>thresholds: CPU {o.cpu_threshold:g}%, memory "
                     f"{o.memory_threshold:g}%; sustained = at least {o.sustain_s:g} s in a row</p>")
        parts.append(_table(["host", "samples", "CPU mean", "CPU max", "mem % mean", "mem % max", "used MB min",
                             "used MB max", "s above CPU", "s above mem", "longest above s"], rows,
                            numeric=[False] + [True] * 10))
    if not res.processes.empty:
        rows = [(p.host, p.kind, p.name, p.samples, p.rss_mb_min, p.rss_mb_mean, p.rss_mb_max, p.cpu_mean, p.cpu_max)
                for p in res.processes.itertuples()]
        parts.append("<h3>Processes</h3>" + _table(["host", "kind", "name", "samples", "RSS MB min", "RSS MB mean",
                                                     "RSS MB max", "CPU mean", "CPU max"], rows,
                                                    numeric=[False, False, False] + [True] * 6,
                                                    scroll=len(rows) > 15))
    if res.gaps:
        parts.append(f"<p>Sampling gaps: {res.gaps.get('events')} gap(s), {res.gaps.get('samples_lost')} "
                     "sample(s) lost.</p>")
    return "".join(parts)


def _failures(report: Any) -> str:
    parts = ["<h3>By category</h3>", _table(["category", "count"],
                                            [(r.category, r.count) for r in report.failures_by_category.itertuples()],
                                            numeric=[False, True])]
    top = report.failures_top
    if not top.empty:
        parts.append("<h3>Most frequent</h3>")
        parts.append(_table(["type", "name", "error", "count", "category"],
                            [(r.type, r.name, r.error[:300], r.count, r.category) for r in top.itertuples()],
                            numeric=[False, False, False, True, False]))
    exc = report.exceptions
    if exc is not None and not exc.empty:
        parts.append("<h3>Exceptions in tasks</h3>")
        parts.append(_table(["count", "message"], [(r[0], str(r[1])[:300]) for r in
                                                   exc[["Count", "Message"]].head(20).itertuples(index=False)],
                            numeric=[True, False]))
    faults = report.faults
    if faults is not None:
        parts.append(f"<h3>Injected faults and recoveries</h3><p>{faults['injected']} injected, "
                     f"{faults['recovered']} recovered, {faults['critical']} critical.</p>")
        rows = [(r.kind, r.injected, r.recovered, r.unrecovered, r.critical, r.recovery_p50_s, r.recovery_p95_s,
                 r.recovery_max_s) for r in faults["by_kind"].itertuples()]
        parts.append(_table(["kind", "injected", "recovered", "unrecovered", "critical", "recovery P50 s",
                             "recovery P95 s", "recovery max s"], rows, numeric=[False] + [True] * 7))
    return "".join(parts)


def _baseline(report: Any) -> str:
    b = report.baseline
    if not b:
        return ""
    rows = [(_status("fail") if r["worse"] else _status("pass"), r["metric"], r["baseline"], r["current"],
             r["change_pct"], r["rule"]) for r in b["deltas"]]
    return (f"<h2 id='baseline'>Baseline comparison</h2><p>Against <code>{_e(b['prefix'])}</code>, tolerance "
            f"{b['tolerance']:.0%}: <b>{_e(b['verdict'])}</b>.</p>"
            + _table(["", "metric", "baseline", "current", "change %", "rule"], rows,
                     numeric=[False, False, True, True, True, False], raw=[True] + [False] * 5,
                     scroll=len(rows) > 15))


def _inputs(report: Any) -> str:
    rows = [(n.file.rsplit("/", 1)[-1], n.status, n.rows, n.skipped_rows, n.implausible_rows,
             "; ".join(p for p in (n.detail, n.implausible_text()) if p)) for n in report.inputs]
    return _table(["file", "status", "rows", "corrupt rows skipped", "rows that cannot be true", "detail"], rows,
                  numeric=[False, False, True, True, True, False])


def _run_info(report: Any) -> str:
    run = report.run or {}
    workers = run.get("workers")
    items = []
    if report.started:
        items.append(f"started {_dt.datetime.fromtimestamp(report.started, _dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
    if run.get("stopped_early"):
        items.append(f"stopped early: {run.get('stop_reason') or '?'}")
    if workers:
        items.append(f"workers: {', '.join(map(str, workers))[:300]}")
    if run.get("exit_code") is not None:
        items.append(f"locust exit code {run.get('exit_code')}")
    return "<p class='muted'>" + _e(" · ".join(items)) + "</p>" if items else ""


def render_html(report: Any) -> str:
    """The whole report as one HTML string."""
    charts = all_charts(report)
    figures = "".join(
        f'<figure id="chart-{_e(c.key)}"><h3>{_e(c.title)}</h3><img class="chart" alt="{_e(c.title)}" '
        f'src="{c.uri}"><figcaption>{_e(c.caption)}</figcaption></figure>' for c in charts)
    if not figures:
        figures = '<p class="muted">no time series to chart</p>'
    title = f"stresskit report — {report.prefix.rsplit('/', 1)[-1]}"
    generated = _dt.datetime.fromtimestamp(report.generated, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    by_type = report.throughput.by_type
    type_table = "" if by_type is None or by_type.empty else _table(
        ["type", "requests", "failures", "requests / s"],
        [(r.type or "(none)", r.requests, r.failures, getattr(r, "rps", None)) for r in by_type.itertuples()],
        numeric=[False, True, True, True])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{_e(title)}</h1>
<p class="muted">{_e(report.prefix)} · generated {generated}</p>
{_verdict(report)}
{_cards(report)}
{_run_info(report)}
<h2 id="criteria">Criteria</h2>
{_criteria(report)}
{_run_extras(report)}
{_baseline(report)}
<h2 id="charts">Charts</h2>
{figures}
<h2 id="throughput">Throughput by request type</h2>
{type_table or '<p class="muted">no stats</p>'}
<h2 id="latency">Latency (ms)</h2>
{_latency(report)}
<h2 id="memory">Memory leak regression</h2>
{_leaks(report)}
<h2 id="resources">Resources</h2>
{_resources(report)}
<h2 id="failures">Failures</h2>
{_failures(report)}
<h2 id="inputs">Input files</h2>
{_inputs(report)}
</main></body></html>
"""


