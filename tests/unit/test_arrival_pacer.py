"""The arrival pacer and rate schedules: pure functions of time, checked as tables (no sleeps)."""

import textwrap

import pytest

from stresskit.arrival.pacer import Pacer, RateSchedule, Segment, schedules, split_shares
from stresskit.run.scenarios import parse_scenarios

STEADY = RateSchedule([Segment(0, 10, 100, 100)])
RAMP = RateSchedule([Segment(0, 10, 0, 100), Segment(10, 20, 100, 100)])


@pytest.mark.parametrize(("schedule", "t", "arrivals"), [
    (STEADY, 0, 0), (STEADY, 0.5, 50), (STEADY, 10, 1000), (STEADY, 99, 1000), (STEADY, -1, 0),
    (RAMP, 5, 125), (RAMP, 10, 500), (RAMP, 15, 1000), (RAMP, 20, 1500),
])
def test_arrivals_integrate_the_rate(schedule, t, arrivals):
    assert schedule.arrivals(t) == pytest.approx(arrivals)


@pytest.mark.parametrize(("schedule", "count", "t"), [
    (STEADY, 1, 0.01), (STEADY, 500, 5), (STEADY, 1000, 10), (STEADY, 1001, None),
    (RAMP, 125, 5), (RAMP, 500, 10), (RAMP, 1000, 15), (RAMP, 0, 0),
])
def test_time_of_inverts_arrivals(schedule, count, t):
    got = schedule.time_of(count)
    assert (got is None) if t is None else got == pytest.approx(t)


def test_zero_rate_gap_is_skipped():
    gap = RateSchedule([Segment(0, 5, 10, 10), Segment(5, 8, 0, 0), Segment(8, 10, 10, 10)])
    assert gap.time_of(50) == pytest.approx(5)
    assert gap.time_of(51) == pytest.approx(8.1)
    assert gap.rate_at(6) == 0 and gap.rate_at(9) == 10


@pytest.mark.parametrize(("share", "phase", "n", "t"), [
    (1.0, 0.0, 0, 0.0), (1.0, 0.0, 1, 0.01), (1.0, 0.0, 100, 1.0),
    (0.5, 0.0, 1, 0.02), (0.5, 0.5, 0, 0.01), (0.5, 0.5, 1, 0.03),
])
def test_pacer_due_time_per_share_and_phase(share, phase, n, t):
    assert Pacer(STEADY, share=share, phase=phase).due_time(n) == pytest.approx(t)


def test_two_halves_with_phases_interleave_into_the_whole():
    a, b = Pacer(STEADY, share=0.5, phase=0.0), Pacer(STEADY, share=0.5, phase=0.5)
    times = sorted([a.due_time(i) for i in range(500)] + [b.due_time(i) for i in range(500)])
    whole = [Pacer(STEADY).due_time(i) for i in range(1000)]
    assert times == pytest.approx(whole)


def test_due_count_and_due_time_agree():
    pacer = Pacer(RAMP, share=0.5, origin=3.0, phase=0.25)
    for n in range(0, 400, 7):
        t = pacer.due_time(n)
        assert pacer.due_count(t) >= n + 1
        assert pacer.due_count(t - 1e-6) <= n


def test_rebalanced_pacer_starts_at_its_origin():
    pacer = Pacer(STEADY, share=0.5, origin=4.0)
    assert pacer.due_time(0) == pytest.approx(4.0)
    assert pacer.due_count(6.0) == 101  # 0.5 * 100/s * 2 s, plus ticket 0 at the origin
    assert pacer.due_time(10_000) is None


def test_schedules_from_a_scenario_ramp_and_convert_pages_per_hour():
    data = __import__("tomllib").loads(textwrap.dedent("""
        [scenarios.open]
        pages = 0
        duration = "30s"
        failure_rate = 0
        users = { websocket = 1 }
        max_users = { api = 10, browser = 2 }
        stages = [
          { duration = "10s", rate = { api = 10, browser = 3600 } },
          { duration = "10s", rate = { api = 30 } },
          { duration = "10s", users = { websocket = 2 } },
        ]
    """))
    scenario = parse_scenarios(data, "t.toml").get("open")
    sched = schedules(scenario)
    assert set(sched) == {"api", "browser"}
    assert sched["api"].rate_at(5) == 10 and sched["api"].rate_at(15) == pytest.approx(20)
    assert sched["api"].arrivals(20) == pytest.approx(100 + 200)
    assert sched["api"].rate_at(25) == 0
    assert sched["browser"].rate_at(5) == pytest.approx(1.0)
    assert scenario.stage_users(scenario.stages[0]) == {"websocket": 1, "api": 10, "browser": 2}


@pytest.mark.parametrize(("share", "origin", "t", "expected"), [
    (1.0, 0.0, 5.0, 500.0), (0.5, 0.0, 5.0, 250.0), (0.5, 4.0, 6.0, 100.0), (1.0, 8.0, 99.0, 200.0),
    (1.0, 5.0, 4.0, 0.0),
])
def test_expected_is_the_share_of_the_schedule_since_the_origin(share, origin, t, expected):
    assert Pacer(STEADY, share=share, origin=origin).expected(t) == pytest.approx(expected)


@pytest.mark.parametrize(("users", "expected"), [
    ({}, {"a": (0.5, 0.0), "b": (0.5, 0.5)}),                                  # nothing spawned yet: equal
    ({"a": {"api": 3}, "b": {"api": 1}}, {"a": (0.75, 0.0), "b": (0.25, 0.75)}),  # by users of the kind
    ({"a": {"api": 1}, "b": {}}, {"a": (1.0, 0.0), "b": (0.0, 0.0)}),           # no users: no arrivals
])
def test_split_shares_follows_the_users_of_each_kind(users, expected):
    shares = split_shares(("a", "b"), users, ["api"])
    for worker, (share, phase) in expected.items():
        assert shares[worker]["api"] == (pytest.approx(share), pytest.approx(phase))


def test_split_shares_sum_to_one_per_kind():
    shares = split_shares(("a", "b", "c"), {"a": {"api": 2, "cache": 1}, "b": {"api": 5}, "c": {"cache": 4}},
                          ["api", "cache"])
    for kind in ("api", "cache"):
        assert sum(per[kind][0] for per in shares.values()) == pytest.approx(1.0)
    assert shares["c"]["api"][0] == 0 and shares["b"]["cache"][0] == 0
