"""Keep Locust's own statistics bounded on the master over a soak of many hours.

Locust 2.47 keeps, on the master (or the local runner), two structures that grow for the whole
run — about 7 MB an hour with the production mix, most of the load generator's "leak":

* every :class:`locust.stats.StatsEntry` (one per request name, plus the total) counts requests
  and failures per second in ``num_reqs_per_sec`` / ``num_fail_per_sec``: one key per second,
  never dropped. Locust only reads the last ~12 s of them (``current_rps``,
  ``current_fail_per_sec``); workers send theirs every 3 s and start afresh.
* ``stats.history`` gets one chart point every 5 s for the web UI and the ``--html`` report.

:func:`use_bounded_stats` trims the per-second counters to the last :data:`KEEP_SECONDS` and thins
the chart history once it holds more than :data:`HISTORY_MAX_POINTS` (every second point of its
older half goes, so a 20 h run keeps its whole curve at a coarser step). Totals, percentiles,
CSV files and the current rates are unchanged. Workers are left alone (nothing accumulates there).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.perrun import Once, PerRun

__all__ = ["HISTORY_MAX_POINTS", "KEEP_SECONDS", "TRIM_INTERVAL", "thin_history", "trim_per_second",
           "trim_stats", "use_bounded_stats"]

log = logging.getLogger("stresskit.observe.statsbound")

KEEP_SECONDS = 30
"""Seconds of per-second request/failure counters kept per stats entry (Locust reads the last 12)."""
HISTORY_MAX_POINTS = 360
"""Chart points kept in ``stats.history`` (one per 5 s; each thinning keeps the newest half, 15 min
and more, at full resolution). About 0.8 KiB a point: 2,000 points (this cap before) let the chart
grow ~0.6 MB an hour for the first 2.8 h of a soak; 360 hold it under 0.3 MB."""
TRIM_INTERVAL = 10.0
"""Seconds between trims on the master."""

_SLOT: PerRun[Any] = PerRun("statsbound")


def trim_per_second(entry: Any, cutoff: int) -> int:
    """Drop ``entry``'s per-second counters older than ``cutoff`` (epoch seconds); return how many."""
    removed = 0
    for counters in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
        old = [t for t in counters if t < cutoff]
        for t in old:
            del counters[t]
        removed += len(old)
    return removed


def thin_history(history: list[Any], max_points: int = HISTORY_MAX_POINTS) -> int:
    """Halve the older half of ``history`` (in place) while it holds more than ``max_points``."""
    removed = 0
    while len(history) > max(max_points, 2):
        half = len(history) // 2
        older = history[:half]
        kept = older[::2]
        history[:half] = kept
        removed += len(older) - len(kept)
    return removed


def trim_stats(stats: Any, now: float | None = None) -> int:
    """Trim every entry of a :class:`locust.stats.RequestStats` and thin its history; return keys removed."""
    reference = stats.last_request_timestamp or (time.time() if now is None else now)
    cutoff = int(reference) - KEEP_SECONDS
    removed = sum(trim_per_second(entry, cutoff) for entry in [*stats.entries.values(), stats.total])
    return removed + thin_history(stats.history)


def _loop(environment: RunEnvironment) -> None:
    while True:
        gevent.sleep(TRIM_INTERVAL)
        runner = environment.runner
        if runner is None:
            continue
        try:
            trim_stats(runner.stats)
        except Exception:  # a failed trim must not take the run down; say so and keep going
            log.exception("trimming Locust's per-second statistics failed")


_INSTALLED = Once()


def use_bounded_stats(events: Any) -> None:
    """Opt a locustfile in (idempotent per ``events``): a trim every :data:`TRIM_INTERVAL` s on the
    master or local runner, stopped at ``quitting``."""
    if not _INSTALLED.first(events):
        return

    def on_init(environment: RunEnvironment, **_: Any) -> None:
        from locust.runners import WorkerRunner

        if isinstance(environment.runner, WorkerRunner) or _SLOT.get(environment) is not None:
            return
        _SLOT.set(environment, gevent.spawn(_loop, environment))

    def on_quitting(environment: RunEnvironment, **_: Any) -> None:
        loop = _SLOT.get(environment)
        if loop is not None:
            loop.kill(block=False)

    events.init.add_listener(on_init)
    events.quitting.add_listener(on_quitting)
