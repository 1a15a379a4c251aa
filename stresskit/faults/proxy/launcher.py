"""Starting a ``stresskit proxy`` child process from Python (the embedded demo, recovery runs, tests).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Self

__all__ = ["FaultProxyProcess", "start_fault_proxy"]
# -- starting one from Python (tests, recovery locustfiles) ------------------------------------

class FaultProxyProcess:
    """A ``stresskit proxy`` child process with one proxy named ``name`` in front of ``upstream``."""

    def __init__(self, upstream: str, name: str = "target", listen_port: int | None = None,
                 workdir: Path | None = None, timeout: float = 15.0, listen_host: str = "127.0.0.1") -> None:
        import tempfile

        from stresskit.core.process import ManagedProcess
        from stresskit.target.launcher import free_port

        work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="stresskit-proxy-"))
        work.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.upstream = upstream
        self.listen_port = listen_port or free_port(listen_host)
        self.listen_host = listen_host
        ready = work / f"proxy-{self.listen_port}.json"
        ready.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "stresskit", "proxy", "--api", "127.0.0.1:0", "--ready-file", str(ready),
                "--proxy", f"{name}={listen_host}:{self.listen_port}={upstream}"]
        self.process = ManagedProcess("stresskit proxy", argv, work / f"proxy-{self.listen_port}.log")
        self.process.wait_until(ready.exists, timeout, "listening")
        self.api = json.loads(ready.read_text())["api"]

    @property
    def url(self) -> str:
        """``http://host:port`` of the proxied listener (what the users' ``--host`` should be)."""
        return f"http://{self.listen_host}:{self.listen_port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self):
        from stresskit.faults.toxiproxy import ToxiproxyClient

        return ToxiproxyClient(self.api)

    def stop(self) -> int | None:
        return self.process.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fault_proxy(upstream: str, name: str = "target", listen_port: int | None = None,
                      workdir: Path | None = None) -> FaultProxyProcess:
    """Start ``stresskit proxy`` in front of ``upstream`` (``host:port``) and wait until it listens."""
    return FaultProxyProcess(upstream, name=name, listen_port=listen_port, workdir=workdir)
