"""Start the reference target and a redis-server as child processes on free loopback ports.

Used by the embedded demo default of the locustfiles, by the test fixtures and by the
benchmarks, so the three start servers the same way. Each server is stopped by its own pid,
never by name; readiness is polled with a deadline, never slept for.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from stresskit.core.binaries import find_redis_server
from stresskit.core.process import ManagedProcess

__all__ = ["ManagedProcess", "RedisServer", "TargetServer", "free_port", "start_redis", "start_target"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class RedisServer(ManagedProcess):
    """A throw-away redis-server with no persistence."""

    def __init__(self, port: int, workdir: Path, password: str | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.password = password
        argv = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(workdir), "--protected-mode", "yes"]
        if password:
            argv += ["--requirepass", password]
        super().__init__("redis-server", argv, workdir / f"redis-{port}.log")

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                if self.password:
                    sock.sendall(f"AUTH {self.password}\r\n".encode())
                    sock.recv(64)
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


class TargetServer(ManagedProcess):
    """The reference target running as ``python -m stresskit target``."""

    def __init__(self, port: int, workdir: Path, redis_url: str | None, admin_token: str | None,
                 extra_args: Sequence[str] = ()) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.admin_token = admin_token
        argv = [sys.executable, "-m", "stresskit", "target", "--bind", self.host, "--port", str(port), *extra_args]
        env = dict(os.environ)
        env.pop("STRESSKIT_ADMIN_TOKEN", None)
        env.pop("STRESSKIT_REDIS_URL", None)
        if redis_url:  # through the environment: a command line (ps) would show a password
            env["STRESSKIT_REDIS_URL"] = redis_url
        if admin_token:
            env["STRESSKIT_ADMIN_TOKEN"] = admin_token
        super().__init__("stresskit target", argv, workdir / f"target-{port}.log", env=env)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1.0) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return None


def _workdir(workdir: Path | None) -> Path:
    path = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="stresskit-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_redis(port: int | None = None, workdir: Path | None = None, password: str | None = None,
                timeout: float = 15.0) -> RedisServer:
    """Start redis-server on ``port`` (a free one by default) and wait until it answers PING."""
    server = RedisServer(port or free_port(), _workdir(workdir), password)
    server.wait_until(server.ping, timeout, "answering PING")
    return server


def start_target(port: int | None = None, workdir: Path | None = None, redis_url: str | None = None,
                 admin_token: str | None = None, extra_args: Sequence[str] = (),
                 timeout: float = 30.0) -> TargetServer:
    """Start the reference target and wait until ``/healthz`` answers."""
    server = TargetServer(port or free_port(), _workdir(workdir), redis_url, admin_token, extra_args)
    server.wait_until(lambda: server.health() is not None, timeout, "serving /healthz")
    return server
