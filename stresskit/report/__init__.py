"""Post-processing of a run's files: pandas in, pandas out, never Locust.

    from stresskit.report import build_report

    report = build_report("results/run")       # the prefix given to ``locust --csv``
    report.verdict.status                      # "pass" | "fail" | "inconclusive"
    report.summary                             # duration, pages, success rate, restarts, ...
    report.to_json()                           # the documented CI document (docs/report.md)
    report.write(html="run_report.html", json_path="run_report.json", junit="run_report.junit.xml")

Importing this package is cheap: the analysis modules load on first use, and the Locust-side
latency recorder (:mod:`stresskit.observe.latency`) imports only :mod:`stresskit.report.sketch`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EmptyRunError",
    "LeakRule",
    "NoRunFilesError",
    "Progress",
    "Report",
    "ResourceOptions",
    "analyze_leak",
    "build_report",
]

_LAZY = {
    "build_report": "stresskit.report.build",
    "Report": "stresskit.report.build",
    "EmptyRunError": "stresskit.report.build",
    "NoRunFilesError": "stresskit.report.build",
    "LeakRule": "stresskit.report.leak",
    "analyze_leak": "stresskit.report.leak",
    "ResourceOptions": "stresskit.report.resources",
    "Progress": "stresskit.report.progress",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stresskit.report' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
