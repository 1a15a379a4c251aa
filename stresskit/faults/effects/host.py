"""``memory_pressure`` and ``cpu_exhaustion``: real load on the target host through its agents.

Uses the agent's fault actuator (``stresskit agent --allow-faults``), which holds the memory or
burns the cores in child processes and ends them itself at the deadline; ``release`` ends them
early. Only the agents given with ``--agent`` are touched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from stresskit.errors import AgentError, ConfigError, FaultError, HarnessError
from stresskit.faults.effects import FaultSettings, Injected, RunFault, RunFaultContext, UserFaultContext

__all__ = [
    "HostPressure",
    "agent_clients",
    "burn_cpu",
    "cpu_exhaustion",
    "hold_memory",
    "memory_pressure",
]

log = logging.getLogger("stresskit.faults")


def agent_clients(urls: Sequence[str], token: str | None) -> list:
    """One ``AgentClient`` per agent URL."""
    try:
        from stresskit.agent.client import AgentClient
    except ImportError as exc:  # the agent part is not installed in this tree
        raise FaultError(f"the agent client is not available: {exc}") from None
    return [AgentClient(url, token) for url in urls]


def _release_all(clients: list) -> None:
    for client in clients:
        try:
            client.release()
        except AgentError as exc:  # the agent also ends the hold at its own deadline
            log.debug("could not release the faults of %s: %s", client.url, exc)


def _on_every_agent(urls: Sequence[str], token: str | None, act, refused: str, done_text: str,
                    seconds: float) -> Injected:
    """Apply ``act(client)`` on every agent; on a refusal release what was already applied."""
    clients = agent_clients(urls, token)
    done: list = []
    for client in clients:
        try:
            act(client)
        except AgentError as exc:
            _release_all(done)
            raise HarnessError(f"agent {getattr(client, 'url', '?')} refused to {refused}: {exc}") from None
        done.append(client)
    return Injected(f"{done_text} for {seconds:g}s on {len(clients)} target host(s) via the agent",
                    release=lambda: _release_all(clients), release_after=seconds)


def hold_memory(urls: Sequence[str], token: str | None, mb: int, seconds: float) -> Injected:
    """Hold ``mb`` MiB on every agent's host for ``seconds``."""
    return _on_every_agent(urls, token, lambda client: client.hold_memory(mb, seconds),
                           f"hold {mb} MB", f"{mb} MB held", seconds)


def burn_cpu(urls: Sequence[str], token: str | None, cores: float, seconds: float) -> Injected:
    """Burn ``cores`` CPU cores on every agent's host for ``seconds``."""
    return _on_every_agent(urls, token, lambda client: client.burn_cpu(cores, seconds),
                           f"burn {cores:g} cores", f"{cores:g} CPU cores burnt", seconds)


# -- the catalogue's effects (stresskit.faults.kinds) -----------------------------------------------

def memory_pressure(ctx: UserFaultContext) -> Injected:
    """``memory_pressure``: ``--fault-memory-mb`` held on the target host for ``--fault-duration``."""
    config = ctx.config
    return hold_memory(config.agents, config.agent_token, config.memory_mb, config.duration)


class HostPressure(RunFault):
    """Memory held or CPU burnt on the target host through its agents, for ``seconds``."""

    def __init__(self, kind: str, config: FaultSettings, seconds: float, amount: float) -> None:
        self.kind = kind
        self.config = config
        self.seconds = seconds
        self.amount = amount
        self._release: Any = None

    def begin(self) -> str:
        if self.kind == "memory_pressure":
            injected = hold_memory(self.config.agents, self.config.agent_token, int(self.amount), self.seconds)
        else:
            injected = burn_cpu(self.config.agents, self.config.agent_token, self.amount, self.seconds)
        self._release = injected.release
        return injected.detail

    def end(self) -> str:
        if self._release is not None:
            self._release()
            self._release = None
        return "released"


def cpu_exhaustion(ctx: RunFaultContext) -> RunFault:
    """The catalogue's builder for ``cpu_exhaustion``: one core burnt for ``--recovery-down`` seconds."""
    config = ctx.config()
    if not config.agents:
        raise ConfigError("cpu_exhaustion needs an agent: pass --agent URL --agent-token TOKEN")
    return HostPressure("cpu_exhaustion", config, seconds=float(ctx.option("recovery_down", 2.0)), amount=1.0)
