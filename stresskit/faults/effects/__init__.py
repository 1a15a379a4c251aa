"""Each fault kind's real effect, one small module per family.

A per-user effect is a function ``(ctx: UserFaultContext) -> Injected``: it does the real thing
(kills, cuts, bursts, holds) and returns an :class:`Injected` describing it; timed effects also
return how to lift them. A run-wide kind has a builder ``(ctx: RunFaultContext) -> RunFault``
instead. Effects raise :class:`~stresskit.errors.FaultError` when the effect could not be
produced — the injector then does not count the fault as injected; builders raise
:class:`~stresskit.errors.ConfigError` when the run lacks what the fault needs.

The catalogue (:data:`stresskit.faults.kinds.KINDS`) names each kind's function: a new kind is
one row there and one function here (see ARCHITECTURE.md, "Add a fault kind").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stresskit.faults.admin import TargetAdmin
    from stresskit.faults.toxiproxy import ToxiproxyClient

__all__ = ["FaultSettings", "Injected", "RunFault", "RunFaultContext", "UserFaultContext", "run_admin"]


@dataclass
class Injected:
    """What an effect really did.

    ``release`` lifts a timed effect (a toxic, a latency knob, held memory) and is called after
    ``release_after`` seconds, or when the injector is removed; ``on_recovered`` tidies up once
    the user has recovered (e.g. removes an armed page script). ``gate`` is for faults armed
    now that strike later: it returns the wall-clock time of the strike, or ``None`` while it
    has not happened — the recovery is timed from the strike.
    """

    detail: str
    release: Callable[[], None] | None = None
    release_after: float | None = None
    on_recovered: Callable[[], Any] | None = None
    gate: Callable[[], float | None] | None = None


class FaultSettings(Protocol):
    """The parts of the run's :class:`~stresskit.faults.config.FaultConfig` the effects read (the effects
    sit below the config, which reads the catalogue)."""

    @property
    def agents(self) -> tuple[str, ...]: ...

    @property
    def agent_token(self) -> str | None: ...

    @property
    def memory_mb(self) -> int: ...

    @property
    def duration(self) -> float: ...

    @property
    def proxy_api(self) -> str | None: ...

    @property
    def proxy_name(self) -> str | None: ...

    @property
    def admin_url(self) -> str | None: ...

    @property
    def admin_token(self) -> str | None: ...


class UserFaultContext(Protocol):
    """What a per-user effect gets from the injector: the user hit, the kind drawn and the means."""

    kind: str
    user: Any

    @property
    def config(self) -> FaultSettings:
        """The run's fault settings."""
        ...

    def base_url(self) -> str:
        """The user's target host (a burst goes there)."""
        ...

    def admin(self) -> TargetAdmin:
        """The target's admin API (its URL and token from the options)."""
        ...

    def proxy(self) -> tuple[ToxiproxyClient, str]:
        """The fault proxy's API client and the proxy's name."""
        ...

    def fire_request(self, **kwargs: Any) -> None:
        """Fire a Locust ``request`` event (a burst's requests count in the stats)."""
        ...


class RunFaultContext(Protocol):
    """What a run-wide builder gets: the run's options, its managed system and its fault config."""

    kind: str
    host: str | None
    system: Any
    """The :class:`~stresskit.target.managed.ManagedSystem` started for a local run, or ``None``."""

    def option(self, name: str, default: Any = None) -> Any:
        """A parsed option of the run."""
        ...

    def config(self) -> FaultSettings:
        """The run's resolved fault configuration (agents, proxy, durations)."""
        ...


class RunFault:
    """A run-wide fault: ``begin`` breaks, ``end`` repairs, ``healthy`` tells when it works again."""

    kind = ""

    def begin(self) -> str:
        raise NotImplementedError

    def end(self) -> str:
        return ""

    def healthy(self) -> bool:
        return True


def run_admin(ctx: RunFaultContext) -> TargetAdmin:
    """The target's admin API for a run-wide fault: the managed target's own URL when stresskit
    started it, else ``--host``; the token from ``--target-admin-token``."""
    from stresskit.errors import ConfigError
    from stresskit.faults.admin import TargetAdmin

    if not ctx.host:
        raise ConfigError(f"{ctx.kind} needs the target: pass --host")
    token = ctx.option("target_admin_token")
    if not token:
        raise ConfigError(f"{ctx.kind} needs the target's admin token: pass --target-admin-token")
    system = ctx.system
    return TargetAdmin(system.target_url if system is not None else ctx.host, token)
