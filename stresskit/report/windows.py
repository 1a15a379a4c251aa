"""The time windows of a report, and the grains latency sketches are recorded at: one chain for both.

A chart of a 21 s run needs 1 s windows; one of a 20 h run about 5 min. The report picks the
window from :data:`GRAINS` so that a chart has at most :data:`POINTS` points (1 s at the finest);
:mod:`stresskit.observe.latency` records each sketch at the coarsest grain of the same chain that is at
most ``elapsed / POINTS``. Each grain divides the next, and a run of length ``d`` that reached
``t ≤ d`` gets a window ``≥ d / POINTS ≥ t / POINTS``, so every recorded grain divides the
report's window: sketches re-aggregate to it exactly, and a long run still writes few lines.
Standard library only (the Locust side imports it).
"""

from __future__ import annotations

import math

__all__ = ["GRAINS", "POINTS", "grain_for", "next_grain_change", "window_for"]

GRAINS = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0)
"""Window lengths in seconds; each divides the next."""
POINTS = 300
"""Most points per chart series."""


def window_for(duration_s: float | None) -> float:
    """The report's window for a run of ``duration_s`` seconds: the finest grain giving at most
    :data:`POINTS` windows (1 s for anything up to 5 min; 60 s when the length is unknown)."""
    if duration_s is None or not duration_s > 0:
        return 60.0
    for grain in GRAINS:
        if duration_s / grain <= POINTS:
            return grain
    return GRAINS[-1] * max(1, round(duration_s / (POINTS * GRAINS[-1])))


def grain_for(elapsed_s: float, coarsest: float) -> float:
    """The recording grain ``elapsed_s`` seconds into a run: the coarsest grain of the chain that is
    at most ``elapsed_s / POINTS`` and divides ``coarsest`` (the recorder's window); never above it."""
    usable = [g for g in GRAINS if g <= coarsest and (coarsest / g).is_integer()] or [coarsest]
    grain = usable[0]
    for g in usable:
        if g * POINTS <= elapsed_s:
            grain = g
    return grain


def next_grain_change(elapsed_s: float, coarsest: float) -> float:
    """The elapsed time after ``elapsed_s`` at which :func:`grain_for` may next return another grain
    (``inf`` once the coarsest is reached): a recorder can reuse a window until then."""
    usable = [g for g in GRAINS if g <= coarsest and (coarsest / g).is_integer()] or [coarsest]
    later = [g * POINTS for g in usable[1:] if g * POINTS > elapsed_s]
    return min(later) if later else math.inf
