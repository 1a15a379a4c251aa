"""The seeded fault schedule: a pure function of (seed, user slot, action number).

Every user gets its own random stream, seeded from the run's seed and a stable *slot* name
(worker index, user class, ordinal of that user within its class). Action ``n`` of that slot
always draws the same two numbers, so the same seed gives the same schedule in every run, no
matter how the users' greenlets interleave, and a schedule can be tested without running
anything (table-driven, no clocks).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Decision", "UserSchedule", "slot_name"]


@dataclass(frozen=True)
class Decision:
    """What the schedule says for one user action: ``kind`` is ``None`` for "no fault"."""

    action: int
    kind: str | None


def slot_name(worker_index: int, user_class: str, ordinal: int) -> str:
    """The stable name of a user's slot, e.g. ``"w0/ApiCaller/3"``."""
    return f"w{worker_index}/{user_class}/{ordinal}"


class UserSchedule:
    """The decisions for one user slot, drawn in order: ``next()`` is action 1, 2, ...

    Each action draws exactly two numbers (inject?, which kind?) whatever the outcome, so the
    decision for action ``n`` depends only on ``(seed, slot, n, rate, kinds)``.
    """

    def __init__(self, seed: int, slot: str, rate: float, kinds: Sequence[str]) -> None:
        digest = hashlib.sha256(f"{seed}:{slot}".encode()).digest()
        self._rng = random.Random(int.from_bytes(digest[:8], "big"))
        self.slot = slot
        self.rate = rate
        self.kinds = tuple(kinds)
        self.actions = 0

    def next(self) -> Decision:
        """The decision for the next action of this user."""
        self.actions += 1
        draw = self._rng.random()
        pick = self._rng.random()
        if not self.kinds or draw >= self.rate:
            return Decision(self.actions, None)
        return Decision(self.actions, self.kinds[int(pick * len(self.kinds))])

    def take(self, count: int) -> list[Decision]:
        """The next ``count`` decisions (for tests and for printing a schedule)."""
        return [self.next() for _ in range(count)]
