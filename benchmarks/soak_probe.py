"""A locustfile fragment for benchmarks/bench_soak.py: where does the load generator's memory go?

Load it beside the real locustfile (``-f locustfiles/production.py,benchmarks/soak_probe.py``) with
``STRESSKIT_SOAK_PROBE=PATH``: it starts tracemalloc (``STRESSKIT_SOAK_PROBE_FRAMES`` frames per
allocation, default 1), snapshots after the warm-up
(``STRESSKIT_SOAK_PROBE_WARMUP`` seconds, default 60) and again at ``STRESSKIT_SOAK_PROBE_END``
seconds (default: at quitting, where stopping itself allocates), and writes the 25 allocation
sites that grew most between the two (by file and line) to PATH as JSON. Every 30 s it records
the traced Python heap beside the process RSS, so a growth the heap does not show is known to be
outside Python's objects (C libraries, the allocator). It also counts the entries of Locust's
per-second structures on the master. Without the variable it does nothing. Measurement only:
tracemalloc slows the generator down.
"""

import json
import os
import time
import tracemalloc

import gevent
import psutil
from locust import events

OUT = os.environ.get("STRESSKIT_SOAK_PROBE")
WARMUP = float(os.environ.get("STRESSKIT_SOAK_PROBE_WARMUP", "60"))
FRAMES = int(os.environ.get("STRESSKIT_SOAK_PROBE_FRAMES", "1"))
END = float(os.environ.get("STRESSKIT_SOAK_PROBE_END", "0")) or None
_state: dict = {"series": []}


def _locust_counts(environment) -> dict:
    stats = environment.runner.stats if environment.runner else None
    if stats is None:
        return {}
    entries = [*stats.entries.values(), stats.total]
    return {"stats_entries": len(stats.entries), "errors": len(stats.errors),
            "per_second_keys": sum(len(e.num_reqs_per_sec) + len(e.num_fail_per_sec) for e in entries),
            "history": len(stats.history)}


def _warm(environment) -> None:
    gevent.sleep(WARMUP)
    _state["first"] = tracemalloc.take_snapshot()
    _state["first_at"] = time.time()
    _state["first_counts"] = _locust_counts(environment)


def _series() -> None:
    started = time.monotonic()
    process = psutil.Process()
    while True:
        heap, _ = tracemalloc.get_traced_memory()
        _state["series"].append({"t": round(time.monotonic() - started, 1), "heap": heap,
                                 "rss": process.memory_info().rss})
        gevent.sleep(30)


def _end(environment) -> None:
    gevent.sleep(END)
    _state["second"] = tracemalloc.take_snapshot()
    _state["second_at"] = time.time()
    _state["second_counts"] = _locust_counts(environment)


@events.init.add_listener
def _on_init(environment, **_):
    if OUT:
        tracemalloc.start(FRAMES)
        gevent.spawn(_warm, environment)
        gevent.spawn(_series)
        if END:
            gevent.spawn(_end, environment)


@events.quitting.add_listener
def _on_quitting(environment, **_):
    if not OUT or "first" not in _state:
        return
    second = _state.get("second") or tracemalloc.take_snapshot()
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    group = "traceback" if FRAMES > 1 else "lineno"
    diff = second.filter_traces(filters).compare_to(_state["first"].filter_traces(filters), group)
    top = [{"where": [f"{f.filename}:{f.lineno}" for f in d.traceback], "growth_bytes": d.size_diff,
            "count_growth": d.count_diff} for d in diff[:25]]
    with open(OUT, "w", encoding="utf-8") as handle:
        json.dump({"seconds": _state.get("second_at", time.time()) - _state["first_at"], "top": top,
                   "locust_counts_after_warmup": _state["first_counts"],
                   "locust_counts_at_end": _state.get("second_counts") or _locust_counts(environment),
                   "heap_and_rss": _state["series"]}, handle, indent=2)
