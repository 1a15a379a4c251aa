"""A Redis cache client for Locust users (redis-py, cooperative under gevent) and its key space.

:class:`RedisCacheClient` reports every command through Locust's ``request`` event with request
type ``"REDIS"``:

==============  ========================================================================
stats name      what it measures
==============  ========================================================================
``connect``     the first round trip (PING) of a connection; auth errors show here
``GET hit``     a read that found its key
``GET miss``    a read that did not (hit rate = hits / (hits + misses) in the stats)
``SET``         a write
``PIPELINE``    one round trip carrying a batch of GETs and SETs
==============  ========================================================================

Retries inside redis-py are switched off, so each failed command is exactly one failure entry
and the next command opens a fresh connection (that is how a user rides out a Redis restart).
Reads are also counted through ``on_reads(hits, misses)`` for the run's hit rate.

Any Redis-compatible server works; only GET, SET, PING and pipelining are used.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from stresskit.core.redact import redact_url  # the one redaction helper (re-exported)

__all__ = ["REQUEST_TYPE", "KeySpace", "RedisCacheClient", "redact_url", "url_with_password"]

REQUEST_TYPE = "REDIS"


def url_with_password(url: str, password: str | None) -> str:
    """``url`` with its password removed when ``password`` is given (redis-py lets the URL win
    over a ``password=`` argument; an explicit option should win instead)."""
    if not password:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@functools.lru_cache(maxsize=16)
def _zipf_cumulative(size: int, skew: float) -> tuple[float, ...]:
    return tuple(itertools.accumulate(1.0 / (rank ** skew) for rank in range(1, size + 1)))


class KeySpace:
    """``size`` keys named ``<prefix><n>``; picked uniformly, or Zipf-skewed with ``skew`` > 0
    (key 0 hottest), which is how real cache traffic concentrates on a few keys."""

    def __init__(self, size: int, prefix: str = "stresskit:load:", skew: float = 0.0) -> None:
        if size < 1:
            raise ValueError("the key space needs at least one key")
        if skew < 0:
            raise ValueError("the key skew must be >= 0")
        self.size = size
        self.prefix = prefix
        self.skew = skew
        self._cumulative = _zipf_cumulative(size, skew) if skew > 0 else None

    def pick(self, rng: Any) -> str:
        """One key name."""
        if self._cumulative is None:
            index = int(rng.random() * self.size)
        else:
            index = bisect.bisect_right(self._cumulative, rng.random() * self._cumulative[-1])
        return f"{self.prefix}{min(index, self.size - 1)}"


class RedisCacheClient:
    """One user's Redis connection pool, reporting each command as a ``REDIS`` request.

    :param url: ``redis://[user[:password]@]host:port/db`` (or ``rediss://``)
    :param request_event: ``environment.events.request``
    :param password: overrides a password in ``url``
    :param on_reads: called with ``(hits, misses)`` after every read or pipeline
    :param context: returns the ``context`` dict of each event
    """

    def __init__(self, url: str, request_event: Any, *, password: str | None = None,
                 socket_timeout: float = 5.0, on_reads: Callable[[int, int], None] | None = None,
                 context: Callable[[], dict] | None = None) -> None:
        self.url = url
        self.safe_url = redact_url(url)
        self._request_event = request_event
        self._on_reads = on_reads
        self._context = context or dict
        kwargs: dict[str, Any] = {}
        if password:
            kwargs["password"] = password
        self.redis = redis.Redis.from_url(
            url_with_password(url, password), socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout, retry=Retry(NoBackoff(), 0), health_check_interval=0,
            **kwargs,
        )

    def _fire(self, name: str, start: float, length: int, exception: BaseException | None) -> None:
        self._request_event.fire(
            request_type=REQUEST_TYPE, name=name, response_time=(time.perf_counter() - start) * 1000,
            response_length=length, exception=exception, context=self._context(),
        )

    def connect(self) -> None:
        """PING (opening a connection and authenticating); reported as ``connect``; raises on failure."""
        start = time.perf_counter()
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            self._fire("connect", start, 0, exc)
            raise
        self._fire("connect", start, 0, None)

    def get(self, key: str) -> bytes | None:
        """GET ``key``; reported as ``GET hit`` or ``GET miss``; None on a miss or a failure."""
        start = time.perf_counter()
        try:
            value: Any = self.redis.get(key)  # bytes: the client does not decode
        except redis.RedisError as exc:
            self._fire("GET", start, 0, exc)
            raise
        hit = value is not None
        self._fire("GET hit" if hit else "GET miss", start, len(value) if hit else 0, None)
        if self._on_reads is not None:
            self._on_reads(int(hit), int(not hit))
        return value

    def set(self, key: str, value: bytes, ttl: int = 0) -> None:
        """SET ``key`` (with an expiry in seconds when ``ttl`` > 0); reported as ``SET``."""
        start = time.perf_counter()
        try:
            self.redis.set(key, value, ex=ttl or None)
        except redis.RedisError as exc:
            self._fire("SET", start, 0, exc)
            raise
        self._fire("SET", start, len(value), None)

    def pipeline(self, operations: Sequence[tuple[str, str, bytes | None]], ttl: int = 0) -> list[Any]:
        """Send ``("GET", key, None)`` / ``("SET", key, value)`` operations in one round trip.

        Reported as one ``PIPELINE`` entry (length = bytes read back); GETs count as hits and
        misses. Returns the replies in order.
        """
        start = time.perf_counter()
        pipe = self.redis.pipeline(transaction=False)
        for op, key, value in operations:
            if op == "GET":
                pipe.get(key)
            elif value is not None:
                pipe.set(key, value, ex=ttl or None)
        try:
            replies = pipe.execute()
        except redis.RedisError as exc:
            self._fire("PIPELINE", start, 0, exc)
            raise
        hits = misses = length = 0
        for (op, _, _), reply in zip(operations, replies, strict=False):
            if op == "GET":
                if reply is None:
                    misses += 1
                else:
                    hits += 1
                    length += len(reply)
        self._fire("PIPELINE", start, length, None)
        if self._on_reads is not None and hits + misses:
            self._on_reads(hits, misses)
        return replies

    def close(self) -> None:
        """Close every connection of the pool."""
        try:
            self.redis.close()
        except redis.RedisError:
            pass
