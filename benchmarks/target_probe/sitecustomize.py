"""For benchmarks/bench_soak.py --probe-target: where does the reference target's memory go?

bench_soak.py puts this directory on the target's PYTHONPATH with ``STRESSKIT_TARGET_PROBE=PATH``;
Python imports ``sitecustomize`` at start-up, so the target runs under tracemalloc
(``STRESSKIT_TARGET_PROBE_FRAMES`` frames, default 8) without a line of its own changed. A thread
snapshots at ``STRESSKIT_TARGET_PROBE_WARMUP`` and ``STRESSKIT_TARGET_PROBE_END`` seconds after
start, records the traced heap beside the RSS every 30 s, and writes the 25 allocation sites that
grew most between the two snapshots to PATH as JSON. Without the variable it does nothing.
Measurement only: tracemalloc slows the target down.
"""

import os

if os.environ.get("STRESSKIT_TARGET_PROBE"):
    import json
    import threading
    import time
    import tracemalloc

    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _probe() -> None:
        out = os.environ["STRESSKIT_TARGET_PROBE"]
        warmup = float(os.environ.get("STRESSKIT_TARGET_PROBE_WARMUP", "60"))
        end = float(os.environ.get("STRESSKIT_TARGET_PROBE_END", "600"))
        started = time.monotonic()
        series, first = [], None
        while True:
            now = time.monotonic() - started
            series.append({"t": round(now, 1), "heap": tracemalloc.get_traced_memory()[0], "rss": _rss()})
            if first is None and now >= warmup:
                first = tracemalloc.take_snapshot()
            if now >= end:
                break
            time.sleep(min(30.0, max(0.1, (warmup if first is None else end) - now)))  # the probe's own clock
        second = tracemalloc.take_snapshot()
        filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
        diff = second.filter_traces(filters).compare_to(first.filter_traces(filters), "traceback")
        top = [{"where": [f"{f.filename}:{f.lineno}" for f in d.traceback], "growth_bytes": d.size_diff,
                "count_growth": d.count_diff} for d in diff[:25]]
        with open(out, "w", encoding="utf-8") as fh:
            json.dump({"seconds": end - warmup, "top": top, "heap_and_rss": series}, fh, indent=2)

    tracemalloc.start(int(os.environ.get("STRESSKIT_TARGET_PROBE_FRAMES", "8")))
    threading.Thread(target=_probe, name="stresskit-target-probe", daemon=True).start()
