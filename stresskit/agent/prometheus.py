"""Prometheus text exposition (format 0.0.4) of the agent's latest sample and its own counters.

Names follow the Prometheus conventions: base units with their suffix (``_bytes``, ``_ratio``
for 0–1 shares instead of percent), ``_total`` counters for what only grows (disk and network
bytes are the kernel's cumulative counters, read at scrape time; ``rate()`` makes them rates),
gauges for the rest. The table :data:`FAMILIES` is the one place a metric joins; the tests and
the Grafana dashboard check their names against it.

Until 0.1 the agent served other names (``stresskit_system_cpu_percent``,
``stresskit_system_memory_used`` in bytes without ``_bytes``, ``*_bps`` rates as gauges,
``stresskit_process_rss_bytes``, ``stresskit_browsers_*``); they are gone, see docs/agent.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FAMILIES", "Family", "io_totals", "metric_names", "render"]


@dataclass(frozen=True)
class Family:
    """One metric family: its name, type, help text and where its value comes from.

    ``source`` is ``system`` / ``process`` / ``browsers`` (a key of the sample's section),
    ``io`` (a kernel counter read at scrape time) or ``agent`` (the server's own figures);
    ``scale`` converts the sample's unit into the base unit (percent → ratio).
    """

    name: str
    kind: str
    help: str
    source: str
    key: str
    scale: float = 1.0


FAMILIES: tuple[Family, ...] = (
    Family("stresskit_system_cpu_usage_ratio", "gauge", "System CPU utilisation, 0-1 of the whole machine.",
           "system", "cpu_percent", 0.01),
    Family("stresskit_system_memory_usage_ratio", "gauge", "Used memory as a share of the total, 0-1.",
           "system", "memory_percent", 0.01),
    Family("stresskit_system_memory_used_bytes", "gauge", "Used memory in bytes (total minus available).",
           "system", "memory_used"),
    Family("stresskit_system_memory_available_bytes", "gauge", "Available memory in bytes.",
           "system", "memory_available"),
    Family("stresskit_system_memory_total_bytes", "gauge", "Total memory in bytes.", "system", "memory_total"),
    Family("stresskit_system_swap_usage_ratio", "gauge", "Used swap as a share of the total, 0-1.",
           "system", "swap_percent", 0.01),
    Family("stresskit_system_load1", "gauge", "One-minute load average.", "system", "load1"),
    Family("stresskit_system_connections", "gauge", "Open inet connections on the host.", "system", "connections"),
    Family("stresskit_system_disk_read_bytes_total", "counter", "Bytes read from disks since boot.",
           "io", "disk_read_bytes"),
    Family("stresskit_system_disk_written_bytes_total", "counter", "Bytes written to disks since boot.",
           "io", "disk_written_bytes"),
    Family("stresskit_system_network_received_bytes_total", "counter", "Bytes received on all interfaces since boot.",
           "io", "network_received_bytes"),
    Family("stresskit_system_network_sent_bytes_total", "counter", "Bytes sent on all interfaces since boot.",
           "io", "network_sent_bytes"),
    Family("stresskit_process_cpu_usage_ratio", "gauge", "Process CPU, 0-1 of one core (above 1 on several cores).",
           "process", "cpu_percent", 0.01),
    Family("stresskit_process_resident_memory_bytes", "gauge", "Process resident set size in bytes.",
           "process", "rss_bytes"),
    Family("stresskit_process_threads", "gauge", "Process threads.", "process", "threads"),
    Family("stresskit_process_open_fds", "gauge", "Process open file descriptors.", "process", "open_files"),
    Family("stresskit_process_connections", "gauge", "Process inet connections.", "process", "connections"),
    Family("stresskit_browser_processes", "gauge", "Browser and driver processes on the host.", "browsers", "count"),
    Family("stresskit_browser_resident_memory_bytes", "gauge", "Total resident memory of browser processes in bytes.",
           "browsers", "rss_bytes"),
    Family("stresskit_agent_latest_sample_sequence", "gauge", "Sequence number of the latest sample.",
           "sample", "seq"),
    Family("stresskit_agent_samples_total", "counter", "Samples taken.", "agent", "samples_total"),
    Family("stresskit_agent_sample_errors_total", "counter", "Samples that failed.", "agent", "sample_errors_total"),
    Family("stresskit_agent_dropped_connections_total", "counter",
           "Connections dropped (too big, too slow, over the limit).", "agent", "dropped_connections_total"),
    Family("stresskit_agent_requests_total", "counter", "HTTP requests served.", "agent", "requests_total"),
    Family("stresskit_agent_subscribers", "gauge", "Sample stream subscribers connected now.", "agent", "subscribers"),
    Family("stresskit_agent_ring_samples", "gauge", "Samples kept in the ring buffer.", "agent", "ring_samples"),
    Family("stresskit_agent_ring_bytes", "gauge", "Bytes held by the ring buffer.", "agent", "ring_bytes"),
    Family("stresskit_agent_faults_active", "gauge", "Memory / CPU faults being applied now.", "agent",
           "faults_active"),
)


def metric_names() -> list[str]:
    """Every metric family name the agent can serve."""
    return [family.name for family in FAMILIES]


def io_totals() -> dict[str, float | None]:
    """The kernel's cumulative disk and network byte counters now (``None`` where unavailable)."""
    import psutil

    def read(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (OSError, RuntimeError):
            return None

    disk = read(lambda: psutil.disk_io_counters(nowrap=True))
    net = read(lambda: psutil.net_io_counters(nowrap=True))
    return {
        "disk_read_bytes": disk.read_bytes if disk else None,
        "disk_written_bytes": disk.write_bytes if disk else None,
        "network_received_bytes": net.bytes_recv if net else None,
        "network_sent_bytes": net.bytes_sent if net else None,
    }


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: Any) -> str:
    return "{" + ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items()) + "}" if labels else ""


def render(sample: dict[str, Any] | None, counters: Mapping[str, float], io: dict[str, float | None] | None = None) -> str:
    """The exposition text: host metrics from ``sample`` (absent until the first sample) and ``io``,
    ``stresskit_agent_*`` from the server's ``counters``."""
    out: list[str] = []
    for family in FAMILIES:
        rows: list[tuple[str, Any]] = []
        if family.source == "agent":
            rows = [("", counters.get(family.key))]
        elif sample is None:
            continue
        elif family.source == "io":
            rows = [(_labels(host=sample["host"]), (io or {}).get(family.key))]
        elif family.source == "sample":
            rows = [(_labels(host=sample["host"]), sample.get(family.key))]
        elif family.source == "process":
            rows = [(_labels(host=sample["host"], pid=p["pid"], name=p.get("name", ""),
                             selector=p.get("selector", "")), p.get(family.key)) for p in sample["processes"]]
        else:
            rows = [(_labels(host=sample["host"]), sample[family.source].get(family.key))]
        rows = [(labels, value) for labels, value in rows if value is not None]
        if not rows:
            continue
        out.append(f"# HELP {family.name} {family.help}")
        out.append(f"# TYPE {family.name} {family.kind}")
        out.extend(f"{family.name}{labels} {float(value) * family.scale!r}" for labels, value in rows)
    return "\n".join(out) + "\n"
