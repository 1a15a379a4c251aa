"""stresskit's own event hooks, declared once and attached per Locust environment.

Locust's ``environment.events`` carries Locust's hooks; stresskit's live beside them in a
:class:`StressKitEvents` object returned by :func:`stresskit_events_of`. Components fire and listen
through it, so the fault injector, the collector, the criteria and the web UI stay decoupled.
"""

from __future__ import annotations

from typing import Any

from locust.event import EventHook

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.perrun import PerRun

__all__ = ["StressKitEvents", "stresskit_events_of"]

_SLOT: PerRun[Any] = PerRun("events")


class StressKitEvents:
    """The hooks stresskit fires, one :class:`locust.event.EventHook` each."""

    fault_injected: EventHook
    """A fault was injected.

    :param kind: fault kind, e.g. ``"browser_crash"``
    :param user: a short id of the user that was affected (or ``""``)
    :param worker: the worker's client id (or ``"local"``)
    :param detail: free text describing the effect
    :param timestamp: wall-clock time of the injection (``time.time()``)
    """

    fault_recovered: EventHook
    """A user recovered from an injected fault (its next success after the fault).

    :param kind: fault kind
    :param user: user id
    :param worker: worker id
    :param recovery_time: seconds from injection to recovery
    :param timestamp: wall-clock time of the recovery
    """

    critical_failure: EventHook
    """Something the harness could not recover from (counts against the success criteria).

    :param kind: what failed
    :param detail: free text
    """

    resource_sample: EventHook
    """A resource sample arrived from a target-host agent (master or local runner only).

    :param sample: the decoded sample dict (see ``stresskit.agent.schema``)
    """

    resource_alert: EventHook
    """A resource stayed above its alert threshold for the configured time.

    :param host: agent host name
    :param metric: ``"cpu_percent"`` or ``"memory_percent"``
    :param value: the latest value
    :param threshold: the threshold it crossed
    :param since: wall-clock time the excursion began
    """

    page_completed: EventHook
    """A page processor finished one page (fired where the page was processed).

    :param page: page number
    :param rows: number of rows extracted
    """

    def __init__(self) -> None:
        for name in self.__annotations__:
            setattr(self, name, EventHook())


def stresskit_events_of(environment: RunEnvironment) -> StressKitEvents:
    """Return the :class:`StressKitEvents` of a Locust environment, creating it on first use."""
    events = _SLOT.get_or_create(environment, StressKitEvents)
    return events
