"""Success criteria and ``--threshold``s: evaluated live on the master, again at the end, as an exit code.

The criteria of every run (ARCHITECTURE.md, "The path of a run"):

* ``page_completion`` — at least 80% of the pages *due* by the end of the run completed (a
  scenario paces its quota over its duration, :mod:`stresskit.run.pacing`; not applicable when the
  run has no page quota, e.g. a locustfile without page processors);
* ``critical_failures`` — zero failures the harness could not recover from;
* ``error_ratio`` — at most 50% of requests failed. Checked every second over the last
  :data:`ERROR_RATIO_WINDOW` seconds: above 50% (with at least :data:`MIN_REQUESTS` requests in
  the window) stops the run early;
* ``resources_stable`` — no sustained >90% CPU or memory alert from a target-host agent (not
  evaluated when no agent sent samples);
* ``availability`` and ``kind_error_ratio`` — every client kind judged on its own, in 1 s
  windows (:mod:`stresskit.run.availability`, which ``use_criteria`` opts in too).

User thresholds (:mod:`stresskit.run.thresholds`) are checked with them; ``,abort`` ones stop the
run early when they fail. At ``quitting`` the verdict becomes ``environment.process_exit_code``
(table in :mod:`stresskit.core.exitcodes`) and, with ``--csv PREFIX``, ``PREFIX_run.json``
(layout in :data:`stresskit.core.schema.RUN_SUFFIX`).

Nothing happens on import. A locustfile opts in with ``use_criteria(events)``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.exitcodes import (
    ExitCode,
    describe,
    is_bad_configuration,
    quit_bad_configuration,
    verdict_word,
    worst,
)
from stresskit.core.limits import MAX_ERROR_RATIO, MIN_PAGE_COMPLETION
from stresskit.core.options import option, register_options
from stresskit.core.perrun import Listeners, Once, PerRun
from stresskit.core.runstate import run_state_of
from stresskit.core.schema import LIVE_SUFFIX, RUN_SUFFIX
from stresskit.errors import ConfigError
from stresskit.events import stresskit_events_of
from stresskit.faults.conditions import conditions_of
from stresskit.run import availability, lifecycle
from stresskit.run.thresholds import Threshold, ThresholdResult, evaluate, parse_thresholds

__all__ = [
    "ERROR_RATIO_WINDOW",
    "LIVE_INTERVAL",
    "LIVE_WRITE_INTERVAL",
    "MAX_ERROR_RATIO",
    "MIN_PAGE_COMPLETION",
    "MIN_REQUESTS",
    "CriterionResult",
    "RunCriteria",
    "add_arguments",
    "criteria_of",
    "use_criteria",
]

log = logging.getLogger("stresskit.run.criteria")

ERROR_RATIO_WINDOW = 30.0
"""Seconds (wall clock) over which the live error ratio is measured; a shorter blip is tolerated."""
MIN_REQUESTS = 20
"""Requests the window must hold before the error ratio may stop a run (one failed first request is no signal)."""
LIVE_INTERVAL = 1.0
"""Seconds between live evaluations on the master."""
LIVE_WRITE_INTERVAL = 2.0
"""Seconds between rewrites of ``<csv prefix>_live.json`` (progress for ``stresskit suite``)."""

_SLOT: PerRun[Any] = PerRun("criteria")

_EXTRA: list[tuple[Callable[[Any], list[dict[str, Any]]], Callable[[Any], dict[str, Any]]]] = []


def extend_criteria(criteria: Callable[[Any], list[dict[str, Any]]],
                    run_keys: Callable[[Any], dict[str, Any]]) -> None:
    """Let another part add criteria and ``_run.json`` keys (each called with the environment at the
    final evaluation). A criterion is a dict of the shared contract (``name``, ``passed``, ``value``,
    ``limit``, ``detail``), so the part need not import this module. Idempotent per pair; a part calls
    it when it is opted in."""
    if (criteria, run_keys) not in _EXTRA:
        _EXTRA.append((criteria, run_keys))


def add_arguments(parser: Any) -> None:
    """``--threshold EXPR`` (repeatable) on Locust's parser."""
    parser.add_argument(
        "--threshold", action="append", default=None, metavar="EXPR", include_in_web_ui=False,
        env_var="STRESSKIT_THRESHOLD",
        help="stresskit: pass/fail threshold, repeatable, e.g. 'p95:/api/items<500', 'fail_ratio<0.05', "
             "'cache_hit_rate>0.9'; append ',abort' (or ',abort=30s') to stop the run as soon as it fails",
    )


@dataclass(frozen=True)
class CriterionResult:
    """One success criterion's verdict, in the shape ``<prefix>_run.json`` stores it."""

    name: str
    passed: bool | None  # None: not evaluated (a scenario condition skipped with --skip-condition)
    value: float | None
    limit: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "value": self.value, "limit": self.limit,
                "detail": self.detail}


class RunCriteria:
    """The criteria and thresholds of one environment: subscribes in ``__init__``, :meth:`remove` undoes it."""

    def __init__(self, environment: RunEnvironment, thresholds: list[Threshold]) -> None:
        self.environment = environment
        self.thresholds = thresholds
        self.started: float | None = None
        self.ended: float | None = None
        self.stopped_early = False
        self.stop_reason = ""
        self.samples = 0
        self.workers: set[str] = set()
        self.peak_users: dict[str, int] = {}
        self.live: dict[str, Any] = {}
        self.final: dict[str, Any] | None = None
        self._window: collections.deque[tuple[float, int, int]] = collections.deque()
        self._reported: set[str] = set()
        self._loop: gevent.Greenlet | None = None
        self._code_set: int | None = None
        self._live_written = 0.0
        self._live_failed = False
        self._listeners = Listeners(
            (environment.events.test_start, self._on_test_start),
            (environment.events.test_stop, self._on_test_stop),
            (environment.events.quitting, self._on_quitting),
            (stresskit_events_of(environment).resource_sample, self._on_sample),
        )

    def remove(self) -> None:
        """Unsubscribe and stop the live loop."""
        self._listeners.remove()
        self._stop_loop()

    # -- events -------------------------------------------------------------------------------

    def _on_test_start(self, **_: Any) -> None:
        self.started = time.time()
        self.ended = None
        self.stopped_early = False
        self.stop_reason = ""
        self.final = None
        self._window.clear()
        self._reported.clear()
        self.peak_users = {}
        self.samples = 0
        self.workers = set()
        run_state_of(self.environment).reset_for_test()  # a second test on this master starts from zero
        self._stop_loop()
        self._loop = gevent.spawn(self._live_loop)

    def _on_test_stop(self, **_: Any) -> None:
        self._stop_loop()
        if not option(self.environment, "headless", False) and self.started is not None:
            self.finish()  # web UI: a verdict per test; the exit code takes the last one

    def _on_quitting(self, **_: Any) -> None:
        self._stop_loop()
        if self.started is not None and not is_bad_configuration(self.environment):
            self.finish()

    def _on_sample(self, **_: Any) -> None:
        self.samples += 1

    def _stop_loop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and loop is not gevent.getcurrent():
            loop.kill(block=False)

    # -- live ---------------------------------------------------------------------------------

    def _live_loop(self) -> None:
        while True:
            gevent.sleep(LIVE_INTERVAL)
            try:
                if self.check_live():
                    return
            except Exception:  # a bug here must not take the run down; say it once and keep going
                log.exception("live criteria check failed")

    def check_live(self, now: float | None = None) -> bool:
        """One live evaluation; returns True when it stopped the run early."""
        now = time.time() if now is None else now
        env = self.environment
        runner = env.runner
        self.workers.update(getattr(runner, "clients", {}) or {})
        counts = getattr(runner, "reported_user_classes_count", None)
        for name, n in (counts if counts is not None else runner.user_classes_count).items():
            if n > self.peak_users.get(name, 0):
                self.peak_users[name] = n
        state = run_state_of(env)
        total = runner.stats.total
        judged_requests, judged_failures = _judged(runner.stats)
        self._window.append((now, judged_requests, judged_failures))
        while len(self._window) > 1 and now - self._window[0][0] > ERROR_RATIO_WINDOW:
            self._window.popleft()
        _, first_requests, first_failures = self._window[0]
        if len(self._window) == 1 or first_requests > judged_requests:
            first_requests = first_failures = 0
        requests = judged_requests - first_requests
        failures = judged_failures - first_failures
        ratio = failures / requests if requests else None
        thresholds = [evaluate(t, env) for t in self.thresholds]
        self.live = {"error_ratio": ratio, "window_requests": requests, "critical_failures": state.critical_failures,
                     "alerts": len(state.alerts), "thresholds": [t.as_dict() for t in thresholds]}
        if state.critical_failures and "critical" not in self._reported:
            self._reported.add("critical")
            detail = state.critical_details[0] if state.critical_details else "no detail"
            log.error("criterion critical_failures FAILED: %d critical failure(s), first: %s",
                      state.critical_failures, detail)
        if state.alerts and "alerts" not in self._reported:
            self._reported.add("alerts")
            log.error("criterion resources_stable FAILED: %s", _alert_text(state.alerts[0]))
        if ratio is not None and requests >= MIN_REQUESTS and ratio > MAX_ERROR_RATIO:
            self.stop_early(f"error ratio {ratio:.0%} > {MAX_ERROR_RATIO:.0%} over the last "
                            f"{min(ERROR_RATIO_WINDOW, now - self._window[0][0]):.0f}s ({failures} of {requests} "
                            "requests failed)")
            return True
        elapsed = now - self.started if self.started is not None else 0.0
        if now - self._live_written >= LIVE_WRITE_INTERVAL:
            self._live_written = now
            self._write_live(now, elapsed, runner, state, total)
        for threshold, result in zip(self.thresholds, thresholds, strict=True):
            if threshold.abort_on_fail and elapsed >= threshold.abort_grace and result.value is not None \
                    and not result.passed:
                self.stop_early(f"abort-on-fail threshold {threshold.expression!r} crossed: {result.detail}")
                return True
        return False

    def _write_live(self, now: float, elapsed: float, runner: Any, state: Any, total: Any) -> None:
        prefix = option(self.environment, "csv_prefix", None)
        if not prefix or self._live_failed:
            return
        from stresskit.run.shape import plan_of

        plan = plan_of(self.environment)
        shape = self.environment.shape_class
        step = getattr(shape, "last_step", None)
        self._live_failed = not lifecycle.write_or_note(self.environment, f"{prefix}{LIVE_SUFFIX}", _write_json, {
            "scenario": plan.scenario.name if plan else "",
            "time_scale": plan.scenario.time_scale if plan else float(option(self.environment, "time_scale", 1.0)),
            "stage": step.stage_name if step is not None else "",
            "elapsed": round(elapsed, 3),
            "scenario_duration": plan.scenario.duration if plan else None,
            "pages_total": state.pages_total,
            "pages_completed": state.pages_completed,
            "pages_due": state.pages_due,
            "pages_behind": state.pages_behind,
            "users": runner.user_count,
            "requests": total.num_requests,
            "failures": total.num_failures,
            "critical_failures": state.critical_failures,
            "updated": now,
        })

    def stop_early(self, reason: str) -> None:
        """Stop the run now and remember why (exit code :attr:`ExitCode.STOPPED_EARLY`)."""
        if self.stopped_early:
            return
        self.stopped_early = True
        self.stop_reason = reason
        run_state_of(self.environment).stop_reason = reason
        log.error("stopping the run early: %s", reason)
        runner = self.environment.runner
        gevent.spawn(runner.quit if option(self.environment, "headless", False) else runner.stop)

    def live_document(self) -> dict[str, Any]:
        """Read-only: the ``_run.json`` document as it would read if the run ended now (the final
        one once the test has ended). Nothing is written, logged or set; the web UI's Verdict tab
        shows it."""
        if self.final is not None and self.ended is not None and (self.started or 0) <= self.ended:
            return self.final
        criteria = self.criteria_results()
        thresholds = [evaluate(t, self.environment) for t in self.thresholds]
        return self.document(criteria, thresholds, self.exit_code(criteria, thresholds))

    # -- final --------------------------------------------------------------------------------

    def criteria_results(self) -> list[CriterionResult]:
        """The four criteria, evaluated now."""
        env = self.environment
        state = run_state_of(env)
        pages = _pages(env)
        results = []
        if pages:
            pages_total, pages_completed = pages
            due = _pages_due(state, pages_total)
            ratio = pages_completed / due
            of_quota = f" (quota {pages_total})" if due != pages_total else ""
            results.append(CriterionResult(
                "page_completion", ratio >= MIN_PAGE_COMPLETION, ratio, MIN_PAGE_COMPLETION,
                f"{pages_completed} of {due} pages due completed{of_quota} ({ratio:.0%}, "
                f"need {MIN_PAGE_COMPLETION:.0%})"))
        else:
            results.append(CriterionResult("page_completion", True, None, MIN_PAGE_COMPLETION,
                                           "not applicable: no page quota in this run (no page processors)"))
        critical = state.critical_failures
        first = f"; first: {state.critical_details[0]}" if state.critical_details else ""
        results.append(CriterionResult("critical_failures", critical == 0, float(critical), 0.0,
                                       f"{critical} critical failure(s){first}"))
        requests, failures = _judged(env.runner.stats)
        if requests:
            ratio = failures / requests
            text = f"{failures} of {requests} requests failed ({ratio:.1%})" + _burst_note(env.runner.stats)
            if self.stopped_early and self.stop_reason.startswith("error ratio"):
                results.append(CriterionResult("error_ratio", False, ratio, MAX_ERROR_RATIO,
                                               f"{text}; stopped early: {self.stop_reason}"))
            else:
                results.append(CriterionResult("error_ratio", ratio <= MAX_ERROR_RATIO, ratio, MAX_ERROR_RATIO, text))
        else:
            results.append(CriterionResult("error_ratio", False, None, MAX_ERROR_RATIO,
                                           "no requests were made: nothing was tested"))
        alerts = state.alerts
        if alerts:
            results.append(CriterionResult("resources_stable", False, float(len(alerts)), 0.0,
                                           f"{len(alerts)} alert(s); first: {_alert_text(alerts[0])}"))
        elif self.samples:
            results.append(CriterionResult("resources_stable", True, 0.0, 0.0,
                                           f"no sustained >90% CPU/memory in {self.samples} agent samples"))
        else:
            results.append(CriterionResult("resources_stable", True, None, 0.0,
                                           "not evaluated: no resource agent sent samples"))
        results += [CriterionResult(*c) for c in availability.criteria_results(env)]  # per client kind
        results.extend(CriterionResult(**result) for more, _ in _EXTRA for result in more(env))
        return results

    def exit_code(self, criteria: list[CriterionResult], thresholds: list[ThresholdResult]) -> int:
        """The documented exit code for these results (most severe applicable)."""
        from locust import log as locust_log

        codes = [ExitCode.PASS]
        if self.stopped_early:
            codes.append(ExitCode.STOPPED_EARLY)
        if run_state_of(self.environment).critical_failures:
            codes.append(ExitCode.CRITICAL_FAILURE)
        if any(c.passed is False for c in criteria):
            codes.append(ExitCode.CRITERIA_FAILED)
        if any(not t.passed for t in thresholds):
            codes.append(ExitCode.THRESHOLD_FAILED)
        codes.extend(ExitCode(c) for c in lifecycle.exit_codes(self.environment))  # a signal: INTERRUPTED
        if len(codes) == 1 and locust_log.unhandled_greenlet_exception:
            codes.append(ExitCode.ERROR)
        return conditions_of(self.environment).adjust(worst(*codes))

    def finish(self) -> dict[str, Any]:
        """Final evaluation: sets ``process_exit_code``, writes ``<csv prefix>_run.json``, logs the verdict."""
        env = self.environment
        self.ended = time.time()
        criteria = self.criteria_results()
        thresholds = [evaluate(t, env) for t in self.thresholds]
        code = self.exit_code(criteria, thresholds)
        # a code another part set (e.g. the cache users' hit-rate check) is kept when it is worse
        current = getattr(env, "process_exit_code", None)
        foreign = current if current not in (None, self._code_set) else None
        self._code_set = int(code if foreign is None else worst(foreign, code))
        env.process_exit_code = self._code_set
        self.final = self.document(criteria, thresholds, code)
        lifecycle.lifecycle_of(env).run_document = self.final
        prefix = option(env, "csv_prefix", None)
        if prefix:
            lifecycle.release_reserve(env)  # the space held since start: _run.json fits on a full disk
            if not lifecycle.write_or_note(env, f"{prefix}{RUN_SUFFIX}", _write_json, self.final):
                self._code_set = env.process_exit_code = int(worst(self._code_set, ExitCode.ERROR))
        _log_verdict(self.final)
        return self.final

    def document(self, criteria: list[CriterionResult], thresholds: list[ThresholdResult], code: int) -> dict[str, Any]:
        """The ``<prefix>_run.json`` document (see ``stresskit.core.schema.RUN_SUFFIX``)."""
        from stresskit.run.shape import scenario_of

        env = self.environment
        state = run_state_of(env)
        scenario = scenario_of(env)
        pages_total, pages_completed = _pages(env) or (0, state.pages_completed)
        total = env.runner.stats.total
        document = {
            "scenario": scenario.name if scenario else "",
            "time_scale": scenario.time_scale if scenario else float(option(env, "time_scale", 1.0)),
            "scenario_duration": scenario.duration if scenario else None,
            "started": self.started,
            "ended": self.ended,
            "pages_total": pages_total,
            "pages_completed": pages_completed,
            "pages_due": _pages_due(state, pages_total) if pages_total else 0,
            "pages_behind": state.pages_behind if pages_total else 0,
            "session_restarts": state.session_restarts,
            "critical_failures": state.critical_failures,
            "requests": total.num_requests,
            "failures": total.num_failures,
            "fail_ratio": total.fail_ratio if total.num_requests else None,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason or state.stop_reason,
            "exit_code": int(code),
            "verdict": describe(code),
            "criteria": [c.as_dict() for c in criteria],
            "thresholds": [t.as_dict() for t in thresholds],
            "workers": sorted(self.workers) or ["local"],
            "peak_users": dict(sorted(self.peak_users.items())),
            "run_state": state.snapshot(),
            **availability.document_key(env),
            **lifecycle.run_fields(env),  # interrupted, truncated_files, lost_workers
        }
        for _, keys in _EXTRA:
            document.update(keys(env))
        return document


def _judged(stats: Any) -> tuple[int, int]:
    """(requests, failures) the error ratio judges: every request but the harness's own fault bursts."""
    from stresskit.faults.effects.ratelimit import burst_counts

    burst_requests, burst_failures = burst_counts(stats)
    return stats.total.num_requests - burst_requests, stats.total.num_failures - burst_failures


def _burst_note(stats: Any) -> str:
    from stresskit.faults.effects.ratelimit import burst_counts

    burst_requests, _ = burst_counts(stats)
    return f"; {burst_requests} rate_limiting burst requests not counted" if burst_requests else ""


def _write_json(path: str, document: dict[str, Any]) -> None:
    """Write atomically (temp file + rename), so a reader never sees half a document."""
    if directory := os.path.dirname(path):
        os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, default=str)
        os.replace(tmp, path)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _pages(environment: RunEnvironment) -> tuple[int, int] | None:
    """(pages total, pages completed) from the run state the page quota mirrors, or ``None`` when the
    run has no page quota (a scenario without page processors, or no quota at all)."""
    from stresskit.run.shape import plan_of

    state = run_state_of(environment)
    plan = plan_of(environment)
    if (plan is not None and not plan.has_pages) or state.pages_total <= 0:
        return None
    return state.pages_total, state.pages_completed


def _pages_due(state: Any, pages_total: int) -> int:
    """Pages due by the end of the run (the pace's figure, mirrored by the quota), at least 1."""
    due = int(getattr(state, "pages_due", 0) or 0)
    return min(max(due, 1), pages_total) if due else pages_total


def _alert_text(alert: Any) -> str:
    if isinstance(alert, dict):
        metric, value = alert.get("metric", "?"), alert.get("value")
        shown = f"{value:.0f}%" if isinstance(value, (int, float)) else "?"
        return f"{metric} at {shown} on {alert.get('host', '?')}"
    return str(alert)


def _log_verdict(document: dict[str, Any]) -> None:
    scale = document["time_scale"]
    name = document["scenario"] or "(no scenario)"
    head = f"verdict for {name}{f' at time scale {scale:g}' if scale != 1 else ''}: " \
           f"{verdict_word(document['exit_code'], document.get('not_evaluated', ()))} " \
           f"(exit {document['exit_code']}: {document['verdict']})"
    lines = [head]
    lines += [f"  {_mark(c['passed'])}  {c['name']:<18} {c['detail']}" for c in document["criteria"]]
    lines += [f"  {'pass' if t['passed'] else 'FAIL'}  threshold {t['expression']!r}: {t['detail']}"
              for t in document["thresholds"]]
    if document["stop_reason"]:
        lines.append(f"  stopped: {document['stop_reason']}")
    (log.info if document["exit_code"] == 0 else log.warning)("\n".join(lines))


def _mark(passed: bool | None) -> str:
    return "pass" if passed else ("n/e " if passed is None else "FAIL")


def criteria_of(environment: RunEnvironment) -> RunCriteria | None:
    """The :class:`RunCriteria` of an environment (master/local), if :func:`use_criteria` set one up."""
    return _SLOT.get(environment)


_REGISTERED = Once()


def use_criteria(events: Any) -> None:
    """Opt a locustfile into success criteria, thresholds and exit codes (idempotent per ``events``).

    Malformed ``--threshold`` expressions end the process in ``init`` with one error line and
    the bad-configuration exit code, before any load is sent.
    """
    register_options(events, add_arguments)
    availability.use_availability(events)  # every client kind judged on its own (ARCHITECTURE.md)
    if not _REGISTERED.first(events):
        return
    events.init.add_listener(_on_init)


def _on_init(environment: RunEnvironment, **_: Any) -> None:
    from locust.runners import WorkerRunner

    if isinstance(environment.runner, WorkerRunner):
        return  # the master evaluates; workers only send it their figures
    try:
        thresholds = parse_thresholds(option(environment, "threshold", None))
    except ConfigError as exc:
        quit_bad_configuration(environment, str(exc))
        return
    previous = criteria_of(environment)
    if previous is not None:
        previous.remove()
    _SLOT.set(environment, RunCriteria(environment, thresholds))
