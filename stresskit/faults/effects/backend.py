"""``backend_crash``: the target process dies for real, and comes back.

SIGKILL when stresskit started the target (then a restart on the same port), else
``POST /admin/exit`` and the target's supervisor restarts it.
"""

from __future__ import annotations

import time
from typing import Any

import gevent

from stresskit.faults.admin import TargetAdmin
from stresskit.faults.effects import RunFault, RunFaultContext, run_admin

__all__ = ["BackendCrash", "backend_crash"]


class BackendCrash(RunFault):
    """The target process dies: SIGKILL when stresskit started it (then a restart on the same
    port), else ``POST /admin/exit`` and its supervisor restarts it."""

    kind = "backend_crash"

    def __init__(self, admin: TargetAdmin, system: Any = None) -> None:
        self.admin = admin
        self.system = system if system is not None and system.target is not None else None
        self._pid_before: int | None = None

    def begin(self) -> str:
        if self.system is not None:
            pid = self.system.target.pid
            self.system.target.kill()
            return f"SIGKILL target pid {pid}"
        health = self.admin.health()
        self._pid_before = health.get("pid") if health else None
        self.admin.exit(1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.admin.health() is not None:
            gevent.sleep(0.05)
        return f"POST /admin/exit on {self.admin.base_url} (pid {self._pid_before})"

    def end(self) -> str:
        if self.system is not None:
            target = self.system.restart_target()
            return f"restarted as pid {target.pid} on port {target.port}"
        return "waiting for the target's supervisor to restart it"

    def healthy(self) -> bool:
        health = self.admin.health()
        return health is not None and (self._pid_before is None or health.get("pid") != self._pid_before)


def backend_crash(ctx: RunFaultContext) -> RunFault:
    """The catalogue's builder for ``backend_crash``."""
    return BackendCrash(run_admin(ctx), ctx.system)
