"""Starting ``stresskit agent`` as a child process and waiting until it serves.

Used by the tests, the benchmark and demos, so they all start the agent the same way: on a
port the agent picks itself (``--port 0``), readiness read from its ``--ready-file`` with a
deadline, stopped by its own pid.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from stresskit.core.process import ManagedProcess
from stresskit.errors import AgentError

__all__ = ["AgentProcess", "start_agent"]


class AgentProcess(ManagedProcess):
    """A ``stresskit agent`` child process that this process started and stops by pid
    (SIGTERM first, so the agent releases its faults)."""

    def __init__(self, argv: Sequence[str], workdir: Path, token: str | None, port: int = 0) -> None:
        self.workdir = workdir
        self.token = token
        self.ready_file = workdir / f"agent-{os.getpid()}-{time.monotonic_ns()}.json"
        env = dict(os.environ)
        env.pop("STRESSKIT_AGENT_TOKEN", None)
        if token:
            env["STRESSKIT_AGENT_TOKEN"] = token
        full_argv = [sys.executable, "-m", "stresskit", "agent", "--port", str(port),
                     "--ready-file", str(self.ready_file), *argv]
        super().__init__("stresskit agent", full_argv, self.ready_file.with_suffix(".log"), env=env)
        self.url = ""
        self.port = 0
        self.instance = ""

    def wait_ready(self, timeout: float = 20.0) -> Self:
        """Poll the ready file until the agent serves; raise with the log tail if it dies or times out."""
        self.wait_until(self.ready_file.exists, timeout, "serving", error=AgentError)
        info = json.loads(self.ready_file.read_text())
        self.url, self.port, self.instance = info["url"], info["port"], info["instance"]
        return self


def start_agent(args: Sequence[str] = (), token: str | None = None, workdir: Path | None = None,
                timeout: float = 20.0, port: int = 0) -> AgentProcess:
    """Start ``stresskit agent`` with ``args`` (and ``token`` in its environment) and wait until it serves.

    ``port`` 0 lets the agent pick a free port; a fixed one lets a test restart an agent in place.
    """
    path = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="stresskit-agent-"))
    path.mkdir(parents=True, exist_ok=True)
    return AgentProcess(args, path, token, port).wait_ready(timeout)
