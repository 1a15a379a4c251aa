"""The exit codes of a stresskit run: what failed, in one number a CI job can branch on.

| code | name             | meaning                                                                  |
|-----:|------------------|--------------------------------------------------------------------------|
|    0 | PASS             | every success criterion and every ``--threshold`` passed                 |
|    1 | ERROR            | the harness itself failed (unhandled exception, no verdict possible)     |
|    2 | BAD_CONFIG       | bad configuration, detected before any load was sent                     |
|    3 | CRITERIA_FAILED  | a success criterion failed (pages completed < 80%, resource alert)       |
|    4 | THRESHOLD_FAILED | a ``--threshold`` failed at the end of the run                           |
|    5 | STOPPED_EARLY    | the run was stopped early: error ratio > 50% or an abort-on-fail         |
|      |                  | threshold crossed while running                                          |
|    6 | CRITICAL_FAILURE | critical failures: something the harness could not recover from         |
|    7 | MEMORY_LEAK      | ``stresskit report``: a memory series on the target host leaks           |
|    8 | REGRESSION       | ``stresskit report``: worse than ``--baseline`` beyond the tolerance     |
|    9 | INCONCLUSIVE     | ``stresskit report``: nothing failed, but nothing could be judged        |
|   10 | INTERRUPTED      | stopped by SIGTERM or SIGINT before its end; its files hold what ran     |
|   11 | NOT_EVALUATED    | every criterion passed, but scenario conditions were skipped with        |
|      |                  | ``--skip-condition``: "PASS, not evaluated: NAME", never a plain PASS    |

The one table of codes: the run, ``stresskit suite``, ``stresskit report`` (``BAD_INPUT`` is
``BAD_CONFIG`` there) and the cache users all use it. When several apply, the most severe wins:
2, then 10, then 5, then 6, then 3, then 7, then 8, then 4, then 9 (then 1 for an
unhandled exception in an otherwise passing run, then 11). A harness error (the fault proxy's API
or an agent failing mid-run) is 1 whatever else happened, bar 2: there is no verdict to trust. ``stresskit suite``
exits with the worst
code of its scenarios. ``docs/runbook.md`` says what to look at first for each.
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import Any, NoReturn

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.perrun import PerRun

__all__ = ["SEVERITY", "ExitCode", "describe", "is_bad_configuration", "quit_bad_configuration", "verdict_word",
           "worst"]

log = logging.getLogger("stresskit")


class ExitCode(IntEnum):
    """The documented process exit codes (see the module docstring's table)."""

    PASS = 0
    ERROR = 1
    BAD_CONFIG = 2
    CRITERIA_FAILED = 3
    THRESHOLD_FAILED = 4
    STOPPED_EARLY = 5
    CRITICAL_FAILURE = 6
    MEMORY_LEAK = 7
    REGRESSION = 8
    INCONCLUSIVE = 9
    INTERRUPTED = 10
    NOT_EVALUATED = 11
    BAD_INPUT = 2
    """``stresskit report``'s name for :attr:`BAD_CONFIG`: bad options or no run files."""


SEVERITY: tuple[ExitCode, ...] = (
    ExitCode.BAD_CONFIG,
    ExitCode.INTERRUPTED,
    ExitCode.STOPPED_EARLY,
    ExitCode.CRITICAL_FAILURE,
    ExitCode.CRITERIA_FAILED,
    ExitCode.MEMORY_LEAK,
    ExitCode.REGRESSION,
    ExitCode.THRESHOLD_FAILED,
    ExitCode.INCONCLUSIVE,
    ExitCode.ERROR,
    ExitCode.NOT_EVALUATED,
    ExitCode.PASS,
)
"""Most severe first: the order :func:`worst` uses when several outcomes apply."""

_DESCRIPTIONS = {
    ExitCode.PASS: "pass: all criteria and thresholds met",
    ExitCode.ERROR: "harness error: no verdict",
    ExitCode.BAD_CONFIG: "bad configuration: no load was sent",
    ExitCode.CRITERIA_FAILED: "a success criterion failed",
    ExitCode.THRESHOLD_FAILED: "a threshold failed",
    ExitCode.STOPPED_EARLY: "stopped early (error ratio > 50% or abort-on-fail threshold)",
    ExitCode.CRITICAL_FAILURE: "critical failures the harness could not recover from",
    ExitCode.MEMORY_LEAK: "a memory leak on the target host",
    ExitCode.REGRESSION: "a regression against the baseline",
    ExitCode.INCONCLUSIVE: "inconclusive: nothing could be judged",
    ExitCode.INTERRUPTED: "interrupted by a signal before its end: no complete verdict",
    ExitCode.NOT_EVALUATED: "pass, but scenario conditions were not evaluated (--skip-condition)",
}


def worst(*codes: int) -> int:
    """The most severe of ``codes`` by :data:`SEVERITY`; unknown codes count as ERROR."""
    known = [ExitCode(c) if c in ExitCode._value2member_map_ else ExitCode.ERROR for c in codes]
    if not known:
        return ExitCode.PASS
    return min(known, key=SEVERITY.index)


def describe(code: int) -> str:
    """One phrase for a code, e.g. ``describe(4) == "a threshold failed"``."""
    if code in ExitCode._value2member_map_:
        return _DESCRIPTIONS[ExitCode(code)]
    return f"exit code {code} (not a stresskit code: Locust or the interpreter failed)"


def verdict_word(code: int, not_evaluated: list[str] | tuple[str, ...] = ()) -> str:
    """The verdict's first words: ``PASS``, ``PASS, not evaluated: network_instability``, ``NO VERDICT`` (a
    harness error: nothing to say about the target) or ``FAIL``."""
    if code == ExitCode.PASS:
        return "PASS"
    if code == ExitCode.ERROR:
        return "NO VERDICT"
    if code == ExitCode.NOT_EVALUATED:
        return f"PASS, not evaluated: {', '.join(not_evaluated) or '?'}"
    return "FAIL"


_BAD_CONFIG_SLOT: PerRun[Any] = PerRun("bad_config")


def is_bad_configuration(environment: RunEnvironment) -> bool:
    """Whether :func:`quit_bad_configuration` ended this environment's run."""
    return bool(_BAD_CONFIG_SLOT.get(environment))


def quit_bad_configuration(environment: RunEnvironment, message: str) -> NoReturn:
    """Log ``message`` as one error line and end the process with :attr:`ExitCode.BAD_CONFIG`.

    Called from ``init`` listeners, before any user is spawned. ``quitting`` is fired first so
    parts started earlier in ``init`` (the embedded demo target, say) stop their processes.
    """
    _BAD_CONFIG_SLOT.set(environment, True)
    log.error("bad configuration: %s", message)
    environment.process_exit_code = int(ExitCode.BAD_CONFIG)
    try:
        environment.events.quitting.fire(environment=environment, reverse=True)
    finally:
        raise SystemExit(int(ExitCode.BAD_CONFIG))
