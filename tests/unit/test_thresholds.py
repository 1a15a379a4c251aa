"""--threshold expressions: parsing (table-driven), one-line errors, evaluation on real Locust stats."""

import argparse

import pytest
from locust.env import Environment

from stresskit.core.runstate import run_state_of
from stresskit.errors import ThresholdError
from stresskit.run.thresholds import evaluate, parse_threshold, parse_thresholds

PARSED = [
    # expression → (metric, name, method, op, limit, abort, grace)
    ("p95:/api/items<500", ("p95", "/api/items", None, "<", 500.0, False, 0.0)),
    ("fail_ratio<0.05", ("fail_ratio", None, None, "<", 0.05, False, 0.0)),
    ("cache_hit_rate>0.9", ("cache_hit_rate", None, None, ">", 0.9, False, 0.0)),
    ("p99.9<2s", ("p99.9", None, None, "<", 2000.0, False, 0.0)),
    ("avg:/api/search <= 250ms", ("avg", "/api/search", None, "<=", 250.0, False, 0.0)),
    ("fail_ratio<5%,abort", ("fail_ratio", None, None, "<", 0.05, True, 0.0)),
    ("p95:GET /api/items>=1, abort=30s", ("p95", "/api/items", "GET", ">=", 1.0, True, 30.0)),
    ("p50:/api/search?q=a<500", ("p50", "/api/search?q=a", None, "<", 500.0, False, 0.0)),
    ("rps:/api/items>10", ("rps", "/api/items", None, ">", 10.0, False, 0.0)),
    ("critical_failures<1", ("critical_failures", None, None, "<", 1.0, False, 0.0)),
    ("page_completion>=80%", ("page_completion", None, None, ">=", 0.8, False, 0.0)),
    ("max<1e3", None),  # no exponent notation: malformed
]


@pytest.mark.parametrize(("expression", "expected"), PARSED)
def test_parse(expression, expected):
    if expected is None:
        with pytest.raises(ThresholdError):
            parse_threshold(expression)
        return
    t = parse_threshold(expression)
    assert (t.metric, t.name, t.method, t.op, t.limit, t.abort_on_fail, t.abort_grace) == expected


MALFORMED = [
    ("p95/api<500", "is not METRIC or METRIC:REQUEST"),
    ("latency<5", "unknown metric 'latency'"),
    ("p95<fast", "expected METRIC[:REQUEST]<OP>NUMBER"),
    ("p95 500", "expected METRIC[:REQUEST]<OP>NUMBER"),
    ("<5", "expected METRIC[:REQUEST]<OP>NUMBER"),
    ("cache_hit_rate:/x>0.9", "run metric and takes no ':REQUEST'"),
    ("fail_ratio<5ms", "only applies to response times"),
    ("p95<5%", "'%' only applies to"),
    ("p0<1", "percentile p0"),
    ("p101<1", "percentile p101"),
    ("p95:<5", "empty request name"),
    ("p95:/api/items<<500", "more than one comparison"),
    ("p95:/a>1<500", "more than one comparison"),
    ("fail_ratio<0.05,abort=soon", "abort grace 'soon' is not a duration"),
    ("fail_ratio=0.05", "expected METRIC[:REQUEST]<OP>NUMBER"),
]


@pytest.mark.parametrize(("expression", "words"), MALFORMED)
def test_malformed_expressions_give_one_clear_line(expression, words):
    with pytest.raises(ThresholdError) as info:
        parse_threshold(expression)
    message = str(info.value)
    assert message.startswith(f"malformed --threshold {expression!r}: ")
    assert words in message
    assert "\n" not in message


def test_parse_thresholds_stops_at_the_first_bad_one():
    assert parse_thresholds(None) == []
    with pytest.raises(ThresholdError, match="'nope<1'"):
        parse_thresholds(["fail_ratio<0.1", "nope<1", "also bad"])


@pytest.fixture
def env():
    environment = Environment(parsed_options=argparse.Namespace())
    environment.create_local_runner()
    return environment


def request(env, name, ms, method="GET", fail=False):
    env.events.request.fire(request_type=method, name=name, response_time=ms, response_length=10,
                            exception=RuntimeError("boom") if fail else None, context={})


def test_percentile_per_name_and_method(env):
    for ms in range(1, 101):
        request(env, "/api/items", ms)
    for _ in range(50):
        request(env, "/api/items", 900, method="POST")
    request(env, "/other", 5000)
    assert evaluate(parse_threshold("p95:GET /api/items<500"), env).value == 96  # Locust: the 96th of 100
    merged = evaluate(parse_threshold("p95:/api/items<500"), env)  # GET and POST together
    assert merged.value == 900 and not merged.passed
    assert evaluate(parse_threshold("max<1000"), env).passed is False  # total includes /other's 5000
    assert evaluate(parse_threshold("requests:/api/items>=150"), env).passed
    assert not evaluate(parse_threshold("requests:/api/items>150"), env).passed


def test_fail_ratio_passes_then_fails(env):
    for i in range(100):
        request(env, "/api/items", 10, fail=i < 4)
    assert evaluate(parse_threshold("fail_ratio<0.05"), env).passed
    assert evaluate(parse_threshold("fail_ratio:/api/items<5%"), env).value == pytest.approx(0.04)
    for _ in range(10):
        request(env, "/api/items", 10, fail=True)
    result = evaluate(parse_threshold("fail_ratio<0.05"), env)
    assert not result.passed and result.value == pytest.approx(14 / 110)
    assert "breaks < 0.05" in result.detail


def test_cache_hit_rate_reads_the_run_state(env):
    no_data = evaluate(parse_threshold("cache_hit_rate>0.9"), env)
    assert not no_data.passed and no_data.value is None and no_data.detail == "no data for cache_hit_rate"
    run_state_of(env).add(cache_hits=95, cache_misses=5)
    assert evaluate(parse_threshold("cache_hit_rate>0.9"), env).passed
    run_state_of(env).add(cache_misses=20)
    assert not evaluate(parse_threshold("cache_hit_rate>0.9"), env).passed


def test_a_misspelt_request_name_fails_instead_of_passing(env):
    request(env, "/api/items", 10)
    result = evaluate(parse_threshold("p95:/api/itmes<500"), env)
    assert not result.passed and result.detail == "no requests named '/api/itmes'"


def test_result_document_shape(env):
    request(env, "/api/items", 10)
    doc = evaluate(parse_threshold("p95<500,abort"), env).as_dict()
    assert doc == {"expression": "p95<500,abort", "passed": True, "value": 10.0, "abort_on_fail": True,
                   "detail": "p95 = 10 (meets < 500)"}
