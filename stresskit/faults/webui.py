"""A *Faults* tab in Locust's web UI: per kind, faults injected, recovered, critical, and the
median / max recovery time, fed through ``/stats/requests``'s ``extended_stats`` (as Locust's own
extension example does). The recoveries' percentiles are the ``RECOVERY`` rows of the
Statistics tab; the full log is ``<prefix>_faults.csv``.
"""

from __future__ import annotations

import json
from typing import Any

from stresskit.faults.log import FaultLog

__all__ = ["TAB_KEY", "extend_web_ui"]

TAB_KEY = "stresskit-faults"
_STRUCTURE = [
    {"key": "kind", "title": "Fault kind"},
    {"key": "injected", "title": "Injected"},
    {"key": "recovered", "title": "Recovered"},
    {"key": "critical", "title": "Critical"},
    {"key": "median_recovery", "title": "Median recovery (s)"},
    {"key": "max_recovery", "title": "Max recovery (s)"},
]


def extend_web_ui(web_ui: Any, log: FaultLog) -> bool:
    """Add the tab (once, before the first request); False when the UI already served a request."""
    from flask import request

    app = web_ui.app
    if getattr(app, "_got_first_request", False) or getattr(app, "_stresskit_faults_tab", False):
        return False
    app._stresskit_faults_tab = True
    args = web_ui.template_args
    args.setdefault("extended_tabs", []).append({"title": "Faults", "key": TAB_KEY})
    args.setdefault("extended_tables", []).append({"key": TAB_KEY, "structure": _STRUCTURE})

    @app.after_request
    def _add_fault_stats(response: Any) -> Any:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        body = response.get_json()
        rows = [{k: ("-" if v is None else v) for k, v in row.items()} for row in log.summary()]
        body.setdefault("extended_stats", []).append({"key": TAB_KEY, "data": rows})
        response.set_data(json.dumps(body))
        return response

    return True
