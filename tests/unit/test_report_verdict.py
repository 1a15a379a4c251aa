"""The verdict, its exit codes, the baseline comparison and the JUnit/JSON documents."""

import json
import subprocess
import sys
from xml.etree import ElementTree as ET

import pytest

from stresskit.report import build_report
from stresskit.report.verdict import Criterion, ReportExit, judge
from tests.data.report_runfiles import synthetic_run


def test_passing_run_passes(tmp_path):
    report = build_report(str(synthetic_run(tmp_path / "ok", seconds=600)))
    assert report.verdict.status == "pass", report.verdict.reasons
    assert report.verdict.exit_code == ReportExit.PASS
    names = {c.name: c.status for c in report.verdict.criteria}
    assert names["page_completion"] == "pass"
    assert names["no_memory_leak"] == "pass"
    assert names["resources_stable"] == "not evaluated"
    assert names["resources_stable (report)"] == "pass"


def test_leak_fails_with_its_own_code(tmp_path):
    report = build_report(str(synthetic_run(tmp_path / "leaky", seconds=600, leak_mb_per_h=600.0)))
    assert report.verdict.status == "fail"
    assert report.verdict.exit_code == ReportExit.MEMORY_LEAK
    leak = next(lk for lk in report.leaks if lk.name == "backend-0")
    assert leak.verdict == "leak"
    assert leak.slope_mb_per_h == pytest.approx(600.0, rel=0.05)
    assert all(lk.verdict != "leak" for lk in report.leaks if lk.name != "backend-0")
    assert report.summary["leaks"] == ["target-a: backend-0"]


@pytest.mark.parametrize("kwargs, code", [
    ({"pages_completed": 5}, ReportExit.CRITERIA_FAILED),
    ({"critical": 2}, ReportExit.CRITICAL_FAILURE),
    ({"threshold_passed": False}, ReportExit.THRESHOLD_FAILED),
    ({"hot_cpu": True}, ReportExit.CRITERIA_FAILED),
])
def test_each_failure_maps_to_its_exit_code(tmp_path, kwargs, code):
    report = build_report(str(synthetic_run(tmp_path / "r", seconds=300, **kwargs)))
    assert report.verdict.status == "fail"
    assert report.verdict.exit_code == code, report.verdict.reasons


def test_most_severe_code_wins():
    criteria = [Criterion("t", "threshold", "fail", code=int(ReportExit.THRESHOLD_FAILED)),
                Criterion("c", "run", "fail", code=int(ReportExit.CRITICAL_FAILURE)),
                Criterion("p", "run", "pass")]
    assert judge(criteria, run_known=True).exit_code == ReportExit.CRITICAL_FAILURE
    assert judge([Criterion("p", "run", "pass")], run_known=False).status == "inconclusive"
    warn = judge([Criterion("p", "run", "pass"), Criterion("g", "report", "warning", required=False)], True)
    assert warn.status == "pass" and len(warn.reasons) == 2


def test_baseline_regression_is_found_and_tolerance_respected(tmp_path):
    base = synthetic_run(tmp_path / "base", seconds=300, p95=40.0)
    same = synthetic_run(tmp_path / "same", seconds=300, p95=42.0)  # +5%: within 10%
    slow = synthetic_run(tmp_path / "slow", seconds=300, p95=80.0)  # +100%
    ok = build_report(str(same), baseline=str(base), tolerance=0.10)
    assert ok.baseline["verdict"] == "no regression", ok.baseline["worse"]
    assert ok.verdict.status == "pass"
    bad = build_report(str(slow), baseline=str(base), tolerance=0.10)
    assert bad.baseline["verdict"] == "regression"
    assert any(m.startswith("p95") for m in bad.baseline["worse"])
    assert bad.verdict.exit_code == ReportExit.REGRESSION
    loose = build_report(str(slow), baseline=str(base), tolerance=1.5)
    assert loose.baseline["verdict"] == "no regression"


def test_error_ratio_regression(tmp_path):
    base = synthetic_run(tmp_path / "base", seconds=200)
    errors = synthetic_run(tmp_path / "err", seconds=200, fail_every=5)
    report = build_report(str(errors), baseline=str(base))
    assert "error ratio" in report.baseline["worse"]
    cats = dict(zip(report.failures_by_category["category"], report.failures_by_category["count"], strict=False))
    assert cats == {"HTTP 5xx": 400}


def test_json_document_is_strict_and_complete(tmp_path):
    report = build_report(str(synthetic_run(tmp_path / "j", seconds=300, leak_mb_per_h=600.0)))
    doc = json.loads(report.to_json())  # allow_nan=False inside: no NaN can slip through
    assert doc["schema"] == "stresskit.report/1"
    assert list(doc)[:4] == ["schema", "generated", "prefix", "verdict"]
    assert doc["verdict"]["exit_name"] == "MEMORY_LEAK"
    assert doc["summary"]["pages_processed"] == "9 of 10"
    assert doc["throughput"]["requests"] == 300 * 10 * 2
    assert sum(doc["throughput"]["timeline"]["requests"]) == 300 * 10 * 2
    assert doc["faults"]["injected"] == 3 and doc["faults"]["critical"] == 1
    assert {s["kind"] for s in doc["leaks"]["series"]} == {"system", "process", "browsers", "generator"}
    assert doc["resources"]["gaps"]["samples_lost"] == 2


def test_junit_has_a_case_per_criterion_and_failures(tmp_path):
    report = build_report(str(synthetic_run(tmp_path / "u", seconds=300, pages_completed=3)))
    from stresskit.report.junit import junit_xml

    root = ET.fromstring(junit_xml(report))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(report.verdict.criteria)
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["page_completion"]
    assert suite.get("failures") == "1"
    assert any(c.find("skipped") is not None for c in cases)


def test_parallel_path_gives_the_same_report(tmp_path):
    prefix = synthetic_run(tmp_path / "p", seconds=600, leak_mb_per_h=600.0)
    one = build_report(str(prefix), jobs=1)
    two = build_report(str(prefix), jobs=2, charts=True)  # resources measured in a child, judged here
    assert [(lk.series, lk.verdict, lk.slope_mb_per_h) for lk in one.leaks] == \
        [(lk.series, lk.verdict, lk.slope_mb_per_h) for lk in two.leaks]
    assert any(lk.verdict == "leak" for lk in two.leaks) and not two.resources.pending
    assert one.resources.hosts.equals(two.resources.hosts)
    assert one.verdict.as_dict() == two.verdict.as_dict()
    assert callable(two.charts)  # being drawn by the helper, after it measured the resources
    from stresskit.report.charts import all_charts

    assert {c.key for c in all_charts(two)} >= {"memory_system", "cpu", "rps"}
    drawn = two.charts()  # the helper's charts came back (None would mean drawn here instead)
    assert drawn is not None and {c.key for c in drawn[0]} >= {"rps", "latency"}


def test_the_helper_is_forked_only_while_no_other_thread_runs():
    """A fork copies only the calling thread: a lock another thread holds would stay held in the child.
    Checked in a fresh interpreter (this test process may run threads of other tests)."""
    script = (
        "import threading\n"
        "from stresskit.report.build import _start_method\n"
        "alone = _start_method()\n"
        "release = threading.Event()\n"
        "other = threading.Thread(target=release.wait)\n"
        "other.start()\n"
        "print(alone, _start_method())\n"
        "release.set()\n"
        "other.join()\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["fork", "spawn"], out.stdout + out.stderr


def test_charts_the_helper_failed_to_draw_are_drawn_here(tmp_path):
    """A helper that could not draw the request charts (it died, a value would not pickle) must not
    cost the HTML its charts: the report draws them itself at write time."""
    import concurrent.futures

    from stresskit.report.build import _HelperCharts
    from stresskit.report.charts import all_charts

    report = build_report(str(synthetic_run(tmp_path / "f", seconds=300)), jobs=1)
    failed: concurrent.futures.Future = concurrent.futures.Future()
    failed.set_exception(RuntimeError("the helper process died"))
    report.charts = _HelperCharts(concurrent.futures.ProcessPoolExecutor(max_workers=1), failed).result
    assert {c.key for c in all_charts(report)} >= {"rps", "latency"}
