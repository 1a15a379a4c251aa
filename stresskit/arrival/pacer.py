"""Arrival schedules as pure functions of elapsed time (vegeta's pacer idea), no clocks inside.

A :class:`RateSchedule` is one kind's arrival rate over a run: piecewise linear in elapsed
seconds (each stage ramps from the previous stage's rate of the kind to its own, or holds its
rate when the previous stage had none). :meth:`RateSchedule.arrivals` is the cumulative number
of iterations due by time *t*, :meth:`RateSchedule.time_of` its inverse.

A :class:`Pacer` is the part of a schedule one process runs: a ``share`` of the rate, starting
at ``origin`` (the moment the share was assigned) with ``phase`` (so workers interleave their
tickets rather than all firing together). ``pacer.due_time(n)`` is when this process's *n*-th
ticket (0-based) is due; ``pacer.due_count(t)`` how many are due by *t*. Both are pure, so the
tests are tables.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stresskit.run.scenarios import RATE_UNITS, Scenario

__all__ = ["Pacer", "RateSchedule", "Segment", "schedules", "split_shares"]


@dataclass(frozen=True)
class Segment:
    """From ``start`` to ``end`` seconds the rate goes linearly from ``r0`` to ``r1`` (per second)."""

    start: float
    end: float
    r0: float
    r1: float

    @property
    def count(self) -> float:
        """Iterations due over the whole segment."""
        return (self.r0 + self.r1) / 2 * (self.end - self.start)

    def rate_at(self, t: float) -> float:
        if self.end <= self.start:
            return self.r1
        return self.r0 + (self.r1 - self.r0) * (t - self.start) / (self.end - self.start)

    def count_until(self, t: float) -> float:
        """Iterations due from ``start`` to ``t`` (``start <= t <= end``)."""
        x = t - self.start
        return (self.r0 + self.rate_at(t)) / 2 * x

    def time_for(self, c: float) -> float:
        """The ``t`` at which :meth:`count_until` reaches ``c`` (``0 <= c <= count``)."""
        span = self.end - self.start
        slope = (self.r1 - self.r0) / span if span > 0 else 0.0
        if abs(slope) < 1e-12:
            return self.start + (c / self.r0 if self.r0 > 0 else 0.0)
        # slope/2 x^2 + r0 x - c = 0, the root in [0, span]
        disc = self.r0 * self.r0 + 2 * slope * c
        x = (-self.r0 + math.sqrt(max(disc, 0.0))) / slope
        return self.start + min(max(x, 0.0), span)


class RateSchedule:
    """One kind's arrival rate over the run (iterations per second), piecewise linear."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self.segments = tuple(segments)
        self._starts = [s.start for s in self.segments]
        cumulative, total = [], 0.0
        for seg in self.segments:
            cumulative.append(total)
            total += seg.count
        self._before = cumulative
        self.total = total
        self.end = self.segments[-1].end if self.segments else 0.0

    def rate_at(self, t: float) -> float:
        """Iterations per second due at ``t`` (0 outside the schedule)."""
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0 or t >= self.end:
            return 0.0
        return self.segments[i].rate_at(t)

    def arrivals(self, t: float) -> float:
        """Iterations due from 0 to ``t`` (a real number; ticket *n* is due when it passes n + phase)."""
        if not self.segments or t <= self.segments[0].start:
            return 0.0
        if t >= self.end:
            return self.total
        i = bisect.bisect_right(self._starts, t) - 1
        return self._before[i] + self.segments[i].count_until(t)

    def time_of(self, count: float) -> float | None:
        """The first ``t`` with ``arrivals(t) >= count``, or ``None`` when the schedule never gets there."""
        if count <= 0:
            return self.segments[0].start if self.segments else None
        if count > self.total + 1e-9:
            return None
        i = bisect.bisect_left(self._before, count) - 1
        i = max(i, 0)
        while i + 1 < len(self.segments) and self._before[i] + self.segments[i].count < count:
            i += 1
        seg = self.segments[i]
        return seg.time_for(min(count - self._before[i], seg.count))

    def as_data(self) -> list[list[float]]:
        """For a custom message: ``[[start, end, r0, r1], ...]``."""
        return [[s.start, s.end, s.r0, s.r1] for s in self.segments]

    @classmethod
    def from_data(cls, data: Sequence[Sequence[float]]) -> RateSchedule:
        return cls([Segment(float(a), float(b), float(c), float(d)) for a, b, c, d in data])


def schedules(scenario: Scenario) -> dict[str, RateSchedule]:
    """Each rated kind's schedule in iterations per second (browser pages/hour converted)."""
    out: dict[str, RateSchedule] = {}
    for kind in scenario.rated_kinds():
        factor = RATE_UNITS[kind][1]
        segments, t, previous = [], 0.0, None
        for stage in scenario.stages:
            end = t + stage.duration
            if stage.rate and kind in stage.rate:
                rate = stage.rate[kind] * factor
                segments.append(Segment(t, end, rate if previous is None else previous, rate))
                previous = rate
            else:
                segments.append(Segment(t, end, 0.0, 0.0))
                previous = None
            t = end
        out[kind] = RateSchedule(segments)
    return out


@dataclass(frozen=True)
class Pacer:
    """This process's part of a schedule: ``share`` of it from ``origin`` on, offset by ``phase``.

    Ticket ``n`` (0-based, counted from ``origin``) is due when ``share * (arrivals(t) -
    arrivals(origin)) >= n + phase``. ``phase`` in [0, 1) spreads workers' tickets apart.
    """

    schedule: RateSchedule
    share: float = 1.0
    origin: float = 0.0
    phase: float = 0.0

    def due_time(self, n: int) -> float | None:
        """Elapsed seconds at which ticket ``n`` is due; ``None`` when the schedule ends first."""
        if self.share <= 0:
            return None
        base = self.schedule.arrivals(self.origin)
        t = self.schedule.time_of(base + (n + self.phase) / self.share)
        return None if t is None else max(t, self.origin)

    def due_count(self, t: float) -> int:
        """How many tickets are due by ``t`` (tickets 0 .. result-1)."""
        if self.share <= 0 or t < self.origin:
            return 0
        own = self.share * (self.schedule.arrivals(t) - self.schedule.arrivals(self.origin)) - self.phase
        return max(0, math.floor(own + 1e-9) + 1) if own >= -1e-9 else 0

    def expected(self, t: float) -> float:
        """Iterations this pacer's share of the schedule asks for from ``origin`` to ``t`` (the target
        an achieved count is compared with; a real number)."""
        if self.share <= 0 or t <= self.origin:
            return 0.0
        return self.share * (self.schedule.arrivals(t) - self.schedule.arrivals(self.origin))

    def rate_at(self, t: float) -> float:
        """This process's rate at ``t`` (per second)."""
        return self.share * self.schedule.rate_at(t) if t >= self.origin else 0.0


def split_shares(workers: Sequence[str], users: Mapping[str, Mapping[str, int]],
                 kinds: Sequence[str]) -> dict[str, dict[str, tuple[float, float]]]:
    """Each worker's ``(share, phase)`` of each kind's rate: in proportion to its users of the kind
    (``users[worker][kind]``), so a worker with no user of a kind gets none of its arrivals; equal
    shares while no worker has users of the kind yet. Phases are the cumulative shares before the
    worker (in ``workers`` order), so the workers' tickets interleave. Pure."""
    out: dict[str, dict[str, tuple[float, float]]] = {w: {} for w in workers}
    for kind in kinds:
        counts = [max(int(users.get(w, {}).get(kind, 0)), 0) for w in workers]
        total = sum(counts)
        weights = [c / total for c in counts] if total else [1.0 / len(workers)] * len(workers)
        before = 0.0
        for worker, share in zip(workers, weights, strict=True):
            out[worker][kind] = (share, before % 1.0)
            before += share
    return out
