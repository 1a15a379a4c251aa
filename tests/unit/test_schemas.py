"""The shipped JSON Schemas: valid schemas, found as package data, accepting what stresskit writes and
rejecting what it must not (each schema can fail)."""

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, ValidationError

from stresskit.report import build_report
from stresskit.schemas import NAMES, load, path, validate
from tests.data.report_runfiles import synthetic_run

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
START = 1_700_000_000.0
CONTRACT = {
    "availability": {"resolution_seconds": 1.0, "max_unavailable_share": 0.05, "max_outage_seconds": 30.0,
                     "kinds": {"api": {"availability": 0.9, "requests": 10, "failures": 1, "error_ratio": 0.1,
                                       "windows": 10, "windows_up": 9,
                                       "outages": [{"kind": "api", "start": START + 3, "end": START + 4,
                                                    "seconds": 1.0}]}}},
    "conditions": [{"name": "network_instability", "status": "not evaluated", "detail": "opted out"}],
    "not_evaluated": ["network_instability"],
    "interrupted": "SIGTERM", "stop_reason": "interrupted by SIGTERM",
    "truncated_files": [{"file": "r_resources.csv", "error": "No space left on device", "at": START + 9}],
    "lost_workers": [{"worker": "w1", "lost_at": START + 5, "pages_reclaimed": [3, 4]}],
    "pages_due": 7, "pages_behind": 1, "dropped_iterations": {"api": 3},
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_schema_files_are_package_data_and_valid_schemas(name):
    assert path(name).is_file()  # importlib.resources, not a path into the checkout
    Draft202012Validator.check_schema(load(name))


def test_committed_run_json_and_a_contract_run_json_validate():
    run = json.loads((GOLDEN / "run_run.json").read_text())
    validate(run, "run")
    validate({**run, **CONTRACT}, "run")
    validate({**run, "criteria": [{"name": "network_instability", "passed": None, "value": None, "limit": None,
                                   "detail": "not evaluated"}]}, "run")


@pytest.mark.parametrize(("change", "where"), [
    ({"conditions": [{"name": "x", "status": "maybe"}]}, "status"),
    ({"availability": {"kinds": {"api": {"availability": 1.5}}}}, "availability"),
    ({"lost_workers": [{"worker": "w1", "pages_reclaimed": ["three"]}]}, "pages_reclaimed"),
    ({"dropped_iterations": {"api": -1}}, "dropped_iterations"),
    ({"criteria": [{"name": "x", "passed": "yes"}]}, "passed"),
])
def test_run_schema_rejects_what_cannot_be(change, where):
    run = json.loads((GOLDEN / "run_run.json").read_text())
    with pytest.raises(ValidationError) as info:
        validate({**run, **change}, "run")
    assert where in "/".join(map(str, info.value.absolute_path)) + info.value.message


def test_report_json_validates_with_and_without_the_run_contract(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=120)
    validate(json.loads(build_report(str(prefix)).to_json()), "report")
    run_path = tmp_path / "run_run.json"
    run_path.write_text(json.dumps({**json.loads(run_path.read_text()), **CONTRACT}))
    (tmp_path / "run_resources.csv").write_text(
        (tmp_path / "run_resources.csv").read_text() + "\n".join(
            (tmp_path / "run_resources.csv").read_text().splitlines()[1:20]) + "\n")  # 19 duplicated rows
    doc = json.loads(build_report(str(prefix)).to_json())
    validate(doc, "report")
    assert doc["data_checks"] and doc["run"]["lost_workers"]
    broken = copy.deepcopy(doc)
    broken["verdict"]["criteria"][0]["status"] = "great"
    with pytest.raises(ValidationError):
        validate(broken, "report")
    broken = copy.deepcopy(doc)
    broken["run"]["interrupted"] = 15
    with pytest.raises(ValidationError):  # the run part is checked against run.schema.json
        validate(broken, "report")


def test_report_json_without_run_json_validates(tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=60)
    (tmp_path / "run_run.json").unlink()
    doc = json.loads(build_report(str(prefix)).to_json())
    assert doc["run"] is None
    validate(doc, "report")


def test_unknown_schema_name_is_a_clear_error():
    with pytest.raises(ValueError, match="no schema named 'nope'; known: report, run, agent-sample"):
        load("nope")
