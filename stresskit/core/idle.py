"""How long a user has had nothing to do: waiting for work that is not its own to start.

A page processor waiting for its next page to fall due (the page pace), or a paced user waiting
for its next arrival ticket, cannot succeed at anything meanwhile. A recovery owed during that
time is not late yet: :mod:`stresskit.faults.injector` does not count it against the recovery
limit. A user's own ``wait_time`` between tasks is not idle time: it is how the user behaves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["idle", "idle_seconds"]

_ATTR = "_stresskit_idle"


class _IdleClock:
    __slots__ = ("since", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.since: float | None = None


def _clock(user: Any) -> _IdleClock:
    clock = user.__dict__.get(_ATTR)
    if clock is None:
        clock = _IdleClock()
        setattr(user, _ATTR, clock)
    return clock


@contextmanager
def idle(user: Any) -> Iterator[None]:
    """Count the time spent in the block as ``user``'s idle time."""
    clock = _clock(user)
    if clock.since is not None:  # nested: the outer block counts it
        yield
        return
    clock.since = time.monotonic()
    try:
        yield
    finally:
        clock.total += time.monotonic() - clock.since
        clock.since = None


def idle_seconds(user: Any) -> float:
    """Seconds ``user`` has been idle so far, the stretch it is in now included (0 for any user
    that never was)."""
    clock = getattr(user, "__dict__", {}).get(_ATTR)
    if clock is None:
        return 0.0
    return clock.total + (time.monotonic() - clock.since if clock.since is not None else 0.0)
