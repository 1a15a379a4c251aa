"""Connection cuts: a user's WebSocket, every WebSocket of the target, every Redis client.

* :func:`cut_websocket` calls the user's public ``cut()``: its sockets are shut down without a
  close frame, and the user must notice and reconnect;
* :func:`drop_all_websockets` asks the target to cut every WebSocket it holds (admin API);
* :func:`kill_redis_clients` sends ``CLIENT KILL TYPE normal`` to the configured Redis: every
  normal client connection (the target's and the cache users') is dropped at once.
"""

from __future__ import annotations

from typing import Any

from stresskit.core.redact import redact_url
from stresskit.errors import ConfigError, FaultError
from stresskit.faults.admin import TargetAdmin
from stresskit.faults.effects import Injected, RunFault, RunFaultContext, UserFaultContext, run_admin

__all__ = [
    "CacheDisconnect",
    "WebSocketDropAll",
    "cache_disconnect",
    "cut_websocket",
    "drop_all_websockets",
    "kill_redis_clients",
    "websocket_drop",
    "websocket_drop_all",
]


def cut_websocket(user: Any) -> str:
    cut = getattr(user, "cut", None)
    if cut is None:
        raise FaultError(f"{type(user).__name__} has no cut(); cannot drop its WebSocket")
    count = cut()
    if not count:
        raise FaultError("the user had no open WebSocket to cut")
    return f"{count} socket(s) shut down without a close frame"


def drop_all_websockets(admin: TargetAdmin) -> str:
    count = admin.drop_websockets()
    return f"target cut {count} WebSocket(s) without a close frame"


def kill_redis_clients(redis_url: str) -> str:
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        count = client.client_kill_filter(_type="normal", skipme=True)
    except redis.RedisError as exc:
        raise FaultError(f"CLIENT KILL on {redact_url(redis_url)} failed: {exc}") from None
    finally:
        client.close()
    return f"CLIENT KILL TYPE normal on {redact_url(redis_url)}: {count} connection(s) dropped"


# -- the catalogue's effects (stresskit.faults.kinds) -----------------------------------------------

def websocket_drop(ctx: UserFaultContext) -> Injected:
    """``websocket_drop``: the user's own sockets cut without a close frame."""
    return Injected(cut_websocket(ctx.user))


class WebSocketDropAll(RunFault):
    """The target cuts every WebSocket without a close frame; every WebSocket user must reconnect."""

    kind = "websocket_drop_all"

    def __init__(self, admin: TargetAdmin) -> None:
        self.admin = admin

    def begin(self) -> str:
        return drop_all_websockets(self.admin)

    def healthy(self) -> bool:
        return self.admin.health() is not None


def websocket_drop_all(ctx: RunFaultContext) -> RunFault:
    """The catalogue's builder for ``websocket_drop_all``."""
    return WebSocketDropAll(run_admin(ctx))


class CacheDisconnect(RunFault):
    """Redis loses every client: ``CLIENT KILL TYPE normal``, or (``restart=True`` and a managed
    Redis) SIGKILL of redis-server and a restart on the same port."""

    kind = "cache_disconnect"

    def __init__(self, redis_url: str, system: Any = None, restart: bool = False) -> None:
        self.redis_url = redis_url
        self.system = system if restart and system is not None and system.redis is not None else None

    def begin(self) -> str:
        if self.system is not None:
            pid = self.system.redis.pid
            self.system.redis.kill()
            return f"SIGKILL redis-server pid {pid}"
        return kill_redis_clients(self.redis_url)

    def end(self) -> str:
        if self.system is not None:
            redis = self.system.restart_redis()
            return f"redis-server restarted as pid {redis.pid} on port {redis.port}"
        return ""

    def healthy(self) -> bool:
        import redis

        try:
            client = redis.Redis.from_url(self.redis_url, socket_timeout=1, socket_connect_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False


def cache_disconnect(ctx: RunFaultContext) -> RunFault:
    """The catalogue's builder for ``cache_disconnect`` (``--recovery-restart-redis``: kill and restart)."""
    url = ctx.option("redis_url")
    if not url:
        raise ConfigError("cache_disconnect needs the Redis the target uses: pass --redis-url")
    return CacheDisconnect(url, ctx.system, restart=bool(ctx.option("recovery_restart_redis", False)))
