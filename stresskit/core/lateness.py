"""The lateness of the open-model iteration the current greenlet runs, for latency correction.

:mod:`stresskit.arrival.dispatch` sets it when a user starts an iteration on a ticket (actual
start − due time, ms) and clears it for unpaced iterations; :mod:`stresskit.observe.latency` reads it to
record each paced request's latency from the intended start as well as from the send time.
Kept apart (greenlet only, no gevent) so the latency recorder imports without gevent.
"""

from __future__ import annotations

from greenlet import getcurrent

__all__ = ["LATENESS_ATTR", "current_lateness_ms", "set_lateness_ms"]

LATENESS_ATTR = "_stresskit_lateness_ms"
"""The greenlet attribute that holds it (the latency recorder reads it inline on its hot path)."""


def set_lateness_ms(value: float | None) -> None:
    """Set (or with ``None`` clear) the current greenlet's iteration lateness in milliseconds."""
    setattr(getcurrent(), LATENESS_ATTR, value)


def current_lateness_ms() -> float | None:
    """The current greenlet's iteration lateness (ms), or ``None`` when its iteration is not paced."""
    return getattr(getcurrent(), LATENESS_ATTR, None)
