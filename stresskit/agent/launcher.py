"""Starting ``stresskit agent`` as a child process and waiting until it serves.

Used by the tests, the benchmark and demos, so they all start the agent the same way: on a
port the agent picks itself (``--port 0``), readiness read from its ``--ready-file`` with a
deadline, stopped by its own pid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from stresskit.errors import AgentError

__all__ = ["AgentProcess", "start_agent"]


class AgentProcess:
    """A ``stresskit agent`` child process that this process started and stops by pid."""

    def __init__(self, argv: Sequence[str], workdir: Path, token: str | None, port: int = 0) -> None:
        self.workdir = workdir
        self.token = token
        self.ready_file = workdir / f"agent-{os.getpid()}-{time.monotonic_ns()}.json"
        self.log_path = self.ready_file.with_suffix(".log")
        env = dict(os.environ)
        env.pop("STRESSKIT_AGENT_TOKEN", None)
        if token:
            env["STRESSKIT_AGENT_TOKEN"] = token
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (closed in stop())
        self.argv = [sys.executable, "-m", "stresskit", "agent", "--port", str(port),
                     "--ready-file", str(self.ready_file), *argv]
        self.process = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.url = ""
        self.port = 0
        self.instance = ""

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

    def wait_ready(self, timeout: float = 20.0) -> Self:
        """Poll the ready file until the agent serves; raise with the log tail if it dies or times out."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                info = json.loads(self.ready_file.read_text())
                self.url, self.port, self.instance = info["url"], info["port"], info["instance"]
                return self
            if not self.alive():
                raise AgentError(f"stresskit agent exited with code {self.process.returncode}:\n{self.log_tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        self.stop()
        raise AgentError(f"stresskit agent not serving within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (the agent releases its faults), then SIGKILL after ``timeout``; the exit code."""
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_agent(args: Sequence[str] = (), token: str | None = None, workdir: Path | None = None,
                timeout: float = 20.0, port: int = 0) -> AgentProcess:
    """Start ``stresskit agent`` with ``args`` (and ``token`` in its environment) and wait until it serves.

    ``port`` 0 lets the agent pick a free port; a fixed one lets a test restart an agent in place.
    """
    path = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="stresskit-agent-"))
    path.mkdir(parents=True, exist_ok=True)
    return AgentProcess(args, path, token, port).wait_ready(timeout)
