"""Per-run plumbing shared by every part: the per-run object slot, the once-per-events guard,
the log-once helper.

Each part of stresskit keeps one object per Locust run (the run state, the criteria, the fault
injector, the collector ...) on the run's ``Environment`` and wires its listeners once per
``events``; these three helpers are the one way to do that. Lowest layer: standard library only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from stresskit.core.envtypes import RunEnvironment

__all__ = ["Listeners", "Once", "PerRun", "log_once"]

T = TypeVar("T")


class PerRun(Generic[T]):
    """A slot for one object per run, kept on the environment as ``_stresskit_<name>``.

    ``PerRun("criteria").get(environment)`` is the object or ``None``; ``set`` replaces it;
    ``get_or_create`` makes it on first use.
    """

    def __init__(self, name: str) -> None:
        self.attr = f"_stresskit_{name}"

    def get(self, environment: RunEnvironment) -> T | None:
        return getattr(environment, self.attr, None)

    def set(self, environment: RunEnvironment, value: T) -> T:
        setattr(environment, self.attr, value)
        return value

    def get_or_create(self, environment: RunEnvironment, factory: Callable[[], T]) -> T:
        value = getattr(environment, self.attr, None)
        if value is None:
            value = factory()
            setattr(environment, self.attr, value)
        return value

    def clear(self, environment: RunEnvironment) -> None:
        if hasattr(environment, self.attr):
            delattr(environment, self.attr)


class Once:
    """A guard that says yes once per ``events`` object: ``use_*`` wiring functions are idempotent
    (a locustfile and :func:`stresskit.compose.use_stresskit` may both call them)."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def first(self, events: Any) -> bool:
        """True the first time it is asked about ``events``, False after."""
        key = id(events)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def done(self, events: Any) -> bool:
        """Whether :meth:`first` has said yes for ``events`` already."""
        return id(events) in self._seen


def log_once(environment: RunEnvironment, logger: logging.Logger, message: str, level: int = logging.ERROR) -> bool:
    """Log ``message`` once per run (per environment), however many users hit the same problem;
    True when it was logged now."""
    seen: set[str] = environment.__dict__.setdefault("_stresskit_logged", set())
    if message in seen:
        return False
    seen.add(message)
    logger.log(level, message)
    return True


class Listeners:
    """Event listeners one part added, removable together: ``Listeners((hook, fn), ...)`` subscribes
    each now; :meth:`remove` unsubscribes them all (twice is harmless). The listener-object model
    of locust-plugins: a part subscribes in its constructor and can be removed."""

    def __init__(self, *pairs: tuple[Any, Callable[..., Any]]) -> None:
        self._pairs = list(pairs)
        for hook, listener in self._pairs:
            hook.add_listener(listener)

    def remove(self) -> None:
        for hook, listener in self._pairs:
            try:
                hook.remove_listener(listener)
            except ValueError:
                pass
        self._pairs = []
