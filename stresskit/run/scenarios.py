"""Scenarios as data: the model, loading from TOML, validation and time scaling.

A scenario file holds one ``[scenarios.NAME]`` table per scenario — pages, duration,
failure-injection rate, conditions, the user mix per kind and the ramp stages. The built-in one
ships with the package (``stresskit/data/scenarios.toml``, found through importlib.resources); a
team adds its own scenarios in a file of its own (``--scenario-file``); no Python is needed. Loading
validates everything and raises :class:`~stresskit.errors.ScenarioError` with one line naming
the file, the scenario and the field, so a typo stops the run before any load is sent.

The model is pure data: :meth:`Scenario.users_at` answers "which users per kind at run time t"
without clocks, so shapes built on it are testable without sleeping.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from stresskit.core.kinds import KIND_NAMES, USER_KINDS
from stresskit.errors import ScenarioError

__all__ = [
    "BUILTIN_SCENARIO_FILE",
    "CONDITIONS",
    "KINDS",
    "MAX_SCALED_SPAWN_RATE",
    "RATE_UNITS",
    "Scenario",
    "ScenarioSet",
    "Stage",
    "default_scenario_file",
    "format_duration",
    "load_scenarios",
    "parse_duration",
    "scaled_count",
]

KINDS: tuple[str, ...] = KIND_NAMES
"""The user kinds a mix may name (:mod:`stresskit.core.kinds`); a User class says which it is with its ``kind`` attribute."""

RATE_UNITS: dict[str, tuple[str, float]] = {k.name: (k.rate_unit, k.rate_factor) for k in USER_KINDS.values()}
"""The unit a stage's ``rate`` is written in per kind, and its factor to iterations per second."""

CONDITIONS: dict[str, str] = {
    "basic_validation": "no extra condition: the system under test in its normal state",
    "memory_pressure": "memory held on the target host while the load runs",
    "network_instability": "latency, timeouts and resets between the users and the target",
    "resource_exhaustion": "rate limiting, connection and CPU exhaustion on the target",
    "extended_runtime": "a long run that shows leaks and slow degradation",
}
"""The conditions a scenario may name; the fault injector turns them into real effects."""

MAX_SCALED_SPAWN_RATE = 50.0
"""Time scaling raises a stage's spawn rate so its ramp still fits, but never above this (users/s)."""

_SCENARIO_KEYS = {"description", "pages", "duration", "failure_rate", "conditions", "users", "spawn_rate", "stages",
                  "max_users"}
_REQUIRED_KEYS = ("pages", "duration", "failure_rate", "users", "stages")
_STAGE_KEYS = {"name", "duration", "load", "spawn_rate", "users", "rate", "max_users"}
_DURATION_RE = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``90.5``, ``"45s"``, ``"15m"``, ``"2h"`` or ``"1h30m"``.

    Raises ``ValueError`` for anything else (the caller names file, scenario and field).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return float(text)
        except ValueError:
            pass
        match = _DURATION_RE.match(text)
        if match and any(match.groups()):
            hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
            return hours * 3600 + minutes * 60 + seconds
    raise ValueError(f"{value!r} is not a duration (use seconds or e.g. '45s', '15m', '2h', '1h30m')")


def format_duration(seconds: float) -> str:
    """``54000`` → ``"15h"``, ``5400`` → ``"1h30m"``, ``9.5`` → ``"9.5s"``: short and exact enough for logs."""
    if seconds < 60:
        return f"{seconds:.3g}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def scaled_count(count: int, load: float) -> int:
    """Users of one kind at a load factor: rounded, but never 0 when both count and load are positive."""
    if count <= 0 or load <= 0:
        return 0
    return max(1, round(count * load))


@dataclass(frozen=True)
class Stage:
    """One ramp stage: for ``duration`` seconds run ``users`` per kind (or the scenario mix × ``load``).

    A kind in ``rate`` is open-model instead: iterations arrive at that rate (unit per kind in
    :data:`RATE_UNITS`; ramped linearly from the previous stage's rate of the kind, if it had one)
    and up to ``max_users[kind]`` users may be busy at once (:mod:`stresskit.arrival`).
    """

    duration: float
    load: float = 1.0
    spawn_rate: float = 1.0
    users: Mapping[str, int] | None = None
    name: str = ""
    rate: Mapping[str, float] | None = None
    max_users: Mapping[str, int] | None = None


@dataclass(frozen=True)
class Scenario:
    """One named scenario. Durations are in seconds, already multiplied by ``time_scale``."""

    name: str
    pages: int
    duration: float
    failure_rate: float
    users: Mapping[str, int]
    stages: tuple[Stage, ...]
    conditions: tuple[str, ...] = ()
    description: str = ""
    source: str = ""
    time_scale: float = 1.0
    _ends: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        ends, total = [], 0.0
        for stage in self.stages:
            total += stage.duration
            ends.append(total)
        object.__setattr__(self, "_ends", tuple(ends))

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with every duration multiplied by ``factor`` (``--time-scale``).

        A stage's spawn rate stays as written unless its ramp (the change in users from the stage
        before) would no longer fit in half of the shortened stage; then it is raised just enough,
        up to :data:`MAX_SCALED_SPAWN_RATE`. Scaling composes: ``time_scale`` records the product.
        """
        if not (factor > 0 and math.isfinite(factor)):
            raise ScenarioError(f"time scale must be a number > 0, got {factor!r}")
        stages, previous = [], 0
        for stage in self.stages:
            duration = stage.duration * factor
            total = sum(self.stage_users(stage).values())
            needed = abs(total - previous) / (duration / 2)
            rate = stage.spawn_rate
            if needed > rate:
                rate = min(needed, max(rate, MAX_SCALED_SPAWN_RATE))
            stages.append(replace(stage, duration=duration, spawn_rate=rate))
            previous = total
        return replace(self, duration=self.duration * factor, stages=tuple(stages),
                       time_scale=self.time_scale * factor)

    def stage_index_at(self, run_time: float) -> int | None:
        """Index of the stage running at ``run_time`` seconds, or ``None`` once the duration is over."""
        if run_time < 0:
            run_time = 0.0
        for index, end in enumerate(self._ends):
            if run_time < end:
                return index
        return None

    def users_at(self, run_time: float) -> dict[str, int] | None:
        """Users per kind at ``run_time`` seconds, or ``None`` once the scenario is over. Pure."""
        index = self.stage_index_at(run_time)
        if index is None:
            return None
        return self.stage_users(self.stages[index])

    def stage_users(self, stage: Stage) -> dict[str, int]:
        """Users per kind a stage asks for: its own ``users`` table, or the scenario mix × ``load``;
        a kind with a ``rate`` gets its ceiling (``max_users``), the users that may be busy at once."""
        if stage.users is not None:
            counts = {kind: int(stage.users.get(kind, 0)) for kind in KINDS if stage.users.get(kind, 0)}
        else:
            counts = {kind: n for kind in KINDS if (n := scaled_count(self.users.get(kind, 0), stage.load))}
        if stage.rate:
            ceilings = stage.max_users or {}
            counts.update({kind: int(ceilings.get(kind, 0)) for kind in stage.rate})
            counts = {kind: counts[kind] for kind in KINDS if counts.get(kind)}
        return counts

    def rated_kinds(self) -> list[str]:
        """The kinds any stage gives a rate (open model), in :data:`KINDS` order."""
        return [kind for kind in KINDS if any(stage.rate and kind in stage.rate for stage in self.stages)]

    def summary(self) -> str:
        """One line for logs: name, pages, duration, failure rate, conditions, scale."""
        scale = f" at time scale {self.time_scale:g}" if self.time_scale != 1 else ""
        mix = ", ".join(f"{n} {kind}" for kind, n in self.users.items() if n)
        return (f"scenario {self.name}: {self.pages} pages, {format_duration(self.duration)}{scale}, "
                f"failure rate {self.failure_rate:.0%}, conditions {', '.join(self.conditions) or 'none'}, "
                f"users {mix}, {len(self.stages)} stages"
                + (f", open model (rates) for {', '.join(self.rated_kinds())}" if self.rated_kinds() else ""))


@dataclass(frozen=True)
class ScenarioSet:
    """All scenarios of one file, by name, in file order."""

    path: str
    scenarios: Mapping[str, Scenario]

    def names(self) -> list[str]:
        return list(self.scenarios)

    def get(self, name: str) -> Scenario:
        """The scenario called ``name``; an unknown name raises one line listing the known ones."""
        try:
            return self.scenarios[name]
        except KeyError:
            raise ScenarioError(
                f"unknown scenario {name!r} in {self.path}; known scenarios: {', '.join(self.scenarios)}"
            ) from None


BUILTIN_SCENARIO_FILE = "stresskit/data/scenarios.toml"
"""How messages name the scenario file that ships with the package (wherever it is installed)."""


def default_scenario_file() -> Path:
    """The scenario file that ships with the package, found through :mod:`importlib.resources`, so it
    works from a wheel installed anywhere, not only from the checkout."""
    return Path(str(resources.files("stresskit").joinpath("data", "scenarios.toml")))


def load_scenarios(path: str | Path | None = None) -> ScenarioSet:
    """Load and validate a scenario file (the built-in one when ``path`` is ``None``)."""
    file = Path(path) if path is not None else default_scenario_file()
    where = str(file) if path is not None else BUILTIN_SCENARIO_FILE
    try:
        with open(file, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ScenarioError(f"{where}: scenario file not found (pass --scenario-file PATH)") from None
    except OSError as exc:
        raise ScenarioError(f"{where}: cannot read scenario file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{where}: not a text file (a scenario file is UTF-8 TOML)") from None
    return parse_scenarios(data, where)


def parse_scenarios(data: Mapping[str, Any], where: str = "<scenarios>") -> ScenarioSet:
    """Validate the decoded TOML of a scenario file and build its :class:`ScenarioSet`."""
    unknown = set(data) - {"scenarios"}
    if unknown:
        raise ScenarioError(f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
                            "put each scenario under [scenarios.NAME]")
    tables = data.get("scenarios")
    if not isinstance(tables, dict) or not tables:
        raise ScenarioError(f"{where}: no scenarios; add at least one [scenarios.NAME] table")
    scenarios = {}
    for name, table in tables.items():
        scenarios[name] = _parse_scenario(name, table, where)
    return ScenarioSet(path=where, scenarios=scenarios)


class _Field:
    """Builds the one-line errors of one scenario: ``file: scenario 'x': field 'y': problem``."""

    def __init__(self, where: str, scenario: str) -> None:
        self.prefix = f"{where}: scenario {scenario!r}"

    def error(self, field_name: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{self.prefix}: field {field_name!r}: {problem}")

    def number(self, table: Mapping[str, Any], key: str, field_name: str, *, low: float | None = None,
               high: float | None = None, low_open: bool = False, integer: bool = False) -> float:
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise self.error(field_name, f"{value!r} is not {'an integer' if integer else 'a number'}")
        if not math.isfinite(value):
            raise self.error(field_name, f"{value!r} is not a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise self.error(field_name, f"{value!r} must be {'>' if low_open else '>='} {low:g}")
        if high is not None and value > high:
            raise self.error(field_name, f"{value!r} must be <= {high:g}")
        return value

    def duration(self, value: Any, field_name: str) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise self.error(field_name, str(exc)) from None
        if not (seconds > 0 and math.isfinite(seconds)):
            raise self.error(field_name, f"{value!r} must be a duration > 0")
        return seconds

    def users(self, value: Any, field_name: str) -> dict[str, int]:
        if not isinstance(value, dict):
            raise self.error(field_name, "must be a table of user counts per kind, e.g. { api = 4, browser = 1 }")
        mix = {}
        for kind in value:
            if kind not in KINDS:
                raise self.error(f"{field_name}.{kind}", f"unknown user kind; known kinds: {', '.join(KINDS)}")
            mix[kind] = int(self.number(value, kind, f"{field_name}.{kind}", low=0, integer=True))
        return {kind: mix[kind] for kind in KINDS if kind in mix}


def _parse_scenario(name: str, table: Any, where: str) -> Scenario:
    f = _Field(where, name)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ScenarioError(f"{where}: scenario {name!r}: name may use letters, digits, '_' and '-' only")
    if not isinstance(table, dict):
        raise ScenarioError(f"{where}: scenario {name!r}: must be a table [scenarios.{name}]")
    for key in table:
        if key not in _SCENARIO_KEYS:
            raise f.error(key, f"unknown key; known keys: {', '.join(sorted(_SCENARIO_KEYS))}")
    for key in _REQUIRED_KEYS:
        if key not in table:
            raise f.error(key, "missing")
    pages = int(f.number(table, "pages", "pages", low=0, integer=True))
    duration = f.duration(table["duration"], "duration")
    failure_rate = float(f.number(table, "failure_rate", "failure_rate", low=0, high=1))
    description = table.get("description", "")
    if not isinstance(description, str):
        raise f.error("description", "must be a string")
    conditions = table.get("conditions", [])
    if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
        raise f.error("conditions", "must be a list of strings")
    for condition in conditions:
        if condition not in CONDITIONS:
            raise f.error("conditions", f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    users = f.users(table["users"], "users")
    rated = any(isinstance(raw, dict) and raw.get("rate") for raw in table["stages"] or []) \
        if isinstance(table["stages"], list) else False
    if not any(users.values()) and not rated:
        raise f.error("users", "no users: give at least one kind a count > 0 (or a stage a rate)")
    max_users = f.users(table["max_users"], "max_users") if "max_users" in table else {}
    spawn_rate = float(f.number(table, "spawn_rate", "spawn_rate", low=0, low_open=True)) if "spawn_rate" in table else 1.0
    raw_stages = table["stages"]
    if not isinstance(raw_stages, list) or not raw_stages:
        raise f.error("stages", f"empty: add at least one [[scenarios.{name}.stages]] with a duration")
    stages = []
    for i, raw in enumerate(raw_stages):
        label = f"stages[{i}]"
        if not isinstance(raw, dict):
            raise f.error(label, "must be a table with at least a duration")
        for key in raw:
            if key not in _STAGE_KEYS:
                raise f.error(f"{label}.{key}", f"unknown key; known keys: {', '.join(sorted(_STAGE_KEYS))}")
        if "duration" not in raw:
            raise f.error(f"{label}.duration", "missing")
        stage_name = raw.get("name", "")
        if not isinstance(stage_name, str):
            raise f.error(f"{label}.name", "must be a string")
        stage_users = f.users(raw["users"], f"{label}.users") if "users" in raw else None
        rate, ceilings = _parse_rates(f, raw, label, stage_name, stage_users, max_users)
        stages.append(Stage(
            duration=f.duration(raw["duration"], f"{label}.duration"),
            load=float(f.number(raw, "load", f"{label}.load", low=0, high=100)) if "load" in raw else 1.0,
            spawn_rate=(float(f.number(raw, "spawn_rate", f"{label}.spawn_rate", low=0, low_open=True))
                        if "spawn_rate" in raw else _pool_spawn_rate(spawn_rate, ceilings if rate else None)),
            users=stage_users,
            name=stage_name,
            rate=rate,
            max_users=ceilings,
        ))
    total = sum(s.duration for s in stages)
    if not math.isclose(total, duration, rel_tol=1e-9, abs_tol=1e-6):
        raise f.error("stages", f"stage durations add up to {format_duration(total)} but duration is "
                                f"{format_duration(duration)}; make them equal")
    return Scenario(name=name, pages=pages, duration=duration, failure_rate=failure_rate, users=users,
                    stages=tuple(stages), conditions=tuple(conditions), description=description, source=where)


def _pool_spawn_rate(spawn_rate: float, ceilings: Mapping[str, int] | None) -> float:
    """A stage with rates starts its pool of users within about a second unless it sets a spawn rate:
    arrivals that find no user are dropped, so a slow ramp of the pool would drop the first ones."""
    return max(spawn_rate, float(sum(ceilings.values()))) if ceilings else spawn_rate


def _parse_rates(f: _Field, raw: Mapping[str, Any], label: str, stage_name: str, stage_users: Mapping[str, int] | None,
                 scenario_max: Mapping[str, int]) -> tuple[dict[str, float] | None, dict[str, int] | None]:
    """A stage's ``rate`` table and the ceiling of busy users of each rated kind (stage ``max_users``,
    else the scenario's). Errors name the stage (index and name) and the field."""
    where = f"{label}" + (f" ({stage_name})" if stage_name else "")
    own_max = f.users(raw["max_users"], f"{where}.max_users") if "max_users" in raw else {}
    if "rate" not in raw:
        return None, (own_max or None)
    table = raw["rate"]
    if not isinstance(table, dict):
        raise f.error(f"{where}.rate", "must be a table of rates per kind, e.g. { api = 200 } "
                                       "(api/cache/websocket per second, browser pages per hour)")
    rates: dict[str, float] = {}
    ceilings: dict[str, int] = {}
    for kind in table:
        name = f"{where}.rate.{kind}"
        if kind not in KINDS:
            raise f.error(name, f"unknown user kind; known kinds: {', '.join(KINDS)}")
        rates[kind] = float(f.number(table, kind, name, low=0))
        if stage_users is not None and kind in stage_users:
            raise f.error(f"{where}.users.{kind}", f"the stage gives {kind} both a user count and a rate; "
                                                  f"keep one (a rate needs max_users.{kind} instead)")
        ceiling = own_max.get(kind, scenario_max.get(kind, 0))
        if ceiling <= 0:
            raise f.error(name, f"a rate needs a ceiling of users that may be busy at once: add "
                                f"max_users = {{ {kind} = N }} to the stage or the scenario")
        ceilings[kind] = int(ceiling)
    return {k: rates[k] for k in KINDS if k in rates}, {k: ceilings[k] for k in KINDS if k in ceilings}
