"""Composing Locust command-line options from stresskit's parts, without import side effects.

Each part (user kinds, scenarios, collector, faults) defines ``add_arguments(parser)`` that adds
its options through Locust's parser (``env_var=`` for a ``STRESSKIT_*`` variable,
``is_secret=True`` for tokens). A locustfile calls :func:`register_options` with the adders it
needs; the same adder registered twice (say by two imported locustfiles) adds its options once.

The argument types (:func:`positive_int`, :func:`non_negative_float`, ...) and :func:`setting`
(an option or the user class's default) are shared by every part that adds options.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from stresskit.core.envtypes import RunEnvironment

Adder = Callable[[Any], None]

_registered: dict[int, list[Adder]] = {}


def register_options(events: Any, *adders: Adder) -> None:
    """Have ``events.init_command_line_parser`` call each adder once per parser."""
    key = id(events)
    if key not in _registered:
        _registered[key] = []
        events.init_command_line_parser.add_listener(lambda parser: _add_all(parser, _registered[key]))
        events.init.add_listener(_refresh_loop_clock)
        events.init.add_listener(_protect_secrets)
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


WEB_FORM_OPTIONS = ("scenario", "time_scale", "failure_rate", "faults", "pages", "threshold")
"""Options the web UI's start form offers, whatever argument group declared them: what an ad-hoc
run needs. An empty field means the option's value at start (its default, variable or flag)."""

SECRET_OPTIONS: set[str] = set()
"""Destinations of every option declared ``is_secret=True`` (filled as the parsers are built)."""


def _add_all(parser: Any, adders: list[Adder]) -> None:
    done: set[Adder] = getattr(parser, "_stresskit_adders", set())
    for adder in adders:
        if adder not in done:
            adder(parser)
            done.add(adder)
    parser._stresskit_adders = done
    for action in getattr(parser, "_actions", []):
        if getattr(action, "is_secret", False):
            SECRET_OPTIONS.add(action.dest)
        elif action.dest in WEB_FORM_OPTIONS:
            # argument groups do not take Locust's keywords; give their actions what the form reads
            action.include_in_web_ui = True
            for flag in ("is_secret", "is_required", "is_multiple"):
                if not hasattr(action, flag):
                    setattr(action, flag, False)


def _protect_secrets(environment: RunEnvironment, **_: Any) -> None:
    """Register the value of every secret option and redact every log record of the process.

    Secrets live in ``parsed_options`` only; nothing shows them (see :mod:`stresskit.core.redact`).
    """
    from stresskit.core.redact import install_log_redaction, register_secret

    for name in SECRET_OPTIONS:
        register_secret(option(environment, name, None))
    for value in vars(getattr(environment, "parsed_options", None) or argparse.Namespace()).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and "://" in item:
                register_secret(item)  # a URL option registers its password, if it has one
    register_secret(getattr(environment, "host", None))
    install_log_redaction()


def option(environment: RunEnvironment, name: str, default: Any = None) -> Any:
    """An option's value from ``environment.parsed_options``, or ``default`` when it is absent
    (for example in an ``Environment`` built by a test without a parser)."""
    options = getattr(environment, "parsed_options", None)
    value = getattr(options, name, None) if options is not None else None
    return default if value is None else value


def setting(environment: RunEnvironment, name: str, default: Any, parse: Callable[[str], Any] | None = None) -> Any:
    """Option ``name`` when given, else ``default`` (a user class's attribute).

    Values typed into Locust's web UI arrive as text: with ``parse`` a text value goes through
    it (and a value argparse already parsed is kept as it is); without it a value that is not
    of ``default``'s type is converted to that type (``float("2.5")``), so a class default of
    ``10.0`` yields a float whatever the source. An empty value counts as not given.
    """
    value = option(environment, name, None)
    if value is None or value == "":
        return default
    if parse is not None:
        return parse(value) if isinstance(value, str) else value
    if default is not None and not isinstance(value, type(default)):
        return type(default)(value)
    return value


# -- argument types: one clear line on bad input (argparse prints it with the option's name) -------

def positive_int(text: str) -> int:
    """A whole number >= 1 (counts of things that must exist: connections, keys, pages)."""
    value = _parse(int, text)
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number >= 0 (retries, limits where 0 means none)."""
    value = _parse(int, text)
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, not {text!r}")
    return value


def positive_float(text: str) -> float:
    """A number > 0 (timeouts, rates); NaN is refused."""
    value = _parse(float, text)
    if value is None or not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, not {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A number >= 0 (delays and caps where 0 means none); NaN is refused."""
    value = _parse(float, text)
    if value is None or not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, not {text!r}")
    return value


def _parse(kind: Callable[[str], Any], text: str) -> Any:
    try:
        return kind(text)
    except (TypeError, ValueError):
        return None
