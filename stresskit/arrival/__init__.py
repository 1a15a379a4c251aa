"""Open-model arrival rates: iterations start at their scheduled time, or are counted as dropped.

Locust is closed-model: a user waits for its response before its next request, so a slow server
lowers its own load and hides its stall (coordinated omission). A scenario stage may instead give
a kind a ``rate`` (api, cache, websocket: per second; browser: pages per hour) and a ceiling
``max_users`` (as k6's arrival-rate executors):

- :mod:`~stresskit.arrival.pacer` — pure schedules: iterations due as a function of elapsed time;
- :mod:`~stresskit.arrival.dispatch` — per process: hands tickets to idle users at their due
  time, drops (and counts) a ticket when none is idle, keeps each iteration's lateness for the
  latency recorder's "from the intended start" series;
- :mod:`~stresskit.arrival.control` — master/local: splits the rate across workers, rebalances
  when one joins or is lost, warns about drops, judges ``dropped_iterations``.

Nothing happens on import. :func:`use_arrival` (called by ``stresskit.compose.use_stresskit``)
wires it into a locustfile; scenarios without rates run exactly as before.
"""

from __future__ import annotations

import logging
from typing import Any

from stresskit.arrival.control import DEFAULT_MAX_DROPPED_RATIO, MSG_PLAN, REPORT_KEY, ArrivalControl
from stresskit.arrival.dispatch import (
    DROPPED,
    current_lateness_ms,
    dispatcher_of,
    ensure_dispatcher,
    pace_user_class,
)
from stresskit.arrival.pacer import RateSchedule
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import option, register_options
from stresskit.core.perrun import Once, PerRun
from stresskit.run.scenarios import RATE_UNITS

__all__ = ["DROPPED", "ArrivalControl", "add_arguments", "arrival_control_of", "current_lateness_ms", "use_arrival"]

log = logging.getLogger("stresskit.arrival")

_SLOT: PerRun[Any] = PerRun("arrival_control")
_REGISTERED = Once()


def _ratio(text: str) -> float:
    import argparse

    try:
        value = float(text[:-1]) / 100 if text.strip().endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in [0, 1] (or a percentage like 1%), not {text!r}")
    return value


def add_arguments(parser: Any) -> None:
    """``--max-dropped-ratio``: the limit of the ``dropped_iterations`` criterion."""
    parser.add_argument("--max-dropped-ratio", type=_ratio, default=None, env_var="STRESSKIT_MAX_DROPPED_RATIO",
                        help="stresskit: open-model scenarios fail when a kind drops more than this share of its "
                             f"due iterations (default {DEFAULT_MAX_DROPPED_RATIO:g}, i.e. 1%%)")


def arrival_control_of(environment: RunEnvironment) -> ArrivalControl | None:
    """The master/local :class:`ArrivalControl` of an environment, if :func:`use_arrival` set one up."""
    return _SLOT.get(environment)


def max_dropped_ratio(environment: RunEnvironment) -> float:
    value = option(environment, "max_dropped_ratio", None)
    return DEFAULT_MAX_DROPPED_RATIO if value is None else float(value)


def use_arrival(events: Any) -> None:
    """Opt a locustfile into arrival rates (idempotent per ``events``): user classes of a kind take
    tickets while a stage gives their kind a rate; master and workers exchange plans and counts."""
    register_options(events, add_arguments)
    if not _REGISTERED.first(events):
        return
    events.init.add_listener(_on_init)


def _on_init(environment: RunEnvironment, **_: Any) -> None:
    from locust.runners import MasterRunner, WorkerRunner

    for cls in environment.user_classes:
        if getattr(cls, "kind", None) in RATE_UNITS:
            pace_user_class(cls)
    runner = environment.runner
    events = environment.events
    if isinstance(runner, WorkerRunner):
        runner.register_message(MSG_PLAN, lambda msg, **kw: _on_plan(environment, msg.data))
        events.report_to_master.add_listener(lambda client_id, data, **kw: _report(environment, data))
        events.test_stop.add_listener(lambda **kw: ensure_dispatcher(environment).stop())
        return
    control = ArrivalControl(environment)
    _SLOT.set(environment, control)
    from stresskit.run.criteria import extend_criteria

    extend_criteria(_criteria, _run_keys)
    if getattr(environment, "web_ui", None) is not None:
        from stresskit.arrival.webui import extend_web_ui

        extend_web_ui(environment, control)
    events.test_start.add_listener(lambda **kw: _on_test_start(environment))
    events.test_stop.add_listener(lambda **kw: _on_test_stop(environment))
    if isinstance(runner, MasterRunner):
        events.worker_report.add_listener(
            lambda client_id, data, **kw: control.on_report(client_id, data[REPORT_KEY]) if REPORT_KEY in data else None)


def _on_plan(environment: RunEnvironment, data: dict[str, Any]) -> None:
    schedules = {kind: RateSchedule.from_data(segs) for kind, segs in data["kinds"].items()}
    shares = {kind: (float(share), float(phase)) for kind, (share, phase) in data["shares"].items()}
    ensure_dispatcher(environment).apply(schedules, shares, float(data["origin"]), float(data["elapsed"]))


def _report(environment: RunEnvironment, data: dict[str, Any]) -> None:
    dispatcher = dispatcher_of(environment)
    if dispatcher is not None and dispatcher.counts:
        data[REPORT_KEY] = {"totals": dispatcher.totals(), "lag": dispatcher.take_lag()}


def _on_test_start(environment: RunEnvironment) -> None:
    from stresskit.run.shape import plan_of

    plan = plan_of(environment)
    control = arrival_control_of(environment)
    if plan is None or control is None:
        return
    control.start(plan.scenario, environment.shape_class, kinds=plan.kinds)


def _on_test_stop(environment: RunEnvironment) -> None:
    control = arrival_control_of(environment)
    if control is not None and control.schedules:
        control.collect_local()
        control.warn_dropped()
        control.stop()


def _criteria(environment: RunEnvironment) -> list[dict[str, Any]]:
    """The ``dropped_iterations`` criterion, for runs with rated kinds."""
    control = arrival_control_of(environment)
    verdict = control.criterion(max_dropped_ratio(environment)) if control is not None else None
    if verdict is None:
        return []
    passed, value, detail = verdict
    return [{"name": "dropped_iterations", "passed": passed, "value": value, "limit": max_dropped_ratio(environment),
             "detail": detail}]


def _run_keys(environment: RunEnvironment) -> dict[str, Any]:
    control = arrival_control_of(environment)
    return control.run_keys() if control is not None else {}
