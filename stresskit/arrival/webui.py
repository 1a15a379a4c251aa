"""The "Open model" tab in Locust's web UI: arrivals per kind and both latency series side by side.

One table, fed through the ``extended_stats`` of ``/stats/requests`` like the Cache tab: a row
per rated kind (its rate now, ceiling, iterations due / started / dropped, start lag), a row per
paced request name with P50 / P99 from the send time and from the intended start, and one row
per series saying in one sentence what it means.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.report.latency import SERIES_MEANING
from stresskit.run.scenarios import RATE_UNITS

__all__ = ["TAB_KEY", "extend_web_ui", "table_rows"]

log = logging.getLogger("stresskit.arrival")

TAB_KEY = "stresskit-arrival"
_STRUCTURE = [
    {"key": "item", "title": "Kind / request"},
    {"key": "arrivals", "title": "Due / started / dropped"},
    {"key": "sent", "title": "From send time P50 / P99 ms"},
    {"key": "intended", "title": "From intended start P50 / P99 ms"},
    {"key": "note", "title": "Note"},
]


def _ms(values: list[float | None] | None) -> str:
    if not values:
        return ""
    return " / ".join("-" if v is None else f"{v:.1f}" for v in values)


def table_rows(environment: RunEnvironment, control: Any) -> list[dict[str, str]]:
    """The tab's rows now (one row saying so while no stage has a rate)."""
    if not control.schedules:
        return [{"item": "(closed model)", "arrivals": "", "sent": "", "intended": "",
                 "note": "no stage of this test's scenario gives a kind a rate: every kind runs its user count"}]
    rows = []
    now = control.elapsed()
    for kind, row in control.counts().items():
        unit, factor = RATE_UNITS[kind]
        share = row["dropped"] / row["due"] if row["due"] else 0.0
        lag = control.lag.get(kind)
        lag_p99 = f", start lag P99 {lag.get_quantile_value(0.99):.1f} ms" if lag is not None and lag.count else ""
        rows.append({"item": kind, "arrivals": f"{row['due']} / {row['started']} / {row['dropped']} ({share:.1%})",
                     "sent": "", "intended": "",
                     "note": f"rate now {control.schedules[kind].rate_at(now) / factor:.4g} {unit}, at most "
                             f"{control.ceilings.get(kind, 0)} busy users{lag_p99}"})
    from stresskit.observe.latency import latency_recorder_of

    recorder = latency_recorder_of(environment)
    if recorder is not None:
        intended = recorder.run_quantiles((0.5, 0.99), series="intended")
        sent = recorder.run_quantiles((0.5, 0.99))
        for (rtype, name), values in sorted(intended.items()):
            rows.append({"item": f"{rtype} {name}", "arrivals": "", "sent": _ms(sent.get((rtype, name))),
                         "intended": _ms(values), "note": ""})
    for series, meaning in SERIES_MEANING.items():
        rows.append({"item": f"({series})", "arrivals": "", "sent": "", "intended": "", "note": meaning})
    return rows


def extend_web_ui(environment: RunEnvironment, control: Any) -> bool:
    """Add the tab to ``environment.web_ui`` (once); False when there is no web UI or it is too late."""
    from flask import request

    web_ui = getattr(environment, "web_ui", None)
    if web_ui is None or getattr(web_ui, "_stresskit_arrival_tab", False):
        return False
    if getattr(web_ui.app, "_got_first_request", False):
        log.info("open-model tab not added to the web UI: it already served a request")
        return False
    web_ui._stresskit_arrival_tab = True
    args = web_ui.template_args
    args.setdefault("extended_tabs", []).append({"title": "Open model", "key": TAB_KEY})
    args.setdefault("extended_tables", []).append({"key": TAB_KEY, "structure": _STRUCTURE})

    @web_ui.app.after_request
    def _add_rows(response: Any) -> Any:
        try:
            if request.path.endswith("/stats/requests") and response.is_json:
                body = response.get_json()
                body.setdefault("extended_stats", []).append({"key": TAB_KEY, "data": table_rows(environment,
                                                                                                control)})
                response.set_data(json.dumps(body))
        except Exception:  # the UI must keep working even if the extension breaks
            log.exception("open-model tab failed on %s", request.path)
        return response

    return True
