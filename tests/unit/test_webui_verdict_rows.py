"""Known answers of the Verdict tab's rows (stresskit.observe.webui.verdict_rows) for documents shaped like
``_run.json``: every criterion, threshold, condition, kind and the pages, with the right status."""

from stresskit.observe.webui import verdict_rows

DOCUMENT = {
    "exit_code": 3, "verdict": "a success criterion failed", "ended": None, "stop_reason": "",
    "criteria": [
        {"name": "page_completion", "passed": False, "value": 0.5, "limit": 0.8, "detail": "5 of 10 pages"},
        {"name": "critical_failures", "passed": True, "value": 0.0, "limit": 0.0, "detail": "0 critical failure(s)"},
        {"name": "network_instability", "passed": None, "value": None, "limit": None,
         "detail": "not evaluated: --skip-condition network_instability"},
    ],
    "thresholds": [{"expression": "p95:/api/items<500,abort", "passed": True, "value": 120.0, "detail": "ok"}],
    "conditions": [{"name": "memory_pressure", "status": "produced", "detail": "held 256 MB"},
                   {"name": "network_instability", "status": "not evaluated", "detail": "skipped"}],
    "availability": {"resolution_seconds": 1.0, "max_unavailable_share": 0.05, "max_outage_seconds": 30.0,
                     "kinds": {"api": {"availability": 0.9, "requests": 100, "failures": 10, "error_ratio": 0.1,
                                       "windows": 10, "windows_up": 9,
                                       "outages": [{"kind": "api", "start": 1.0, "end": 3.5, "seconds": 2.5}]}}},
    "pages_total": 10, "pages_completed": 5, "pages_due": 7, "pages_behind": 2,
}


def test_rows_of_a_live_document():
    rows = {r["item"]: r for r in verdict_rows(DOCUMENT)}
    assert rows["verdict"] == {"item": "verdict", "status": "FAIL so far", "value": "exit 3", "limit": "",
                               "detail": "a success criterion failed"}
    assert (rows["page_completion"]["status"], rows["page_completion"]["value"], rows["page_completion"]["limit"]) \
        == ("FAILING", "50.0%", "80.0%")
    assert rows["critical_failures"]["status"] == "passing"
    assert rows["network_instability"]["status"] == "not evaluated"
    assert rows["threshold p95:/api/items<500,abort"]["limit"] == "p95:/api/items<500"
    assert rows["condition memory_pressure"]["status"] == "passing"
    assert rows["condition network_instability"]["status"] == "not evaluated"
    api = rows["availability api"]
    assert (api["status"], api["value"], api["limit"]) == ("outage", "90.0%", "95.0%")
    assert "9 of 10 windows up" in api["detail"] and "longest 2s" in api["detail"]
    assert rows["pages done"]["value"] == "5" and rows["pages done"]["limit"] == "10"
    assert "7 due by now" in rows["pages done"]["detail"] and "2 behind" in rows["pages done"]["detail"]


def test_rows_before_a_test_and_without_criteria():
    assert verdict_rows({"exit_code": None, "verdict": "no test has started yet", "criteria": [],
                         "thresholds": []})[0]["status"] == "not started"
    assert verdict_rows(None)[0]["status"] == "not evaluated"
    final = dict(DOCUMENT, ended=123.0, exit_code=0, verdict="pass")
    assert verdict_rows(final)[0]["status"] == "PASS"
