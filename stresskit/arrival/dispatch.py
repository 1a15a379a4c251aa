"""The per-process half of open-model arrivals: tickets handed to idle users at their due time.

A :class:`TicketDispatcher` runs one greenlet per rated kind. At each ticket's due time (from the
kind's :class:`~stresskit.arrival.pacer.Pacer`) it hands the ticket to a user of that kind that is
waiting for one; when none is waiting, the ticket is **dropped**: counted, and recorded as its own
Locust stats entry (request type ``DROPPED``, name = the kind, no response time). A ticket is never held back for a
user to become free — that would be the coordinated omission this module exists to avoid.

Users take tickets in their wait: :func:`pace_user_class` wraps a User class's ``wait_time`` (and
``on_start``, so the first iteration is paced too). While its kind is paced, a user's wait blocks
until a ticket arrives and then returns 0, so the next task starts at the ticket's due time;
while it is not, the class's own ``wait_time`` applies (closed model, as before).

The ticket's lateness (actual start − due time) is kept in greenlet-local storage for the requests
of that iteration: :func:`current_lateness_ms` lets the latency recorder add the series measured
from the intended start (wrk2's corrected latency) beside the one measured from the send time.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import AsyncResult, Event

from stresskit.arrival.pacer import Pacer, RateSchedule
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.idle import idle
from stresskit.core.lateness import current_lateness_ms, set_lateness_ms
from stresskit.core.perrun import PerRun
from stresskit.report.sketch import encode, new_sketch

__all__ = ["DROPPED", "KindPace", "TicketDispatcher", "current_lateness_ms", "dispatcher_of", "pace_user_class"]

log = logging.getLogger("stresskit.arrival")

DROPPED = "DROPPED"
"""The request type of dropped iterations in Locust's stats (the name is the kind)."""

_SLOT: PerRun[Any] = PerRun("arrival_dispatcher")


@dataclass
class KindPace:
    """One kind's pacing state in this process."""

    kind: str
    pacer: Pacer
    issued: int = 0
    """Tickets issued from the current pacer (its ticket numbers)."""
    waiting_start: bool = True
    """No user of the kind has asked for a ticket yet: the schedule starts when the first does."""
    idle: collections.deque = field(default_factory=collections.deque)
    changed: Event = field(default_factory=Event)
    greenlet: Any = None


class TicketDispatcher:
    """Hands tickets to idle users of each paced kind at their due times (one process)."""

    def __init__(self, environment: RunEnvironment) -> None:
        self.environment = environment
        self.kinds: dict[str, KindPace] = {}
        self.counts: dict[str, list[int]] = {}
        """``{kind: [started, dropped]}`` of the current (or last) test; kept after :meth:`stop`."""
        self.scheduled: dict[str, float] = {}
        """``{kind: iterations the schedule asked of this process}`` from pacers already replaced or
        stopped (the running pacer's part is added by :meth:`totals`)."""
        self.lag: dict[str, Any] = {}
        """Start lag (actual start − due time, ms) per kind since the last :meth:`take_lag`."""
        self._t0: float | None = None  # perf_counter() at the run's elapsed 0

    # -- plan ------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds since the run's elapsed 0 (as the master's shape counts it)."""
        return time.perf_counter() - self._t0 if self._t0 is not None else 0.0

    def apply(self, schedules: Mapping[str, RateSchedule], shares: Mapping[str, tuple[float, float]], origin: float,
              elapsed_now: float) -> None:
        """Run each kind's ``(share, phase)`` of its schedule from ``origin`` (elapsed seconds) on.

        ``elapsed_now`` is the sender's elapsed time when it sent the plan; the first plan of a test
        fixes this process's clock origin, later ones only correct drift above 50 ms.
        """
        t0 = time.perf_counter() - elapsed_now
        if self._t0 is None:  # the first plan of a test
            self.counts, self.scheduled = {}, {}
        if self._t0 is None or abs(t0 - self._t0) > 0.05:
            self._t0 = t0
        for kind in list(self.kinds):
            if kind not in schedules:
                self._stop_kind(kind)
        # a new share takes effect when it arrives: what the old one asked for until now is booked
        # (:meth:`_credit`), so no ticket is asked for twice or not at all around a rebalance
        origin = max(origin, self.elapsed())
        for kind, schedule in schedules.items():
            share, phase = shares.get(kind, (0.0, 0.0))
            pacer = Pacer(schedule, share=share, origin=origin, phase=phase)
            pace = self.kinds.get(kind)
            self.counts.setdefault(kind, [0, 0])
            if pace is None:
                pace = self.kinds[kind] = KindPace(kind, pacer)
                pace.greenlet = gevent.spawn(self._run, pace)
            else:
                self._credit(pace)
                pace.pacer, pace.issued = pacer, 0
                pace.changed.set()
        log.debug("arrival plan from %.2f s: %s", origin, shares)

    def stop(self) -> None:
        """End all pacing: waiting users are released (they fall back to their own wait time)."""
        for kind in list(self.kinds):
            self._stop_kind(kind)
        self._t0 = None

    def _credit(self, pace: KindPace) -> None:
        """Book what the current pacer asked for so far (before it is replaced or stopped)."""
        if not pace.waiting_start:
            self.scheduled[pace.kind] = self.scheduled.get(pace.kind, 0.0) + pace.pacer.expected(self.elapsed())

    def _stop_kind(self, kind: str) -> None:
        pace = self.kinds.pop(kind)
        self._credit(pace)
        if pace.greenlet is not None:
            pace.greenlet.kill(block=False)
        while pace.idle:
            pace.idle.popleft().set(None)

    def paced(self, kind: str | None) -> bool:
        return kind in self.kinds

    # -- the pacing loop -------------------------------------------------------------------------

    def _run(self, pace: KindPace) -> None:
        while True:
            if pace.waiting_start:
                if not pace.idle:
                    pace.changed.wait(timeout=0.05)
                    pace.changed.clear()
                    continue
                pace.waiting_start = False
                now = self.elapsed()
                if pace.pacer.origin < now:  # the pool was still spawning: start the schedule now
                    pace.pacer = Pacer(pace.pacer.schedule, pace.pacer.share, now, pace.pacer.phase)
                    pace.issued = 0
            due = pace.pacer.due_time(pace.issued)
            if due is None:  # this process's schedule is over (or its share is 0)
                pace.changed.wait(timeout=1.0)
                pace.changed.clear()
                continue
            wait = due - self.elapsed()
            if wait > 0 and pace.changed.wait(timeout=wait):
                pace.changed.clear()
                continue
            self._hand_out(pace, due)

    def _hand_out(self, pace: KindPace, due: float | None) -> None:
        """Issue every ticket due by now (one, unless this greenlet was late)."""
        now = self.elapsed()
        while due is not None and due <= now:
            pace.issued += 1
            counts = self.counts[pace.kind]
            if pace.idle:
                counts[0] += 1
                pace.idle.popleft().set(self._t0 + due if self._t0 is not None else due)
            else:
                counts[1] += 1
                # response_time None: counted, but no latency (Locust leaves it out of every percentile)
                self.environment.events.request.fire(request_type=DROPPED, name=pace.kind, response_time=None,
                                                     response_length=0, exception=None, context={})
            due = pace.pacer.due_time(pace.issued)

    # -- the user side ---------------------------------------------------------------------------

    def take(self, kind: str) -> bool:
        """Block until a ticket of ``kind`` is handed to this user; False when pacing ended meanwhile."""
        pace = self.kinds.get(kind)
        if pace is None:
            set_lateness_ms(None)
            return False
        waiter = AsyncResult()
        pace.idle.append(waiter)
        if pace.waiting_start:
            pace.changed.set()
        try:
            intended = waiter.get()
        except BaseException:
            try:
                pace.idle.remove(waiter)
            except ValueError:
                pass
            raise
        if intended is None:
            set_lateness_ms(None)
            return False
        lag_ms = max((time.perf_counter() - intended) * 1000.0, 0.0)
        sketch = self.lag.get(kind)
        if sketch is None:
            sketch = self.lag[kind] = new_sketch()
        sketch.add(lag_ms)
        set_lateness_ms(lag_ms)
        return True

    # -- figures ---------------------------------------------------------------------------------

    def totals(self) -> dict[str, list[float]]:
        """``{kind: [tickets due, started, dropped, scheduled]}`` of the current (or last) test in this
        process; ``scheduled`` is what the rate asked for while this process paced the kind."""
        out = {}
        for kind, (started, dropped) in self.counts.items():
            scheduled = self.scheduled.get(kind, 0.0)
            pace = self.kinds.get(kind)
            if pace is not None and not pace.waiting_start:
                scheduled += pace.pacer.expected(self.elapsed())
            out[kind] = [started + dropped, started, dropped, round(scheduled, 3)]
        return out

    def take_lag(self) -> dict[str, dict[str, Any]]:
        """The start-lag sketches since the last call, encoded, and start afresh."""
        out = {kind: encode(sketch) for kind, sketch in self.lag.items() if sketch.count}
        self.lag = {}
        return out


def dispatcher_of(environment: RunEnvironment) -> TicketDispatcher | None:
    return _SLOT.get(environment)


def ensure_dispatcher(environment: RunEnvironment) -> TicketDispatcher:
    """The environment's dispatcher, created on first use."""
    dispatcher = dispatcher_of(environment)
    if dispatcher is None:
        dispatcher = TicketDispatcher(environment)
        _SLOT.set(environment, dispatcher)
    return dispatcher


def pace_user_class(cls: Any) -> None:
    """Make ``cls`` take tickets while its ``kind`` is paced (idempotent; closed model otherwise).

    Wraps ``wait_time`` (a paced user waits for its next ticket, then starts at once) and
    ``on_start`` (so the first iteration waits for a ticket too).
    """
    if getattr(cls, "_stresskit_paced", False):  # also when inherited: the wrappers serve subclasses too
        return
    original_wait = cls.wait_time
    original_start = cls.on_start

    def wait_time(self: Any) -> float:
        dispatcher = dispatcher_of(self.environment)
        if dispatcher is not None and dispatcher.paced(getattr(self, "kind", None)):
            with idle(self):  # waiting for the next arrival is not time to recover in
                took = dispatcher.take(self.kind)
            if took:
                return 0.0
        set_lateness_ms(None)
        return original_wait(self)

    def on_start(self: Any) -> None:
        original_start(self)
        dispatcher = dispatcher_of(self.environment)
        if dispatcher is not None and dispatcher.paced(getattr(self, "kind", None)):
            self._taskset_instance.wait()  # Locust's own wait: a stop while waiting is honoured

    wait_time._stresskit_original = original_wait  # type: ignore[attr-defined]
    cls.wait_time = wait_time
    cls.on_start = on_start
    cls._stresskit_paced = True
