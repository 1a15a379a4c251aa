"""Concrete users for the reference target, shared by the ready locustfiles.

Importing this module registers nothing; a locustfile that imports a class here makes Locust
run it (Locust runs the non-abstract User classes in the locustfile's namespace). Subclass the
abstract classes in :mod:`stresskit.users` for your own backend instead.
"""

from __future__ import annotations

from itertools import count

from locust import between, task

from stresskit.users.api import REFERENCE_ENDPOINTS, ApiUser
from stresskit.users.cache import CacheUser
from stresskit.users.page import PageProcessorUser
from stresskit.users.websocket import WebSocketUser

__all__ = ["ReferenceApiUser", "ReferenceCacheUser", "ReferencePageUser", "ReferenceWebSocketUser"]


class ReferenceApiUser(ApiUser):
    """Reads, searches, writes and cache-backed reads in the reference target's proportions."""

    wait_time = between(0.1, 0.5)
    endpoints = REFERENCE_ENDPOINTS


class ReferenceWebSocketUser(WebSocketUser):
    """Echo round trips (``rtt echo``) and broadcasts (``rtt broadcast``, ``broadcast delivery``)."""

    wait_time = between(0.5, 1.5)
    subscribe = True

    def on_start(self) -> None:
        self._seq = count(1)
        super().on_start()

    @task(20)
    def echo_message(self) -> None:
        self.echo({"seq": next(self._seq), "text": "hello from stresskit"})

    @task(1)
    def broadcast_message(self) -> None:
        self.broadcast({"seq": next(self._seq), "text": "news for every subscriber"})


class ReferenceCacheUser(CacheUser):
    """Mostly reads over a skewed key space, so the hit rate climbs as hot keys get written."""

    wait_time = between(0.01, 0.05)
    key_space = 2_000
    key_skew = 1.0
    value_size = (64, 1024)
    read_ratio = 0.8


class ReferencePageUser(PageProcessorUser):
    """Walks the reference target's /pages/N, restarting its browser every 50 pages."""

    restart_every_pages = 50
