"""Precise, mergeable latency percentiles for Locust runs: DDSketch per request name and time window.

Locust rounds each response time to about two significant digits before bucketing it, and its
history percentiles cover a rolling ~10 s. This recorder keeps, beside Locust's own stats, a
DDSketch (1% relative accuracy, at most 2048 bins) per (request type, name) for every time
window (1 s early in a run, coarser as it goes on — at most 60 s by default, see
:mod:`stresskit.report.windows` — so a report can draw any run length) and for the whole run:

- each worker (or the local runner) records every ``request`` event's response time: appended to a
  buffer per key, folded into the key's sketch with numpy every few thousand values and whenever
  sketches are read, shipped or written, so a request costs a list append, not a DDSketch insertion;
- workers send what they recorded since their last report with Locust's ``report_to_master``
  piggyback (every 3 s) and start afresh, so a worker holds only a few seconds of sketches;
- the master merges them (``worker_report``) and writes each window to
  ``<csv prefix>_latency.jsonl`` once it is closed (its end plus a grace period has passed), then
  forgets it; the whole-run sketches (one per name, bounded) are written when Locust quits.

Memory stays bounded however long the run. Opt in from a locustfile::

    from locust import events
    from stresskit.observe.latency import use_latency

    use_latency(events)

Importing this module registers nothing; :func:`use_latency` does. The file format is in
:mod:`stresskit.report.sketch`; ``stresskit report`` uses it when present.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from array import array
from typing import IO, Any

from greenlet import getcurrent

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.lateness import LATENESS_ATTR
from stresskit.core.perrun import Listeners, PerRun
from stresskit.core.requestfeed import request_feed
from stresskit.core.schema import LATENCY_SUFFIX
from stresskit.report.sketch import (
    BIN_LIMIT,
    FORMAT_VERSION,
    RELATIVE_ACCURACY,
    add_values,
    encode,
    merge_encoded,
    new_sketch,
)
from stresskit.report.windows import grain_for, next_grain_change

_SLOT: PerRun[LatencyRecorder] = PerRun("latency")

__all__ = ["DEFAULT_WINDOW_S", "MESSAGE_KEY", "LatencyRecorder", "latency_recorder_of", "use_latency"]

log = logging.getLogger("stresskit.observe.latency")

MESSAGE_KEY = "stresskit_latency"
DEFAULT_WINDOW_S = 60.0
DEFAULT_GRACE_S = 10.0

Key = tuple[float, str, str, str]
"""(window start, request type, name, series): series ``""`` is latency from the send time,
:data:`INTENDED` latency from the intended start of a paced (open-model) iteration."""

INTENDED = "intended"
SKIPPED_TYPES = frozenset({"DROPPED"})
"""Request types that are counts, not latencies (dropped open-model iterations)."""
FOLD_AT = 4096
"""Buffered values of one key that are folded into its sketch at once (32 KiB of doubles)."""


class LatencyRecorder:
    """Records, ships, merges and writes latency sketches for one Locust environment.

    :param environment: the Locust environment (local, master or worker)
    :param window_s: length of a time window in seconds
    :param path: where the master writes; default ``<--csv prefix>_latency.jsonl`` (nothing is
        written without either)
    :param grace_s: how long after a window's end the master waits for late worker reports
    """

    def __init__(self, environment: RunEnvironment, window_s: float = DEFAULT_WINDOW_S, path: str | None = None,
                 grace_s: float = DEFAULT_GRACE_S, relative_accuracy: float = RELATIVE_ACCURACY,
                 bin_limit: int = BIN_LIMIT) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be > 0")
        self.environment = environment
        self.window_s = float(window_s)
        self.grace_s = float(grace_s)
        self.relative_accuracy = relative_accuracy
        self.bin_limit = bin_limit
        self._path = path
        # this window's values per (type, name), not yet in a sketch (see _fold_all)
        self._buffers: dict[tuple[str, str], array] = {}
        self._intended: dict[tuple[str, str], array] = {}  # the same, from the intended start (paced)
        self._pending: dict[Key, Any] = {}  # worker: recorded since the last report
        self._open: dict[Key, Any] = {}  # master/local: merged, not yet written
        self._run: dict[tuple[str, str, str], Any] = {}  # master/local: whole run
        self._closed_until = -math.inf  # windows starting before this are written
        self._handle: IO[str] | None = None
        self._last_close_check = 0.0
        self._started: float | None = None
        self._role_memo: str | None = None
        self._win_lo = self._win_hi = self._win_start = -math.inf  # the window of the last request
        self._tick_at = -math.inf  # the next request at or after this takes the slow path (_tick)
        self._finished = False
        self.lines_written = 0
        self._write_failed = False
        events = environment.events
        self._listeners = Listeners(
            (request_feed(environment), self._on_request),
            (events.report_to_master, self._on_report_to_master),
            (events.worker_report, self._on_worker_report),
            (events.test_start, self._on_test_start),
            (events.quitting, self._on_quitting),
        )

    # -- roles -------------------------------------------------------------------------------

    def _role(self) -> str:
        role = self._role_memo
        if role is not None:
            return role
        runner = getattr(self.environment, "runner", None)
        name = type(runner).__name__ if runner is not None else ""
        if name.startswith("Worker"):
            role = "worker"
        elif name.startswith("Master"):
            role = "master"
        else:
            role = "local"
        if runner is not None:  # an environment's runner is created once: remember its role
            self._role_memo = role
        return role

    def _grain(self, at: float) -> float:
        """The recording grain at ``at``: 1 s early in a run, coarser as it goes on, at most ``window_s``
        (see :mod:`stresskit.report.windows`), so a report re-aggregates any run to ~300 points."""
        return grain_for(at - (self._started if self._started is not None else at), self.window_s)

    def _tick(self, now: float) -> None:
        """The slow path of a request, at most about once a second: the clock starts at the first
        request (unless test_start started it), the window is found anew when ``now`` left it or the
        grain can change (it depends on the elapsed time; see grain_for), and the local runner or the
        master writes the windows that closed."""
        if self._started is None:
            self._started = now
        if not self._win_lo <= now < self._win_hi:
            grain = self._grain(now)
            start = math.floor(now / grain) * grain
            if start != self._win_start:
                self._fold_all()  # the buffers belong to the window that ended
            self._win_lo, self._win_start = start, start
            self._win_hi = min(start + grain, self._started + next_grain_change(now - self._started, self.window_s))
        self._tick_at = self._win_hi
        if self._role() != "worker":
            self._tick_at = min(self._win_hi, now + 1.0)
            if now - self._last_close_check >= 1.0:
                self._last_close_check = now
                self._close_due(now)

    def remove(self) -> None:
        """Unsubscribe from every event (the file is flushed and closed first)."""
        self.flush()
        self._listeners.remove()

    # -- recording ---------------------------------------------------------------------------

    def _sketch(self) -> Any:
        return new_sketch(self.relative_accuracy, self.bin_limit)

    def _on_request(self, request_type: str, name: str, response_time: float | None, exception: Any,
                    now: float) -> None:
        # The hot path: one buffer append per request, into the current window's buffer of its
        # (type, name); the buffers are folded into the window's sketches in bulk (see _fold_all),
        # and the whole-run sketch gets each window merged into it when the window closes.
        if response_time is None or request_type in SKIPPED_TYPES:
            return
        if not self._win_lo <= now < self._tick_at:
            self._tick(now)
        value = response_time if response_time > 0 else 0.0
        values = self._buffers.get((request_type, name))
        if values is None:
            values = self._buffers[(request_type, name)] = array("d")
        values.append(value)
        if len(values) >= FOLD_AT:  # bounds the intended buffers too: never longer than these
            self._fold_all()
        lateness = getattr(getcurrent(), LATENESS_ATTR, None)
        if lateness is not None:  # a paced iteration: also from its intended start
            values = self._intended.get((request_type, name))
            if values is None:
                values = self._intended[(request_type, name)] = array("d")
            values.append(value + lateness)

    def _fold_all(self) -> None:
        """Add the current window's buffered values to its sketches: the worker's pending ones, else
        the open windows' (called before sketches are read, shipped or written)."""
        if not (self._buffers or self._intended):
            return
        sketches = self._pending if self._role() == "worker" else self._open
        for series, buffers in (("", self._buffers), (INTENDED, self._intended)):
            for (rtype, name), values in buffers.items():
                key = (self._win_start, str(rtype or ""), str(name), series)
                sketch = sketches.get(key)
                if sketch is None:
                    sketch = sketches[key] = self._sketch()
                add_values(sketch, values)
        self._buffers, self._intended = {}, {}

    def _on_report_to_master(self, client_id: str = "", data: dict | None = None, **_: Any) -> None:
        if data is None:
            return
        self._fold_all()
        if not self._pending:
            return
        data[MESSAGE_KEY] = [{"start": k[0], "type": k[1], "name": k[2], **({"series": k[3]} if k[3] else {}),
                              **encode(s)} for k, s in self._pending.items()]
        self._pending = {}

    def _on_worker_report(self, client_id: str = "", data: dict | None = None, **_: Any) -> None:
        items = (data or {}).get(MESSAGE_KEY)
        if not items:
            return
        now = time.time()
        if self._started is None:
            self._started = now
        late: list[tuple[Key, Any]] = []
        for item in items:
            try:
                key = (float(item["start"]), str(item["type"]), str(item["name"]), str(item.get("series", "")))
                if key[0] < self._closed_until:  # its window is written: straight into the run's sketch
                    run = self._run.get(key[1:])
                    if run is None:
                        run = self._run[key[1:]] = self._sketch()
                    merge_encoded(run, item)
                    sketch = self._sketch()
                    merge_encoded(sketch, item)
                    late.append((key, sketch))
                    continue
                sketch = self._open.get(key)
                if sketch is None:
                    sketch = self._open[key] = self._sketch()
                merge_encoded(sketch, item)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("ignoring a malformed latency report from %s: %s", client_id, exc)
        if late:
            self._write([self._line("window", k, s, late=True) for k, s in late])
        self._close_due(now)

    # -- writing -----------------------------------------------------------------------------

    def _on_test_start(self, **_: Any) -> None:
        if self._role() == "worker":
            self._pending = {}
            self._buffers, self._intended = {}, {}
            self._started = time.time()
            self._win_hi = self._tick_at = -math.inf
            return
        if self._run or self._open or self._buffers:  # a second test in the same process (web UI): finish the first
            self.flush()
        self._started = time.time()
        self._win_hi = self._tick_at = -math.inf
        self._finished = False

    def _on_quitting(self, **_: Any) -> None:
        if self._role() != "worker":
            self.flush()
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def flush(self) -> None:
        """Write every open window and the whole-run sketches (master/local); called at quit."""
        self._fold_all()
        if self._open:
            self._close_due(math.inf)
        if self._run and not self._finished:
            lines = [self._line("run", (self._started or 0.0, *k), s) for k, s in sorted(self._run.items())]
            self._write(lines)
            self._run = {}
            self._finished = True
        if self._handle is not None:
            self._handle.flush()

    def _close_due(self, now: float) -> None:
        self._fold_all()
        due = [k for k in self._open if k[0] + self.window_s + self.grace_s <= now]
        if not due:
            return
        due.sort()
        lines = []
        for key in due:
            sketch = self._open.pop(key)
            run = self._run.get(key[1:])
            if run is None:
                run = self._run[key[1:]] = self._sketch()
            run.merge(sketch)
            lines.append(self._line("window", key, sketch))
        self._write(lines)
        if math.isfinite(now):
            self._closed_until = max(self._closed_until, math.floor((now - self.grace_s) / self.window_s)
                                     * self.window_s)

    def _line(self, kind: str, key: Key, sketch: Any, late: bool = False) -> dict[str, Any]:
        start, rtype, name, series = key
        end = start + self._grain(start) if kind == "window" else time.time()
        line = {"kind": kind, "start": start, "end": end, "type": rtype, "name": name, **encode(sketch)}
        if series:
            line["series"] = series
        if late:
            line["late"] = True
        return line

    def run_quantiles(self, qs: tuple[float, ...], series: str = "") -> dict[tuple[str, str], list[float | None]]:
        """Whole-run quantiles (ms) so far per (type, name) of one series (master/local; for live views)."""
        out = {}
        for (rtype, name, _kind), sketch in self._run_view(series).items():
            if sketch.count:
                out[(rtype, name)] = [sketch.get_quantile_value(q) for q in qs]
        return out

    def run_summaries(self, qs: tuple[float, ...], series: str = "") -> dict[tuple[str, str], tuple[float, float, list]]:
        """Whole-run ``(count, sum ms, quantiles ms)`` so far per (type, name) of one series
        (master/local; for the Prometheus exporter's summaries)."""
        return {(rtype, name): (sketch.count, sketch.sum, [sketch.get_quantile_value(q) for q in qs])
                for (rtype, name, _), sketch in self._run_view(series).items() if sketch.count}

    def _run_view(self, series: str) -> dict[tuple[str, str, str], Any]:
        """The whole-run sketches of one series so far: the closed windows' (``_run``) with the open
        windows merged into copies (queries are rare — a scrape, a web UI poll — requests are not)."""
        self._fold_all()
        view = {k: s for k, s in list(self._run.items()) if k[2] == series}
        copied: set[tuple[str, str, str]] = set()
        for (_, rtype, name, kind), sketch in list(self._open.items()):
            if kind != series:
                continue
            key = (rtype, name, kind)
            if key not in copied:
                merged = self._sketch()
                if key in view:
                    merged.merge(view[key])
                view[key] = merged
                copied.add(key)
            view[key].merge(sketch)
        return view

    def path(self) -> str | None:
        """The file the master writes, or None when there is no ``--csv`` prefix and no path."""
        if self._path:
            return self._path
        options = getattr(self.environment, "parsed_options", None)
        prefix = getattr(options, "csv_prefix", None) if options is not None else None
        return f"{prefix}{LATENCY_SUFFIX}" if prefix else None

    def _write(self, lines: list[dict[str, Any]]) -> None:
        if not lines or self._write_failed:
            return
        try:
            self._write_lines(lines)
        except OSError as exc:  # disk full: say so once, keep the run going, name the file in _run.json
            from stresskit.run.lifecycle import discard, note_write_error

            self._write_failed = True
            discard(self._handle)
            self._handle = None
            note_write_error(self.environment, self.path() or "?", exc)

    def _write_lines(self, lines: list[dict[str, Any]]) -> None:
        if self._handle is None:
            path = self.path()
            if path is None:
                return
            if directory := os.path.dirname(path):
                os.makedirs(directory, exist_ok=True)
            self._handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - kept open, closed at quit
            meta = {"kind": "meta", "v": FORMAT_VERSION, "window_s": grain_for(0.0, self.window_s),
                    "coarsest_s": self.window_s, "ra": self.relative_accuracy,
                    "bin_limit": self.bin_limit, "unit": "ms", "created": time.time()}
            self._handle.write(json.dumps(meta) + "\n")
        handle = self._handle
        for line in lines:
            handle.write(json.dumps(line, separators=(",", ":")) + "\n")
        handle.flush()
        self.lines_written += len(lines)


def use_latency(target: Any, window_s: float = DEFAULT_WINDOW_S, path: str | None = None,
                   grace_s: float = DEFAULT_GRACE_S) -> LatencyRecorder | None:
    """Opt in to precise latency sketches.

    ``target`` is either a Locust ``Environment`` (the recorder is created now and returned) or
    ``locust.events`` / an environment's ``events`` (a recorder is created for each environment
    that fires ``init``; returns None). Call it on the master and on every worker — i.e. at the
    top level of the locustfile.
    """
    if hasattr(target, "runner") and hasattr(target, "events"):
        return LatencyRecorder(target, window_s=window_s, path=path, grace_s=grace_s)

    def on_init(environment: RunEnvironment, **_: Any) -> None:
        if _SLOT.get(environment) is None:
            _SLOT.set(environment, LatencyRecorder(environment, window_s=window_s, path=path, grace_s=grace_s))

    target.init.add_listener(on_init)
    return None


def latency_recorder_of(environment: RunEnvironment) -> LatencyRecorder | None:
    """The run's :class:`LatencyRecorder`, if :func:`use_latency` set one up."""
    return _SLOT.get(environment)
