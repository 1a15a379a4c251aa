"""Each fault kind's real effect, one small module per family.

An effect function does the real thing (kills, cuts, bursts, holds) and returns an
:class:`Injected` describing it; timed effects also return how to lift them. Effects raise
:class:`~stresskit.errors.FaultError` when the effect could not be produced — the injector
then does not count the fault as injected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Injected"]


@dataclass
class Injected:
    """What an effect really did.

    ``release`` lifts a timed effect (a toxic, a latency knob, held memory) and is called after
    ``release_after`` seconds, or when the injector is removed; ``on_recovered`` tidies up once
    the user has recovered (e.g. removes an armed page script). ``gate`` is for faults armed
    now that strike later: it returns the wall-clock time of the strike, or ``None`` while it
    has not happened — the recovery is timed from the strike.
    """

    detail: str
    release: Callable[[], None] | None = None
    release_after: float | None = None
    on_recovered: Callable[[], None] | None = None
    gate: Callable[[], float | None] | None = None
