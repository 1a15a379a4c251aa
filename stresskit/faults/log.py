"""The fault log: ``<csv prefix>_faults.csv`` on the master, fed by every worker.

Faults happen where the users run (a worker, or the only process of a local run). Each event —
``injected``, ``recovered``, ``critical`` — is sent as a Locust custom message
(:data:`EVENT_MESSAGE`) to the master (a local runner delivers it to itself), where the
:class:`FaultLog` writes one CSV row with :data:`stresskit.core.schema.FAULT_COLUMNS`, flushed at
once, updates the run state (``faults_injected``, ``faults_recovered``,
``record_critical()``) and fires the stresskit event (``fault_injected``, ``fault_recovered``,
``critical_failure``). So the stresskit events fire once per fault for the whole run, on the
master or local runner, where the run state lives.
"""

from __future__ import annotations

import csv
import logging
import statistics
import threading
import time
from collections import defaultdict, deque
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import option
from stresskit.core.perrun import PerRun
from stresskit.core.runstate import run_state_of
from stresskit.core.schema import FAULT_COLUMNS, FAULTS_SUFFIX
from stresskit.events import stresskit_events_of

__all__ = ["EVENT_MESSAGE", "RUN_FAULT_MESSAGE", "FaultLog", "fault_log_of", "harness_error", "report"]

log = logging.getLogger("stresskit.faults")

EVENT_MESSAGE = "stresskit_fault_event"
"""worker → master: one fault event (a dict with the FAULT_COLUMNS keys)."""
RUN_FAULT_MESSAGE = "stresskit_run_fault"
"""master → workers: a run-wide fault began; every running user owes a recovery."""

_SLOT: PerRun[Any] = PerRun("fault_log")
MAX_KEPT = 10_000
"""Recovery times kept per kind for the summary's median and max."""
MAX_ROWS_KEPT = 500
"""Fault rows kept in memory (the most recent); the CSV file has every one. Bounded for soaks."""


class FaultLog:
    """Master-side (or local) sink of fault events: CSV file, run state, stresskit events, summary."""

    def __init__(self, environment: RunEnvironment) -> None:
        self.environment = environment
        self.rows: deque[dict[str, Any]] = deque(maxlen=MAX_ROWS_KEPT)
        self.by_kind: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"injected": 0, "recovered": 0, "critical": 0, "recovery_times": []})
        self._lock = threading.Lock()
        self._file = None
        self._writer = None
        prefix = option(environment, "csv_prefix")
        self.path = f"{prefix}{FAULTS_SUFFIX}" if prefix else None
        if self.path:
            self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed at quitting
            self._writer = csv.DictWriter(self._file, fieldnames=list(FAULT_COLUMNS))
            self._writer.writeheader()
            self._file.flush()
        runner = environment.runner
        if runner is not None and EVENT_MESSAGE not in runner.custom_messages:
            runner.register_message(EVENT_MESSAGE, self._on_message)
        environment.events.quitting.add_listener(self._on_quitting)

    def _on_message(self, environment: RunEnvironment, msg: Any, **_: Any) -> None:
        data = dict(msg.data or {})
        if not data.get("worker"):
            data["worker"] = msg.node_id
        self.record(**{k: data.get(k) for k in FAULT_COLUMNS})  # type: ignore[arg-type]  # the worker's row

    def record(self, timestamp: float | None = None, event: str = "injected", kind: str = "", user: str = "",
               worker: str = "local", detail: str = "", recovery_time: float | None = None) -> None:
        """Write one event: CSV row, run state, stresskit event, summary."""
        timestamp = float(timestamp) if timestamp else time.time()
        row = {"timestamp": round(timestamp, 6), "event": event, "kind": kind, "user": user or "",
               "worker": worker or "local", "detail": detail or "",
               "recovery_time": "" if recovery_time is None else round(float(recovery_time), 6)}
        with self._lock:
            self.rows.append(row)
            stats = self.by_kind[kind]
            if event in stats:
                stats[event] += 1
            if event == "recovered" and recovery_time is not None and len(stats["recovery_times"]) < MAX_KEPT:
                stats["recovery_times"].append(float(recovery_time))
            if self._writer is not None:
                try:
                    self._writer.writerow(row)
                    if self._file is not None:
                        self._file.flush()
                except OSError as exc:  # disk full: say so once, keep counting, name the file in _run.json
                    from stresskit.run.lifecycle import discard, note_write_error

                    discard(self._file)
                    self._file = self._writer = None
                    note_write_error(self.environment, self.path or "", exc)
        state = run_state_of(self.environment)
        hooks = stresskit_events_of(self.environment)
        if event == "injected":
            state.add(faults_injected=1)
            hooks.fault_injected.fire(kind=kind, user=row["user"], worker=row["worker"], detail=row["detail"],
                                      timestamp=timestamp)
        elif event == "recovered":
            state.add(faults_recovered=1)
            hooks.fault_recovered.fire(kind=kind, user=row["user"], worker=row["worker"],
                                       recovery_time=recovery_time, timestamp=timestamp)
        elif event == "harness_error":  # from a worker: the harness failed, not the target
            harness_error(self.environment, f"{detail} (on {row['worker']})")
        elif event == "critical":
            text = f"{kind}: {detail}" + (f" (user {row['user']} on {row['worker']})" if row["user"] else "")
            state.record_critical(text)
            hooks.critical_failure.fire(kind=kind, detail=text)
            log.error("critical failure: %s", text)

    def summary(self) -> list[dict[str, Any]]:
        """Per kind: injected, recovered, critical and the median / max recovery time (seconds)."""
        with self._lock:
            out = []
            for kind, stats in sorted(self.by_kind.items()):
                times = stats["recovery_times"]
                out.append({"kind": kind, "injected": stats["injected"], "recovered": stats["recovered"],
                            "critical": stats["critical"],
                            "median_recovery": round(statistics.median(times), 3) if times else None,
                            "max_recovery": round(max(times), 3) if times else None})
            return out

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
                self._writer = None

    def _on_quitting(self, **_: Any) -> None:
        self.close()


def fault_log_of(environment: RunEnvironment) -> FaultLog | None:
    """The environment's :class:`FaultLog` (created by :func:`stresskit.faults.use_faults` on the
    master or local runner), or ``None`` on a worker."""
    return _SLOT.get(environment)


def attach_log(environment: RunEnvironment) -> FaultLog:
    """Create the fault log of a master or local runner (once)."""
    existing = fault_log_of(environment)
    if existing is not None:
        return existing
    sink = FaultLog(environment)
    _SLOT.set(environment, sink)
    return sink


def report(environment: RunEnvironment, event: str, kind: str, user: str = "", detail: str = "",
           recovery_time: float | None = None, timestamp: float | None = None) -> None:
    """Send one fault event to the master's log (from a worker) or record it (local/master)."""
    row: dict[str, Any] = {"timestamp": timestamp or time.time(), "event": event, "kind": kind, "user": user,
           "worker": worker_id(environment), "detail": detail, "recovery_time": recovery_time}
    sink = fault_log_of(environment)
    if sink is not None:
        sink.record(**row)
        return
    runner = environment.runner
    if runner is not None:
        try:
            runner.send_message(EVENT_MESSAGE, row)
        except Exception as exc:  # noqa: BLE001 - a lost log row must not break a user
            log.warning("could not send a fault event to the master: %s", exc)


def worker_id(environment: RunEnvironment) -> str:
    """The client id of this worker, or ``"local"``."""
    from locust.runners import WorkerRunner

    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return runner.client_id
    return "local"


def harness_error(environment: RunEnvironment, text: str) -> None:
    """Record a failure of the harness itself, say it in one line, and stop the run (exit code 1).

    On a worker the error goes to the master as a fault-log row (event ``harness_error``), where
    this is called again; it is never a critical failure of the target.
    """
    from locust.runners import WorkerRunner

    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        report(environment, "harness_error", "", detail=text)
        return
    from stresskit.faults.conditions import conditions_of

    state = conditions_of(environment)
    with state._lock:
        first = not state.harness_errors
        if len(state.harness_errors) < 100:
            state.harness_errors.append(text)
    if not first:
        log.debug("harness error (run already stopping): %s", text)
        return
    log.error("harness error, stopping the run (exit code 1; not the target's fault): %s", text)
    if runner is None:
        return
    import gevent

    from stresskit.core.runstate import run_state_of

    run_state_of(environment).stop_reason = f"harness error: {text}"
    gevent.spawn(runner.quit if option(environment, "headless", False) else runner.stop)
