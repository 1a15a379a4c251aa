"""Rates in scenario files: parsed, and every bad rate refused in one line naming file, scenario,
stage and field (the CLI exit code 2 is checked end to end in tests/e2e/test_arrival_runs.py)."""

import pytest

from stresskit.errors import ScenarioError
from stresskit.run.scenarios import load_scenarios

BASE = """
[scenarios.open_api]
pages = 0
duration = "20s"
failure_rate = 0
users = {{ api = 0 }}
{extra}
stages = [
  {{ name = "steady", duration = "20s", {stage} }},
]
"""


def _load(tmp_path, stage, extra=""):
    path = tmp_path / "s.toml"
    path.write_text(BASE.format(stage=stage, extra=extra))
    return load_scenarios(path), str(path)


def test_a_rate_with_a_stage_ceiling_parses(tmp_path):
    scenarios, _ = _load(tmp_path, "rate = { api = 200 }, max_users = { api = 20 }")
    scenario = scenarios.get("open_api")
    assert scenario.stages[0].rate == {"api": 200.0}
    assert scenario.stage_users(scenario.stages[0]) == {"api": 20}
    assert scenario.rated_kinds() == ["api"]


def test_the_scenario_ceiling_applies_to_stages_without_one(tmp_path):
    scenarios, _ = _load(tmp_path, "rate = { api = 50 }", extra="max_users = { api = 7 }")
    assert scenarios.get("open_api").stages[0].max_users == {"api": 7}


@pytest.mark.parametrize(("stage", "field", "words"), [
    ("rate = { api = -5 }, max_users = { api = 2 }", "stages[0] (steady).rate.api", "must be >= 0"),
    ('rate = { api = "fast" }, max_users = { api = 2 }', "stages[0] (steady).rate.api", "is not a number"),
    ("rate = { api = 10 }", "stages[0] (steady).rate.api", "needs a ceiling"),
    ("rate = { api = 10 }, max_users = { api = 0 }", "stages[0] (steady).rate.api", "needs a ceiling"),
    ("rate = { api = 10 }, max_users = { api = 2 }, users = { api = 3 }", "stages[0] (steady).users.api",
     "both a user count and a rate"),
    ("rate = { dns = 10 }, max_users = { api = 2 }", "stages[0] (steady).rate.dns", "unknown user kind"),
    ("rate = 10, max_users = { api = 2 }", "stages[0] (steady).rate", "must be a table"),
    ("rate = { api = 10 }, max_users = { api = 1.5 }", "stages[0] (steady).max_users.api", "not an integer"),
])
def test_bad_rates_name_file_scenario_stage_and_field(tmp_path, stage, field, words):
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, stage)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "s.toml"))
    assert "scenario 'open_api'" in message and f"field {field!r}" in message and words in message


def test_shipped_open_api_example_is_open_model():
    scenario = load_scenarios().get("open_api")
    assert scenario.rated_kinds() == ["api"]
    assert all(stage.max_users for stage in scenario.stages if stage.rate)
