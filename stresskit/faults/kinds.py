"""The catalogue of fault kinds: which users each one hits, what it needs, what produces it.

One row per kind, no Locust: the injector, the recovery runs, the option parser, the docs and
the tests all read this one table, so a kind cannot be known in one place and unknown in
another. A new kind is one row here and one function in ``faults/effects/<family>.py``.

Two scopes:

* ``user`` faults are drawn per user action by the seeded schedule and hit that one user
  (its own browser, its own socket, its own rate-limit bucket ...);
* ``run`` faults hit the whole system under test (the backend process, Redis, every WebSocket,
  the network path) and are started on a timeline by :mod:`stresskit.faults.recovery` or by a
  scenario condition; every running user then owes a recovery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stresskit.core.kinds import KIND_NAMES as USER_KINDS_ALL
from stresskit.errors import ConfigError
from stresskit.faults.effects import (
    Injected,
    RunFault,
    RunFaultContext,
    UserFaultContext,
    backend,
    browser,
    connections,
    host,
    network,
    ratelimit,
)

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


UserEffect = Callable[[UserFaultContext], Injected]
"""A per-user kind's effect: produces it for real on ``ctx.user`` (see :mod:`stresskit.faults.effects`)."""
RunBuilder = Callable[[RunFaultContext], RunFault]
"""A run-wide kind's builder: the :class:`~stresskit.faults.effects.RunFault` for this run's options."""


@dataclass(frozen=True)
class FaultKind:
    """One fault kind: one row of the catalogue.

    ``targets`` are the user kinds (:data:`stresskit.core.kinds.USER_KINDS`; plain Locust HTTP users
    count as ``api``) the fault can hit; ``needs`` names what must be configured before the run
    starts (``agent``, ``admin``, ``proxy``, ``redis``). A ``user`` kind has an ``effect``, a
    ``run`` kind a ``build``. ``single_flight``: a timed effect with one shared means (a toxic, a
    latency knob, held memory, a burst): while one is on, another draw of the kind is skipped.
    """

    name: str
    scope: str
    targets: tuple[str, ...]
    needs: tuple[str, ...]
    description: str
    effect: UserEffect | None = None
    build: RunBuilder | None = None
    single_flight: bool = False


KINDS: dict[str, FaultKind] = {k.name: k for k in (
    FaultKind("browser_crash", "user", ("browser",), (),
              "SIGKILL the user's own chromedriver and Chromium process tree",
              effect=browser.browser_crash),
    FaultKind("element_not_found", "user", ("browser",), (),
              "remove the page's rows from the live DOM as soon as they render, before the user reads them",
              effect=browser.page_fault),
    FaultKind("stale_element", "user", ("browser",), (),
              "replace the page's rows with fresh copies after they render, so held references go stale",
              effect=browser.page_fault),
    FaultKind("javascript_error", "user", ("browser",), (),
              "throw a real uncaught error in the page, visible in the browser console log",
              effect=browser.page_fault),
    FaultKind("websocket_drop", "user", ("websocket",), (),
              "cut the user's socket without a close frame; the user must reconnect",
              effect=connections.websocket_drop),
    FaultKind("rate_limiting", "user", ("api",), (),
              "a real burst under the user's client identity until the target's limiter answers 429",
              effect=ratelimit.rate_limiting, single_flight=True),
    FaultKind("network_timeout", "user", ("api",), ("admin|proxy",),
              "requests really time out: a blackhole on the fault proxy, or a delayed response "
              "longer than the client timeout",
              effect=network.network_timeout, single_flight=True),
    FaultKind("memory_pressure", "user", USER_KINDS_ALL, ("agent",),
              "hold real memory on the target host through the agent's actuator, then release it",
              effect=host.memory_pressure, single_flight=True),
    FaultKind("cpu_exhaustion", "run", USER_KINDS_ALL, ("agent",),
              "burn CPU cores on the target host through the agent's actuator",
              build=host.cpu_exhaustion),
    FaultKind("backend_crash", "run", USER_KINDS_ALL, ("admin",),
              "the target process dies (SIGKILL when stresskit started it, else POST /admin/exit)",
              build=backend.backend_crash),
    FaultKind("cache_disconnect", "run", USER_KINDS_ALL, ("redis",),
              "Redis drops every client connection (CLIENT KILL TYPE normal) or restarts",
              build=connections.cache_disconnect),
    FaultKind("websocket_drop_all", "run", ("websocket",), ("admin",),
              "the target cuts every WebSocket without a close frame (POST /admin/ws/drop)",
              build=connections.websocket_drop_all),
    FaultKind("network_partition", "run", USER_KINDS_ALL, ("proxy",),
              "the fault proxy goes down (connections refused and cut) for a while",
              build=network.network_partition),
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
