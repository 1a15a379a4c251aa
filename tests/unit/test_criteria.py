"""Success criteria, exit codes and run.json on a real Locust Environment and LocalRunner.

Requests go through Locust's own ``request`` event into its stats; the live check is called
with explicit times (table-driven, no sleeping). Real runs are in tests/e2e/test_scenario_runs.py.
"""

import argparse
import json

import gevent
import pytest
from locust.env import Environment
from locust.runners import STATE_STOPPED

from stresskit.core.exitcodes import ExitCode, describe, worst
from stresskit.core.runstate import run_state_of
from stresskit.core.schema import RUN_SUFFIX
from stresskit.events import stresskit_events_of
from stresskit.run import criteria as criteria_module
from stresskit.run.criteria import MIN_REQUESTS, RunCriteria, use_criteria
from stresskit.run.thresholds import evaluate, parse_thresholds


def make(tmp_path=None, thresholds=(), headless=False):
    prefix = str(tmp_path / "run") if tmp_path else None
    env = Environment(parsed_options=argparse.Namespace(csv_prefix=prefix, headless=headless, time_scale=1.0,
                                                        threshold=list(thresholds)))
    env.create_local_runner()
    crit = RunCriteria(env, parse_thresholds(thresholds))
    crit.started = 1000.0
    return env, crit


def requests(env, n, fail=0, name="/api/items", ms=10):
    for i in range(n):
        env.events.request.fire(request_type="GET", name=name, response_time=ms, response_length=1,
                                exception=RuntimeError("500") if i < fail else None, context={})


def results(crit):
    return {c.name: c.passed for c in crit.criteria_results()}


def code(crit):
    return crit.exit_code(crit.criteria_results(), [])


def pages(env, total, done):
    state = run_state_of(env)
    state.pages_total, state.pages_completed = total, done


def test_all_criteria_pass():
    env, crit = make()
    requests(env, 100, fail=3)
    pages(env, 10, 10)
    assert results(crit) == {"page_completion": True, "critical_failures": True, "error_ratio": True,
                             "resources_stable": True}
    assert code(crit) == ExitCode.PASS


@pytest.mark.parametrize(("done", "passed"), [(10, True), (8, True), (7, False), (0, False)])
def test_page_completion_needs_80_percent(done, passed):
    env, crit = make()
    requests(env, 10)
    pages(env, 10, done)
    result = crit.criteria_results()[0]
    assert (result.name, result.passed, result.value) == ("page_completion", passed, done / 10)
    assert code(crit) == (ExitCode.PASS if passed else ExitCode.CRITERIA_FAILED)


@pytest.mark.parametrize(("due", "done", "passed"), [(5, 4, True), (5, 3, False), (10, 8, True), (1, 0, False)])
def test_page_completion_is_judged_against_the_pages_due(due, done, passed):
    """A paced run stopped early: 10 pages in the quota, only ``due`` of them due by then."""
    env, crit = make(thresholds=("page_completion>=80%",))
    requests(env, 10)
    pages(env, 10, done)
    run_state_of(env).pages_due = due
    result = crit.criteria_results()[0]
    assert (result.passed, result.value) == (passed, done / due)
    assert f"{done} of {due} pages due completed" in result.detail
    assert evaluate(crit.thresholds[0], env).passed is passed, "the threshold agrees with the criterion"


def test_page_completion_does_not_apply_without_a_page_quota():
    env, crit = make()
    requests(env, 10)
    result = crit.criteria_results()[0]
    assert result.passed and result.value is None and "not applicable" in result.detail


def test_a_critical_failure_fails_the_run_with_its_own_code():
    env, crit = make()
    requests(env, 50)
    pages(env, 10, 10)
    run_state_of(env).record_critical("browser_restart: chromedriver gone")
    assert results(crit)["critical_failures"] is False
    assert "first: browser_restart: chromedriver gone" in crit.criteria_results()[1].detail
    assert code(crit) == ExitCode.CRITICAL_FAILURE
    pages(env, 10, 1)  # a criterion failing too: the critical failure still names the exit code
    assert code(crit) == ExitCode.CRITICAL_FAILURE


def test_error_ratio_above_half_at_the_end_fails():
    env, crit = make()
    requests(env, 10, fail=6)
    assert results(crit)["error_ratio"] is False
    assert code(crit) == ExitCode.CRITERIA_FAILED


def test_no_requests_at_all_is_a_failed_run():
    _env, crit = make()
    assert results(crit)["error_ratio"] is False


def test_resources_stable_from_agent_samples_and_alerts():
    env, crit = make()
    requests(env, 10)
    assert "not evaluated" in crit.criteria_results()[3].detail
    stresskit_events_of(env).resource_sample.fire(sample={"kind": "system", "cpu_percent": 50})
    assert crit.criteria_results()[3].detail == "no sustained >90% CPU/memory in 1 agent samples"
    run_state_of(env).alerts.append({"host": "db1", "metric": "memory_percent", "value": 93.5, "threshold": 90})
    result = crit.criteria_results()[3]
    assert not result.passed and "memory_percent at 94% on db1" in result.detail
    assert code(crit) == ExitCode.CRITERIA_FAILED


def test_thresholds_fail_with_their_own_code_and_criteria_win():
    env, crit = make(thresholds=["p95<5", "fail_ratio<0.5"])
    requests(env, 20, ms=50)
    assert [t["passed"] for t in crit.finish()["thresholds"]] == [False, True]
    assert env.process_exit_code == ExitCode.THRESHOLD_FAILED
    pages(env, 10, 2)
    assert crit.finish()["exit_code"] == ExitCode.CRITERIA_FAILED == env.process_exit_code


# (time, new requests, of which failed, stops?) — the window is ERROR_RATIO_WINDOW = 30 s
ERROR_WINDOW = [
    (0.0, 0, 0, False),
    (1.0, MIN_REQUESTS - 5, MIN_REQUESTS - 5, False),  # 100% failed, but too few requests to judge
    (2.0, 0, 0, False),
    (3.0, 10, 10, True),
]


def test_error_ratio_stops_the_run_early_once_enough_requests_failed():
    env, crit = make()
    for t, n, failed, stops in ERROR_WINDOW:
        requests(env, n, fail=failed)
        assert crit.check_live(now=1000.0 + t) is stops, t
    assert crit.stopped_early and crit.stop_reason.startswith("error ratio 100% > 50%")
    gevent.sleep(0)  # the stop runs in its own greenlet
    assert env.runner.state == STATE_STOPPED
    assert code(crit) == ExitCode.STOPPED_EARLY
    assert results(crit)["error_ratio"] is False


def test_error_ratio_is_measured_over_a_sliding_window():
    env, crit = make()
    steps = [(0, 0, 0, False), (1, 200, 100, False),  # exactly 50%: not above
             (40, 100, 0, False),  # the first sample left the window: 100 ok since t=1
             (41, 300, 300, True)]  # since t=40 (t=1 dropped): 300 of 300 failed
    for t, n, failed, stops in steps:
        requests(env, n, fail=failed)
        assert crit.check_live(now=1000.0 + t) is stops, t


def test_abort_on_fail_threshold_waits_for_its_grace_then_stops():
    env, crit = make(thresholds=["p95<100,abort=10s", "p95<1"])
    requests(env, 30, ms=500)
    assert crit.check_live(now=1005.0) is False, "within the 10 s grace"
    assert crit.live["thresholds"][0]["passed"] is False
    assert crit.check_live(now=1011.0) is True
    assert "abort-on-fail threshold 'p95<100,abort=10s' crossed: p95 = 500" in crit.stop_reason
    gevent.sleep(0)
    assert code(crit) == ExitCode.STOPPED_EARLY


def test_thresholds_without_abort_never_stop_the_run():
    env, crit = make(thresholds=["p95<1"])
    requests(env, 30, ms=500)
    assert crit.check_live(now=2000.0) is False and not crit.stopped_early


def test_finish_writes_run_json_with_the_schema_fields(tmp_path):
    env, crit = make(tmp_path, thresholds=["fail_ratio<0.1"])
    requests(env, 40, fail=1)
    pages(env, 10, 9)
    run_state_of(env).add(session_restarts=2)
    crit.finish()
    doc = json.loads((tmp_path / f"run{RUN_SUFFIX}").read_text())
    for key in ("scenario", "time_scale", "started", "ended", "pages_total", "pages_completed", "session_restarts",
                "critical_failures", "stopped_early", "stop_reason", "exit_code", "criteria", "thresholds",
                "workers", "run_state"):
        assert key in doc, key
    assert (doc["pages_total"], doc["pages_completed"], doc["session_restarts"], doc["exit_code"]) == (10, 9, 2, 0)
    assert [c["name"] for c in doc["criteria"]] == ["page_completion", "critical_failures", "error_ratio",
                                                    "resources_stable"]
    assert set(doc["criteria"][0]) == {"name", "passed", "value", "limit", "detail"}
    assert set(doc["thresholds"][0]) == {"expression", "passed", "value", "abort_on_fail", "detail"}
    assert doc["workers"] == ["local"]


def test_a_worse_code_set_by_another_part_is_kept():
    env, crit = make()
    requests(env, 10)
    env.process_exit_code = 3  # e.g. the cache users' --cache-min-hit-rate check ran first
    crit.finish()
    assert env.process_exit_code == 3
    env.process_exit_code = 0
    pages(env, 10, 0)
    crit.finish()  # our own earlier code is replaced, not merged
    assert env.process_exit_code == ExitCode.CRITERIA_FAILED


def test_severity_order_and_descriptions():
    assert worst(0, 4, 3) == 3 and worst(3, 6) == 6 and worst(6, 5) == 5 and worst(5, 2) == 2
    assert worst(1, 4) == 4 and worst(0, 1) == 1 and worst() == 0 and worst(0, 99) == 1
    assert describe(4) == "a threshold failed" and "not a stresskit code" in describe(99)


def test_malformed_threshold_quits_in_init_with_the_bad_config_code():
    from locust.event import Events

    events = Events()
    use_criteria(events)
    env = Environment(events=events, parsed_options=argparse.Namespace(threshold=["p95<<5"], csv_prefix=None))
    env.create_local_runner()
    quitting = []
    events.quitting.add_listener(lambda **kw: quitting.append(kw))
    with pytest.raises(SystemExit) as info:
        events.init.fire(environment=env, runner=env.runner, web_ui=None)
    assert info.value.code == ExitCode.BAD_CONFIG == env.process_exit_code
    assert quitting, "quitting fired so parts started earlier in init can stop their processes"
    assert criteria_module.criteria_of(env) is None


def test_the_harness_s_own_fault_bursts_do_not_dilute_the_error_ratio():
    """A rate_limiting burst is in the stats (type BURST) but the error ratio judges the users' requests."""
    env, crit = make()
    requests(env, 10, fail=6)
    for _ in range(2000):
        env.events.request.fire(request_type="BURST", name="rate_limiting burst", response_time=1,
                                response_length=1, exception=None, context={})
    assert env.runner.stats.total.num_requests == 2010  # every request sent is in the stats
    [ratio] = [c for c in crit.criteria_results() if c.name == "error_ratio"]
    assert not ratio.passed and ratio.value == pytest.approx(0.6)
    assert ratio.detail == "6 of 10 requests failed (60.0%); 2000 rate_limiting burst requests not counted"
