"""k6-style pass/fail thresholds: ``--threshold "p95:/api/items<500"``, parsed once, evaluated live and at the end.

Grammar (one expression per ``--threshold``)::

    METRIC[:REQUEST] OP NUMBER[UNIT] [,abort[=GRACE]]

* METRIC — request metrics: ``p50`` … ``p99.9`` (any ``pN``), ``avg``, ``median``, ``min``, ``max``
  (milliseconds), ``fail_ratio``, ``rps``, ``requests``, ``failures``; run metrics:
  ``cache_hit_rate``, ``page_completion`` (pages completed / pages due by the pace), ``pages_completed``,
  ``session_restarts``, ``critical_failures``.
* REQUEST — a request metric for one stats entry name (``/api/items``), optionally with its
  method (``GET /api/items``); without it, the aggregated total.
* OP — ``<``, ``<=``, ``>``, ``>=``.  UNIT — ``ms`` or ``s`` for times, ``%`` for ratios.
* ``,abort`` — abort-on-fail: checked every second while running; once it fails, the run stops
  early (exit code 5). ``,abort=30s`` waits 30 s of run time before it may abort (k6's
  ``delayAbortEval``: early percentiles are noisy).

A threshold whose metric has no data at the end (no request with that name, no cache traffic)
fails, so a typo in a name cannot pass silently. Locust rounds response times to about two
significant digits before percentiles are taken: ``p95<500`` compares against that rounding.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.errors import ThresholdError
from stresskit.run.scenarios import parse_duration

__all__ = ["METRICS", "Threshold", "ThresholdResult", "evaluate", "parse_threshold", "parse_thresholds"]

_TIME_METRICS = {"avg", "median", "min", "max"}
_REQUEST_METRICS = _TIME_METRICS | {"fail_ratio", "rps", "requests", "failures"}
_RATIO_METRICS = {"fail_ratio", "cache_hit_rate", "page_completion"}
_RUN_METRICS = {"cache_hit_rate", "page_completion", "pages_completed", "session_restarts", "critical_failures"}
METRICS: tuple[str, ...] = ("pN",) + tuple(sorted(_REQUEST_METRICS | _RUN_METRICS))
"""Metric names for help texts (``pN`` stands for any percentile such as ``p95``)."""

_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_EXPR = re.compile(
    r"^(?P<left>.+)(?P<op><=|>=|<|>)\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<unit>ms|s|%)?$"
)
_METRIC = re.compile(r"^(?P<metric>p\d+(?:\.\d+)?|[a-z_]+)\s*(?::(?P<target>.*))?$")
_ABORT = re.compile(r",\s*abort(?:\s*=\s*(?P<grace>[^,]+))?\s*$")
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "WS", "WSS", "REDIS", "BROWSER"}


@dataclass(frozen=True)
class Threshold:
    """One parsed ``--threshold`` expression."""

    expression: str
    metric: str
    op: str
    limit: float
    name: str | None = None
    method: str | None = None
    abort_on_fail: bool = False
    abort_grace: float = 0.0

    @property
    def percentile(self) -> float | None:
        """0.95 for ``p95``; ``None`` for other metrics."""
        return float(self.metric[1:]) / 100 if self.metric.startswith("p") and self.metric[1:2].isdigit() else None

    def check(self, value: float | None) -> bool:
        """Whether ``value`` meets the threshold; no data (``None``) does not."""
        return value is not None and _OPS[self.op](value, self.limit)

    def measure(self, environment: RunEnvironment) -> float | None:
        """The metric's current value in ``environment`` (master/local), or ``None`` without data."""
        if self.metric in _RUN_METRICS:
            return _run_metric(self.metric, environment)
        entry = _stats_entry(environment, self.name, self.method)
        if entry is None or entry.num_requests == 0:
            return None
        if self.percentile is not None:
            return float(entry.get_response_time_percentile(self.percentile))
        if self.metric == "avg":
            return float(entry.avg_response_time)
        if self.metric == "median":
            return float(entry.median_response_time)
        if self.metric == "min":
            return float(entry.min_response_time) if entry.min_response_time is not None else None
        if self.metric == "max":
            return float(entry.max_response_time)
        if self.metric == "fail_ratio":
            return float(entry.fail_ratio)
        if self.metric == "rps":
            return float(entry.total_rps)
        if self.metric == "requests":
            return float(entry.num_requests)
        if self.metric == "failures":
            return float(entry.num_failures)
        raise AssertionError(self.metric)  # parse_threshold admits no other metric


@dataclass(frozen=True)
class ThresholdResult:
    """A threshold's verdict, in the shape ``<prefix>_run.json`` stores it."""

    expression: str
    passed: bool
    value: float | None
    abort_on_fail: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "passed": self.passed, "value": self.value,
                "abort_on_fail": self.abort_on_fail, "detail": self.detail}


def parse_threshold(expression: str) -> Threshold:
    """Parse one expression; a malformed one raises :class:`ThresholdError` with one clear line."""
    text = expression.strip()
    abort, grace = False, 0.0
    if match := _ABORT.search(text):
        abort = True
        if match.group("grace"):
            try:
                grace = parse_duration(match.group("grace").strip())
            except ValueError:
                raise ThresholdError(_bad(expression, f"abort grace {match.group('grace').strip()!r} is not a "
                                                      "duration (e.g. abort=30s)")) from None
        text = text[: match.start()].rstrip()
    match = _EXPR.match(text)
    if not match:
        raise ThresholdError(_bad(expression, "expected METRIC[:REQUEST]<OP>NUMBER[ms|s|%][,abort[=GRACE]], "
                                              "e.g. 'p95:/api/items<500' or 'fail_ratio<0.05,abort'"))
    op, value, unit = match.group("op"), float(match.group("value")), match.group("unit")
    left = _METRIC.match(match.group("left").strip())
    if not left:
        raise ThresholdError(_bad(expression, f"{match.group('left').strip()!r} is not METRIC or METRIC:REQUEST; "
                                              f"metrics: {', '.join(METRICS)}"))
    metric, target = left.group("metric"), left.group("target")
    is_percentile = bool(re.fullmatch(r"p\d+(?:\.\d+)?", metric))
    if is_percentile:
        q = float(metric[1:])
        if not 0 < q <= 100:
            raise ThresholdError(_bad(expression, f"percentile {metric} must be within p0 < pN <= p100"))
    elif metric not in _REQUEST_METRICS | _RUN_METRICS:
        raise ThresholdError(_bad(expression, f"unknown metric {metric!r}; known: {', '.join(METRICS)}"))
    name = method = None
    if target is not None:
        if metric in _RUN_METRICS:
            raise ThresholdError(_bad(expression, f"{metric} is a run metric and takes no ':REQUEST' part"))
        target = target.strip()
        if "<" in target or ">" in target:
            raise ThresholdError(_bad(expression, "more than one comparison; use one of <, <=, >, >="))
        first, _, rest = target.partition(" ")
        if rest and first.upper() in _METHODS:
            method, name = first.upper(), rest.strip()
        else:
            name = target
        if not name:
            raise ThresholdError(_bad(expression, "empty request name after ':'"))
    if unit in ("ms", "s") and not (is_percentile or metric in _TIME_METRICS):
        raise ThresholdError(_bad(expression, f"unit {unit!r} only applies to response times"))
    if unit == "s":
        value *= 1000.0
    if unit == "%":
        if metric not in _RATIO_METRICS:
            raise ThresholdError(_bad(expression, f"'%' only applies to {', '.join(sorted(_RATIO_METRICS))}"))
        value /= 100.0
    if not math.isfinite(value):
        raise ThresholdError(_bad(expression, "the limit must be a finite number"))
    return Threshold(expression=expression.strip(), metric=metric, op=op, limit=value, name=name,
                     method=method, abort_on_fail=abort, abort_grace=grace)


def parse_thresholds(expressions: Iterable[str] | None) -> list[Threshold]:
    """Parse every ``--threshold``; the first malformed one raises."""
    return [parse_threshold(e) for e in (expressions or [])]


def evaluate(threshold: Threshold, environment: RunEnvironment) -> ThresholdResult:
    """The threshold's verdict now."""
    value = threshold.measure(environment)
    passed = threshold.check(value)
    if value is None:
        what = f"requests named {threshold.name!r}" if threshold.name else f"data for {threshold.metric}"
        detail = f"no {what}"
    else:
        target = f":{threshold.method + ' ' if threshold.method else ''}{threshold.name}" if threshold.name else ""
        detail = f"{threshold.metric}{target} = {_fmt(value)} " \
                 f"({'meets' if passed else 'breaks'} {threshold.op} {_fmt(threshold.limit)})"
    return ThresholdResult(expression=threshold.expression, passed=passed, value=value,
                           abort_on_fail=threshold.abort_on_fail, detail=detail)


def _bad(expression: str, problem: str) -> str:
    return f"malformed --threshold {expression!r}: {problem}"


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _stats_entry(environment: RunEnvironment, name: str | None, method: str | None) -> Any | None:
    """The total, or the entries named ``name`` (and ``method``) merged into one."""
    stats = environment.runner.stats if environment.runner is not None else environment.stats
    if name is None:
        return stats.total
    matches = [e for (n, m), e in list(stats.entries.items()) if n == name and (method is None or m == method)]
    if not matches:
        return None
    if len(matches) == 1:
        return matches[0]
    from locust.stats import StatsEntry

    merged = StatsEntry(stats, name, method or "", use_response_times_cache=False)
    for entry in matches:
        merged.extend(entry)
    return merged


def _run_metric(metric: str, environment: RunEnvironment) -> float | None:
    from stresskit.core.runstate import run_state_of

    state = run_state_of(environment)
    if metric == "cache_hit_rate":
        return state.cache_hit_rate
    if metric == "page_completion":
        due = min(state.pages_due, state.pages_total) or state.pages_total  # paced: judged against the pages due
        return state.pages_completed / due if due else None
    return float(getattr(state, metric))
