"""The files a run writes, as column lists: the contract between the Locust side and the reports.

Standard library only, so the agent and the report can import it. Every file is named
``<prefix>_<name>`` where ``<prefix>`` is Locust's ``--csv`` prefix.
"""

from __future__ import annotations

RESOURCES_SUFFIX = "_resources.csv"
"""One row per (sample, source). Written by the collector on the master."""

RESOURCE_COLUMNS = (
    "timestamp",         # wall-clock seconds (time.time()) when the sample was taken
    "host",              # agent host name, or the worker id for kind=generator
    "seq",               # agent sequence number (empty for generator rows)
    "kind",              # system | process | browsers | generator | gap
    "name",              # process name / "system" / "browsers" / worker id / host for gaps
    "pid",               # process id (process and generator rows)
    "cpu_percent",       # 0..100 per core for processes, 0..100 of the machine for system
    "memory_percent",    # system: used %; process: % of total memory
    "rss_bytes",         # process / browser-group / generator RSS; system: used bytes
    "available_bytes",   # system only
    "swap_percent",      # system only
    "load1",             # system only
    "threads",           # process only
    "open_files",        # process only
    "connections",       # process: its connections; system: open inet connections
    "disk_read_bps",     # system only, rates
    "disk_write_bps",
    "net_sent_bps",
    "net_recv_bps",
    "count",             # browsers: process count; gap: number of samples lost
)

FAULTS_SUFFIX = "_faults.csv"
"""One row per fault event. Written by the fault injector's log on the master."""

FAULT_EVENTS = ("injected", "recovered", "critical")
"""Events of ``_faults.csv`` that count as faults: what was injected, recovered, not recovered."""
FAULT_NOTICES = ("unavailable", "harness_error")
"""Events of ``_faults.csv`` that are notices, not faults: a fault this backend cannot produce (reported
once), an error of the harness itself (the proxy's API, an agent refusing)."""

FAULT_COLUMNS = (
    "timestamp",      # wall-clock seconds
    "event",          # one of FAULT_EVENTS or FAULT_NOTICES
    "kind",           # browser_crash, element_not_found, stale_element, javascript_error, network_timeout,
                      # rate_limiting, memory_pressure, websocket_drop, backend_crash, cache_disconnect, ...
    "user",           # user id ("" for run-wide faults)
    "worker",         # worker client id or "local"
    "detail",         # free text
    "recovery_time",  # seconds (recovered rows only)
)

RUN_SUFFIX = "_run.json"
"""Run metadata and criteria, written at the end of the run by ``stresskit.run.criteria``:

``{"scenario": str, "time_scale": float, "started": float, "ended": float,
"pages_total": int, "pages_completed": int, "pages_due": int, "pages_behind": int,
"session_restarts": int, "critical_failures": int,
"stopped_early": bool, "stop_reason": str, "exit_code": int,
"criteria": [{"name": str, "passed": bool, "value": number|null, "limit": number|null, "detail": str}],
"thresholds": [{"expression": str, "passed": bool, "value": number|null, "abort_on_fail": bool}],
"workers": [...], "run_state": {...}}``

``pages_due``: pages due by the end of the run by the scenario's pace (``stresskit.run.pacing``; the
whole quota when unpaced); ``page_completion`` is judged against it. ``pages_behind``: due but
not finished when the run ended.

``availability`` (when the locustfile uses ``stresskit.run.availability.use_availability``):
``{"resolution_seconds": float, "max_unavailable_share": float, "max_outage_seconds": float,
"kinds": {KIND: {"availability": float|null, "requests": int, "failures": int, "error_ratio": float|null,
"windows": int, "windows_up": int, "outages": [{"kind": KIND, "start": float, "end": float,
"seconds": float}]}}}``, KIND one of api, websocket, cache, browser (definitions in that module).

``interrupted``: null, or the signal that stopped the run ("SIGTERM", "SIGINT"; ``stop_reason`` is
then "interrupted by SIGTERM" and ``exit_code`` 10). ``truncated_files``: ``[{"file": str, "error":
str, "at": float}]``, files that stopped being written (disk full) at ``at`` (epoch seconds).
``lost_workers``: ``[{"worker": str, "lost_at": float, "pages_reclaimed": [int, ...]}]``, workers
lost mid-run and the pages handed out again. (``stresskit.run.lifecycle``.)
"""

LATENCY_SUFFIX = "_latency.jsonl"
"""Mergeable latency sketches (DDSketch), one JSON line per (window, request name), written on
the master. See ``stresskit.observe.latency``."""

LIVE_SUFFIX = "_live.json"
"""Live progress of a running test, rewritten every :data:`stresskit.run.criteria.LIVE_WRITE_INTERVAL`
seconds by ``stresskit.run.criteria`` on the master (``stresskit suite`` shows it as progress):

``{"scenario": str, "time_scale": float, "stage": str, "elapsed": float, "scenario_duration": float|null,
"pages_total": int, "pages_completed": int, "pages_due": int, "pages_behind": int, "users": int, "requests": int,
"failures": int,
"critical_failures": int, "updated": float}``
"""
