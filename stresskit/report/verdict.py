"""The verdict: the run's own criteria and thresholds (from ``PREFIX_run.json``) plus what only the
report can judge (memory leaks, sustained resource excursions, a baseline comparison).

Exit codes of ``stresskit report`` (most severe first when several apply: 2, 5, 6, 3, 7, 8, 4, 9):

====  ==================  ==============================================================
code  name                meaning
====  ==================  ==============================================================
0     PASS                every criterion evaluated passed
1     ERROR               the report itself failed (a bug; one line, ``--debug`` for more)
2     BAD_INPUT           bad options, no run files for the prefix, or an empty run
3     CRITERIA_FAILED     a success criterion of the run failed (pages, error ratio,
                          resources stable)
4     THRESHOLD_FAILED    a ``--threshold`` of the run failed
5     STOPPED_EARLY       the run was stopped early (error ratio > 50%, abort-on-fail)
6     CRITICAL_FAILURE    the run had critical failures
7     MEMORY_LEAK         a memory series on the target host was judged a leak
8     REGRESSION          worse than ``--baseline`` beyond the tolerance
9     INCONCLUSIVE        nothing failed, but the run's criteria are unknown (no run.json)
                          or nothing could be evaluated
====  ==================  ==============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stresskit.core.exitcodes import SEVERITY as EXIT_SEVERITY
from stresskit.core.exitcodes import ExitCode

__all__ = ["NOT_EVALUATED", "SEVERITY", "Criterion", "ReportExit", "Verdict", "judge"]

PASS, FAIL, INCONCLUSIVE, NOT_EVALUATED = "pass", "fail", "inconclusive", "not evaluated"


ReportExit = ExitCode
"""The report's exit codes are the run's (:mod:`stresskit.core.exitcodes`, the one table)."""

SEVERITY = tuple(code for code in EXIT_SEVERITY if code not in (ExitCode.INTERRUPTED, ExitCode.NOT_EVALUATED))
"""Most severe first (the one order of :data:`stresskit.core.exitcodes.SEVERITY`)."""


@dataclass
class Criterion:
    """One line of the verdict table (and one JUnit test case)."""

    name: str
    source: str  # run | threshold | report | baseline | condition
    status: str  # pass | fail | not evaluated | warning
    detail: str = ""
    value: float | None = None
    limit: float | None = None
    required: bool = True
    code: int = int(ReportExit.CRITERIA_FAILED)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "status": self.status, "detail": self.detail,
                "value": self.value, "limit": self.limit, "required": self.required}


@dataclass
class Verdict:
    status: str
    exit_code: int
    reasons: list[str]
    criteria: list[Criterion] = field(default_factory=list)
    not_evaluated: list[str] = field(default_factory=list)  # conditions the verdict could not judge

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "label": self.word(), "exit_code": self.exit_code,
                "exit_name": ReportExit(self.exit_code).name, "reasons": self.reasons,
                "not_evaluated": self.not_evaluated, "criteria": [c.as_dict() for c in self.criteria]}

    def word(self) -> str:
        """``PASS``, ``FAIL``, ``INCONCLUSIVE`` — a pass with a condition not evaluated never reads as a plain PASS."""
        word = {PASS: "PASS", FAIL: "FAIL", INCONCLUSIVE: "INCONCLUSIVE"}[self.status]
        if self.status == PASS and self.not_evaluated:
            word += f" (NOT EVALUATED: {', '.join(self.not_evaluated)})"
        return word

    def headline(self) -> str:
        return f"VERDICT: {self.word()}" + (f" — {self.reasons[0]}" if self.reasons else "")


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # noqa: PLR0124 - NaN


def run_criteria(run: dict[str, Any]) -> list[Criterion]:
    """The criteria and thresholds the run recorded in ``PREFIX_run.json``."""
    out = []
    stopped = bool(run.get("stopped_early"))
    for item in run.get("criteria") or []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name", "criterion"))
        detail = str(item.get("detail", ""))
        raw = item.get("passed")
        passed = bool(raw)
        value = _num(item.get("value"))
        status = PASS if passed else FAIL
        if raw is None and "passed" in item:  # the user opted out of what this criterion judges
            status = NOT_EVALUATED
            if not detail.startswith("not evaluated"):
                detail = f"not evaluated: {detail}" if detail else "not evaluated"
        elif passed and value is None and detail.startswith(("not evaluated", "not applicable")):
            status = NOT_EVALUATED
        code = ReportExit.CRITERIA_FAILED
        source = "condition" if raw is None and "passed" in item else "run"  # an opted-out condition
        if name == "critical_failures":
            code = ReportExit.CRITICAL_FAILURE
        elif name == "error_ratio" and stopped:
            code = ReportExit.STOPPED_EARLY
        out.append(Criterion(name, source, status, detail, value, _num(item.get("limit")), code=int(code)))
    for item in run.get("thresholds") or []:
        if not isinstance(item, dict):
            continue
        passed = bool(item.get("passed"))
        expr = str(item.get("expression", "threshold"))
        value = _num(item.get("value"))
        abort = " (abort-on-fail)" if item.get("abort_on_fail") else ""
        out.append(Criterion(f"threshold {expr}", "threshold", PASS if passed else FAIL,
                             f"value {value if value is not None else 'n/a'}{abort}", value,
                             code=int(ReportExit.THRESHOLD_FAILED)))
    if stopped:
        out.append(Criterion("not stopped early", "run", FAIL, str(run.get("stop_reason") or "stopped early"),
                             code=int(ReportExit.STOPPED_EARLY)))
    return out


def judge(criteria: list[Criterion], run_known: bool, incomplete: str | None = None) -> Verdict:
    """The verdict of a list of criteria; ``run_known`` is False when ``PREFIX_run.json`` is missing.

    ``incomplete`` names why the run did not run its course (e.g. "interrupted by SIGTERM"): with
    no failure, such a run is INCONCLUSIVE, not a pass. A pass with opted-out conditions (criteria
    of source "condition" or recorded with ``"passed": null``) lists them in ``not_evaluated``.
    """
    failed = [c for c in criteria if c.status == FAIL and c.required]
    evaluated = [c for c in criteria if c.status in (PASS, FAIL)]
    skipped = [c.name.removeprefix("condition ") for c in criteria if c.status == NOT_EVALUATED
               and c.source == "condition"]
    skipped = list(dict.fromkeys(skipped))
    if failed:
        codes = {ReportExit(c.code) for c in failed}
        code = next(c for c in SEVERITY if c in codes)
        reasons = [f"{c.name}: {c.detail}" if c.detail else c.name for c in failed]
        return Verdict(FAIL, int(code), reasons, criteria, skipped)
    if not run_known or not evaluated or incomplete:
        why = ("the run's criteria are unknown (PREFIX_run.json missing)" if not run_known
               else f"{incomplete}: the scenario did not run its course" if incomplete
               else "no criterion could be evaluated")
        return Verdict(INCONCLUSIVE, int(ReportExit.INCONCLUSIVE), [why], criteria, skipped)
    warnings = [f"{c.name}: {c.detail}" for c in criteria if c.status == "warning"]
    passed = f"{len(evaluated)} criteria passed"
    if skipped:
        passed += f"; not evaluated (opted out): {', '.join(skipped)}"
    return Verdict(PASS, int(ReportExit.PASS), [passed, *warnings], criteria, skipped)
