"""The versioned JSON sample the agent streams, and its mapping onto the resources CSV.

One sample is one JSON object on one line (``application/x-ndjson``)::

    {"v": 1, "type": "sample", "seq": 42, "instance": "3f9c...", "host": "web-1",
     "time": 1717000000.0, "mono": 1234.5, "interval": 1.0,
     "system": {"cpu_percent": 12.5, "memory_percent": 40.1, "memory_used": ..., "memory_available": ...,
                "memory_total": ..., "swap_percent": 0.0, "load1": 0.3, "load5": 0.2, "load15": 0.1,
                "disk_read_bps": 0.0, "disk_write_bps": 4096.0, "net_sent_bps": 120.0, "net_recv_bps": 80.0,
                "connections": 17},
     "processes": [{"pid": 123, "name": "python3", "selector": "name:python", "cpu_percent": 3.0,
                    "memory_percent": 0.4, "rss_bytes": 31457280, "threads": 4, "open_files": 12,
                    "connections": 2}],
     "browsers": {"count": 3, "rss_bytes": 412000000}}

``seq`` counts samples of one agent lifetime (``instance``) from 1 without holes; a subscriber
that sees a jump lost samples (the ring buffer overflowed), one that sees a new ``instance``
saw the agent restart. Rates and CPU percentages that cannot be known yet (the first reading
of a counter or a process) are ``null``. While no sample is due, the stream carries
``{"v": 1, "type": "heartbeat", "seq": <latest>}`` lines so a subscriber can tell a quiet agent
from a dead one.

Standard library only: the agent, the collector and the reports all import it.
"""

from __future__ import annotations

from typing import Any

from stresskit.core.schema import RESOURCE_COLUMNS

__all__ = [
    "SCHEMA_VERSION",
    "SampleError",
    "gap_row",
    "generator_row",
    "sample_rows",
    "validate_sample",
]

SCHEMA_VERSION = 1
"""Bumped when a field changes meaning or disappears; new optional fields keep the version."""

_SYSTEM_FIELDS = ("cpu_percent", "memory_percent", "memory_used", "memory_available", "swap_percent",
                  "load1", "disk_read_bps", "disk_write_bps", "net_sent_bps", "net_recv_bps", "connections")
_PROCESS_FIELDS = ("pid", "name", "cpu_percent", "memory_percent", "rss_bytes", "threads", "open_files",
                   "connections")


class SampleError(ValueError):
    """A line from an agent is not a sample this version of stresskit understands."""


def validate_sample(obj: Any) -> dict[str, Any]:
    """Return ``obj`` if it is a well-formed sample of :data:`SCHEMA_VERSION`, else raise :class:`SampleError`.

    Checks the envelope and the types the collector relies on; unknown extra fields are allowed
    so that a newer agent can add fields without breaking older collectors.
    """
    if not isinstance(obj, dict):
        raise SampleError("sample is not a JSON object")
    if obj.get("v") != SCHEMA_VERSION:
        raise SampleError(f"sample schema version {obj.get('v')!r} is not {SCHEMA_VERSION}; upgrade stresskit")
    if obj.get("type") != "sample":
        raise SampleError(f"line type {obj.get('type')!r} is not 'sample'")
    for key, kind in (("seq", int), ("instance", str), ("host", str), ("time", (int, float)),
                      ("mono", (int, float)), ("interval", (int, float)), ("system", dict),
                      ("processes", list), ("browsers", dict)):
        if not isinstance(obj.get(key), kind) or isinstance(obj.get(key), bool):
            raise SampleError(f"sample field {key!r} is missing or not {getattr(kind, '__name__', kind)}")
    if obj["seq"] < 1:
        raise SampleError("sample seq must be >= 1")
    for proc in obj["processes"]:
        if not isinstance(proc, dict) or not isinstance(proc.get("pid"), int):
            raise SampleError("sample process entry without an integer pid")
    return obj


def _empty_row() -> dict[str, Any]:
    return dict.fromkeys(RESOURCE_COLUMNS, "")


def _value(value: Any) -> Any:
    """CSV cell for a value: ``None`` becomes an empty cell, floats keep 3 decimals."""
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 3)
    return value


def sample_rows(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources-CSV rows of one sample: one ``system`` row, one ``process`` row per tracked
    process and one ``browsers`` row, each with exactly the keys of ``RESOURCE_COLUMNS``."""
    host, seq, ts = sample["host"], sample["seq"], sample["time"]
    system = sample["system"]
    row = _empty_row()
    row.update(timestamp=_value(float(ts)), host=host, seq=seq, kind="system", name="system")
    row.update(
        cpu_percent=_value(system.get("cpu_percent")),
        memory_percent=_value(system.get("memory_percent")),
        rss_bytes=_value(system.get("memory_used")),
        available_bytes=_value(system.get("memory_available")),
        swap_percent=_value(system.get("swap_percent")),
        load1=_value(system.get("load1")),
        connections=_value(system.get("connections")),
        disk_read_bps=_value(system.get("disk_read_bps")),
        disk_write_bps=_value(system.get("disk_write_bps")),
        net_sent_bps=_value(system.get("net_sent_bps")),
        net_recv_bps=_value(system.get("net_recv_bps")),
    )
    rows = [row]
    for proc in sample["processes"]:
        row = _empty_row()
        row.update(timestamp=_value(float(ts)), host=host, seq=seq, kind="process")
        row.update(
            name=proc.get("name", ""),
            pid=proc["pid"],
            cpu_percent=_value(proc.get("cpu_percent")),
            memory_percent=_value(proc.get("memory_percent")),
            rss_bytes=_value(proc.get("rss_bytes")),
            threads=_value(proc.get("threads")),
            open_files=_value(proc.get("open_files")),
            connections=_value(proc.get("connections")),
        )
        rows.append(row)
    browsers = sample["browsers"]
    row = _empty_row()
    row.update(timestamp=_value(float(ts)), host=host, seq=seq, kind="browsers", name="browsers",
               rss_bytes=_value(browsers.get("rss_bytes")), count=_value(browsers.get("count")))
    rows.append(row)
    return rows


def gap_row(host: str, timestamp: float, lost: int) -> dict[str, Any]:
    """A ``gap`` row: ``lost`` samples of ``host`` are missing, starting at ``timestamp``."""
    row = _empty_row()
    row.update(timestamp=_value(float(timestamp)), host=host, kind="gap", name=host, count=int(lost))
    return row


def generator_row(worker: str, figures: dict[str, Any]) -> dict[str, Any]:
    """A ``generator`` row from a load generator's own measurement (see ``stresskit.observe.collector``)."""
    row = _empty_row()
    row.update(
        timestamp=_value(float(figures["time"])), host=worker, kind="generator", name=worker,
        pid=figures.get("pid", ""), cpu_percent=_value(figures.get("cpu_percent")),
        memory_percent=_value(figures.get("memory_percent")), rss_bytes=_value(figures.get("rss_bytes")),
        threads=_value(figures.get("threads")),
    )
    return row
