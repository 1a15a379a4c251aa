"""The coordinating half of open-model arrivals: split the rate across workers, count, judge.

On the master (or a local runner) :class:`ArrivalControl`:

- at test start, turns the scenario's rated kinds into :class:`~stresskit.arrival.pacer.RateSchedule`
  s and gives each worker a share of each kind's rate — in proportion to its users of the kind
  (equal while none are spawned yet), with a phase so their tickets interleave — by a custom
  message (:data:`MSG_PLAN`); a local runner applies it to its own dispatcher;
- once a second, compares the workers that are up (and their users per kind) with the ones it
  planned for and, when a worker joined or was lost or users moved, sends every worker its new
  shares from that moment on (rebalance);
- sums the workers' ticket counts (sent with ``report_to_master``) and their start-lag sketches;
  every :data:`WARN_INTERVAL` seconds it warns when a kind dropped iterations, naming the kind,
  how many of how many were due, its ceiling and its rate;
- at the end adds the ``dropped_iterations`` criterion (dropped / due of the worst kind at most
  ``--max-dropped-ratio``) and the ``dropped_iterations`` / ``arrival`` keys of ``_run.json``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent

from stresskit.arrival.dispatch import ensure_dispatcher
from stresskit.arrival.pacer import RateSchedule, schedules, split_shares
from stresskit.core.envtypes import RunEnvironment
from stresskit.report.sketch import decode_hist, encode, merge_encoded, new_sketch
from stresskit.run.scenarios import RATE_UNITS

__all__ = ["DEFAULT_MAX_DROPPED_RATIO", "MSG_PLAN", "REPORT_KEY", "WARN_INTERVAL", "ArrivalControl"]

log = logging.getLogger("stresskit.arrival")

MSG_PLAN = "stresskit_arrival_plan"
"""Master → worker: this worker's share of every rated kind's schedule, from a given moment on."""
REPORT_KEY = "stresskit_arrival"
"""Key of the workers' ``report_to_master`` data: ticket totals and start-lag sketches."""
DEFAULT_MAX_DROPPED_RATIO = 0.01
"""Default limit of the ``dropped_iterations`` criterion: at most 1% of a kind's due iterations dropped."""
WARN_INTERVAL = 10.0
"""Seconds between checks for dropped iterations (a warning per kind that dropped any)."""
POLL_INTERVAL = 1.0
"""Seconds between checks of which workers are up (rebalance)."""


class ArrivalControl:
    """Master/local side of arrival rates for one environment."""

    def __init__(self, environment: RunEnvironment) -> None:
        self.environment = environment
        self.schedules: dict[str, RateSchedule] = {}
        self.ceilings: dict[str, int] = {}
        self.workers: tuple[str, ...] = ()
        self.totals: dict[str, dict[str, list[float]]] = {}  # worker id -> kind -> [due, started, dropped]
        self.lag: dict[str, Any] = {}
        self._loop: gevent.Greenlet | None = None
        self._last_warn: dict[str, list[float]] = {}
        self._started_at = 0.0
        self._plan_key: Any = None

    # -- test lifecycle --------------------------------------------------------------------------

    def start(self, scenario: Any, shape: Any, kinds: Any = None) -> None:
        """Plan the scenario's rated kinds (if any; only those in ``kinds`` when given — the kinds the
        locustfile has User classes for) and start the rebalance/warning loop."""
        self.stop()
        self.schedules = {k: s for k, s in schedules(scenario).items() if kinds is None or k in kinds}
        self.totals, self.lag, self._last_warn = {}, {}, {}
        if not self.schedules:
            return
        self.ceilings = {kind: max((s.max_users or {}).get(kind, 0) for s in scenario.stages)
                         for kind in self.schedules}
        self.shape = shape
        self._started_at = time.time()
        self.workers, self._plan_key = (), None
        self._rebalance(origin=0.0)
        self._loop = gevent.spawn(self._run)
        log.info("open model: %s", "; ".join(
            f"{kind} up to {max(seg.r1 / RATE_UNITS[kind][1] for seg in sch.segments):g} "
            f"{RATE_UNITS[kind][0]} with at most {self.ceilings[kind]} busy users" for kind, sch in self.schedules.items()))

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.kill(block=False)
            self._loop = None
        if self._is_local():
            ensure_dispatcher(self.environment).stop()

    def elapsed(self) -> float:
        shape = getattr(self, "shape", None)
        return shape.get_run_time() if shape is not None else time.time() - self._started_at

    # -- split and rebalance ---------------------------------------------------------------------

    def _is_local(self) -> bool:
        return not type(self.environment.runner).__name__.startswith("Master")

    def _up_workers(self) -> tuple[str, ...]:
        runner = self.environment.runner
        if self._is_local():
            return ("local",)
        nodes = list(runner.clients.ready) + list(runner.clients.spawning) + list(runner.clients.running)
        return tuple(sorted(node.id for node in nodes))

    def _users_per_worker(self, workers: tuple[str, ...]) -> dict[str, dict[str, int]]:
        """Users of each rated kind on each worker, from the counts the workers report to the master."""
        kind_of = {cls.__name__: getattr(cls, "kind", None) for cls in self.environment.user_classes}
        out: dict[str, dict[str, int]] = {}
        for worker in workers:
            node = self.environment.runner.clients.get(worker)
            per: dict[str, int] = {}
            for name, count in (getattr(node, "user_classes_count", None) or {}).items():
                kind = kind_of.get(name)
                if kind in self.schedules:
                    per[kind] = per.get(kind, 0) + int(count)
            out[worker] = per
        return out

    def _rebalance(self, origin: float) -> None:
        """Give every worker its share of each kind's rate (in proportion to its users of the kind)
        when the workers that are up, or their users, changed since the last plan."""
        workers = self._up_workers()
        if not workers:
            return
        users = {"local": {}} if self._is_local() else self._users_per_worker(workers)
        shares = split_shares(workers, users, list(self.schedules))
        key = (workers, tuple((w, k, round(s, 3)) for w, per in shares.items() for k, (s, _) in per.items()))
        if key == self._plan_key:
            return
        if self.workers and workers != self.workers:
            log.info("open model: %d worker(s) up (was %d); rate rebalanced from %.1f s on",
                     len(workers), len(self.workers), origin)
        self.workers, self._plan_key = workers, key
        data = {"kinds": {k: s.as_data() for k, s in self.schedules.items()}, "origin": origin}
        for worker in workers:
            if worker == "local":
                ensure_dispatcher(self.environment).apply(self.schedules, shares[worker], origin, self.elapsed())
            else:
                self.environment.runner.send_message(
                    MSG_PLAN, {**data, "shares": shares[worker], "elapsed": self.elapsed()}, client_id=worker)

    def _run(self) -> None:
        last_warn = time.monotonic()
        while True:
            gevent.sleep(POLL_INTERVAL)
            try:
                if not self._is_local():
                    self._rebalance(origin=self.elapsed())
                if time.monotonic() - last_warn >= WARN_INTERVAL:
                    last_warn = time.monotonic()
                    self.warn_dropped()
            except Exception:  # a bug here must not end the run's load
                log.exception("arrival control loop")

    # -- figures ---------------------------------------------------------------------------------

    def on_report(self, worker: str, data: dict[str, Any]) -> None:
        """Take a worker's (or the local dispatcher's) totals and start-lag sketches."""
        totals = data.get("totals") or {}
        self.totals[worker] = {str(k): [float(x) for x in v] for k, v in totals.items()}
        for kind, item in (data.get("lag") or {}).items():
            sketch = self.lag.get(kind)
            if sketch is None:
                sketch = self.lag[kind] = new_sketch()
            merge_encoded(sketch, item)

    def collect_local(self) -> None:
        """A local runner: read the dispatcher's figures directly."""
        if self._is_local() and self.schedules:
            dispatcher = ensure_dispatcher(self.environment)
            self.on_report("local", {"totals": dispatcher.totals(), "lag": dispatcher.take_lag()})

    def counts(self) -> dict[str, dict[str, float]]:
        """``{kind: {"due", "started", "dropped", "scheduled"}}`` summed over workers (the lost ones too)."""
        self.collect_local()
        names = ("due", "started", "dropped", "scheduled")
        out: dict[str, dict[str, float]] = {kind: dict.fromkeys(names, 0) for kind in self.schedules}
        for per in self.totals.values():
            for kind, values in per.items():
                row = out.setdefault(kind, dict.fromkeys(names, 0))
                for name, value in zip(names, values, strict=False):
                    row[name] += value
        for row in out.values():
            for name in ("due", "started", "dropped"):
                row[name] = int(row[name])
            row["scheduled"] = round(row["scheduled"], 1)
        return out

    def warn_dropped(self) -> None:
        """One warning per kind that dropped iterations since the last check: which kind, by how much."""
        for kind, row in self.counts().items():
            before = self._last_warn.get(kind, [0, 0])
            due, dropped = row["due"] - before[0], row["dropped"] - before[1]
            self._last_warn[kind] = [row["due"], row["dropped"]]
            if dropped > 0:
                unit, factor = RATE_UNITS[kind]
                schedule = self.schedules[kind]
                rate = schedule.rate_at(min(self.elapsed(), schedule.end - 1e-6)) / factor
                log.warning("open model: %s dropped %d of %d iterations due since the last check (%.1f%%): "
                            "%d busy users (max_users.%s) cannot sustain %.4g %s; raise max_users.%s or lower "
                            "the rate", kind, dropped, due, 100.0 * dropped / max(due, 1), self.ceilings[kind],
                            kind, rate, unit, kind)

    def criterion(self, limit: float) -> tuple[bool, float, str] | None:
        """``(passed, worst dropped share, detail)``, or ``None`` without rated kinds."""
        if not self.schedules:
            return None
        counts = self.counts()
        parts, worst = [], 0.0
        for kind, row in counts.items():
            share = row["dropped"] / row["due"] if row["due"] else 0.0
            worst = max(worst, share)
            parts.append(f"{kind}: {row['dropped']} of {row['due']} dropped ({share:.2%})")
        if not any(row["due"] for row in counts.values()):
            return False, 1.0, "no iterations were due: the open-model kinds never ran"
        return worst <= limit, worst, "; ".join(parts) + f" (limit {limit:.2%} per kind)"

    def run_keys(self) -> dict[str, Any]:
        """``dropped_iterations`` (shared contract) and ``arrival`` (details) for ``_run.json``."""
        if not self.schedules:
            return {}
        counts = self.counts()
        detail = {}
        for kind, row in counts.items():
            lag = self.lag.get(kind)
            q = decode_hist(encode(lag)).quantiles((0.5, 0.99, 1.0)) if lag is not None and lag.count else None
            achieved = row["started"] / row["scheduled"] if row["scheduled"] else None
            detail[kind] = {**row, "achieved_ratio": achieved, "max_users": self.ceilings.get(kind, 0),
                            "unit": RATE_UNITS[kind][0],
                            "start_lag_ms": {"p50": q[0], "p99": q[1], "max": q[2]} if q else None}
        return {"dropped_iterations": {kind: row["dropped"] for kind, row in counts.items()}, "arrival": detail}
