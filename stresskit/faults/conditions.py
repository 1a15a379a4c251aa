"""Scenario conditions: produced, refused before any load, or explicitly not evaluated.

A scenario names conditions (``memory_pressure``, ``network_instability``, ...). Each is either

* **produced** — the run has the means (:data:`MEANS`): an agent that allows faults, the fault
  proxy; a local run with no ``--host`` brings both itself (:mod:`stresskit.run.embedded`);
* **not evaluated** — the user opted out with ``--skip-condition NAME``: the verdict then says so
  (a ``condition: NAME`` criterion with ``passed`` null, exit code
  :attr:`~stresskit.core.exitcodes.ExitCode.NOT_EVALUATED` instead of a plain PASS);
* otherwise the run **refuses to start**: exit code 2 and one line naming the condition and the
  option that provides it, before any load. (A condition that cannot be produced in a test
  started from the web UI, where no refusal is possible, is ``not produced`` and fails the run.)

Harness errors are kept here too: :func:`stresskit.faults.log.harness_error` records a failure of
the harness itself (the fault proxy's API, an agent refusing mid-run), stops the run and makes its
exit code 1 — never a critical failure of the target.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import option
from stresskit.core.perrun import PerRun
from stresskit.errors import ConfigError

__all__ = [
    "MEANS",
    "ConditionStatus",
    "Conditions",
    "add_arguments",
    "assess",
    "conditions_of",
    "criteria_results",
    "refusal",
    "run_keys",
    "skipped_conditions",
]

log = logging.getLogger("stresskit.faults")


@dataclass(frozen=True)
class Means:
    """What a condition needs (``agent`` or ``proxy``), how stresskit produces it, and the option that provides it."""

    need: str | None
    produced_by: str
    option: str = ""


MEANS: dict[str, Means] = {
    "basic_validation": Means(None, "nothing to inject: the system under test in its normal state"),
    "extended_runtime": Means(None, "nothing to inject: the scenario's full duration"),
    "memory_pressure": Means("agent", "memory held on the target host by the agent, half of every period",
                             "--agent URL --agent-token TOKEN (an agent started with --allow-faults)"),
    "resource_exhaustion": Means("agent", "a CPU core burnt on the target host by the agent, a quarter of every "
                                 "period", "--agent URL --agent-token TOKEN (an agent started with --allow-faults)"),
    "network_instability": Means("proxy", "latency 50 ± 25 ms on the fault proxy for the whole test and a "
                                 "blackhole window every period", "--fault-proxy URL (stresskit proxy or "
                                 "Toxiproxy in front of the target; --host pointing at it)"),
}
"""One row per condition a scenario may name (``stresskit.run.scenarios.CONDITIONS``); a new condition joins here."""


def add_arguments(parser: Any) -> None:
    """``--skip-condition NAME`` (repeatable) on Locust's parser."""
    parser.add_argument(
        "--skip-condition", action="append", default=None, metavar="NAME", env_var="STRESSKIT_SKIP_CONDITION",
        help="stresskit: run without the scenario condition NAME (repeatable, or comma separated); the verdict "
             "then says 'not evaluated: NAME' and the exit code is 11, never a plain PASS",
    )


@dataclass(frozen=True)
class ConditionStatus:
    """One condition of the run, as ``<prefix>_run.json`` stores it under ``conditions``."""

    name: str
    status: str  # "produced" | "not evaluated" | "not produced"
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


def skipped_conditions(environment: RunEnvironment) -> tuple[str, ...]:
    """The names given with ``--skip-condition`` (each possibly comma separated), validated."""
    value = option(environment, "skip_condition", None) or ()
    items = [value] if isinstance(value, str) else list(value)
    names = [n.strip() for item in items for n in str(item).split(",") if n.strip()]
    for name in names:
        if name not in MEANS:
            raise ConfigError(f"--skip-condition {name!r}: unknown condition; known: {', '.join(MEANS)}")
    return tuple(dict.fromkeys(names))


def assess(conditions: tuple[str, ...], have: dict[str, bool], skipped: tuple[str, ...] = ()) -> list[ConditionStatus]:
    """The status of each of ``conditions`` given the means the run ``have`` s (``{"agent": bool, "proxy": bool}``)."""
    out = []
    for name in conditions:
        means = MEANS.get(name, Means(None, "nothing to inject"))
        if name in skipped:
            out.append(ConditionStatus(name, "not evaluated", f"not evaluated: skipped with --skip-condition {name}"))
        elif means.need is None or have.get(means.need, False):
            out.append(ConditionStatus(name, "produced", means.produced_by))
        else:
            out.append(ConditionStatus(name, "not produced",
                                       f"cannot be produced: needs {means.option}, or pass --skip-condition {name}"))
    return out


def refusal(statuses: list[ConditionStatus], scenario: str = "") -> str | None:
    """The one-line refusal for the first condition that cannot be produced, or ``None``."""
    for status in statuses:
        if status.status == "not produced":
            means = MEANS[status.name]
            where = f"scenario {scenario} names" if scenario else "the scenario names"
            return (f"{where} the condition {status.name}, which this run cannot produce: pass {means.option}, "
                    f"or opt out with --skip-condition {status.name} (the verdict then says 'not evaluated')")
    return None


@dataclass
class Conditions:
    """The conditions and harness errors of one environment (master or local runner)."""

    statuses: list[ConditionStatus] = field(default_factory=list)
    harness_errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def not_evaluated(self) -> list[str]:
        return [s.name for s in self.statuses if s.status == "not evaluated"]

    def criteria(self) -> list[dict[str, Any]]:
        """A ``condition: NAME`` criterion per condition not produced (failed) or not evaluated (``passed`` null),
        and ``harness`` when the harness failed."""
        out: list[dict[str, Any]] = []
        for status in self.statuses:
            if status.status == "not evaluated":
                out.append({"name": f"condition: {status.name}", "passed": None, "value": None, "limit": None,
                            "detail": status.detail})
            elif status.status == "not produced":
                out.append({"name": f"condition: {status.name}", "passed": False, "value": None, "limit": None,
                            "detail": status.detail})
        if self.harness_errors:
            out.append({"name": "harness", "passed": False, "value": float(len(self.harness_errors)), "limit": 0.0,
                        "detail": f"harness error (not the target's fault), no verdict: {self.harness_errors[0]}"})
        return out

    def document(self) -> dict[str, Any]:
        """The ``conditions``, ``not_evaluated`` (and ``harness_errors``) keys of ``<prefix>_run.json``."""
        return {"conditions": [s.as_dict() for s in self.statuses], "not_evaluated": self.not_evaluated,
                "harness_errors": list(self.harness_errors)}

    def adjust(self, code: int) -> int:
        """The run's exit code given its conditions: a harness error is 1 (no verdict, whatever else happened,
        bar a bad configuration); a pass with conditions not evaluated is ``NOT_EVALUATED``, never 0."""
        from stresskit.core.exitcodes import ExitCode

        if code == ExitCode.BAD_CONFIG:
            return code
        if self.harness_errors:
            return int(ExitCode.ERROR)
        if code == ExitCode.PASS and self.not_evaluated:
            return int(ExitCode.NOT_EVALUATED)
        return code


_SLOT: PerRun[Any] = PerRun("conditions_state")


def conditions_of(environment: RunEnvironment) -> Conditions:
    """The environment's :class:`Conditions`, created on first use."""
    state = _SLOT.get_or_create(environment, Conditions)
    return state


def criteria_results(environment: RunEnvironment) -> list[dict[str, Any]]:
    """The conditions' criteria, dicts of the shared contract (the criteria's extension hook)."""
    return [dict(c) for c in conditions_of(environment).criteria()]


def run_keys(environment: RunEnvironment) -> dict[str, Any]:
    """``conditions``, ``not_evaluated`` and ``harness_errors`` for ``<prefix>_run.json`` (the extension hook)."""
    return conditions_of(environment).document()
