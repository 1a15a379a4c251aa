"""Connection cuts: a user's WebSocket, every WebSocket of the target, every Redis client.

* :func:`cut_websocket` calls the user's public ``cut()``: its sockets are shut down without a
  close frame, and the user must notice and reconnect;
* :func:`drop_all_websockets` asks the target to cut every WebSocket it holds (admin API);
* :func:`kill_redis_clients` sends ``CLIENT KILL TYPE normal`` to the configured Redis: every
  normal client connection (the target's and the cache users') is dropped at once.
"""

from __future__ import annotations

from typing import Any

from stresskit.errors import FaultError
from stresskit.faults.admin import TargetAdmin
from stresskit.redact import redact_url

__all__ = ["cut_websocket", "drop_all_websockets", "kill_redis_clients"]


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
