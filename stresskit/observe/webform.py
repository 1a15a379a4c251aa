"""Locust's web UI start form, made safe and honest for stresskit's options.

Locust renders every option with ``include_in_web_ui`` into the page (``templateArgs.extra_options``)
with the value it re-parses from the command line and the environment — a secret's value too:
``is_secret=True`` only masks the input, the page source carries it. And the form posts every
field back, so an empty field (a Redis URL the demo fills in at start, a token the page must not
show) overwrites the value the run was started with, and a number arrives as text.

:func:`install_web_form` fixes both ends:

- the page: a secret option's field is empty, every other field shows the value the run really
  uses (the demo's Redis URL, not an empty string) with any URL password replaced by ``***``, and
  every HTML and JSON answer of the UI is passed through :func:`stresskit.core.redact.redact_text`;
- the start (``POST /swarm``): stresskit's fields are applied here, not by Locust — an empty
  field means the value at start ("the default"), a URL sent back as shown (password hidden)
  keeps the real one, every value goes through the option's own type (one line and no start on
  bad input), and ``threshold`` (expressions separated by ``;``) replaces the run's thresholds.

The options the form offers are listed in :data:`stresskit.core.options.WEB_FORM_OPTIONS`.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import SECRET_OPTIONS
from stresskit.core.redact import MASK, redact_text, redact_url

__all__ = ["THRESHOLD_SEPARATOR", "install_web_form", "shown_value"]

log = logging.getLogger("stresskit.observe.webform")

THRESHOLD_SEPARATOR = ";"
"""Separates threshold expressions in the form's one text field (a comma belongs to ``,abort``)."""

_LOCUST_FIELDS = {"user_count", "spawn_rate", "host", "user_classes", "run_time", "profile", "shape_class"}


def shown_value(name: str, value: Any) -> Any:
    """What the form shows for option ``name`` holding ``value``: nothing for a secret, URLs
    without their password, a list as text the form can send back."""
    if name in SECRET_OPTIONS:
        return ""
    if isinstance(value, list):
        joiner = f"{THRESHOLD_SEPARATOR} " if name == "threshold" else ","
        return joiner.join(redact_url(str(v)) for v in value)
    if isinstance(value, str):
        return redact_url(value)
    return value


def _form_actions() -> dict[str, argparse.Action]:
    """stresskit's options shown in the form (Locust's own fields excluded), by destination."""
    from locust.argument_parser import default_args_dict, get_parser

    locust_own = set(default_args_dict())
    parser = get_parser()
    return {dest: action for dest, action in parser.args_included_in_web_ui.items() if dest not in locust_own}


def _convert(action: argparse.Action, text: str) -> Any:
    """``text`` through the option's own type and choices; raises ``ValueError`` with one line."""
    kind = action.type
    try:
        value = kind(text) if callable(kind) else text
    except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
        raise ValueError(f"{action.dest.replace('_', '-')}: {exc or 'invalid value'} (got {text!r})") from None
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"{action.dest.replace('_', '-')}: {text!r} is not one of {', '.join(map(str, action.choices))}")
    if isinstance(action, argparse._AppendAction):  # argparse has no public name for it
        return [value]
    return value


def _check_scenario(environment: RunEnvironment) -> None:
    from stresskit.run.shape import scenario_settings

    scenario_settings(environment)


def _check_faults(environment: RunEnvironment) -> None:
    from stresskit.faults.config import load_config

    load_config(environment)


_CHECKS: tuple[tuple[frozenset[str], Any], ...] = (
    (frozenset({"scenario", "time_scale"}), _check_scenario),
    (frozenset({"failure_rate", "faults", "scenario", "time_scale"}), _check_faults),
)
"""Checks that need several options together, run when the form changed one of their options:
each raises :class:`~stresskit.errors.ConfigError` with one line (a new check joins this table)."""


class WebForm:
    """The start form of one web UI: what the page shows and what a start applies."""

    def __init__(self, environment: RunEnvironment, web_ui: Any) -> None:
        self.environment = environment
        self.web_ui = web_ui
        self._actions: dict[str, argparse.Action] | None = None
        self._at_start: dict[str, Any] | None = None

    @property
    def actions(self) -> dict[str, argparse.Action]:
        if self._actions is None:
            self._actions = _form_actions()
        return self._actions

    def _defaults(self) -> dict[str, Any]:
        """The options' values when the first test starts (after every init handler filled them in)."""
        if self._at_start is None:
            options = self.environment.parsed_options
            self._at_start = {name: getattr(options, name, None) for name in self.actions}
        return self._at_start

    # -- the page ------------------------------------------------------------------------------

    def clean_template_args(self) -> None:
        """Rewrite ``extra_options`` and ``host`` of the page's template arguments (see module doc)."""
        args = self.web_ui.template_args
        options = self.environment.parsed_options
        for name, field in (args.get("extra_options") or {}).items():
            if field.get("is_secret") or name in SECRET_OPTIONS:
                field["default_value"] = ""
                continue
            current = getattr(options, name, field.get("default_value")) if options is not None else None
            field["default_value"] = shown_value(name, current if current is not None else field.get("default_value"))
        if args.get("host"):
            args["host"] = redact_url(str(args["host"]))

    # -- the start -----------------------------------------------------------------------------

    def apply(self, form: dict[str, list[str]]) -> str | None:
        """Apply stresskit's fields of a start form to ``parsed_options``; remove them from ``form``.

        Returns one line saying what is wrong (nothing applied) or ``None``.
        """
        options = self.environment.parsed_options
        if options is None:
            return None
        defaults = self._defaults()
        updates: dict[str, Any] = {}
        thresholds = None
        for name in [k for k in form if k in self.actions and k not in _LOCUST_FIELDS]:
            values = [v.strip() for v in form.pop(name)]
            text = values[0] if len(values) == 1 else ",".join(v for v in values if v)
            current = getattr(options, name, None)
            if not text or text == MASK or (isinstance(current, str) and text == redact_url(current)) \
                    or (isinstance(current, list) and text == shown_value(name, current)):
                updates[name] = current if text else defaults.get(name)
                if name == "threshold" and not text:
                    thresholds = self._parse_thresholds(defaults.get(name))
                continue
            if name == "threshold":
                expressions = [e.strip() for e in text.split(THRESHOLD_SEPARATOR) if e.strip()]
                thresholds = self._parse_thresholds(expressions)
                if isinstance(thresholds, str):
                    return thresholds
                updates[name] = expressions
                continue
            try:
                value = _convert(self.actions[name], text)
            except ValueError as exc:
                return redact_text(str(exc))
            updates[name] = value
        before = {name: getattr(options, name, None) for name in updates}
        for name, value in updates.items():
            setattr(options, name, value)
        problem = self._check(changed={n for n, v in updates.items() if v != before[n]})
        if problem is not None:
            for name, value in before.items():
                setattr(options, name, value)
            return problem
        if isinstance(thresholds, list):
            from stresskit.run.criteria import criteria_of

            criteria = criteria_of(self.environment)
            if criteria is not None:
                criteria.thresholds = thresholds
        return None

    def _check(self, changed: set[str]) -> str | None:
        """One line from the first table check that fails on the changed options, else ``None``."""
        from stresskit.errors import ConfigError

        options = self.environment.parsed_options
        for names, check in _CHECKS:
            if names & changed and all(hasattr(options, n) for n in names):
                try:
                    check(self.environment)
                except ConfigError as exc:
                    return redact_text(str(exc))
                except ImportError:
                    continue
        return None

    @staticmethod
    def _parse_thresholds(expressions: Any) -> Any:
        from stresskit.errors import ConfigError
        from stresskit.run.thresholds import parse_thresholds

        try:
            return parse_thresholds(expressions or [])
        except ConfigError as exc:
            return f"threshold: {exc}"

    def restore_host(self, form: dict[str, list[str]]) -> None:
        """A host sent back as shown (password hidden) keeps the real host."""
        host = self.environment.host
        sent = form.get("host")
        if host and sent and sent[0] == redact_url(host) and sent[0] != host:
            form["host"] = [host]


def install_web_form(environment: RunEnvironment, web_ui: Any) -> WebForm:
    """Clean the page's form and apply starts through :class:`WebForm`; redact every UI answer."""
    from flask import jsonify, request
    from werkzeug.datastructures import ImmutableMultiDict

    form_state = WebForm(environment, web_ui)
    original_update = web_ui.update_template_args

    def update_template_args() -> None:
        original_update()
        form_state.clean_template_args()

    web_ui.update_template_args = update_template_args
    if web_ui.template_args:
        form_state.clean_template_args()
    app = web_ui.app

    @app.before_request
    def _stresskit_start_form() -> Any:
        if request.path != "/swarm" or request.method != "POST":
            return None
        form = request.form.to_dict(flat=False)
        form_state.restore_host(form)
        problem = form_state.apply(form)
        if problem is not None:
            log.error("web UI start refused: %s", problem)
            return jsonify({"success": False, "message": problem, "host": redact_url(environment.host or "")})
        request.form = ImmutableMultiDict([(k, v) for k, values in form.items() for v in values])
        return None

    @app.after_request
    def _stresskit_redact(response: Any) -> Any:
        try:
            if response.direct_passthrough or response.mimetype not in ("text/html", "application/json"):
                return response
            body = response.get_data(as_text=True)
            clean = redact_text(body)
            if clean != body:
                response.set_data(clean)
        except Exception:  # the UI keeps working; say so once per failure
            log.exception("web UI: could not check an answer for secrets on %s", request.path)
        return response

    return form_state
