"""A real scenario run's ``_run.json`` (with per-kind availability) and the report built from its
files validate against the shipped schemas; the report shows the run's availability."""

import json

import pytest

from stresskit.core.exitcodes import ExitCode
from stresskit.report import build_report
from stresskit.schemas import validate
from tests.e2e.test_drills_availability import Drill

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def servers(target_factory, redis_factory, redis_server):
    return target_factory(extra_args=["--latency-ms", "1", "--rate-limit", "20000", "--rate-burst", "40000"],
                          redis_url=redis_server.url), redis_factory()


def test_real_run_json_and_its_report_validate(tmp_path, servers):
    target, cache = servers
    code, doc, output = Drill(tmp_path, target.url, cache.url).finish()
    assert code == ExitCode.PASS, output[-3000:]
    validate(doc, "run")
    assert set(doc["availability"]["kinds"]) == {"api", "websocket", "cache"}
    report = build_report(str(tmp_path / "drill"))
    document = json.loads(report.to_json())
    validate(document, "report")
    assert document["run"]["availability"]["kinds"]["api"]["availability"] == 1.0
    assert report.verdict.status == "pass", report.verdict.reasons
    assert "availability" in report.summary_text()
