"""JSON Schema files of stresskit's documents, shipped as package data.

- ``report.schema.json`` — ``PREFIX_report.json`` written by ``stresskit report``;
- ``run.schema.json`` — ``PREFIX_run.json`` written by a run (the shared-contract keys optional);
- ``agent-sample.schema.json`` — one line of the agent's ``/stream`` (a sample or a heartbeat).

Found through :mod:`importlib.resources`, so they work from an installed wheel. Validating needs
the ``jsonschema`` package (``pip install jsonschema``; in the ``dev`` extra)::

    from stresskit.schemas import validate
    validate(json.load(open("run_report.json")), "report")   # raises jsonschema.ValidationError

Standard library only until :func:`validate` is called.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["NAMES", "load", "path", "validate"]

NAMES = {"report": "report.schema.json", "run": "run.schema.json", "agent-sample": "agent-sample.schema.json"}
"""Schema names and their files."""


def _file(name: str) -> str:
    try:
        return NAMES[name]
    except KeyError:
        raise ValueError(f"no schema named {name!r}; known: {', '.join(NAMES)}") from None


def path(name: str) -> Any:
    """The schema file (a :class:`importlib.resources.abc.Traversable`) of ``name``."""
    return resources.files(__name__).joinpath(_file(name))


@cache
def load(name: str) -> dict[str, Any]:
    """The schema ``name`` (``report``, ``run`` or ``agent-sample``) as a dict."""
    return json.loads(path(name).read_text(encoding="utf-8"))


def validate(document: Any, name: str) -> None:
    """Validate ``document`` against schema ``name`` (references between the shipped schemas resolve
    locally); raises ``jsonschema.ValidationError`` naming the first offending path."""
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (load(n)["$id"], Resource.from_contents(load(n))) for n in NAMES)
    Draft202012Validator(load(name), registry=registry, format_checker=FormatChecker()).validate(document)
