"""The client (user) kinds stresskit knows: one table, read everywhere a kind is named.

A User class says which kind it is with its class attribute ``kind``; scenarios give users and
rates per kind; faults name the kinds they hit; availability judges each kind on its own from
the Locust request types its traffic carries; the report lists the kinds in this order. No
other module writes the list out: a new user kind is a client in ``clients/``, a User in
``users/`` and one row here (see ARCHITECTURE.md, "Add a user kind").

Lowest layer: no third-party import, so the agent-free report can read it too.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KIND_NAMES", "KIND_OF_REQUEST_TYPE", "USER_KINDS", "UserKind", "kind_of_request_type"]


@dataclass(frozen=True)
class UserKind:
    """One client kind.

    ``request_types`` are the Locust request types its traffic is fired with (availability counts
    them); ``not_evidence``: stats-name prefixes of those types whose outcome says nothing about the
    backend (a browser memory sample, a frame handed to the socket), left out of availability;
    ``rate_unit`` / ``rate_factor``: the unit a scenario stage's open-model ``rate`` is written in
    for the kind, and its factor to iterations per second.
    """

    name: str
    request_types: tuple[str, ...]
    rate_unit: str = "iterations per second"
    rate_factor: float = 1.0
    not_evidence: tuple[str, ...] = ()


_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

USER_KINDS: dict[str, UserKind] = {k.name: k for k in (
    UserKind("api", _HTTP_METHODS, "requests per second"),
    UserKind("websocket", ("WS", "WSS"), not_evidence=("messages out",)),
    UserKind("cache", ("REDIS",)),
    UserKind("browser", ("PAGE", "BROWSER"), "pages per hour", 1 / 3600,
             not_evidence=("browser memory", "session start", "restart:", "recovered:")),
)}
"""The registry, in reporting order."""

KIND_NAMES: tuple[str, ...] = tuple(USER_KINDS)
"""The kinds' names, in reporting order."""

KIND_OF_REQUEST_TYPE: dict[str, str] = {rtype: k.name for k in USER_KINDS.values() for rtype in k.request_types}
"""Locust request type → client kind. Types not listed (``RECOVERY``, a fault burst's own type ...)
belong to no kind."""


def kind_of_request_type(request_type: str) -> str | None:
    """The client kind of a Locust request type (``"WS"`` → ``"websocket"``), or ``None``."""
    return KIND_OF_REQUEST_TYPE.get(request_type.upper()) if request_type else None
