"""The readable summary printed on stdout: the verdict first, then the figures that explain it."""

from __future__ import annotations

from typing import Any

from stresskit.report.latency import SERIES_MEANING
from stresskit.report.leak import INCONCLUSIVE
from stresskit.report.runinfo import extras_lines

__all__ = ["fmt_duration", "summary_text"]


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _f(value: Any, fmt: str = "{:.1f}", none: str = "n/a") -> str:
    if value is None:
        return none
    try:
        if value != value:  # noqa: PLR0124 - NaN
            return none
    except TypeError:
        return none
    return fmt.format(value)


def summary_text(report: Any) -> str:
    v = report.verdict
    s = report.summary
    lines = [v.headline()]
    for reason in v.reasons[1:4]:
        lines.append(f"  {reason}")
    doubtful = [n for n in report.inputs if n.implausible_rows]
    if doubtful:
        lines.append(f"  left out {sum(n.implausible_rows for n in doubtful)} row(s) of the run's files that cannot "
                     "be true (see inputs below); the verdict does not count them")
    lines.append("")
    scenario = s.get("scenario") or "unknown scenario"
    scale = s.get("time_scale")
    lines.append(f"run        {report.prefix}  ({scenario}" + (f", time scale {scale:g}" if scale else "") + ")")
    lines.append(f"duration   {fmt_duration(s.get('duration_s'))}")
    if s.get("pages_processed") is not None:
        lines.append(f"pages      {s['pages_processed']} completed, {_f(s.get('pages_per_hour'), '{:.0f}')} per hour")
    lines.append(f"requests   {int(s.get('requests') or 0)} ({_f(s.get('requests_per_s'), '{:.1f}')} /s), "
                 f"success rate {_f(s.get('success_rate'), '{:.2%}')}")
    lines.append(f"restarts   {s.get('session_restarts') if s.get('session_restarts') is not None else 'n/a'}   "
                 f"critical failures {s.get('critical_failures') if s.get('critical_failures') is not None else 'n/a'}")
    lines.extend(extras_lines(report.extras, report.started))
    lat = report.latency
    if lat is not None:
        o = lat.overall()
        if o:
            lines.append(f"latency    p50 {_f(o.get('p50'), '{:.0f}')} / p95 {_f(o.get('p95'), '{:.0f}')} / "
                         f"p99 {_f(o.get('p99'), '{:.0f}')} / p99.9 {_f(o.get('p999'), '{:.0f}')} / "
                         f"max {_f(o.get('max'), '{:.0f}')} ms  [{lat.source}]")
            if lat.has_intended:
                lines.append(f"  intended p50 {_f(o.get('intended_p50'), '{:.0f}')} / p95 "
                             f"{_f(o.get('intended_p95'), '{:.0f}')} / p99 {_f(o.get('intended_p99'), '{:.0f}')} / "
                             f"p99.9 {_f(o.get('intended_p999'), '{:.0f}')} / max {_f(o.get('intended_max'), '{:.0f}')} ms")
                lines.extend(f"  {name}: {meaning}" for name, meaning in SERIES_MEANING.items())
    lines.append("")
    lines.append("criteria")
    for c in v.criteria:
        mark = {"pass": "PASS", "fail": "FAIL", "warning": "WARN", "not evaluated": "N/E "}.get(c.status, "----")
        lines.append(f"  {mark}  {c.name}: {c.detail}")
    if not v.criteria:
        lines.append("  (none)")
    leaks = report.leaks
    if leaks:
        lines.append("")
        lines.append("memory (leak regression on window floors)")
        for lk in sorted(leaks, key=lambda x: (x.verdict != "leak", x.series))[:12]:
            if lk.verdict == INCONCLUSIVE and lk.reason:  # a slope of too short a series means nothing: say why
                lines.append(f"  {lk.verdict:<12} {lk.series}: {lk.reason}")
                continue
            slope = _f(lk.slope_mb_per_h, "{:+.3g}")
            eta = f", exhausted in ~{lk.hours_to_exhaustion:.1f} h" if lk.hours_to_exhaustion else ""
            lines.append(f"  {lk.verdict:<12} {lk.series}: {slope} MB/h{eta}")
        if len(leaks) > 12:
            lines.append(f"  … {len(leaks) - 12} more series in the HTML/JSON report")
    if report.baseline:
        b = report.baseline
        lines.append("")
        lines.append(f"baseline   {b['prefix']}: {b['verdict']} (tolerance {b['tolerance']:.0%}, "
                     f"{b['compared']} metrics compared)")
        for row in [r for r in b["deltas"] if r["worse"]][:8]:
            lines.append(f"  worse  {row['metric']}: {_f(row['baseline'], '{:.4g}')} → {_f(row['current'], '{:.4g}')}")
    problems = [n for n in report.inputs if n.status != "ok" or n.skipped_rows or n.implausible_rows]
    if problems:
        lines.append("")
        lines.append("inputs")
        for note in problems:
            lines.append(f"  {note.line()}")
    return "\n".join(lines) + "\n"
