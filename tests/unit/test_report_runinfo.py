"""The report shows what the run recorded about itself (the shared _run.json contract) in the text
summary, the report JSON and the HTML, and a condition the user opted out of is never a plain PASS."""

import json
from pathlib import Path

import pytest

from stresskit.report import build_report
from stresskit.report.runinfo import run_extras
from tests.data.report_runfiles import synthetic_run

START = 1_700_000_000.0

AVAILABILITY = {
    "resolution_seconds": 1.0, "max_unavailable_share": 0.05, "max_outage_seconds": 30.0,
    "kinds": {
        "api": {"availability": 0.9, "requests": 1200, "failures": 130, "error_ratio": 0.108, "windows": 100,
                "windows_up": 90, "outages": [{"kind": "api", "start": START + 40, "end": START + 50,
                                               "seconds": 10.0}]},
        "cache": {"availability": 1.0, "requests": 800, "failures": 0, "error_ratio": 0.0, "windows": 100,
                  "windows_up": 100, "outages": []},
    },
}


def _run(tmp_path, **keys) -> Path:
    prefix = synthetic_run(tmp_path / "run", seconds=120)
    path = tmp_path / "run_run.json"
    doc = json.loads(path.read_text())
    for key, value in keys.items():
        if key == "criteria":
            doc["criteria"] = doc["criteria"] + value
        else:
            doc[key] = value
    path.write_text(json.dumps(doc))
    return prefix


def _documents(prefix, tmp_path):
    report = build_report(str(prefix))
    html = tmp_path / "r.html"
    report.write(html=str(html))
    return report, report.summary_text(), json.loads(report.to_json()), html.read_text()


def test_availability_and_outages_are_shown_everywhere(tmp_path):
    prefix = _run(tmp_path, availability=AVAILABILITY)
    _report, text, doc, html = _documents(prefix, tmp_path)
    assert "api        90.00% up, 1200 requests, 130 failed" in text
    assert "outage 40 s → 50 s (10 s)" in text  # seconds since the run's start
    assert doc["run"]["availability"]["kinds"]["api"]["outages"][0]["seconds"] == 10.0
    assert doc["run"]["availability"]["kinds"]["cache"]["availability"] == 1.0
    assert "Availability per client kind" in html and "<td>api</td>" in html and "90.00%" in html
    assert "Outages" in html and ">40 s<" in html
    assert "shaded: 1 outage(s) of api" in html  # drawn on the requests-per-second chart


def test_opted_out_condition_is_never_a_plain_pass(tmp_path):
    prefix = _run(tmp_path, conditions=[
        {"name": "basic_validation", "status": "produced", "detail": "pages validated"},
        {"name": "network_instability", "status": "not evaluated", "detail": "--skip-condition network_instability"}],
        not_evaluated=["network_instability"],
        criteria=[{"name": "network_instability", "passed": None, "value": None, "limit": None,
                   "detail": "not evaluated: the user opted out"}])
    report, text, doc, html = _documents(prefix, tmp_path)
    v = report.verdict
    assert v.status == "pass" and v.exit_code == 0
    assert v.not_evaluated == ["network_instability"]
    headline = text.splitlines()[0]
    assert headline.startswith("VERDICT: PASS (NOT EVALUATED: network_instability)")
    assert doc["verdict"]["label"] == "PASS (NOT EVALUATED: network_instability)"
    assert doc["verdict"]["not_evaluated"] == ["network_instability"]
    assert doc["run"]["not_evaluated"] == ["network_instability"]
    assert '<div class="word">PASS (NOT EVALUATED: network_instability)</div>' in html
    assert 'class="verdict pass qualified"' in html
    statuses = {c["name"]: c["status"] for c in doc["verdict"]["criteria"]}
    assert statuses["network_instability"] == "not evaluated"  # "passed": null is not a failure
    assert statuses["condition basic_validation"] == "pass"
    assert "condition  network_instability: not evaluated" in text


def test_a_condition_not_produced_fails(tmp_path):
    prefix = _run(tmp_path, conditions=[{"name": "memory_pressure", "status": "not produced",
                                         "detail": "no agent with --allow-faults"}])
    report, text, _, _ = _documents(prefix, tmp_path)
    assert report.verdict.status == "fail" and report.verdict.exit_code == 3
    assert "condition memory_pressure: no agent with --allow-faults" in text


def test_interrupted_run_is_inconclusive_and_says_why(tmp_path):
    prefix = _run(tmp_path, interrupted="SIGTERM", stop_reason="interrupted by SIGTERM",
                  truncated_files=[{"file": "run_resources.csv", "error": "No space left on device",
                                    "at": START + 60}],
                  lost_workers=[{"worker": "w-2", "lost_at": START + 30, "pages_reclaimed": [4, 7]}])
    report, text, doc, html = _documents(prefix, tmp_path)
    assert report.verdict.status == "inconclusive" and report.verdict.exit_code == 9
    assert text.startswith("VERDICT: INCONCLUSIVE — interrupted by SIGTERM")
    assert "truncated  run_resources.csv at 60 s: No space left on device" in text
    assert "lost       worker w-2 at 30 s; 2 page(s) reclaimed: 4, 7" in text
    assert doc["run"]["interrupted"] == "SIGTERM"
    assert doc["run"]["lost_workers"] == [{"worker": "w-2", "lost_at": START + 30, "pages_reclaimed": [4, 7]}]
    assert doc["run"]["truncated_files"][0]["error"] == "No space left on device"
    assert "Lost workers" in html and "<td>w-2</td>" in html and "4, 7" in html
    assert "Files that stopped being written" in html and "No space left on device" in html
    warnings = {c.name for c in report.verdict.criteria if c.status == "warning"}
    assert warnings == {"files complete", "workers kept"}


def test_pace_and_dropped_iterations(tmp_path):
    prefix = _run(tmp_path, pages_due=40, pages_behind=3, dropped_iterations={"api": 12, "websocket": 0})
    _, text, doc, html = _documents(prefix, tmp_path)
    assert "pace       40 page(s) due by the end, 3 behind" in text
    assert "dropped    api 12" in text
    assert doc["run"]["pages_due"] == 40 and doc["run"]["dropped_iterations"] == {"api": 12, "websocket": 0}
    assert "40 page(s) due" in html and "api 12" in html


@pytest.mark.parametrize("bad", [
    {"availability": "up"}, {"availability": {"kinds": {"api": "x"}}}, {"conditions": "all"},
    {"lost_workers": [1, None]}, {"truncated_files": {"a": 1}}, {"pages_due": -4}, {"dropped_iterations": [1]},
    {"availability": {"kinds": {"api": {"availability": 7, "outages": [{"start": 5, "end": 1}, "x"]}}}},
])
def test_malformed_contract_keys_are_ignored_not_fatal(tmp_path, bad):
    prefix = _run(tmp_path, **bad)
    report, _, _doc, _ = _documents(prefix, tmp_path)
    assert report.verdict.status in ("pass", "fail", "inconclusive")
    extras = run_extras(json.loads((tmp_path / "run_run.json").read_text()))
    json.dumps(extras)
    if "availability" in extras and extras["availability"]["kinds"].get("api"):
        assert extras["availability"]["kinds"]["api"]["availability"] is None
        assert extras["availability"]["kinds"]["api"]["outages"] == []
