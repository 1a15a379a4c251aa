"""Failure injection with real effects: the injector, each fault's effect, the fault proxy, the log.

Opt in from a locustfile (importing this package registers nothing)::

    from locust import events
    from stresskit.faults import use_faults

    use_faults(events)          # options, the injector on every worker, the log on the master

Then ``--failure-rate 0.05 --fault-seed 7 --faults browser_crash,rate_limiting`` (or the
scenario's rate). See ``docs/faults.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "KINDS",
    "RECOVERY_REQUEST_TYPE",
    "RUN_KINDS",
    "USER_KINDS",
    "FaultConfig",
    "FaultInjector",
    "FaultLog",
    "ToxiproxyClient",
    "UserSchedule",
    "add_arguments",
    "fault_injector_of",
    "start_fault_proxy",
    "use_faults",
]

_LAZY = {
    "use_faults": "stresskit.faults.wiring",
    "fault_injector": "stresskit.faults.wiring",
    "add_arguments": "stresskit.faults.config",
    "FaultConfig": "stresskit.faults.config",
    "FaultInjector": "stresskit.faults.injector",
    "FaultLog": "stresskit.faults.log",
    "KINDS": "stresskit.faults.kinds",
    "USER_KINDS": "stresskit.faults.kinds",
    "RUN_KINDS": "stresskit.faults.kinds",
    "RECOVERY_REQUEST_TYPE": "stresskit.faults.kinds",
    "UserSchedule": "stresskit.faults.schedule",
    "ToxiproxyClient": "stresskit.faults.toxiproxy",
    "start_fault_proxy": "stresskit.faults.proxy",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stresskit.faults' has no attribute {name!r}")
