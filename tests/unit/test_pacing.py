"""The page pace: a pure function of elapsed run time, table-driven like vegeta's pacer (no sleeps)."""

import pytest

from stresskit.cluster.quota import PageLedger
from stresskit.run.pacing import PagePace, PageProgress, stage_weight
from stresskit.run.scenarios import load_scenarios, parse_scenarios

SCENARIOS = load_scenarios()
HOUR = 3600.0

# production: 724 pages over 20 h, stages 1 h @0.5, 8 h @1, 2 h @1.5, 8 h @1, 1 h @0.5 = 20 load-hours
PRODUCTION = [
    (0.0, 1),                 # page 1 is due at the start
    (0.5 * HOUR, 10),         # 724 * 0.25/20 = 9.05 → pages 1..10
    (1 * HOUR, 19),           # 724 * 0.5/20 = 18.1
    (9 * HOUR, 308),          # 724 * 8.5/20 = 307.7
    (11 * HOUR, 417),         # 724 * 11.5/20 = 416.3
    (19 * HOUR, 706),         # 724 * 19.5/20 = 705.9
    (20 * HOUR - 1, 724),
    (20 * HOUR, 724),
    (30 * HOUR, 724),
]


@pytest.mark.parametrize(("t", "due"), PRODUCTION)
def test_production_pace(t, due):
    pace = PagePace.for_scenario(SCENARIOS.get("production"))
    assert pace.due_at(t, 724) == due


@pytest.mark.parametrize(("t", "due"), PRODUCTION)
def test_time_scaling_scales_the_pace(t, due):
    pace = PagePace.for_scenario(SCENARIOS.get("production").scaled(0.05))
    assert pace.due_at(t * 0.05, 724) == due


@pytest.mark.parametrize(("t", "per_hour"), [(0.5 * HOUR, 18.1), (5 * HOUR, 36.2), (10 * HOUR, 54.3),
                                             (15 * HOUR, 36.2), (19.5 * HOUR, 18.1), (20 * HOUR, 0.0)])
def test_production_is_about_36_pages_an_hour_at_load_one(t, per_hour):
    pace = PagePace.for_scenario(SCENARIOS.get("production"))
    assert pace.per_hour(t, 724) == pytest.approx(per_hour)
    scaled = PagePace.for_scenario(SCENARIOS.get("production").scaled(0.05))
    assert scaled.per_hour(t * 0.05, 724, time_scale=0.05) == pytest.approx(per_hour)


@pytest.mark.parametrize("name", ["light", "medium", "heavy", "production", "endurance"])
def test_due_time_is_the_inverse_of_due_at(name):
    scenario = SCENARIOS.get(name)
    pace = PagePace.for_scenario(scenario)
    total = scenario.pages
    previous = -1.0
    for page in range(1, total + 1):
        t = pace.due_time(page, total)
        assert t >= previous and t < scenario.duration
        assert pace.due_at(t + 1e-6, total) >= page
        if t > 1e-3:
            assert pace.due_at(t - 1e-3, total) == page - 1
        previous = t


def test_stages_with_their_own_users_weigh_by_users():
    data = {"scenarios": {"x": {
        "pages": 30, "duration": 300, "failure_rate": 0, "users": {"api": 4, "browser": 4},
        "stages": [{"duration": 100, "users": {"api": 2, "browser": 2}},   # weight 0.5
                   {"duration": 100, "load": 1.0},                         # weight 1
                   {"duration": 100, "load": 0.0}]}}}                      # no load: no pages
    scenario = parse_scenarios(data).get("x")
    assert [stage_weight(scenario, i) for i in range(3)] == [0.5, 1.0, 0.0]
    pace = PagePace.for_scenario(scenario)
    assert [pace.due_at(t, 30) for t in (0, 50, 100, 150, 199.99, 250, 300)] == [1, 6, 11, 21, 30, 30, 30]


def test_zero_load_everywhere_spreads_pages_by_duration():
    data = {"scenarios": {"x": {"pages": 4, "duration": 40, "failure_rate": 0, "users": {"browser": 1},
                                "stages": [{"duration": 40, "load": 0}]}}}
    pace = PagePace.for_scenario(parse_scenarios(data).get("x"))
    assert [pace.due_at(t, 4) for t in (0, 9.9, 10, 25, 39.9, 40)] == [1, 1, 2, 3, 4, 4]


def test_no_pages_none_due():
    pace = PagePace.for_scenario(SCENARIOS.get("light"))
    assert pace.due_at(100, 0) == 0 and pace.per_hour(100, 0) == 0


def test_ledger_limit_holds_back_fresh_pages_but_not_given_back_ones():
    ledger = PageLedger(5)
    assert ledger.grant("a", limit=2).page == 1
    assert ledger.grant("b", limit=2).page == 2
    assert ledger.grant("a", limit=2).status == "wait"
    assert ledger.release(1, "a")
    assert ledger.grant("c", limit=0).page == 1, "a page given back was due already"
    assert ledger.grant("a", limit=3).page == 3
    assert ledger.handed_out == 3


@pytest.mark.parametrize(("due", "completed", "failed", "behind"), [(10, 10, 0, 0), (10, 6, 2, 2), (3, 5, 0, 0)])
def test_progress_behind_is_due_minus_finished(due, completed, failed, behind):
    progress = PageProgress(total=20, due=due, completed=completed, failed=failed, paced=True)
    assert progress.behind == behind
    assert f"{behind} behind schedule" in progress.line()
