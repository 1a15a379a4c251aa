"""The fault actuator: real memory pressure and real CPU burn on the target host, bounded and undoable.

Each fault runs in child processes of the agent (``python -I -S -c``, standard library only):
a memory fault is one child that writes ``mb`` MiB into its heap, so the pages are resident,
and holds them; a CPU fault is one busy-looping child per core (a fractional core busy-loops
for that share of every 100 ms). Children are used because a burn must escape the GIL and
because a child can be killed outright, which gives the memory back at once.

A fault ends at the first of: its own deadline (the child exits by itself, so even a wedged
agent cannot hold memory forever), :meth:`Actuator.release_all`, or the agent's exit. On
Linux each child also asks the kernel to SIGKILL it when the agent dies (``PR_SET_PDEATHSIG``),
which covers an agent killed with SIGKILL; the children are started from the event loop's
thread, which lives as long as the agent, because the kernel ties that signal to the thread.

The actuator is off unless the agent is started with ``--allow-faults``, and every request is
checked against ``--max-memory-mb``, ``--max-cpu-cores`` and ``--max-fault-seconds``; the
memory and core maxima bound the total of the faults active at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Actuator", "FaultLimits", "FaultRefused"]

log = logging.getLogger("stresskit.agent")

_CHILD = r"""
import ctypes, os, signal, sys, time
kind, amount, seconds, ppid = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
try:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the agent
except Exception:
    pass
if os.getppid() != ppid:
    sys.exit(0)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
end = time.monotonic() + seconds
if kind == "memory":
    held, left = [], int(amount * 1048576)
    while left > 0:
        n = min(left, 16777216)
        held.append(bytearray(b"\x5a") * n)  # written, hence resident
        left -= n
    sys.stdout.write("ready\n"); sys.stdout.flush()
    while time.monotonic() < end and os.getppid() == ppid:
        time.sleep(min(0.25, max(0.0, end - time.monotonic())))
else:
    sys.stdout.write("ready\n"); sys.stdout.flush()
    period, checked = 0.1, time.monotonic()
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if now - checked > 0.25:
            if os.getppid() != ppid:
                break
            checked = now
        stop = now + period * amount
        while time.monotonic() < stop:
            pass
        if amount < 1.0:
            time.sleep(period * (1.0 - amount))
"""


class FaultRefused(Exception):
    """A fault request the actuator will not carry out; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class FaultLimits:
    """What the agent's operator allows (``--allow-faults`` and the three maxima)."""

    enabled: bool = False
    max_memory_mb: float = 512.0
    max_cpu_cores: float = 1.0
    max_seconds: float = 300.0


@dataclass
class _Fault:
    id: str
    kind: str
    amount: float
    seconds: float
    started: float
    expires: float
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        unit = "mb" if self.kind == "memory" else "cores"
        return {"id": self.id, "kind": self.kind, unit: self.amount, "seconds": self.seconds,
                "started": self.started, "expires": self.expires, "pids": [p.pid for p in self.procs]}


def _number(body: dict[str, Any], key: str, minimum: float) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FaultRefused(400, f"'{key}' must be a number")
    if value < minimum:
        raise FaultRefused(400, f"'{key}' must be at least {minimum:g}")
    return float(value)


def _check_keys(body: Any, keys: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FaultRefused(400, "the body must be a JSON object")
    unknown = set(body) - keys
    missing = keys - set(body)
    if unknown or missing:
        raise FaultRefused(400, f"the body must have exactly the keys {sorted(keys)}")
    return body


class Actuator:
    """Starts, tracks and releases faults. All methods run on the agent's event loop."""

    def __init__(self, limits: FaultLimits) -> None:
        self.limits = limits
        self._faults: dict[str, _Fault] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def active(self) -> list[dict[str, Any]]:
        """The faults that still hold memory or burn CPU."""
        return [fault.describe() for fault in self._faults.values()]

    def _total(self, kind: str) -> float:
        return sum(f.amount for f in self._faults.values() if f.kind == kind)

    def _check_enabled(self) -> None:
        if not self.limits.enabled:
            raise FaultRefused(403, "faults are disabled on this agent; start it with --allow-faults")

    def _check_seconds(self, seconds: float) -> None:
        if seconds > self.limits.max_seconds:
            raise FaultRefused(400, f"'seconds' {seconds:g} is above this agent's --max-fault-seconds "
                                    f"{self.limits.max_seconds:g}")

    async def hold_memory(self, body: Any) -> dict[str, Any]:
        """Hold ``{"mb": N, "seconds": T}``; answers once the memory is resident."""
        self._check_enabled()
        body = _check_keys(body, {"mb", "seconds"})
        mb, seconds = _number(body, "mb", 1), _number(body, "seconds", 0.1)
        self._check_seconds(seconds)
        if mb > self.limits.max_memory_mb:
            raise FaultRefused(400, f"'mb' {mb:g} is above this agent's --max-memory-mb {self.limits.max_memory_mb:g}")
        held = self._total("memory")
        if held + mb > self.limits.max_memory_mb:
            raise FaultRefused(409, f"{held:g} MB are already held; {mb:g} more would pass --max-memory-mb "
                                    f"{self.limits.max_memory_mb:g} (release first)")
        return await self._start("memory", mb, seconds, [mb])

    async def burn_cpu(self, body: Any) -> dict[str, Any]:
        """Burn ``{"cores": N, "seconds": T}`` (fractional cores run a duty cycle)."""
        self._check_enabled()
        body = _check_keys(body, {"cores", "seconds"})
        cores, seconds = _number(body, "cores", 0.01), _number(body, "seconds", 0.1)
        self._check_seconds(seconds)
        limit = min(self.limits.max_cpu_cores, float(os.cpu_count() or 1))
        if cores > limit:
            raise FaultRefused(400, f"'cores' {cores:g} is above this agent's limit {limit:g} "
                                    "(--max-cpu-cores, and the host's core count)")
        burning = self._total("cpu")
        if burning + cores > limit:
            raise FaultRefused(409, f"{burning:g} cores are already burning; {cores:g} more would pass the "
                                    f"limit {limit:g} (release first)")
        shares = [1.0] * int(cores) + ([cores - int(cores)] if cores - int(cores) > 1e-9 else [])
        return await self._start("cpu", cores, seconds, shares)

    async def _start(self, kind: str, amount: float, seconds: float, shares: list[float]) -> dict[str, Any]:
        now = time.time()
        fault = _Fault(f"{kind}-{next(self._ids)}", kind, amount, seconds, now, now + seconds)
        self._faults[fault.id] = fault
        try:
            for share in shares:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-I", "-S", "-c", _CHILD, kind, repr(share), repr(seconds), str(os.getpid()),
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                fault.procs.append(proc)
            for proc in fault.procs:
                assert proc.stdout is not None  # started with stdout=PIPE
                line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
                if line.strip() != b"ready":
                    raise FaultRefused(500, f"the {kind} fault's process exited before it was in effect "
                                            "(out of memory?)")
        except BaseException as exc:
            await self._stop(fault)
            if isinstance(exc, asyncio.TimeoutError):
                raise FaultRefused(500, f"the {kind} fault did not take effect within 60 s") from None
            raise
        task = asyncio.get_running_loop().create_task(self._expire(fault))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.warning("fault %s started: %s %g for %gs (pids %s)", fault.id, kind, amount, seconds,
                    [p.pid for p in fault.procs])
        return fault.describe()

    async def _expire(self, fault: _Fault) -> None:
        await asyncio.gather(*(proc.wait() for proc in fault.procs))
        if self._faults.pop(fault.id, None) is not None:
            log.warning("fault %s ended", fault.id)

    async def _stop(self, fault: _Fault) -> None:
        self._faults.pop(fault.id, None)
        for proc in fault.procs:
            if proc.returncode is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
        for proc in fault.procs:
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                log.error("fault process %d did not exit after SIGKILL", proc.pid)

    async def release_all(self) -> int:
        """Release every active fault now; returns how many were active."""
        faults = list(self._faults.values())
        for fault in faults:
            await self._stop(fault)
            log.warning("fault %s released", fault.id)
        return len(faults)
