"""The run's live figures on the master (or local runner), for shapes, criteria, web UI and reports.

Each part updates its own fields on the process where the truth is aggregated — the master in
a distributed run, the only process in a local run: the page quota sets ``pages_total`` and
counts ``pages_completed`` (and ``pages_due`` / ``pages_behind`` by its pace), the page processors' restarts arrive as
``session_restarts``, the
fault injector counts ``critical_failures``, cache users add hits and misses, the collector
appends ``alerts``. Shapes and criteria only read it.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.perrun import PerRun

_SLOT: PerRun[Any] = PerRun("run_state")


@dataclass
class RunState:
    """Live, master-side figures of one run. Mutated only through its methods or by the owning part."""

    pages_total: int = 0
    pages_completed: int = 0
    pages_failed: int = 0
    pages_due: int = 0
    """Pages due by now by the scenario's pace (the whole quota when unpaced); see stresskit.run.pacing."""
    pages_behind: int = 0
    """Pages due but not finished yet."""
    session_restarts: int = 0
    critical_failures: int = 0
    critical_details: list[str] = field(default_factory=list)
    faults_injected: int = 0
    faults_recovered: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    scenario: Any = field(default=None, repr=False, compare=False, metadata={"internal": True})
    """The resolved (time-scaled) scenario this run runs: set by the shape when it resolves its plan;
    read through :func:`stresskit.run.shape.scenario_of`, the one accessor."""
    lost_workers: list[dict[str, Any]] = field(default_factory=list, metadata={"internal": True})
    """Workers lost mid-run and the pages reclaimed from them (:func:`note_lost_worker`); ``_run.json``
    carries them as its top-level ``lost_workers`` key (:func:`stresskit.run.lifecycle.run_fields`)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **increments: int) -> None:
        """Add to integer counters, e.g. ``add(pages_completed=1, session_restarts=2)``."""
        with self._lock:
            for name, delta in increments.items():
                setattr(self, name, getattr(self, name) + delta)

    def record_critical(self, detail: str) -> None:
        with self._lock:
            self.critical_failures += 1
            if len(self.critical_details) < 1000:
                self.critical_details.append(detail)

    def reset_for_test(self) -> None:
        """Forget the previous test's figures at a new test start (the web UI or ``stresskit suite``
        can run several tests on one master). The ``pages_*`` figures are the page quota's and
        the pace's, which reset and recompute them themselves."""
        fresh = RunState()
        with self._lock:
            for f in fields(self):
                if not f.name.startswith(("_", "pages_")) and not f.metadata.get("internal"):
                    setattr(self, f.name, getattr(fresh, f.name))

    @property
    def cache_hit_rate(self) -> float | None:
        total = self.cache_hits + self.cache_misses
        return self.cache_hits / total if total else None

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of the figures."""
        with self._lock:
            data = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)
                    if not f.name.startswith("_") and not f.metadata.get("internal")}
        data["cache_hit_rate"] = self.cache_hit_rate
        return data


def run_state_of(environment: RunEnvironment) -> RunState:
    """The :class:`RunState` of a Locust environment, created on first use."""
    state = _SLOT.get_or_create(environment, RunState)
    return state


def note_lost_worker(environment: RunEnvironment, worker: str, lost_at: float | None = None,
                     pages: list[int] | tuple[int, ...] = ()) -> None:
    """Record a worker lost mid-run (once per worker) and the pages reclaimed from it.

    Here, below the cluster and the run's life cycle, so that the cluster's parts (worker checks, page
    quota) record it without importing the life cycle, which writes it into ``_run.json``."""
    state = run_state_of(environment)
    with state._lock:
        for entry in state.lost_workers:
            if entry["worker"] == worker:
                entry["pages_reclaimed"] = sorted(set(entry["pages_reclaimed"]) | set(pages))
                return
        state.lost_workers.append({"worker": worker, "lost_at": lost_at if lost_at is not None else time.time(),
                                   "pages_reclaimed": sorted(set(pages))})
