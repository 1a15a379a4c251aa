"""Per client kind availability and error ratio: a dead backend fails the run.

A run's global error ratio lets one kind's successes hide another kind's outage (a cache that
answers thousands of GETs while the API is dead gives "2.5% failed, PASS"), and users that back
off while their server is gone send few requests, so the time without a server barely shows in
the stats. This module judges every client kind on its own, in time rather than in requests.

**Definition.** Each kind's requests are counted per
one-second window (:data:`RESOLUTION`, wall clock). A window in which the kind completed at least
one successful request is *up*; one with failures and no success is *down*; a window with no
request of the kind takes the state of the kind's last window that had one (users backing off
after a failure, or waiting between tasks after a success, are still in that state). A kind's
windows run from its first request to the moment the test began to stop. Its *availability* is
the share of its windows that are up; an *outage* is a run of consecutive down windows (start,
end, seconds). Windows right after a fault stresskit itself injected into that kind are left
out (neither up nor down): a run-wide fault (backend crash, cache disconnect, partition ...)
until its run-level recovery is logged, at most ``--availability-max-outage`` seconds; a
per-user fault for :data:`USER_FAULT_GRACE` seconds when that user is its kind's only one (with
more users, one user's fault cannot make the kind unavailable). The harness never blames the
target for its own faults.

A request's kind comes from its Locust request type through the one table
:data:`stresskit.core.kinds.KIND_OF_REQUEST_TYPE` (types not in it, like ``RECOVERY``, are no client traffic); when
the request is fired by a user's own greenlet and that User class declares a ``kind`` (the
attribute the scenario shapes use), that kind wins — a page processor fetching pages over HTTP
is ``browser``.

Successes that do not prove the backend answered (a browser memory sample, a browser session
start, a WebSocket frame handed to the socket) are not evidence of availability
(:data:`NOT_EVIDENCE`); their failures are ignored as well.

**Criteria** (entries of the run's ``criteria`` list):

* ``availability`` fails when a kind the run ran (its shape planned it, users of it ran, or it
  sent requests) sent no request at all, was unavailable for more than
  ``--availability-max-unavailable`` of its windows (default 5%), or had an outage longer than
  ``--availability-max-outage`` seconds (default 30);
* ``kind_error_ratio`` fails when any kind's failed share of its requests is above the run's
  error-ratio limit (50%), so one kind's successes cannot dilute another's failures.

**Distributed runs.** Each worker counts its users' requests per second and sends the counts
with Locust's ``report_to_master`` (every ~3 s, and once more when it stops); the master adds
them up. Windows are stamped with each worker's own clock: generators need synchronised clocks. The live log on the
master (or local runner) says when an outage of a kind starts and
ends, a few seconds behind (:data:`LIVE_LAG_DISTRIBUTED`); the final judgement recomputes every
window from all the counts.

Nothing happens on import. A locustfile opts in with :func:`use_availability` (``use_stresskit``
does it); :mod:`stresskit.run.criteria` asks :func:`criteria_results` and :func:`document`.
"""

from __future__ import annotations

import logging
import math
import time
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gevent

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.kinds import KIND_NAMES, KIND_OF_REQUEST_TYPE, USER_KINDS, kind_of_request_type
from stresskit.core.limits import MAX_ERROR_RATIO
from stresskit.core.options import option, register_options
from stresskit.core.perrun import Listeners, Once, PerRun
from stresskit.core.requestfeed import request_feed
from stresskit.events import stresskit_events_of

__all__ = [
    "DEFAULT_MAX_OUTAGE",
    "DEFAULT_MAX_UNAVAILABLE",
    "KINDS",
    "KIND_OF_REQUEST_TYPE",
    "MAX_KIND_ERROR_RATIO",
    "NOT_EVIDENCE",
    "RESOLUTION",
    "USER_FAULT_GRACE",
    "Availability",
    "KindAvailability",
    "Outage",
    "add_arguments",
    "availability_of",
    "criteria_results",
    "document",
    "document_key",
    "is_evidence",
    "judge",
    "kind_of",
    "use_availability",
]

log = logging.getLogger("stresskit.run.availability")

KINDS: tuple[str, ...] = KIND_NAMES
"""The client kinds, in the order they are reported (:mod:`stresskit.core.kinds`)."""

RESOLUTION = 1.0
"""Seconds per availability window."""
DEFAULT_MAX_UNAVAILABLE = 0.05
"""Default share of a kind's windows that may be down."""
DEFAULT_MAX_OUTAGE = 30.0
"""Default longest outage (seconds in a row) a kind may have."""
MAX_KIND_ERROR_RATIO = MAX_ERROR_RATIO
"""A kind whose failed share of requests is above this fails ``kind_error_ratio`` (the run's limit)."""
USER_FAULT_GRACE = 5.0
"""Seconds after a per-user fault injection left out of the hit kinds' windows."""
LIVE_INTERVAL = 1.0
LIVE_LAG_LOCAL = 1.5
"""Seconds the live outage log stays behind the clock in a local run (the current window is open)."""
LIVE_LAG_DISTRIBUTED = 5.0
"""... and in a distributed run (workers report every 3 s)."""
REPORT_KEY = "stresskit_availability"
MAX_SKEW = 3600
"""Counts of a window more than this many seconds from the master's clock are dropped."""
_KIND_MEMO_LIMIT = 10_000
"""Most (request type, name) pairs whose kind is memoised; beyond it (ungrouped URLs) kinds are computed."""


NOT_EVIDENCE: dict[str, tuple[str, ...]] = {
    rtype: kind.not_evidence for kind in USER_KINDS.values() if kind.not_evidence for rtype in kind.request_types}
"""Per request type, stats-name prefixes whose outcome says nothing about the backend (from the kinds' registry)."""


kind_of = kind_of_request_type


def is_evidence(request_type: str, name: str) -> bool:
    """True when a request's outcome tells whether its backend answered (see :data:`NOT_EVIDENCE`)."""
    return not name.startswith(NOT_EVIDENCE.get(request_type.upper(), ()))


def add_arguments(parser: Any) -> None:
    """``--availability-max-unavailable`` and ``--availability-max-outage`` on Locust's parser."""
    group = parser.add_argument_group("stresskit availability")
    group.add_argument("--availability-max-unavailable", type=_share, default=None,
                       env_var="STRESSKIT_AVAILABILITY_MAX_UNAVAILABLE",
                       help=f"stresskit: share of a client kind's 1 s windows that may be down, e.g. 0.05 or 5%% "
                            f"(default {DEFAULT_MAX_UNAVAILABLE:.0%})")
    group.add_argument("--availability-max-outage", type=_seconds, default=None,
                       env_var="STRESSKIT_AVAILABILITY_MAX_OUTAGE",
                       help=f"stresskit: longest outage of a client kind in seconds, e.g. 30 or 1m "
                            f"(default {DEFAULT_MAX_OUTAGE:g})")


def _share(text: str) -> float:
    import argparse

    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share within [0, 1] or a percentage like 5%, not {text!r}")
    return value


def _seconds(text: str) -> float:
    import argparse

    from stresskit.run.scenarios import parse_duration

    try:
        value = parse_duration(text)
    except Exception:  # noqa: BLE001  parse_duration raises ConfigError / ValueError
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration like 30, 30s or 1m, not {text!r}")
    return float(value)


# -- the arithmetic (pure) -------------------------------------------------------------------------

@dataclass(frozen=True)
class Outage:
    """Consecutive down windows of one kind: ``start`` and ``end`` are epoch seconds."""

    kind: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "end": self.end, "seconds": self.seconds}


@dataclass
class KindAvailability:
    """One kind's figures over a run (see the module docstring for the definitions)."""

    kind: str
    requests: int = 0
    failures: int = 0
    windows: int = 0
    windows_up: int = 0
    outages: list[Outage] = field(default_factory=list)

    @property
    def availability(self) -> float | None:
        return self.windows_up / self.windows if self.windows else None

    @property
    def error_ratio(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    @property
    def unavailable_share(self) -> float:
        return 1.0 - self.availability if self.windows and self.availability is not None else 0.0

    @property
    def longest_outage(self) -> float:
        return max((o.seconds for o in self.outages), default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return {"availability": self.availability, "requests": self.requests, "failures": self.failures,
                "error_ratio": self.error_ratio, "windows": self.windows, "windows_up": self.windows_up,
                "outages": [o.as_dict() for o in self.outages]}


def judge(kind: str, counts: Mapping[int, tuple[int, int]], end: float | None,
          excused: Callable[[int], bool] = lambda _s: False) -> KindAvailability:
    """Classify one kind's windows. ``counts`` maps a window (epoch second) to (successes,
    failures); windows run from the first window in ``counts`` up to, not including, the window
    ``end`` falls in (the last complete one; ``None`` = through the last window in ``counts``).
    ``excused(window)`` leaves a window out. Pure: same input, same figures."""
    figures = KindAvailability(kind)
    for ok, failed in counts.values():
        figures.requests += ok + failed
        figures.failures += failed
    active = sorted(s for s, (ok, failed) in counts.items() if ok + failed)
    if not active:
        return figures
    last = active[-1] if end is None else math.floor(end / RESOLUTION) - 1
    up: bool | None = None
    outage_start: int | None = None
    for window in range(active[0], last + 1):
        ok, failed = counts.get(window, (0, 0))
        if ok:
            up = True
        elif failed:
            up = False
        if excused(window) or up is None:
            if outage_start is not None:
                figures.outages.append(Outage(kind, float(outage_start), float(window)))
                outage_start = None
            continue
        figures.windows += 1
        if up:
            figures.windows_up += 1
            if outage_start is not None:
                figures.outages.append(Outage(kind, float(outage_start), float(window)))
                outage_start = None
        elif outage_start is None:
            outage_start = window
    if outage_start is not None:
        figures.outages.append(Outage(kind, float(outage_start), float(last + 1)))
    return figures


def failed_checks(figures: KindAvailability, max_unavailable: float, max_outage: float) -> list[str]:
    """Why one kind fails ``availability`` (empty when it passes)."""
    if not figures.requests:
        return ["sent no request at all"]
    problems = []
    down = figures.windows - figures.windows_up
    if figures.windows and down > max_unavailable * figures.windows + 1e-9:
        problems.append(f"down {down} of {figures.windows} s "
                        f"({figures.unavailable_share:.1%} > {max_unavailable:.1%})")
    if figures.longest_outage > max_outage:
        problems.append(f"outage of {figures.longest_outage:.0f} s > {max_outage:g} s")
    return problems


# -- counting and merging --------------------------------------------------------------------------

class _Counts:
    """Successes and failures per window of one kind, in two growable arrays (bounded memory:
    8 bytes per second of run, whatever the request rate)."""

    def __init__(self) -> None:
        self.base: int | None = None
        self.ok = array("I")
        self.failed = array("I")

    def add(self, window: int, ok: int, failed: int) -> None:
        base = self.base
        if base is not None and 0 <= window - base < len(self.ok):  # the usual case: a window seen before
            index = window - base
            self.ok[index] += ok
            self.failed[index] += failed
            return
        if self.base is None:
            self.base = window
        if window < self.base:  # a late or skewed report: grow to the left
            pad = self.base - window
            self.ok = array("I", bytes(4 * pad)) + self.ok
            self.failed = array("I", bytes(4 * pad)) + self.failed
            self.base = window
        index = window - self.base
        if index >= len(self.ok):
            grow = index + 1 - len(self.ok)
            self.ok.extend(array("I", bytes(4 * grow)))
            self.failed.extend(array("I", bytes(4 * grow)))
        self.ok[index] += ok
        self.failed[index] += failed

    def as_mapping(self) -> dict[int, tuple[int, int]]:
        if self.base is None:
            return {}
        return {self.base + i: (ok, failed) for i, (ok, failed) in enumerate(zip(self.ok, self.failed, strict=False))
                if ok or failed}

    def get(self, window: int) -> tuple[int, int]:
        if self.base is None or not 0 <= window - self.base < len(self.ok):
            return 0, 0
        index = window - self.base
        return self.ok[index], self.failed[index]


class Availability:
    """Counts (every process) and judges (master or local runner) per-kind availability of one
    environment's runs; subscribes in ``__init__``, :meth:`remove` undoes it."""

    def __init__(self, environment: RunEnvironment) -> None:
        self.environment = environment
        self._counts: dict[str, _Counts] = {}
        self._tally: dict[str, list[int]] = {}  # [ok, failed] per kind in the current second, not yet settled
        self._tally_from = self._tally_to = 0.0  # the current second (clock seconds)
        self.dropped = 0
        self._pending: dict[str, dict[int, list[int]]] = {}
        self.excuses: list[tuple[str, float, float]] = []
        """(kind, from, to) spans left out of the judgement (faults stresskit injected)."""
        self.expected: set[str] = set()
        self.started: float | None = None
        self.stopping: float | None = None
        self._live: dict[str, tuple[int, bool | None, int | None]] = {}
        self._loop: gevent.Greenlet | None = None
        self._run_faults: dict[str, int] = {}
        self._worker: bool | None = None
        self._kind_memo: dict[tuple[str, str], str | None] = {}  # (type, name) -> kind or None (not evidence)
        self._excuses_changed = 0
        self._excused_cache: dict[str, tuple[tuple[str, int, int], Callable[[int], bool]]] = {}
        events = environment.events
        hooks = stresskit_events_of(environment)
        self._listeners = Listeners(
            (request_feed(environment), self._on_request),
            (events.report_to_master, self._on_report_to_master),
            (events.worker_report, self._on_worker_report),
            (events.test_start, self._on_test_start),
            (events.test_stopping, self._on_test_stopping),
            (events.test_stop, self._on_test_stop),
            (events.quitting, self._on_quitting),
            (hooks.fault_injected, self._on_fault_injected),
            (hooks.fault_recovered, self._on_fault_recovered),
        )

    def remove(self) -> None:
        self._listeners.remove()
        self._stop_loop()

    # -- settings ----------------------------------------------------------------------------

    @property
    def max_unavailable(self) -> float:
        return float(option(self.environment, "availability_max_unavailable", DEFAULT_MAX_UNAVAILABLE))

    @property
    def max_outage(self) -> float:
        return float(option(self.environment, "availability_max_outage", DEFAULT_MAX_OUTAGE))

    def _is_worker(self) -> bool:
        if self._worker is None:
            from locust.runners import WorkerRunner

            runner = self.environment.runner
            if runner is None:
                return False
            self._worker = isinstance(runner, WorkerRunner)
        return self._worker

    def _is_distributed_master(self) -> bool:
        from locust.runners import MasterRunner

        return isinstance(self.environment.runner, MasterRunner)

    # -- counting ----------------------------------------------------------------------------

    def _on_request(self, request_type: str, name: str, response_time: float | None, exception: Any,
                    now: float) -> None:
        # The hot path (every request of the run, from the request feed): the kind of a (type, name)
        # pair is looked up once and memoised (bounded), the user's declared kind once per user, and
        # the request is tallied for the current second; the tally is settled into the counts once
        # a second (or when they are read), skipping record()'s clock check (its window is now).
        try:
            kind = self._kind_memo[(request_type, name)]
        except (KeyError, TypeError):
            kind = kind_of(request_type)
            if kind is not None and not is_evidence(request_type, name or ""):
                kind = None
            if len(self._kind_memo) < _KIND_MEMO_LIMIT:
                try:
                    self._kind_memo[(request_type, name)] = kind
                except TypeError:
                    pass
        if kind is None:
            return
        current = gevent.getcurrent()
        declared: str | None = getattr(current, _DECLARED_KIND_ATTR, _UNKNOWN)  # found before
        if declared is _UNKNOWN:
            declared = _declared_kind(current)
        if declared is not None:
            kind = declared
        if not self._tally_from <= now < self._tally_to:  # a new second: the last one's tally is settled
            self._settle()
            window = now // RESOLUTION
            self._tally_from, self._tally_to = window * RESOLUTION, (window + 1) * RESOLUTION
        tally = self._tally.get(kind)
        if tally is None:
            tally = self._tally[kind] = [0, 0]
        tally[1 if exception else 0] += 1

    def _settle(self) -> None:
        """Move the current second's tally into the counts (local / master) or the counts a worker
        ships (its next report)."""
        tally, self._tally = self._tally, {}
        if not tally:
            return
        window = int(self._tally_from // RESOLUTION)
        if self._is_worker():
            for kind, (ok, failed) in tally.items():
                slot = self._pending.setdefault(kind, {}).setdefault(window, [0, 0])
                slot[0] += ok
                slot[1] += failed
            return
        for kind, (ok, failed) in tally.items():
            counts = self._counts.get(kind)
            if counts is None:
                counts = self._counts[kind] = _Counts()
            counts.add(window, ok, failed)

    @property
    def counts(self) -> dict[str, _Counts]:
        """Successes and failures per kind and second so far (master / local runner)."""
        self._settle()
        return self._counts

    def record(self, kind: str, window: int, ok: int, failed: int) -> None:
        """Add counts of one window (master / local runner). A window more than
        :data:`MAX_SKEW` seconds from now, or counts that cannot be true, are dropped and
        counted in :attr:`dropped` (a worker with a wrong clock must not grow the arrays)."""
        now = time.time() / RESOLUTION
        if abs(window - now) > MAX_SKEW or not (0 <= ok < 2**31 and 0 <= failed < 2**31):
            self.dropped += 1
            if self.dropped == 1:
                log.warning("availability: dropped counts of window %s (%d ok, %d failed): more than %d s from "
                            "this machine's clock or impossible; check the load generators' clocks",
                            window, ok, failed, MAX_SKEW)
            return
        self.counts.setdefault(kind, _Counts()).add(window, ok, failed)

    def _on_report_to_master(self, client_id: str = "", data: dict | None = None, **_: Any) -> None:
        if data is None:
            return
        self._settle()
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        data[REPORT_KEY] = {kind: [[w, ok, failed] for w, (ok, failed) in sorted(windows.items())]
                            for kind, windows in pending.items()}

    def _on_worker_report(self, client_id: str = "", data: dict | None = None, **_: Any) -> None:
        reported = (data or {}).get(REPORT_KEY)
        if not isinstance(reported, dict):
            return
        for kind, rows in reported.items():
            if kind not in KINDS or not isinstance(rows, list):
                continue
            for row in rows:
                try:
                    window, ok, failed = (int(v) for v in row)
                except (TypeError, ValueError):
                    continue
                self.record(kind, window, ok, failed)

    # -- the test's life -----------------------------------------------------------------------

    def _on_test_start(self, **_: Any) -> None:
        """A new test: every per-test figure starts from zero."""
        self._counts = {}
        self._tally = {}
        self.dropped = 0
        self._pending = {}
        self.excuses = []
        self._excused_cache = {}
        self.expected = set()
        self._live = {}
        self._run_faults = {}
        self.started = time.time()
        self.stopping = None
        self._stop_loop()
        if not self._is_worker():
            self._loop = gevent.spawn(self._live_loop)

    def _on_test_stopping(self, **_: Any) -> None:
        if self.stopping is None and self.started is not None:
            self.stopping = time.time()

    def _on_test_stop(self, **_: Any) -> None:
        self._on_test_stopping()
        self._stop_loop()

    def _on_quitting(self, **_: Any) -> None:
        self._on_test_stopping()
        self._stop_loop()

    def _stop_loop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and loop is not gevent.getcurrent():
            loop.kill(block=False)

    # -- excuses: faults stresskit injected -------------------------------------------------------

    def _on_fault_injected(self, kind: str = "", user: str = "", timestamp: float | None = None, **_: Any) -> None:
        if self._is_worker():
            return
        since = float(timestamp or time.time())
        targets = _fault_targets(kind)
        if user:
            # one user's fault can make its whole kind unavailable only when it is the kind's only user
            users = self.users_per_kind()
            self.excuses.extend((k, since, since + USER_FAULT_GRACE) for k in targets if users.get(k, 0) <= 1)
        else:
            self._run_faults[kind] = len(self.excuses)
            self.excuses.extend((k, since, since + self.max_outage) for k in targets)

    def _on_fault_recovered(self, kind: str = "", user: str = "", timestamp: float | None = None, **_: Any) -> None:
        first = self._run_faults.pop(kind, None) if not user else None
        if first is None:
            return
        until = float(timestamp or time.time())
        for index in range(first, len(self.excuses)):
            k, since, to = self.excuses[index]
            if since <= until < to:
                self.excuses[index] = (k, since, until)
                self._excuses_changed += 1

    def _excused(self, kind: str) -> Callable[[int], bool]:
        """Membership test of the kind's excused windows (memoised until the excuses change)."""
        key = (kind, len(self.excuses), self._excuses_changed)
        cached = self._excused_cache.get(kind)
        if cached is None or cached[0] != key:
            windows = {w for k, since, to in self.excuses if k == kind
                       for w in range(int(since // RESOLUTION), math.ceil(to / RESOLUTION))}
            cached = self._excused_cache[kind] = (key, windows.__contains__)
        return cached[1]

    # -- live ---------------------------------------------------------------------------------

    def _live_loop(self) -> None:
        while True:
            gevent.sleep(LIVE_INTERVAL)
            try:
                self.check_live()
            except Exception:  # a bug here must not take the run down; say it and keep going
                log.exception("live availability check failed")

    def users_per_kind(self) -> dict[str, int]:
        """Users running now per kind (the workers' reports on a master)."""
        env = self.environment
        runner = env.runner
        if runner is None:
            return {}
        counts = getattr(runner, "reported_user_classes_count", None)
        if counts is None:
            counts = getattr(runner, "user_classes_count", {}) or {}
        kinds = {c.__name__: getattr(c, "kind", None) for c in (env.user_classes or [])}
        users: dict[str, int] = {}
        for name, count in counts.items():
            kind = kinds.get(name) or ("api" if _is_http_user(env, name) else None)
            if kind in KINDS:
                users[kind] = users.get(kind, 0) + count
        return users

    def note_expected(self) -> None:
        """Remember which kinds the run runs now: planned by the shape, or with users running."""
        shape = getattr(self.environment, "shape_class", None)
        step = getattr(shape, "last_step", None)
        for kind, count in (getattr(step, "kind_counts", None) or {}).items():
            if count > 0:
                self.expected.add(kind)
        self.expected.update(kind for kind, count in self.users_per_kind().items() if count > 0)

    def check_live(self, now: float | None = None) -> None:
        """Log outages that started or ended since the last call (windows ``lag`` seconds old)."""
        now = time.time() if now is None else now
        self.note_expected()
        lag = LIVE_LAG_DISTRIBUTED if self._is_distributed_master() else LIVE_LAG_LOCAL
        upto = int((now - lag) // RESOLUTION)
        for kind, counts in self.counts.items():
            cursor, up, outage_start = self._live.get(kind, (counts.base or upto + 1, None, None))
            excused = self._excused(kind)
            while cursor <= upto:
                ok, failed = counts.get(cursor)
                if ok:
                    up = True
                elif failed:
                    up = False
                if up is False and outage_start is None and not excused(cursor):
                    outage_start = cursor
                    log.error("availability: %s outage started at %s (no successful %s request since)",
                              kind, _clock(cursor), kind)
                elif up and outage_start is not None:
                    log.warning("availability: %s outage ended at %s after %d s (started %s)",
                                kind, _clock(cursor), cursor - outage_start, _clock(outage_start))
                    outage_start = None
                cursor += 1
            self._live[kind] = (cursor, up, outage_start)

    # -- final --------------------------------------------------------------------------------

    def figures(self) -> dict[str, KindAvailability]:
        """Every judged kind's figures, now (the run's end when it has ended)."""
        self.note_expected()
        end = self.stopping if self.stopping is not None else time.time()
        kinds = [k for k in KINDS if k in self.expected or k in self.counts]
        return {k: judge(k, self.counts[k].as_mapping() if k in self.counts else {}, end, self._excused(k))
                for k in kinds}

    def criteria(self) -> list[tuple[str, bool, float | None, float, str]]:
        """``availability`` and ``kind_error_ratio`` as (name, passed, value, limit, detail)."""
        figures = self.figures()
        if not figures:
            return [("availability", False, None, 1.0 - self.max_unavailable,
                     "no client kind ran: nothing was tested")]
        lines, failing = [], []
        for kind, f in figures.items():
            problems = failed_checks(f, self.max_unavailable, self.max_outage)
            shown = "–" if f.availability is None else f"{f.availability:.1%}"
            text = f"{kind} {shown}"
            if f.outages:
                longest = max(f.outages, key=lambda o: o.seconds)
                text += f" ({len(f.outages)} outage(s), longest {longest.seconds:.0f} s from {_clock(longest.start)})"
            if problems:
                failing.append(kind)
                text += f" FAILED: {'; '.join(problems)}"
            lines.append(text)
        values = [0.0 if not f.requests else f.availability for f in figures.values()]
        value = min((v for v in values if v is not None), default=None)
        limits = f"limits: ≤{self.max_unavailable:.0%} down, outages ≤{self.max_outage:g} s, 1 s windows"
        availability = ("availability", not failing, value, 1.0 - self.max_unavailable,
                        f"{', '.join(lines)} ({limits})")
        ratios = [(k, f) for k, f in figures.items() if f.requests]
        over = [(k, f) for k, f in ratios if (f.error_ratio or 0.0) > MAX_KIND_ERROR_RATIO]
        parts = [f"{k} {f.failures}/{f.requests} ({f.error_ratio:.1%})" for k, f in ratios]
        worst = max((f.error_ratio or 0.0 for _, f in ratios), default=None)
        detail = ", ".join(parts) or "no requests"
        if over:
            detail = f"{', '.join(k for k, _ in over)} above {MAX_KIND_ERROR_RATIO:.0%}: {detail}"
        error_ratio = ("kind_error_ratio", not over, worst, MAX_KIND_ERROR_RATIO, f"failed per kind: {detail}")
        return [availability, error_ratio]

    def document(self) -> dict[str, Any]:
        """The ``availability`` key of ``<prefix>_run.json`` (shared contract)."""
        return {"resolution_seconds": RESOLUTION, "max_unavailable_share": self.max_unavailable,
                "max_outage_seconds": self.max_outage,
                "kinds": {k: f.as_dict() for k, f in self.figures().items()}}


def _declared_kind(current: Any) -> str | None:
    """The ``kind`` of the Locust user whose own greenlet (``current``) fires the request (Locust runs
    each user in a greenlet spawned with the user as its one argument), when it declares a known one:
    a page processor that fetches pages over HTTP is judged as ``browser``, not ``api``. Kept on the
    greenlet, where the request path looks first (a user's greenlet runs that one user)."""
    args = getattr(current, "args", None)
    kind = getattr(args[0], "kind", None) if args and len(args) == 1 else None
    kind = kind if isinstance(kind, str) and kind in KINDS else None
    try:
        setattr(current, _DECLARED_KIND_ATTR, kind)
    except (AttributeError, TypeError):  # a greenlet type without attributes: look it up each time
        pass
    return kind


_DECLARED_KIND_ATTR = "_stresskit_declared_kind"
_UNKNOWN: Any = object()  # "not looked up yet" on a greenlet


def _fault_targets(kind: str) -> tuple[str, ...]:
    from stresskit.faults.kinds import KINDS as FAULT_KINDS

    fault = FAULT_KINDS.get(kind)
    return tuple(fault.targets) if fault is not None else KINDS


def _is_http_user(environment: RunEnvironment, name: str) -> bool:
    for cls in environment.user_classes or []:
        if cls.__name__ == name:
            from locust import FastHttpUser, HttpUser

            return issubclass(cls, (HttpUser, FastHttpUser))
    return False


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


# -- wiring -----------------------------------------------------------------------------------------

_SLOT: PerRun[Any] = PerRun("availability")
_REGISTERED = Once()


def availability_of(environment: RunEnvironment) -> Availability | None:
    """The environment's :class:`Availability`, if :func:`use_availability` set one up."""
    return _SLOT.get(environment)


def criteria_results(environment: RunEnvironment) -> Iterable[tuple[str, bool, float | None, float, str]]:
    """The availability criteria of a run, or nothing when the locustfile did not opt in."""
    tracker = availability_of(environment)
    return tracker.criteria() if tracker is not None else ()


def document(environment: RunEnvironment) -> dict[str, Any] | None:
    """The ``availability`` key of ``_run.json``, or ``None`` when the locustfile did not opt in."""
    tracker = availability_of(environment)
    return tracker.document() if tracker is not None else None


def document_key(environment: RunEnvironment) -> dict[str, Any]:
    """``{"availability": ...}`` for ``_run.json``, or ``{}`` when the locustfile did not opt in."""
    doc = document(environment)
    return {} if doc is None else {"availability": doc}


def use_availability(events: Any) -> None:
    """Opt a locustfile into per-kind availability (idempotent per ``events``): options, counting on
    every process, judging on the master or local runner."""
    register_options(events, add_arguments)
    if not _REGISTERED.first(events):
        return
    events.init.add_listener(_on_init)


def _on_init(environment: RunEnvironment, **_: Any) -> None:
    previous = availability_of(environment)
    if previous is not None:
        previous.remove()
    _SLOT.set(environment, Availability(environment))
