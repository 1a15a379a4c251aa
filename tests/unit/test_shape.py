"""ScenarioShape and Plan: table-driven, as pure functions of run time (nothing here sleeps).

The shape runs inside a real Locust Environment and LocalRunner; only its clock is replaced
(``get_run_time`` returns the table's time), which is the point of a pure shape.
"""

import argparse
import inspect
import logging

import pytest
from locust import User, constant, task
from locust.dispatch import UsersDispatcher
from locust.env import Environment
from locust.runners import WorkerNode

import shapes
from stresskit.cluster.quota import page_quota_of
from stresskit.core.runstate import run_state_of
from stresskit.errors import ScenarioError
from stresskit.run.scenarios import load_scenarios
from stresskit.run.shape import (
    KindMixDispatcher,
    Plan,
    ScenarioShape,
    _install_dispatcher,
    _split,
    scenario_of,
)


class _Base(User):
    abstract = True
    wait_time = constant(1)

    @task
    def noop(self):
        pass


class Api(_Base):
    kind = "api"


class ApiBulk(_Base):
    kind = "api"
    weight = 3


class Ws(_Base):
    kind = "websocket"


class Cache(_Base):
    kind = "cache"


class Browser(_Base):
    kind = "browser"


class Untyped(_Base):
    pass


ALL = [Api, Ws, Cache, Browser, Untyped]


def options(**kw):
    base = {"scenario": "light", "time_scale": 1.0, "scenario_file": None, "headless": True, "pages": None,
            "run_time": None, "end_on_quota": False}
    base.update(kw)
    return argparse.Namespace(**base)


class Clocked(shapes.SelectedScenario):
    """The --scenario shape with its clock replaced by a number."""

    now = 0.0

    def get_run_time(self):
        return self.now


def make(shape=None, classes=ALL, **opts):
    shape = shape or Clocked()
    env = Environment(user_classes=list(classes), shape_class=shape, parsed_options=options(**opts))
    env.create_local_runner()
    return env, shape


# time (s) → (api, websocket, cache, browser) for light at scale 1 (3 min warm-up at 0.5, 10 min steady, 2 min
# cool-down)
LIGHT = [
    (0, (2, 1, 1, 1), "warm-up"),
    (179, (2, 1, 1, 1), "warm-up"),
    (180, (4, 2, 2, 1), "steady"),
    (600, (4, 2, 2, 1), "steady"),
    (780, (2, 1, 1, 1), "cool-down"),
    (899.99, (2, 1, 1, 1), "cool-down"),
]


@pytest.mark.parametrize(("t", "counts", "stage"), LIGHT)
def test_plan_at_light(t, counts, stage):
    plan = Plan(load_scenarios().get("light"), ALL)
    step = plan.at(t)
    assert (step.class_counts["Api"], step.class_counts["Ws"], step.class_counts["Cache"],
            step.class_counts["Browser"]) == counts
    assert step.users == sum(counts)
    assert step.stage_name == stage
    assert Untyped not in step.user_classes
    assert plan.at(t) == step, "pure: the same time gives the same step"


def test_plan_is_over_after_the_duration():
    plan = Plan(load_scenarios().get("light"), ALL)
    assert plan.at(900) is None and plan.at(10_000) is None


def test_plan_skips_kinds_without_a_class_and_says_which():
    plan = Plan(load_scenarios().get("light"), [Api, Cache])
    assert plan.skipped_kinds == ["browser", "websocket"]
    step = plan.at(200)
    assert dict(step.class_counts) == {"Api": 4, "Cache": 2}
    assert set(step.user_classes) == {Api, Cache}


def test_plan_without_any_matching_kind_is_a_config_error():
    with pytest.raises(ScenarioError, match="no User class in the locustfile has one of these kinds.*Untyped"):
        Plan(load_scenarios().get("light"), [Untyped])


@pytest.mark.parametrize(("count", "expected"), [(4, {"Api": 1, "ApiBulk": 3}), (1, {"Api": 0, "ApiBulk": 1}),
                                                 (2, {"Api": 1, "ApiBulk": 1}), (0, {"Api": 0, "ApiBulk": 0})])
def test_kind_users_are_shared_among_its_classes_by_weight(count, expected):
    assert _split(count, [Api, ApiBulk]) == expected


# light at time scale 0.01: 1.8 s warm-up, 6 s steady, 1.2 s cool-down, 9 s in all
SCALED = [(0.0, 5), (1.7, 5), (1.8, 9), (7.7, 9), (7.8, 5), (8.99, 5), (9.0, None), (50.0, None)]


@pytest.mark.parametrize(("t", "users"), SCALED)
def test_tick_is_plan_at_run_time_with_time_scale(t, users):
    env, shape = make(time_scale=0.01)
    shape.now = t
    tick = shape.tick()
    if users is None:
        assert tick is None
        assert "duration (9s) over" in shape.stop_reason
        assert "duration" in run_state_of(env).stop_reason
    else:
        count, rate, classes = tick
        assert count == users
        assert rate >= 1
        assert set(classes) == {Api, Ws, Cache, Browser}


def test_tick_sequence_follows_the_stages_without_sleeping():
    _env, shape = make(scenario="medium", time_scale=0.001)  # 0.3 s, 3 s, 0.3 s
    seen = []
    for t in [0, 0.1, 0.29, 0.3, 1.0, 3.29, 3.3, 3.59, 3.6]:
        shape.now = t
        tick = shape.tick()
        seen.append(tick[0] if tick else None)
    assert seen == [9, 9, 9, 18, 18, 18, 9, 9, None]


def test_run_time_caps_the_scenario():
    _env, shape = make(run_time=60)
    shape.now = 59.9
    assert shape.tick() is not None
    shape.now = 60
    assert shape.tick() is None
    assert shape.stop_reason == "--run-time (1m) reached"


def test_each_concrete_shape_pins_its_scenario_and_ignores_the_option():
    for cls, name in [(shapes.LightShape, "light"), (shapes.MediumShape, "medium"), (shapes.HeavyShape, "heavy"),
                      (shapes.ProductionShape, "production"), (shapes.EnduranceShape, "endurance")]:
        env, shape = make(shape=cls(), scenario="heavy")
        shape.build_plan(env)
        assert shape.scenario.name == name
        assert scenario_of(env).name == name


def test_selected_scenario_follows_the_option_and_scale():
    env, _shape = make(scenario="endurance", time_scale=0.5)
    scenario = scenario_of(env)
    assert scenario.name == "endurance" and scenario.duration == 4 * 3600 and scenario.time_scale == 0.5


def test_shapes_are_offered_to_the_class_picker():
    """Locust offers every non-abstract LoadTestShape in the locustfile namespace; names must be unique."""
    from locust.util.load_locustfile import is_shape_class

    offered = [v for v in vars(shapes).values() if is_shape_class(v)]
    assert sorted(c.__name__ for c in offered) == ["EnduranceShape", "HeavyShape", "LightShape", "MediumShape",
                                                   "ProductionShape", "SelectedScenario"]
    assert not is_shape_class(ScenarioShape)
    for cls in offered:
        assert "tick" not in vars(cls), f"{cls.__name__} must not carry its own numbers"
        assert inspect.getdoc(cls)


def test_quota_done_ends_the_run_once_armed_with_end_on_quota():
    env, shape = make(time_scale=0.01, end_on_quota=True)
    shape.now = 1.0
    assert shape.tick() is not None
    shape.begin(env)  # test_start: sets the page quota to light's 10 pages
    quota = page_quota_of(env)
    assert quota.total == 10 and run_state_of(env).pages_total == 10
    process_pages(quota, 9)
    assert shape.tick() is not None
    process_pages(quota, 1)
    assert quota.done
    assert shape.tick() is None
    assert shape.stop_reason == "page quota complete"
    shape.end()  # test_stop: a new test's first tick comes before test_start and must not see the old quota
    assert shape.tick() is not None


def test_a_paced_quota_hands_pages_out_when_due_and_done_pages_do_not_end_the_run():
    env, shape = make(time_scale=0.01)  # light: 9 s, 10 pages paced over 1.8 s @0.5, 6 s @1, 1.2 s @0.5
    shape.now = 0.0
    shape.begin(env)
    quota = page_quota_of(env)
    process_pages(quota, 1)  # page 1 is due at the start
    assert quota.acquire().status == "wait"
    assert (run_state_of(env).pages_due, run_state_of(env).pages_behind) == (1, 0)
    shape.now = 4.0  # share (0.9 + 2.2) / 7.5 = 0.413: pages 1..5 due
    assert shape.tick() is not None
    assert (run_state_of(env).pages_due, run_state_of(env).pages_behind) == (5, 4)
    process_pages(quota, 4)
    assert quota.acquire().status == "wait"
    shape.now = 8.99
    process_pages(quota, 5)
    assert quota.done
    assert shape.tick() is not None, "a finished quota does not end a paced run"
    shape.now = 9.0
    assert shape.tick() is None and "duration" in shape.stop_reason
    shape.end()
    assert (run_state_of(env).pages_due, run_state_of(env).pages_behind) == (10, 0)


def test_pages_option_wins_over_the_scenario():
    env, shape = make(pages=3)
    shape.begin(env)
    assert page_quota_of(env).total == 3


def test_no_page_quota_when_the_locustfile_has_no_page_processor():
    env, shape = make(classes=[Api, Ws])
    shape.begin(env)
    assert not shape.plan.has_pages
    assert run_state_of(env).pages_total == 0
    shape.now = 1.0
    assert shape.tick() is not None


def process_pages(quota, n):
    for _ in range(n):
        grant = quota.acquire()
        assert grant.status == "page"
        quota.complete(grant)


# -- the kind-mix dispatcher: exact per-kind counts instead of weight-only spreading -------------

def dispatch(dispatcher, users, rate=100.0, classes=None):
    dispatcher.new_dispatch(users, rate, classes)
    final = None
    for final in dispatcher:  # noqa: B007 - runs the dispatcher out, keeping its last step
        pass
    counts = {}
    for per_worker in final.values():
        for name, n in per_worker.items():
            counts[name] = counts.get(name, 0) + n
    return {k: v for k, v in counts.items() if v}, final


@pytest.fixture
def mix_env(monkeypatch):
    import locust.dispatch

    monkeypatch.setattr(locust.dispatch, "gevent", _NoSleep)  # dispatch pacing is not what is tested here
    env, shape = make(scenario="heavy", classes=[Api, ApiBulk, Ws, Cache, Browser])
    _install_dispatcher(env)
    return env, shape


class _NoSleep:
    @staticmethod
    def sleep(_):
        pass


@pytest.mark.parametrize("workers", [1, 3])
def test_dispatcher_reaches_the_exact_mix_at_full_load(mix_env, workers):
    env, shape = mix_env
    shape.now = 700  # heavy's peak: api 16 (Api 4 + ApiBulk 12), websocket 8, cache 6, browser 4
    users, _rate, classes = shape.tick()
    nodes = [WorkerNode(f"w{i}") for i in range(workers)]
    dispatcher = env.dispatcher_class(worker_nodes=nodes, user_classes=env.user_classes)
    counts, final = dispatch(dispatcher, users, classes=classes)
    assert counts == {"Api": 4, "ApiBulk": 12, "Ws": 8, "Cache": 6, "Browser": 4}
    per_worker = [sum(v.values()) for v in final.values()]
    assert max(per_worker) - min(per_worker) <= 1


def test_dispatcher_keeps_the_mix_through_ramps(mix_env):
    env, shape = mix_env
    dispatcher = env.dispatcher_class(worker_nodes=[WorkerNode("w0")], user_classes=env.user_classes)
    results = []
    for t in [0, 700, 7000]:  # ramp-up (0.5), peak (1.0), ramp-down (0.5)
        shape.now = t
        users, _, classes = shape.tick()
        results.append(dispatch(dispatcher, users, classes=classes)[0])
    half = {"Api": 2, "ApiBulk": 6, "Ws": 4, "Cache": 3, "Browser": 2}
    assert results == [half, {"Api": 4, "ApiBulk": 12, "Ws": 8, "Cache": 6, "Browser": 4}, half]


def test_stock_weights_differ_which_is_why_the_mix_dispatcher_exists(mix_env):
    env, shape = mix_env
    shape.now = 700
    users, _, classes = shape.tick()
    stock, _ = dispatch(UsersDispatcher(worker_nodes=[WorkerNode("w0")], user_classes=env.user_classes), users,
                        classes=classes)
    assert stock != {"Api": 4, "ApiBulk": 12, "Ws": 8, "Cache": 6, "Browser": 4}


def test_dispatcher_without_a_scenario_step_is_locusts(mix_env):
    env, shape = mix_env
    shape.last_step = None
    ours = env.dispatcher_class(worker_nodes=[WorkerNode("w0")], user_classes=env.user_classes)
    stock = UsersDispatcher(worker_nodes=[WorkerNode("w0")], user_classes=env.user_classes)
    assert dispatch(ours, 13)[0] == dispatch(stock, 13)[0]
    assert issubclass(env.dispatcher_class, KindMixDispatcher)


def test_importing_registers_nothing():
    """A fresh interpreter: importing the shapes, criteria and thresholds adds no listener anywhere."""
    import subprocess
    import sys

    code = (
        "import locust\n"
        "from locust import events\n"
        "def count(): return sum(len(getattr(events, n)._handlers) for n in vars(events)\n"
        "                        if hasattr(getattr(events, n), '_handlers'))\n"
        "before = count()\n"
        "import shapes, stresskit.run.shape, stresskit.run.criteria, stresskit.run.thresholds\n"
        "import stresskit.run.scenarios, stresskit.run.suite\n"
        "from locust.dispatch import UsersDispatcher\n"
        "import locust.env\n"
        "assert count() == before, (before, count())\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


BROWSER_RATE = """
[scenarios.rated_pages]
pages = {pages}
duration = "60s"
failure_rate = 0
users = {{ api = 1 }}
stages = [ {{ duration = "60s", rate = {{ browser = 3600 }}, max_users = {{ browser = 1 }} }} ]
"""


@pytest.mark.parametrize(("pages", "end_on_quota", "warned"), [(5, False, True), (5, True, False), (0, False, False)])
def test_a_browser_rate_beside_a_paced_page_quota_is_warned_about(tmp_path, caplog, pages, end_on_quota, warned):
    path = tmp_path / "scenarios.toml"
    path.write_text(BROWSER_RATE.format(pages=pages))
    env, shape = make(scenario="rated_pages", scenario_file=str(path), end_on_quota=end_on_quota)
    with caplog.at_level(logging.WARNING, logger="stresskit.run.pacing"):
        shape.begin(env)
    lines = [r.getMessage() for r in caplog.records if r.name == "stresskit.run.pacing"]
    assert bool(lines) == warned, lines
    if warned:
        assert "rated_pages gives the browser kind a rate and has 5 paced pages" in lines[0]
        assert "set pages = 0, or run with --end-on-quota" in lines[0]
