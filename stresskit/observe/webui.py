"""stresskit's tabs in Locust's web UI: Resources (live charts) and Verdict (the live go / no-go).

:func:`install_resources_view` (called by :func:`stresskit.observe.collector.use_collector` when the web
UI runs) adds

- a "Resources" tab (``extended_tabs``) that shows the charts page below (no second table: one
  look, Locust's own — Material fonts, cards, tables, its light/dark theme);
- ``/stresskit/resources``: a page of live CPU and memory charts per agent host, tracked
  process and load generator (300 px high, current values in the legends), with the agents,
  alerts and recorded gaps, drawn by a small canvas chart shipped in ``stresskit/webui_static``
  (no CDN: test networks are closed);
- ``/stresskit/resources/data?after=REV``: the JSON the page polls once a second;
- a script injected into Locust's page that shows the charts page inside the Resources tab.

:func:`use_web_ui` (called by :func:`stresskit.compose.use_stresskit`) adds the Verdict tab
(:func:`install_verdict_view`) and the safe start form (:mod:`stresskit.observe.webform`).

Every route is wrapped in ``web_ui.auth_required_if_enabled``, so ``--web-login`` covers it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.perrun import Once

__all__ = ["STATIC_DIR", "TAB_KEY", "VERDICT_TAB_KEY", "install_resources_view", "install_verdict_view",
           "use_web_ui", "verdict_rows"]

log = logging.getLogger("stresskit.observe.webui")
_WIRED = Once()

TAB_KEY = "stresskit-resources"
STATIC_DIR = Path(__file__).resolve().parents[1] / "webui_static"
_STATIC = {"linechart.js": "application/javascript", "resources.js": "application/javascript",
           "tab.js": "application/javascript"}
_INJECT = b'<script src="/stresskit/static/tab.js" defer></script>'
def install_resources_view(environment: RunEnvironment, collector: Any) -> None:
    """Add the Resources tab, the charts page and its data route to ``environment.web_ui``."""
    from flask import Response, jsonify, request, send_from_directory

    web_ui = environment.web_ui
    if web_ui is None:
        return
    args = web_ui.template_args
    # the tab shows the charts page only (tab.js embeds it): one look, Locust's, no second table
    args.setdefault("extended_tabs", []).append({"title": "Resources", "key": TAB_KEY})
    app = web_ui.app

    def page() -> Any:
        return send_from_directory(STATIC_DIR, "resources.html", max_age=0)

    def data() -> Any:
        text = request.args.get("after", "0")
        if not text.isdigit() or len(text) > 18:
            return jsonify({"error": "'after' must be a non-negative integer revision"}), 400
        return jsonify(collector.snapshot(int(text)))

    def static(name: str) -> Any:
        if name not in _STATIC:
            return Response("not found\n", status=404, mimetype="text/plain")
        return send_from_directory(STATIC_DIR, name, mimetype=_STATIC[name], max_age=0)

    app.add_url_rule("/stresskit/resources", "stresskit_resources", web_ui.auth_required_if_enabled(page))
    app.add_url_rule("/stresskit/resources/data", "stresskit_resources_data", web_ui.auth_required_if_enabled(data))
    app.add_url_rule("/stresskit/static/<name>", "stresskit_static", web_ui.auth_required_if_enabled(static))

    @app.after_request
    def _extend(response: Any) -> Any:
        try:
            if (request.method == "GET" and response.status_code == 200 and response.mimetype == "text/html"
                  and not request.path.startswith("/stresskit/") and not response.direct_passthrough):
                html = response.get_data()
                if b"window.templateArgs" in html and _INJECT not in html:
                    response.set_data(html.replace(b"</body>", _INJECT + b"</body>", 1))
        except Exception:  # the UI must keep working even if the extension breaks
            log.exception("stresskit web UI extension failed on %s", request.path)
        return response


# -- the Verdict tab -------------------------------------------------------------------------------

VERDICT_TAB_KEY = "stresskit-verdict"
_VERDICT_STRUCTURE = [
    {"key": "item", "title": "Criterion"},
    {"key": "status", "title": "Status"},
    {"key": "value", "title": "Value"},
    {"key": "limit", "title": "Limit"},
    {"key": "detail", "title": "Detail"},
]
_SHARES = ("page_completion", "error_ratio", "fail_ratio", "availability")


def _status(passed: Any, detail: str = "") -> str:
    if passed is None or detail.startswith(("not evaluated", "not applicable")):
        return "not evaluated"
    return "passing" if passed else "FAILING"


def _shown(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if any(share in name for share in _SHARES) and 0 <= value <= 1:
        return f"{value:.1%}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def verdict_rows(document: dict[str, Any] | None) -> list[dict[str, str]]:
    """Rows of the Verdict tab from a live ``_run.json`` document (:meth:`RunCriteria.live_document`):
    the verdict so far, each criterion and threshold, scenario conditions, per-kind availability and
    pages due / done, whichever of them the document holds."""
    if not document:
        return [{"item": "verdict", "status": "not evaluated", "value": "", "limit": "",
                 "detail": "no success criteria in this locustfile (stresskit.compose.use_stresskit adds them)"}]
    so_far = "" if document.get("ended") else " so far"
    code = document.get("exit_code")
    status = "not started" if code is None else ("PASS" if code == 0 else "FAIL") + so_far
    rows = [{"item": "verdict", "status": status,
             "value": f"exit {code}" if code is not None else "", "limit": "",
             "detail": document.get("verdict", "") + (f"; stopped: {document['stop_reason']}"
                                                       if document.get("stop_reason") else "")}]
    for c in document.get("criteria", []):
        rows.append({"item": c["name"], "status": _status(c.get("passed"), c.get("detail", "")),
                     "value": _shown(c["name"], c.get("value")), "limit": _shown(c["name"], c.get("limit")),
                     "detail": c.get("detail", "")})
    for t in document.get("thresholds", []):
        rows.append({"item": f"threshold {t['expression']}", "status": _status(t.get("passed"), t.get("detail", "")),
                     "value": _shown(t["expression"], t.get("value")), "limit": t["expression"].split(",")[0],
                     "detail": t.get("detail", "")})
    for c in document.get("conditions", []) or []:
        status = {"produced": "passing", "not produced": "FAILING"}.get(c.get("status"), "not evaluated")
        rows.append({"item": f"condition {c.get('name')}", "status": status, "value": c.get("status", ""),
                     "limit": "", "detail": c.get("detail", "")})
    availability = document.get("availability") or {}
    share = availability.get("max_unavailable_share")
    for kind, figures in sorted((availability.get("kinds") or {}).items()):
        outages = figures.get("outages") or []
        longest = max((o.get("seconds", 0.0) for o in outages), default=0.0)
        rows.append({"item": f"availability {kind}", "status": "outage" if outages else "available",
                     "value": _shown("availability", figures.get("availability")),
                     "limit": _shown("availability", 1 - share) if isinstance(share, (int, float)) else "",
                     "detail": f"{figures.get('windows_up', 0)} of {figures.get('windows', 0)} windows up, "
                               f"{figures.get('failures', 0)} of {figures.get('requests', 0)} requests failed"
                               + (f", {len(outages)} outage(s), longest {longest:.0f}s" if outages else "")})
    total, done = document.get("pages_total"), document.get("pages_completed")
    if total:
        due = document.get("pages_due")
        rows.append({"item": "pages done", "status": "", "value": str(done), "limit": str(total),
                     "detail": f"{done} of {total} pages done"
                               + (f"; {due} due by now by the pace, {document.get('pages_behind', 0)} behind"
                                  if due is not None else "")})
    return rows


def install_verdict_view(environment: RunEnvironment) -> None:
    """Add the Verdict tab (a table fed through ``/stats/requests``, Locust's own look) and
    ``/stresskit/verdict/data`` (the live ``_run.json`` document as JSON) to the web UI."""
    from flask import jsonify, request

    web_ui = environment.web_ui
    if web_ui is None:
        return
    from stresskit.run.criteria import criteria_of

    def document() -> dict[str, Any] | None:
        criteria = criteria_of(environment)
        if criteria is None:
            return None
        if criteria.started is None and criteria.final is None:
            return {"exit_code": None, "verdict": "no test has started yet", "criteria": [], "thresholds": []}
        return criteria.live_document()

    args = web_ui.template_args
    args.setdefault("extended_tabs", []).insert(0, {"title": "Verdict", "key": VERDICT_TAB_KEY})
    args.setdefault("extended_tables", []).append({"key": VERDICT_TAB_KEY, "structure": _VERDICT_STRUCTURE})

    def data() -> Any:
        return jsonify({"document": document(), "rows": verdict_rows(document())})

    web_ui.app.add_url_rule("/stresskit/verdict/data", "stresskit_verdict_data",
                            web_ui.auth_required_if_enabled(data))

    @web_ui.app.after_request
    def _verdict_rows(response: Any) -> Any:
        try:
            if request.path.endswith("/stats/requests") and response.is_json:
                body = response.get_json()
                body.setdefault("extended_stats", []).append({"key": VERDICT_TAB_KEY,
                                                              "data": verdict_rows(document())})
                response.set_data(json.dumps(body))
        except Exception:  # the UI must keep working even if the extension breaks
            log.exception("stresskit Verdict tab failed on %s", request.path)
        return response


def use_web_ui(events: Any) -> None:
    """Opt a locustfile into stresskit's web UI parts: the safe start form and the Verdict tab
    (idempotent per ``events``; nothing happens on import or in headless runs)."""
    if not _WIRED.first(events):
        return

    def on_init(environment: RunEnvironment, web_ui: Any = None, **_: Any) -> None:
        from locust.runners import WorkerRunner

        web_ui = web_ui or getattr(environment, "web_ui", None)
        if web_ui is None or isinstance(environment.runner, WorkerRunner):
            return
        from stresskit.observe.webform import install_web_form

        install_web_form(environment, web_ui)
        install_verdict_view(environment)

    events.init.add_listener(on_init)
