"""Prometheus text exposition (format 0.0.4) of the agent's latest sample and its own counters."""

from __future__ import annotations

from typing import Any

__all__ = ["render"]

_SYSTEM = (
    ("cpu_percent", "System CPU utilisation in percent of the machine."),
    ("memory_percent", "Used memory in percent of the total."),
    ("memory_used", "Used memory in bytes (total minus available)."),
    ("memory_available", "Available memory in bytes."),
    ("swap_percent", "Used swap in percent."),
    ("load1", "One-minute load average."),
    ("disk_read_bps", "Disk read rate in bytes per second."),
    ("disk_write_bps", "Disk write rate in bytes per second."),
    ("net_sent_bps", "Network send rate in bytes per second."),
    ("net_recv_bps", "Network receive rate in bytes per second."),
    ("connections", "Open inet connections on the host."),
)
_PROCESS = (
    ("cpu_percent", "Process CPU in percent of one core."),
    ("rss_bytes", "Process resident set size in bytes."),
    ("threads", "Process threads."),
    ("open_files", "Process open file descriptors."),
    ("connections", "Process inet connections."),
)


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: Any) -> str:
    return "{" + ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items()) + "}"


def render(sample: dict[str, Any] | None, counters: dict[str, float]) -> str:
    """The exposition text: ``stresskit_system_*``, ``stresskit_process_*``, ``stresskit_browsers_*``
    gauges from ``sample`` (absent until the first sample) and ``stresskit_agent_*`` from ``counters``."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, rows: list[tuple[str, Any]]) -> None:
        rows = [(labels, value) for labels, value in rows if value is not None]
        if not rows:
            return
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{labels} {float(value):g}" for labels, value in rows)

    if sample is not None:
        host = _labels(host=sample["host"])
        for key, help_text in _SYSTEM:
            family(f"stresskit_system_{key}", "gauge", help_text, [(host, sample["system"].get(key))])
        for key, help_text in _PROCESS:
            family(f"stresskit_process_{key}", "gauge", help_text, [
                (_labels(host=sample["host"], pid=p["pid"], name=p.get("name", ""), selector=p.get("selector", "")),
                 p.get(key)) for p in sample["processes"]])
        family("stresskit_browsers_count", "gauge", "Browser and driver processes.",
               [(host, sample["browsers"].get("count"))])
        family("stresskit_browsers_rss_bytes", "gauge", "Total resident memory of browser processes.",
               [(host, sample["browsers"].get("rss_bytes"))])
        family("stresskit_agent_last_seq", "gauge", "Sequence number of the latest sample.", [(host, sample["seq"])])
    for name, value in sorted(counters.items()):
        kind = "counter" if name.endswith("_total") else "gauge"
        family(f"stresskit_agent_{name}", kind, f"Agent {name.replace('_', ' ')}.", [("", value)])
    return "\n".join(out) + "\n"
