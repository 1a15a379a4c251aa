"""A child process this process started and stops by its own pid, never by name.

Standard library only, so the agent's launcher and the target's launcher share it. Readiness
is polled with a deadline, never slept for.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stresskit.errors import TargetUnreachable

__all__ = ["ManagedProcess", "die_with_parent", "pdeathsig_preexec", "running_processes", "stop_all"]

_PR_SET_PDEATHSIG = 1


def pdeathsig_preexec(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``signum`` when this process dies, or None where
    unsupported. ``prctl`` is looked up here, in the parent, so the child only calls it."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)

    return preexec


def die_with_parent(signum: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies (``PR_SET_PDEATHSIG``).

    For processes forked by another (Locust's ``--processes`` workers): a master killed by SIGKILL
    then takes its workers with it instead of leaving them running. Returns False where
    unsupported, or when the parent is already gone (the caller should then exit).
    """
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    return os.getppid() == parent

_RUNNING: dict[int, ManagedProcess] = {}
"""Every ManagedProcess this process started and has not stopped yet, by pid."""


def running_processes() -> list[ManagedProcess]:
    """The ManagedProcesses started by this process that are still registered (oldest first)."""
    return [proc for proc in _RUNNING.values() if proc.owner == os.getpid()]


def stop_all(timeout: float = 5.0, keep: frozenset[int] | set[int] = frozenset()) -> list[str]:
    """Stop every ManagedProcess this process started (newest first), except the pids in ``keep``
    (those running before a run began); returns their names.

    The last resort of a forced exit or a failed start: nothing this process started stays running.
    """
    stopped = []
    for proc in reversed(running_processes()):
        if proc.pid in keep:
            continue
        proc.stop(timeout)
        stopped.append(proc.name)
    return stopped


class ManagedProcess:
    """A child process that this process started and will stop by pid; it gets SIGTERM if this
    process dies first (Linux ``PR_SET_PDEATHSIG``), so even a SIGKILL leaves nothing running."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115  (closed in stop())
        # its own session (a Ctrl-C meant for us does not reach it), and SIGTERM when we die: a parent
        # SIGKILLed (the OOM killer, kill -9) must not leave its target, Redis or proxy running
        self.process = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True, preexec_fn=pdeathsig_preexec(signal.SIGTERM),
        )
        self.owner = os.getpid()
        _RUNNING[self.process.pid] = self

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_until(self, ready, timeout: float, what: str, error: type[Exception] = TargetUnreachable) -> None:
        """Poll ``ready()`` until it is true; raise with the log tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while time.monotonic() < deadline:
            if not self.alive():
                raise error(
                    f"{self.name} exited with code {self.process.returncode} before {what}:\n{self.log_tail()}"
                )
            if ready():
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        self.stop()
        raise error(f"{self.name} not {what} within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; return the exit code."""
        _RUNNING.pop(self.process.pid, None)
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL now (crash tests)."""
        if self.alive():
            self.process.kill()
            self.process.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
