"""Composing Locust command-line options from stresskit's parts, without import side effects.

Each part (user kinds, scenarios, collector, faults) defines ``add_arguments(parser)`` that adds
its options through Locust's parser (``env_var=`` for a ``STRESSKIT_*`` variable,
``is_secret=True`` for tokens). A locustfile calls :func:`register_options` with the adders it
needs; the same adder registered twice (say by two imported locustfiles) adds its options once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Adder = Callable[[Any], None]

_registered: dict[int, list[Adder]] = {}


def register_options(events: Any, *adders: Adder) -> None:
    """Have ``events.init_command_line_parser`` call each adder once per parser."""
    key = id(events)
    if key not in _registered:
        _registered[key] = []
        events.init_command_line_parser.add_listener(lambda parser: _add_all(parser, _registered[key]))
        events.init.add_listener(_refresh_loop_clock)
    for adder in adders:
        if adder not in _registered[key]:
            _registered[key].append(adder)


def _refresh_loop_clock(**_: Any) -> None:
    """Bring gevent's cached loop clock up to date before Locust arms its ``--run-time`` timer.

    The hub is created when ``import locust`` patches, and its loop clock is only refreshed when
    the loop runs; Locust arms ``--run-time`` right after ``init`` with ``spawn_later``, so
    without this a run is shorter by the locustfile's import time (about 1.5 s here).
    """
    import gevent

    gevent.get_hub().loop.update_now()


def _add_all(parser: Any, adders: list[Adder]) -> None:
    done: set[Adder] = getattr(parser, "_stresskit_adders", set())
    for adder in adders:
        if adder not in done:
            adder(parser)
            done.add(adder)
    parser._stresskit_adders = done


def option(environment: Any, name: str, default: Any = None) -> Any:
    """An option's value from ``environment.parsed_options``, or ``default`` when it is absent
    (for example in an ``Environment`` built by a test without a parser)."""
    options = getattr(environment, "parsed_options", None)
    value = getattr(options, name, None) if options is not None else None
    return default if value is None else value
