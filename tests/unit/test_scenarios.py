"""Scenarios as data: the shipped file, validation errors (file, scenario, field), time scaling."""

import textwrap

import pytest

from stresskit.errors import ScenarioError
from stresskit.run.scenarios import (
    MAX_SCALED_SPAWN_RATE,
    default_scenario_file,
    format_duration,
    load_scenarios,
    parse_duration,
    scaled_count,
)

H = 3600.0


def test_shipped_file_holds_the_five_scenarios_of_the_table():
    scenarios = load_scenarios(default_scenario_file())
    table = {
        # name: (pages, duration, failure rate, conditions)
        "light": (10, 0.25 * H, 0.02, ("basic_validation",)),
        "medium": (50, 1 * H, 0.05, ("memory_pressure",)),
        "heavy": (100, 2 * H, 0.08, ("network_instability",)),
        "production": (724, 20 * H, 0.03, ("memory_pressure", "network_instability", "resource_exhaustion")),
        "endurance": (200, 8 * H, 0.05, ("extended_runtime",)),
    }
    assert scenarios.names()[:5] == list(table)  # then examples such as open_api (open model)
    for name, (pages, duration, rate, conditions) in table.items():
        s = scenarios.get(name)
        assert (s.pages, s.duration, s.failure_rate, s.conditions) == (pages, duration, rate, conditions), name
        assert sum(st.duration for st in s.stages) == pytest.approx(s.duration)
        assert set(s.users) == {"api", "websocket", "cache", "browser"}, "every scenario drives all four kinds"


@pytest.mark.parametrize(("text", "seconds"), [
    (90, 90.0), (1.5, 1.5), ("45s", 45.0), ("15m", 900.0), ("2h", 7200.0), ("1h30m", 5400.0),
    ("1h 30m 15s", 5415.0), ("0.5h", 1800.0), ("120", 120.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "15 minutes", "1d", True, None, [1]])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(72000, "20h"), (5400, "1h30m"), (9, "9s"), (0.5, "0.5s"), (61, "1m1s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_scaled_count_never_rounds_a_wanted_kind_away():
    assert [scaled_count(1, 0.5), scaled_count(4, 0.5), scaled_count(3, 1.5), scaled_count(0, 1), scaled_count(2, 0)] \
        == [1, 2, 4, 0, 0]


GOOD = """
[scenarios.smoke]
description = "a team's own scenario"
pages = 3
duration = "1m"
failure_rate = 0.1
conditions = ["network_instability"]
users = { api = 2, browser = 1 }
stages = [
  { duration = "20s", load = 0.5 },
  { duration = "40s", users = { api = 6 }, spawn_rate = 3 },
]
"""


def write(tmp_path, text):
    path = tmp_path / "scenarios.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_team_adds_its_own_scenario_without_python(tmp_path):
    scenarios = load_scenarios(write(tmp_path, GOOD))
    smoke = scenarios.get("smoke")
    assert smoke.pages == 3 and smoke.duration == 60 and smoke.failure_rate == 0.1
    assert smoke.users_at(0) == {"api": 1, "browser": 1}
    assert smoke.users_at(19.9) == {"api": 1, "browser": 1}
    assert smoke.users_at(20) == {"api": 6}
    assert smoke.users_at(60) is None
    assert smoke.stages[0].spawn_rate == 1.0 and smoke.stages[1].spawn_rate == 3.0


# (replace this, with that, expected words in the one-line error)
BAD = [
    ('pages = 3', 'pages = 3\ncolour = "red"', ["'smoke'", "'colour'", "unknown key"]),
    ('duration = "1m"', 'duration = 0', ["'smoke'", "'duration'", "> 0"]),
    ('duration = "1m"', 'duration = "-5m"', ["'smoke'", "'duration'"]),
    ('failure_rate = 0.1', 'failure_rate = 1.5', ["'smoke'", "'failure_rate'", "<= 1"]),
    ('failure_rate = 0.1', 'failure_rate = -0.1', ["'smoke'", "'failure_rate'", ">= 0"]),
    ('failure_rate = 0.1', 'failure_rate = "high"', ["'failure_rate'", "not a number"]),
    ('pages = 3', 'pages = 2.5', ["'pages'", "integer"]),
    ('pages = 3\n', '', ["'pages'", "missing"]),
    ('users = { api = 2, browser = 1 }', 'users = { api = 2, robot = 1 }', ["'users.robot'", "known kinds"]),
    ('users = { api = 2, browser = 1 }', 'users = { api = 0 }', ["'users'", "no users"]),
    ('conditions = ["network_instability"]', 'conditions = ["solar_flares"]', ["'conditions'", "solar_flares"]),
    ('{ duration = "20s", load = 0.5 }', '{ duration = "20s", load = 0.5, wobble = 1 }', ["'stages[0].wobble'"]),
    ('{ duration = "20s", load = 0.5 }', '{ duration = "0s", load = 0.5 }', ["'stages[0].duration'", "> 0"]),
    ('{ duration = "20s", load = 0.5 }', '{ duration = "25s", load = 0.5 }', ["'stages'", "add up to 1m5s", "1m"]),
    ('{ duration = "20s", load = 0.5 }', '{ load = 0.5 }', ["'stages[0].duration'", "missing"]),
    ('{ duration = "20s", load = 0.5 }', '{ duration = "20s", load = -1 }', ["'stages[0].load'"]),
]


@pytest.mark.parametrize(("old", "new", "words"), BAD)
def test_validation_names_file_scenario_and_field(tmp_path, old, new, words):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ScenarioError) as info:
        load_scenarios(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    for word in words:
        assert word in message, (word, message)


def test_empty_stages_is_an_error(tmp_path):
    text = GOOD.split("stages = [")[0] + "stages = []\n"
    with pytest.raises(ScenarioError, match=r"scenario 'smoke': field 'stages': empty"):
        load_scenarios(write(tmp_path, text))


@pytest.mark.parametrize(("text", "match"), [
    ("this is = = not toml", "not valid TOML"),
    ("[light]\npages = 1\n", "unknown top-level key"),
    ("", "no scenarios"),
])
def test_file_level_errors(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError, match=match) as info:
        load_scenarios(path)
    assert str(path) in str(info.value)


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(ScenarioError, match="scenario file not found.*--scenario-file"):
        load_scenarios(tmp_path / "nope.toml")


def test_unknown_scenario_lists_the_known_ones():
    with pytest.raises(ScenarioError) as info:
        load_scenarios().get("gigantic")
    assert "unknown scenario 'gigantic'" in str(info.value)
    assert "light, medium, heavy, production, endurance" in str(info.value)


def test_time_scale_multiplies_every_duration():
    production = load_scenarios().get("production")
    fast = production.scaled(0.01)
    assert fast.duration == pytest.approx(12 * 60)
    assert fast.time_scale == 0.01
    assert [s.duration for s in fast.stages] == pytest.approx([s.duration * 0.01 for s in production.stages])
    assert fast.users == production.users and fast.pages == production.pages
    assert fast.scaled(0.5).time_scale == pytest.approx(0.005), "scaling composes"


def test_time_scale_raises_spawn_rate_only_when_a_ramp_would_not_fit():
    light = load_scenarios().get("light")  # 0 → 5 users in 3 min, 5 → 9 in 10 min, 9 → 5 in 2 min, at 1/s
    assert [s.spawn_rate for s in light.scaled(1).stages] == [1, 1, 1]
    fast = light.scaled(0.01)  # stages of 1.8 s, 6 s, 1.2 s: each ramp must fit in half its stage
    assert [s.spawn_rate for s in fast.stages] == pytest.approx([5 / 0.9, 4 / 3.0, 4 / 0.6])
    assert all(s.spawn_rate <= MAX_SCALED_SPAWN_RATE for s in light.scaled(0.0001).stages)


@pytest.mark.parametrize("factor", [0, -1, float("nan"), float("inf")])
def test_time_scale_must_be_positive(factor):
    with pytest.raises(ScenarioError, match="time scale must be a number > 0"):
        load_scenarios().get("light").scaled(factor)


@pytest.mark.parametrize(("t", "users"), [
    (0, {"websocket": 1, "api": 2, "cache": 1, "browser": 1}),
    (179.9, {"websocket": 1, "api": 2, "cache": 1, "browser": 1}),
    (180, {"websocket": 2, "api": 4, "cache": 2, "browser": 1}),
    (779.9, {"websocket": 2, "api": 4, "cache": 2, "browser": 1}),
    (780, {"websocket": 1, "api": 2, "cache": 1, "browser": 1}),
    (900, None),
    (-3, {"websocket": 1, "api": 2, "cache": 1, "browser": 1}),
])
def test_light_users_per_kind_over_time(t, users):
    assert load_scenarios().get("light").users_at(t) == users
