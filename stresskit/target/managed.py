"""The reference system started for one local run, restartable on its ports.

The demo target and a redis-server (and optionally the fault proxy in front of the target), so
that run-wide faults (``backend_crash``, ``cache_disconnect``) can kill them for real and start
them again on the same ports. Wired into a run by :func:`stresskit.run.embedded.use_managed_target`.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from stresskit.errors import DependencyMissing

__all__ = ["ManagedSystem"]

log = logging.getLogger("stresskit.faults")


class ManagedSystem:
    """The reference target and Redis (and optionally the fault proxy) started for one local run,
    so that run-wide faults can kill them and restart them on the same ports."""

    def __init__(self, workdir: Path | None = None, pages: int | None = None, with_redis: bool = True,
                 with_proxy: bool = False, target_args: tuple[str, ...] = ()) -> None:
        import tempfile

        from stresskit.target.launcher import start_redis, start_target

        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="stresskit-recovery-"))
        self.admin_token = secrets.token_urlsafe(16)
        self.target_args = (*(("--pages", str(pages)) if pages else ()), *target_args)
        self.redis = None
        self.proxy = None
        self.target = None
        try:
            if with_redis:
                try:
                    self.redis = start_redis(workdir=self.workdir)
                except DependencyMissing as exc:
                    log.warning("no Redis for the recovery run (%s)", exc)
            self.target = start_target(workdir=self.workdir, redis_url=self.redis_url, admin_token=self.admin_token,
                                       extra_args=list(self.target_args))
            if with_proxy:
                from stresskit.faults.proxy import start_fault_proxy

                self.proxy = start_fault_proxy(f"127.0.0.1:{self.target.port}", workdir=self.workdir)
        except Exception:
            self.stop()
            raise

    @property
    def redis_url(self) -> str | None:
        return self.redis.url if self.redis is not None else None

    @property
    def target_url(self) -> str:
        assert self.target is not None  # started in __init__
        return self.target.url

    @property
    def url(self) -> str:
        """What the users talk to: the proxy when there is one, else the target."""
        return self.proxy.url if self.proxy is not None else self.target_url

    def restart_target(self) -> Any:
        from stresskit.target.launcher import start_target

        old = self.target
        assert old is not None  # started in __init__
        old.kill()
        self.target = start_target(port=old.port, workdir=self.workdir, redis_url=self.redis_url,
                                   admin_token=self.admin_token, extra_args=list(self.target_args))
        return self.target

    def restart_redis(self) -> Any:
        from stresskit.target.launcher import start_redis

        old = self.redis
        assert old is not None  # only restarted when it was started
        old.kill()
        self.redis = start_redis(port=old.port, workdir=self.workdir)
        return self.redis

    def stop(self) -> None:
        for server in (self.proxy, self.target, self.redis):
            if server is not None:
                server.stop()
