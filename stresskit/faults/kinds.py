"""The catalogue of fault kinds: which users each one hits, what it needs, and how it is parsed.

Pure data and validation, no Locust: the injector, the option parser, the docs and the tests all
read this one table, so a kind cannot be known in one place and unknown in another.

Two scopes:

* ``user`` faults are drawn per user action by the seeded schedule and hit that one user
  (its own browser, its own socket, its own rate-limit bucket ...);
* ``run`` faults hit the whole system under test (the backend process, Redis, every WebSocket,
  the network path) and are started on a timeline by :mod:`stresskit.faults.recovery` or by a
  scenario condition; every running user then owes a recovery.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stresskit.errors import ConfigError

__all__ = [
    "DEFAULT_KINDS",
    "KINDS",
    "RECOVERY_REQUEST_TYPE",
    "RUN_KINDS",
    "USER_KINDS",
    "FaultKind",
    "kinds_for_user",
    "parse_kinds",
]

RECOVERY_REQUEST_TYPE = "RECOVERY"
"""Request type of the stats entries that time a recovery (name = fault kind)."""


@dataclass(frozen=True)
class FaultKind:
    """One fault kind.

    ``targets`` are the user kinds (``User.kind``: websocket, api, cache, browser; plain Locust
    HTTP users count as ``api``) the fault can hit; ``needs`` names what must be configured
    before the run starts (``agent``, ``admin``, ``proxy``, ``redis``).
    """

    name: str
    scope: str
    targets: tuple[str, ...]
    needs: tuple[str, ...]
    effect: str


_ALL_USERS = ("websocket", "api", "cache", "browser")

KINDS: dict[str, FaultKind] = {k.name: k for k in (
    FaultKind("browser_crash", "user", ("browser",), (),
              "SIGKILL the user's own chromedriver and Chromium process tree"),
    FaultKind("element_not_found", "user", ("browser",), (),
              "remove the page's rows from the live DOM as soon as they render, before the user reads them"),
    FaultKind("stale_element", "user", ("browser",), (),
              "replace the page's rows with fresh copies after they render, so held references go stale"),
    FaultKind("javascript_error", "user", ("browser",), (),
              "throw a real uncaught error in the page, visible in the browser console log"),
    FaultKind("websocket_drop", "user", ("websocket",), (),
              "cut the user's socket without a close frame; the user must reconnect"),
    FaultKind("rate_limiting", "user", ("api",), (),
              "a real burst under the user's client identity until the target's limiter answers 429"),
    FaultKind("network_timeout", "user", ("api",), ("admin|proxy",),
              "requests really time out: a blackhole on the fault proxy, or a delayed response "
              "longer than the client timeout"),
    FaultKind("memory_pressure", "user", _ALL_USERS, ("agent",),
              "hold real memory on the target host through the agent's actuator, then release it"),
    FaultKind("cpu_exhaustion", "run", _ALL_USERS, ("agent",),
              "burn CPU cores on the target host through the agent's actuator"),
    FaultKind("backend_crash", "run", _ALL_USERS, ("admin",),
              "the target process dies (SIGKILL when stresskit started it, else POST /admin/exit)"),
    FaultKind("cache_disconnect", "run", _ALL_USERS, ("redis",),
              "Redis drops every client connection (CLIENT KILL TYPE normal) or restarts"),
    FaultKind("websocket_drop_all", "run", ("websocket",), ("admin",),
              "the target cuts every WebSocket without a close frame (POST /admin/ws/drop)"),
    FaultKind("network_partition", "run", _ALL_USERS, ("proxy",),
              "the fault proxy goes down (connections refused and cut) for a while"),
)}

USER_KINDS: tuple[str, ...] = tuple(k for k, v in KINDS.items() if v.scope == "user")
RUN_KINDS: tuple[str, ...] = tuple(k for k, v in KINDS.items() if v.scope == "run")
DEFAULT_KINDS: tuple[str, ...] = tuple(k for k in USER_KINDS if k != "memory_pressure")
"""Kinds drawn when ``--faults`` is not given: every per-user kind that needs no agent."""


def parse_kinds(text: str | Iterable[str] | None, allowed: Iterable[str] = USER_KINDS) -> tuple[str, ...]:
    """``"browser_crash,rate_limiting"`` → a tuple of known kinds, in catalogue order.

    ``None`` or ``""`` gives :data:`DEFAULT_KINDS`; ``"all"`` every allowed kind; ``"none"`` no
    kind. An unknown name raises :class:`ConfigError` listing the known ones.
    """
    allowed = tuple(allowed)
    if text is None:
        return tuple(k for k in DEFAULT_KINDS if k in allowed)
    names = [p.strip() for p in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if not names:
        return tuple(k for k in DEFAULT_KINDS if k in allowed)
    if names == ["all"]:
        return allowed
    if names == ["none"]:
        return ()
    for name in names:
        if name not in allowed:
            hint = " (it is a run-wide fault: use a recovery locustfile or a scenario condition)" \
                if name in KINDS else ""
            raise ConfigError(f"unknown fault kind {name!r}{hint}; known kinds: {', '.join(allowed)}, all, none")
    return tuple(k for k in allowed if k in names)


def kinds_for_user(user_kind: str, enabled: Iterable[str]) -> tuple[str, ...]:
    """The enabled kinds that can hit a user of ``user_kind``, in catalogue order."""
    return tuple(k for k in enabled if user_kind in KINDS[k].targets)
