"""Scenario conditions: produced, refused (one line naming the option) or not evaluated; harness errors
turn a verdict into exit 1; a skipped condition never gives a plain PASS."""

from types import SimpleNamespace

import pytest

from stresskit.core.exitcodes import ExitCode, describe, verdict_word, worst
from stresskit.errors import ConfigError
from stresskit.faults.conditions import MEANS, Conditions, assess, refusal, skipped_conditions
from stresskit.run.scenarios import CONDITIONS

NONE = {"agent": False, "proxy": False}


def test_every_condition_a_scenario_may_name_has_one_row_of_means():
    assert set(MEANS) == set(CONDITIONS)


@pytest.mark.parametrize(("condition", "option"), [
    ("network_instability", "--fault-proxy URL"),
    ("memory_pressure", "--agent URL --agent-token TOKEN"),
    ("resource_exhaustion", "--agent URL --agent-token TOKEN"),
])
def test_a_condition_without_its_means_is_refused_with_its_option(condition, option):
    statuses = assess(("basic_validation", condition), NONE)
    assert [s.status for s in statuses] == ["produced", "not produced"]
    line = refusal(statuses, "heavy")
    assert line.startswith(f"scenario heavy names the condition {condition}, which this run cannot produce: pass ")
    assert option in line and f"--skip-condition {condition}" in line and "\n" not in line


def test_means_present_or_skipped_is_no_refusal():
    produced = assess(("network_instability", "memory_pressure"), {"agent": True, "proxy": True})
    assert [s.status for s in produced] == ["produced", "produced"] and refusal(produced) is None
    skipped = assess(("network_instability",), NONE, ("network_instability",))
    assert skipped[0].status == "not evaluated" and refusal(skipped) is None
    assert skipped[0].detail.startswith("not evaluated")


def test_skip_condition_names_are_validated_and_may_be_comma_separated():
    env = SimpleNamespace(parsed_options=SimpleNamespace(skip_condition=["network_instability,memory_pressure"]))
    assert skipped_conditions(env) == ("network_instability", "memory_pressure")
    bad = SimpleNamespace(parsed_options=SimpleNamespace(skip_condition=["network"]))
    with pytest.raises(ConfigError, match="--skip-condition 'network': unknown condition; known: "):
        skipped_conditions(bad)


def test_not_evaluated_is_a_null_criterion_and_never_a_plain_pass():
    state = Conditions(statuses=assess(("network_instability",), NONE, ("network_instability",)))
    [criterion] = state.criteria()
    assert criterion["name"] == "condition: network_instability" and criterion["passed"] is None
    assert state.adjust(ExitCode.PASS) == ExitCode.NOT_EVALUATED
    assert state.adjust(ExitCode.CRITERIA_FAILED) == ExitCode.CRITERIA_FAILED  # a failure stays a failure
    assert verdict_word(ExitCode.NOT_EVALUATED, state.not_evaluated) == "PASS, not evaluated: network_instability"
    assert state.document() == {"conditions": [{"name": "network_instability", "status": "not evaluated",
                                                "detail": "not evaluated: skipped with --skip-condition "
                                                          "network_instability"}],
                                "not_evaluated": ["network_instability"], "harness_errors": []}
    assert "not evaluated" in describe(ExitCode.NOT_EVALUATED)
    # a CI job can tell it from PASS, and a suite's worst code keeps it below every failure
    assert ExitCode.NOT_EVALUATED != ExitCode.PASS
    assert worst(ExitCode.PASS, ExitCode.NOT_EVALUATED) == ExitCode.NOT_EVALUATED
    assert worst(ExitCode.NOT_EVALUATED, ExitCode.THRESHOLD_FAILED) == ExitCode.THRESHOLD_FAILED


def test_a_condition_not_produced_fails_and_a_harness_error_is_exit_1_whatever_else():
    state = Conditions(statuses=assess(("memory_pressure",), NONE))
    assert [c["passed"] for c in state.criteria()] == [False]
    state.harness_errors.append("fault proxy http://127.0.0.1:1 unreachable")
    assert state.criteria()[-1]["name"] == "harness" and "not the target's fault" in state.criteria()[-1]["detail"]
    for code in (ExitCode.PASS, ExitCode.CRITICAL_FAILURE, ExitCode.CRITERIA_FAILED, ExitCode.STOPPED_EARLY):
        assert state.adjust(code) == ExitCode.ERROR
    assert state.adjust(ExitCode.BAD_CONFIG) == ExitCode.BAD_CONFIG
    assert verdict_word(ExitCode.ERROR) == "NO VERDICT" and verdict_word(ExitCode.CRITERIA_FAILED) == "FAIL"
