"""What stresskit uses of Locust's ``Environment``, as a typed protocol.

Every part of stresskit gets the run's ``Environment`` from Locust's events; this protocol names
the attributes it reads and writes, so the type checker sees them without this module importing
Locust (the report and the agent must not). ``locust.env.Environment`` satisfies it.
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

__all__ = ["RunEnvironment"]


class RunEnvironment(Protocol):
    """The parts of ``locust.env.Environment`` stresskit relies on."""

    events: Any
    """``locust.event.Events``: the hooks every part listens to."""
    runner: Any
    """The ``Runner`` (local, master or worker), ``None`` before one is created."""
    host: str | None
    parsed_options: argparse.Namespace | None
    web_ui: Any
    user_classes: list[Any]
    shape_class: Any
    available_shape_classes: dict[str, Any] | None
    dispatcher_class: Any
    parsed_locustfiles: list[str] | None
    process_exit_code: int | None
    stats: Any
