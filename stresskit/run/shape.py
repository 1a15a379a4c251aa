"""The scenario-driven LoadTestShape: users per kind as a pure function of run time.

:class:`Plan` joins a :class:`~stresskit.run.scenarios.Scenario` with the locustfile's User classes
(picked by their ``kind`` attribute) and answers :meth:`Plan.at` — users, spawn rate and classes
at run time *t* — without clocks, so shapes are tested table-driven, never by sleeping.
:class:`ScenarioShape.tick` is ``plan.at(run_time)``: the run lasts the scenario's duration, its
pages paced over it (:mod:`stresskit.run.pacing`); with ``--end-on-quota`` it also ends once the page
quota is complete.

Locust spreads users over classes by class ``weight``; a scenario asks for exact counts per
kind (1 browser, 4 API users ...). :class:`KindMixDispatcher`, installed by
:func:`use_scenarios`, makes Locust's dispatcher reach those counts exactly, on one process or
across workers.

Nothing happens on import. A locustfile opts in::

    from locust import events
    from stresskit.run.shape import use_scenarios
    from stresskit.shapes import SelectedScenario, LightShape, ...   # optional: the ready shapes

A locustfile that imports no shape gets :class:`SelectedScenario` (``--scenario`` decides); one
with a shape of its own that is not a scenario shape runs that shape, says so in one line, and
stops with the bad-configuration exit code when ``--scenario`` was given (it would be ignored).

    use_scenarios(events)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from locust import LoadTestShape
from locust.dispatch import UsersDispatcher

from stresskit.cluster.quota import page_quota_of
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.exitcodes import quit_bad_configuration
from stresskit.core.kinds import KIND_NAMES
from stresskit.core.options import option, register_options
from stresskit.core.perrun import Once
from stresskit.core.runstate import run_state_of
from stresskit.errors import ConfigError, ScenarioError
from stresskit.run.pacing import add_arguments as add_pacing_arguments
from stresskit.run.pacing import apply_pace, end_on_quota, freeze_pace, report_progress
from stresskit.run.scenarios import KINDS, Scenario, ScenarioSet, format_duration, load_scenarios

__all__ = [
    "DEFAULT_SCENARIO",
    "KindMixDispatcher",
    "Plan",
    "ScenarioShape",
    "SelectedScenario",
    "Step",
    "plan_of",
    "add_arguments",
    "scenario_of",
    "scenario_settings",
    "use_scenarios",
]

log = logging.getLogger("stresskit.run.shape")

DEFAULT_SCENARIO = "light"


def add_arguments(parser: Any) -> None:
    """``--scenario``, ``--time-scale`` (both also in the web UI's form) and ``--scenario-file``."""
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, env_var="STRESSKIT_SCENARIO",
                        help="stresskit: scenario to run (light, medium, heavy, production, endurance or one of "
                             "your own; default light)")
    parser.add_argument("--time-scale", type=float, default=1.0, env_var="STRESSKIT_TIME_SCALE",
                        help="stresskit: multiply every scenario duration by this factor (> 0), e.g. 0.01 runs "
                             "production's 20 h in 12 min (default 1)")
    parser.add_argument("--scenario-file", default=None, env_var="STRESSKIT_SCENARIO_FILE",
                        include_in_web_ui=False,
                        help="stresskit: TOML file with the scenarios (default: the built-in stresskit/data/scenarios.toml)")


@dataclass(frozen=True)
class Step:
    """What the shape asks for at one moment: the value of :meth:`Plan.at`."""

    users: int
    spawn_rate: float
    user_classes: tuple[type, ...]
    class_counts: Mapping[str, int]
    kind_counts: Mapping[str, int]
    stage: int
    stage_name: str

    def as_tick(self) -> tuple[int, float, list[type]]:
        """The 3-tuple Locust's shape worker expects."""
        return self.users, self.spawn_rate, list(self.user_classes)


class Plan:
    """A scenario bound to concrete User classes. :meth:`at` is pure: same time, same answer."""

    def __init__(self, scenario: Scenario, user_classes: Sequence[type]) -> None:
        self.scenario = scenario
        self.classes_by_kind: dict[str, list[type]] = {
            kind: sorted((c for c in user_classes if getattr(c, "kind", None) == kind), key=lambda c: c.__name__)
            for kind in KINDS
        }
        wanted = {kind for stage in scenario.stages for kind in scenario.stage_users(stage)}
        self.skipped_kinds = sorted(k for k in wanted if not self.classes_by_kind[k])
        self.kinds = sorted(k for k in wanted if self.classes_by_kind[k])
        if not self.kinds:
            have = sorted({getattr(c, "kind", None) or f"{c.__name__} (no kind)" for c in user_classes})
            raise ScenarioError(
                f"scenario {scenario.name!r} needs users of kind {', '.join(sorted(wanted))} but no User class in "
                f"the locustfile has one of these kinds (found: {', '.join(have) or 'no User classes'}); "
                f"set the class attribute kind = {' | '.join(repr(k) for k in KIND_NAMES)}"
            )
        self.all_classes: tuple[type, ...] = tuple(c for k in self.kinds for c in self.classes_by_kind[k])
        self.has_pages = "browser" in self.kinds and scenario.pages > 0
        """Whether this run has a page quota: the scenario has pages and a page processor class runs."""

    def at(self, run_time: float) -> Step | None:
        """Users, spawn rate and classes at ``run_time`` seconds; ``None`` once the duration is over."""
        index = self.scenario.stage_index_at(run_time)
        if index is None:
            return None
        stage = self.scenario.stages[index]
        kind_counts = {k: n for k, n in self.scenario.stage_users(stage).items() if k in self.kinds}
        class_counts: dict[str, int] = {}
        for kind, count in kind_counts.items():
            class_counts.update(_split(count, self.classes_by_kind[kind]))
        classes = tuple(c for c in self.all_classes if class_counts.get(c.__name__, 0) > 0) or self.all_classes
        return Step(users=sum(class_counts.values()), spawn_rate=stage.spawn_rate, user_classes=classes,
                    class_counts=class_counts, kind_counts=kind_counts, stage=index,
                    stage_name=stage.name or f"stage {index + 1}")


def _split(count: int, classes: Sequence[type]) -> dict[str, int]:
    """Share ``count`` users of one kind among its classes by class ``weight`` (largest remainder)."""
    weights = [max(float(getattr(c, "weight", 1) or 0), 0.0) for c in classes]
    total = sum(weights) or float(len(classes))
    if not sum(weights):
        weights = [1.0] * len(classes)
    exact = [count * w / total for w in weights]
    shares = [math.floor(x) for x in exact]
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - shares[i]), classes[i].__name__))
    for i in order[: count - sum(shares)]:
        shares[i] += 1
    return {c.__name__: n for c, n in zip(classes, shares, strict=True)}


@dataclass(frozen=True)
class ScenarioSettings:
    """The run's scenario options, validated: the scenario file, the ``--scenario`` name and the scale."""

    scenarios: ScenarioSet
    selected: str
    time_scale: float

    def resolve(self, name: str | None) -> Scenario:
        """The named scenario (``None``: the ``--scenario`` one) with ``--time-scale`` applied."""
        return self.scenarios.get(name or self.selected).scaled(self.time_scale)


def scenario_settings(environment: RunEnvironment) -> ScenarioSettings:
    """Read and validate ``--scenario-file``, ``--scenario`` and ``--time-scale``; raises ConfigError."""
    scale = option(environment, "time_scale", 1.0)
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        raise ConfigError(f"--time-scale must be a number > 0, got {scale!r}") from None
    if not (scale > 0 and math.isfinite(scale)):
        raise ConfigError(f"--time-scale must be a number > 0 (e.g. 0.01), got {scale:g}")
    scenarios = load_scenarios(option(environment, "scenario_file", None))
    selected = str(option(environment, "scenario", DEFAULT_SCENARIO))
    scenarios.get(selected)  # unknown name: one line listing the known ones
    return ScenarioSettings(scenarios=scenarios, selected=selected, time_scale=scale)


class ScenarioShape(LoadTestShape):
    """Drives users from a scenario. Subclasses set :attr:`scenario_name`; ``None`` runs ``--scenario``.

    The shape resolves its scenario when the test starts (so a class picked in the web UI, or a
    scenario typed into the web UI's form, takes effect), sets the page quota to the scenario's
    pages unless ``--pages`` was given and paces it over the duration, and stops when the duration
    is over (or, with ``--end-on-quota``, once the quota is done).
    """

    abstract: ClassVar[bool] = True
    use_common_options: ClassVar[bool] = True
    """``--run-time`` caps the scenario (``--users`` / ``--spawn-rate`` are ignored: the scenario sets them)."""
    scenario_name: ClassVar[str | None] = None
    """The scenario this shape runs; ``None`` means the one named by ``--scenario``."""

    def __init__(self) -> None:
        super().__init__()
        self.plan: Plan | None = None
        self.last_step: Step | None = None
        self.stop_reason = ""
        self._plan_key: tuple[Any, ...] | None = None
        self._quota_armed = False

    @property
    def scenario(self) -> Scenario | None:
        """The resolved (time-scaled) scenario of the current or last test, if any."""
        return self.plan.scenario if self.plan else None

    def build_plan(self, environment: RunEnvironment) -> Plan:
        """Resolve the scenario from the options and bind it to the environment's User classes.

        Memoised on (options, classes) so repeated calls at test start log their lines once.
        """
        key = (self.scenario_name, option(environment, "scenario", None), option(environment, "time_scale", None),
               option(environment, "scenario_file", None), tuple(environment.user_classes))
        if self.plan is None or key != self._plan_key:
            scenario = scenario_settings(environment).resolve(self.scenario_name)
            plan = Plan(scenario, environment.user_classes)
            for kind in plan.skipped_kinds:
                log.info("scenario %s: no User class of kind %r in the locustfile; skipping those users",
                         scenario.name, kind)
            self.plan, self._plan_key = plan, key
        run_state_of(environment).scenario = self.plan.scenario
        return self.plan

    def begin(self, environment: RunEnvironment) -> None:
        """At test start: build the plan, set the page quota, log the scenario in one line."""
        self.stop_reason = ""
        plan = self.build_plan(environment)
        _apply_page_quota(environment, plan)
        pace = apply_pace(environment, plan.scenario, plan.has_pages, self.get_run_time)
        self._quota_armed = True
        log.info("%s; page quota %s", plan.scenario.summary(), pace)

    def end(self) -> None:
        """At test stop: forget the step and disarm the quota check until the next test starts
        (the first tick of a test comes before ``test_start``, when last test's quota is still done).
        The pages due stay those due at this moment."""
        if self._quota_armed and self.plan is not None and self.plan.has_pages and self.runner is not None:
            freeze_pace(self.runner.environment, self.get_run_time())
        self.last_step = None
        self._quota_armed = False

    def tick(self) -> tuple[int, float, list[type]] | None:
        """``plan.at(run_time)``, or ``None`` when the duration is over, ``--run-time`` is reached
        or (``--end-on-quota``) the page quota is done."""
        environment = self.runner.environment if self.runner is not None else None
        if environment is None:
            return None
        try:
            plan = self.build_plan(environment)
        except ConfigError as exc:
            log.error("cannot run shape %s: %s", type(self).__name__, exc)
            self._stop(environment, f"bad configuration: {exc}")
            return None
        if self._quota_armed and plan.has_pages:
            report_progress(environment)
            if end_on_quota(environment) and _quota_done(environment, plan):
                self._stop(environment, "page quota complete")
                return None
        run_time = self.get_run_time()
        limit = option(environment, "run_time", None)
        if limit and run_time >= float(limit):
            self._stop(environment, f"--run-time ({format_duration(float(limit))}) reached")
            return None
        step = plan.at(run_time)
        if step is None:
            self._stop(environment, f"scenario duration ({format_duration(plan.scenario.duration)}) over")
            return None
        if self.last_step is None or step.stage != self.last_step.stage:
            log.info("scenario %s: %s — %s", plan.scenario.name, step.stage_name,
                     ", ".join(f"{n} {k}" for k, n in step.kind_counts.items()) or "no users")
        self.last_step = step
        return step.as_tick()

    def _stop(self, environment: RunEnvironment, reason: str) -> None:
        if not self.stop_reason:
            self.stop_reason = reason
            state = run_state_of(environment)
            if not state.stop_reason:
                state.stop_reason = reason
            log.info("stopping: %s", reason)


class SelectedScenario(ScenarioShape):
    """The scenario named by ``--scenario`` / ``STRESSKIT_SCENARIO`` (default ``light``).

    :func:`use_scenarios` installs it when the locustfile imports no shape, so ``--scenario``
    works without a shape import; ``stresskit.shapes`` re-exports it with the five ready shapes.
    """

    scenario_name = None


def _apply_page_quota(environment: RunEnvironment, plan: Plan) -> int:
    """Set the page quota to the scenario's pages; unless ``--pages`` was given, or no page processor runs."""
    if not plan.has_pages:
        return 0
    quota = page_quota_of(environment)
    if option(environment, "pages", None) is None:
        quota.set_total(plan.scenario.pages)
    return quota.total


def _quota_done(environment: RunEnvironment, plan: Plan) -> bool:
    if not plan.has_pages:
        return False
    quota = page_quota_of(environment)
    return quota.total > 0 and quota.done


def plan_of(environment: RunEnvironment) -> Plan | None:
    """The plan of the environment's ScenarioShape (built on demand), or ``None`` without one."""
    shape = getattr(environment, "shape_class", None)
    if not isinstance(shape, ScenarioShape):
        return None
    if shape.plan is None:
        try:
            shape.build_plan(environment)
        except ConfigError:
            return None
    return shape.plan


def scenario_of(environment: RunEnvironment) -> Scenario | None:
    """The scenario this run runs (time-scaled), or ``None`` when the locustfile has no scenarios.

    The one answer to "which scenario is running" for every part (faults, criteria, the embedded
    target): the scenario the environment's :class:`ScenarioShape` resolved, kept on the run state
    (:attr:`stresskit.core.runstate.RunState.scenario`); without a ScenarioShape, the one the scenario
    options name. Bad scenario options give ``None`` here: the scenario part reports them, once.
    """
    state = run_state_of(environment)
    if state.scenario is not None:
        return state.scenario
    plan = plan_of(environment)
    if plan is not None:
        return plan.scenario
    if not option(environment, "scenario", None):
        return None
    try:
        state.scenario = scenario_settings(environment).resolve(None)
    except (ConfigError, ScenarioError):
        return None
    return state.scenario


class KindMixDispatcher(UsersDispatcher):
    """Locust's dispatcher, but reaching the active scenario step's exact per-class counts.

    Adding users picks the class furthest below its share; removing picks the one furthest
    above it. Without a :class:`ScenarioShape` step it behaves exactly like ``UsersDispatcher``.
    ``fixed_count`` is ignored while a scenario step is active (the scenario sets the counts).
    """

    environment: ClassVar[Any] = None

    def _targets(self) -> dict[str, int] | None:
        shape = getattr(self.environment, "shape_class", None)
        step = getattr(shape, "last_step", None) if isinstance(shape, ScenarioShape) else None
        if step is None or not step.class_counts:
            return None
        return {name: n for name, n in step.class_counts.items() if n > 0} or None

    def _counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for users_on_node in self._users_on_workers.values():
            for name, n in users_on_node.items():
                counts[name] = counts.get(name, 0) + n
        return counts

    def new_dispatch(self, target_user_count: int, spawn_rate: float,
                     user_classes: list[type] | None = None) -> None:
        super().new_dispatch(target_user_count, spawn_rate, user_classes)
        if self._targets():
            self._user_generator = self._user_gen(seed=self._counts())

    def _user_gen(self, seed: Mapping[str, int] | None = None):
        targets = self._targets()
        if not targets:
            yield from super()._user_gen()
            return
        names = [u.__name__ for u in self._user_classes if targets.get(u.__name__, 0) > 0]
        if not names:
            yield from super()._user_gen()
            return
        total_weight = sum(targets[n] for n in names)
        counts = {n: int((seed or {}).get(n, 0)) for n in names}
        while True:
            size = sum(counts.values()) + 1
            name = max(names, key=lambda n: (targets[n] / total_weight * size - counts[n], targets[n], n))
            counts[name] += 1
            yield name

    def _remove_users_from_workers(self) -> dict[str, dict[str, int]]:
        targets = self._targets()
        if not targets:
            return super()._remove_users_from_workers()
        floor = max(self._current_user_count - self._user_count_per_dispatch_iteration, self._target_user_count)
        total_weight = sum(targets.values())
        while self._active_users:
            counts = self._counts()
            remaining = self._current_user_count - 1
            present = {user for _, user in self._active_users}
            name = max(present, key=lambda n: (counts.get(n, 0) - targets.get(n, 0) / total_weight * remaining, n))
            index = max(i for i, (_, user) in enumerate(self._active_users) if user == name)
            worker_node, user = self._active_users.pop(index)
            self._users_on_workers[worker_node.id][user] -= 1
            self._current_user_count -= 1
            self._try_dispatch_fixed = True
            if self._current_user_count == 0 or self._current_user_count <= floor:
                break
        return self._users_on_workers


def _install_dispatcher(environment: RunEnvironment) -> None:
    if getattr(environment, "dispatcher_class", UsersDispatcher) is not UsersDispatcher:
        if not (isinstance(environment.dispatcher_class, type)
                and issubclass(environment.dispatcher_class, KindMixDispatcher)):
            log.warning("a custom dispatcher is installed; scenario user mixes follow class weights only")
        return
    environment.dispatcher_class = type("KindMixDispatcher", (KindMixDispatcher,), {"environment": environment})


_REGISTERED = Once()


def use_scenarios(events: Any) -> None:
    """Opt a locustfile into scenario shapes: options, validation at ``init``, quota at test start.

    Bad scenario options (unknown scenario, bad scenario file, time scale <= 0) end the process
    in ``init`` with one error line and the bad-configuration exit code, before any load is sent.
    Idempotent per ``events`` object.
    """
    register_options(events, add_arguments, add_pacing_arguments)
    if not _REGISTERED.first(events):
        return
    events.init.add_listener(_on_init)
    events.test_start.add_listener(_on_test_start)
    events.test_stop.add_listener(_on_test_stop)


def _scenario_shapes(environment: RunEnvironment) -> list[ScenarioShape]:
    shapes = dict(getattr(environment, "available_shape_classes", None) or {})
    if environment.shape_class is not None:
        shapes[type(environment.shape_class).__name__] = environment.shape_class
    return [s for s in shapes.values() if isinstance(s, ScenarioShape)]


def _scenario_given(environment: RunEnvironment) -> bool:
    """Did the user ask for a scenario (``--scenario`` on the command line, in a config file or
    ``STRESSKIT_SCENARIO``), as opposed to the default? Only then is an ignored one an error."""
    import os
    import sys

    if option(environment, "scenario", DEFAULT_SCENARIO) != DEFAULT_SCENARIO or os.environ.get("STRESSKIT_SCENARIO"):
        return True
    return any(word == "--scenario" or word.startswith("--scenario=") for word in sys.argv[1:])


def _provide_default_shape(environment: RunEnvironment) -> None:
    """No shape in the locustfile: run :class:`SelectedScenario`, so ``--scenario`` is honoured."""
    shape = SelectedScenario()
    shape.runner = environment.runner
    environment.shape_class = shape
    if environment.available_shape_classes is not None:
        environment.available_shape_classes.setdefault(type(shape).__name__, shape)
    log.info("the locustfile imports no shape: SelectedScenario runs --scenario %s",
             option(environment, "scenario", DEFAULT_SCENARIO))


def _on_init(environment: RunEnvironment, **_: Any) -> None:
    from locust.runners import WorkerRunner

    if isinstance(environment.runner, WorkerRunner):
        return  # only the master ticks; it validated the scenario options
    try:
        settings = scenario_settings(environment)
        if environment.shape_class is None and not option(environment, "class_picker", False):
            _provide_default_shape(environment)
        elif environment.shape_class is None and environment.available_shape_classes is not None:
            environment.available_shape_classes.setdefault("SelectedScenario", SelectedScenario())
        selected = _choose_shape(environment, settings)
        if isinstance(selected, ScenarioShape):
            selected.runner = environment.runner
            selected.build_plan(environment)
            if option(environment, "num_users", None) is not None or option(environment, "spawn_rate", None):
                log.info("--users / --spawn-rate are ignored: the scenario sets the users (--run-time caps it)")
        elif selected is not None:
            if _scenario_given(environment):
                raise ConfigError(f"--scenario {settings.selected} cannot be honoured: the locustfile's own shape "
                                  f"{type(selected).__name__} runs and is not a scenario shape; drop --scenario, "
                                  "or remove the shape from the locustfile (use_stresskit then runs the scenario)")
            log.info("the locustfile's own shape %s runs (not a scenario shape: scenarios do not apply)",
                     type(selected).__name__)
    except ConfigError as exc:
        quit_bad_configuration(environment, str(exc))
        return
    # Other shapes offered by the class picker: drop those whose scenario is not in the file.
    for shape in _scenario_shapes(environment):
        if shape is environment.shape_class or shape.scenario_name is None:
            continue
        if shape.scenario_name not in settings.scenarios.scenarios:
            log.warning("shape %s offers scenario %r, which %s does not define; removed from the class picker",
                        type(shape).__name__, shape.scenario_name, settings.scenarios.path)
            if environment.available_shape_classes is not None:
                environment.available_shape_classes.pop(type(shape).__name__, None)
    _install_dispatcher(environment)


def _choose_shape(environment: RunEnvironment, settings: ScenarioSettings) -> Any:
    """Without ``--class-picker``, ``--scenario`` decides, not the import order of the locustfile.

    Locust runs the first shape class it finds in the locustfile (and import sorters reorder
    imports). So among the ScenarioShapes offered, the one that follows ``--scenario`` wins; else
    the one pinned to the ``--scenario`` name; else Locust's choice stands.
    """
    current = environment.shape_class
    if option(environment, "class_picker", False) or not isinstance(current, ScenarioShape):
        return current
    offered = _scenario_shapes(environment)
    choice = next((s for s in offered if s.scenario_name is None), None) or next(
        (s for s in offered if s.scenario_name == settings.selected), None)
    if choice is not None and choice is not current:
        choice.runner = environment.runner
        environment.shape_class = choice
        return choice
    if current.scenario_name not in (None, settings.selected) and _scenario_given(environment):
        raise ConfigError(f"--scenario {settings.selected} cannot be honoured: the locustfile only offers "
                          f"{type(current).__name__} (scenario {current.scenario_name}); import SelectedScenario "
                          "from stresskit.shapes, or drop --scenario")
    if current.scenario_name is not None and current.scenario_name != settings.selected:
        log.info("shape %s runs scenario %s", type(current).__name__, current.scenario_name)
    return current


def _on_test_start(environment: RunEnvironment, **_: Any) -> None:
    shape = environment.shape_class
    if isinstance(shape, ScenarioShape) and environment.runner is not None:
        from locust.runners import WorkerRunner

        if isinstance(environment.runner, WorkerRunner):
            return
        try:
            shape.begin(environment)
        except ConfigError as exc:
            log.error("cannot run shape %s: %s", type(shape).__name__, exc)


def _on_test_stop(environment: RunEnvironment, **_: Any) -> None:
    shape = environment.shape_class
    if isinstance(shape, ScenarioShape):
        shape.end()
