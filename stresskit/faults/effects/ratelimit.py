"""``rate_limiting``: a real burst under the user's client identity until the target answers 429.

The target limits per client (``X-Client-Id``, else the peer address). The burst sends cheap
requests from several keep-alive connections at once, as the user's identity, until the first
429, and the same connections go on for ``hold`` seconds in the background so the bucket stays
empty: the user's own requests are throttled for real and it must honour ``Retry-After``.

Every request of a burst is in the run's stats: request type :data:`BURST_REQUEST_TYPE`, name
``rate_limiting burst`` (``… (throttled)`` for a 429, not a failure; a connection error or a 5xx
is a failure). A burst is bounded by :data:`BURST_BUDGET` requests (hold included) and
:data:`BURST_SECONDS` seconds to trip the limiter, then ``hold`` seconds (1 s) more. A burst that spends its budget
without a 429 raises
:class:`~stresskit.errors.FaultUnavailable`: this backend has no limiter to trip, and the
injector does not draw the fault again in the run.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import gevent
from gevent.event import Event

from stresskit.errors import FaultError, FaultUnavailable
from stresskit.faults.effects import Injected, UserFaultContext

__all__ = [
    "BURST_BUDGET",
    "BURST_NAME",
    "BURST_REQUEST_TYPE",
    "BURST_SECONDS",
    "RATE_LIMIT_HOLD",
    "burst",
    "burst_counts",
    "rate_limiting",
]

BURST_REQUEST_TYPE = "BURST"
BURST_NAME = "rate_limiting burst"
BURST_BUDGET = 2000
"""Requests one burst may send at most (hold included)."""
BURST_SECONDS = 5.0
"""Seconds one burst may take to trip the limiter (the hold comes on top)."""
RATE_LIMIT_HOLD = 1.0
"""Seconds a rate_limiting burst keeps the user's bucket empty after tripping the limiter."""


def burst(base_url: str, client_id: str | None, hold: float = 1.0, path: str = "/api/healthz",
          concurrency: int = 16, max_requests: int = BURST_BUDGET, max_seconds: float = BURST_SECONDS,
          on_request: Callable[..., Any] | None = None) -> Injected:
    """Burst against ``base_url`` until a 429 comes back, then keep it tripped for ``hold`` seconds.

    ``on_request`` (Locust's ``events.request.fire``) gets every request the burst sends.
    """
    parts = urlsplit(base_url)
    hostname = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not hostname:
        raise FaultError(f"cannot burst against {base_url!r}: not an http(s) URL")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    port = parts.port or (443 if parts.scheme == "https" else 80)
    headers = {"X-Client-Id": client_id} if client_id else {}
    tripped = Event()
    counts = {"sent": 0, "errors": 0, "limited": 0}
    retry_after: list[str] = []
    start = time.monotonic()
    deadline = start + max_seconds

    def hammer(until: Event) -> None:
        conn = connection_class(hostname, port, timeout=min(5.0, max_seconds))
        try:
            while not until.is_set() and counts["sent"] < max_requests and time.monotonic() < deadline:
                counts["sent"] += 1
                began = time.perf_counter()
                try:
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    counts["errors"] += 1
                    _record(on_request, BURST_NAME, began, 0, exc)
                    conn.close()
                    if counts["errors"] > 100:
                        return
                    continue
                limited = response.status == 429
                error = FaultError(f"HTTP {response.status}") if response.status >= 500 else None
                _record(on_request, f"{BURST_NAME} (throttled)" if limited else BURST_NAME, began, len(body), error)
                if limited:
                    counts["limited"] += 1
                    if not tripped.is_set():
                        retry_after.append(response.getheader("Retry-After") or "")
                        tripped.set()
        finally:
            conn.close()

    done = Event()
    workers = [gevent.spawn(hammer, done) for _ in range(concurrency)]
    finished = Event()
    watcher = gevent.spawn(lambda: (gevent.joinall(workers), finished.set()))
    # the same connections keep hammering through the hold, so no token is left for the user
    try:
        gevent.wait([tripped, finished], timeout=max_seconds, count=1)
    except BaseException:  # the user was stopped mid-burst: the hammers end after their request in flight
        done.set()
        raise
    elapsed = time.monotonic() - start

    def release() -> None:
        # the hammers end after their request in flight (never killed: a request the target got is in the stats)
        done.set()
        watcher.kill(block=False)

    if not tripped.is_set():
        release()
        raise FaultUnavailable(f"a burst of {counts['sent']} requests in {elapsed:.1f}s ({counts['errors']} errors) "
                               f"did not trip a rate limiter at {base_url}{path} (budget {max_requests} requests, "
                               f"{max_seconds:g}s)")
    who = f"client id {client_id}" if client_id else "the peer address (no client id)"
    detail = (f"burst of {counts['sent']} requests in {elapsed:.2f}s as {who} tripped the limiter "
              f"(429 with Retry-After {retry_after[0] or '?'}s), kept tripped for {hold:g}s")
    # the hammers' own bound through the hold, should the release never come
    deadline = max(deadline, time.monotonic() + hold + 1.0)
    if hold <= 0:
        release()
        return Injected(detail)
    return Injected(detail, release=release, release_after=hold)


def burst_counts(stats: Any) -> tuple[int, int]:
    """(requests, failures) of the bursts in Locust's ``stats``: the harness's own load, in the stats but left
    out of the run's error ratio, which judges the target by the users' requests (a burst of 2,000 successes
    must not dilute the users' failures)."""
    requests = failures = 0
    for (_name, method), entry in list(stats.entries.items()):
        if method == BURST_REQUEST_TYPE:
            requests += entry.num_requests
            failures += entry.num_failures
    return requests, failures


def _record(on_request: Callable[..., Any] | None, name: str, began: float, length: int,
            exception: BaseException | None) -> None:
    """Put one burst request in the stats (Locust's request event), if there is a listener."""
    if on_request is None:
        return
    on_request(request_type=BURST_REQUEST_TYPE, name=name, response_time=(time.perf_counter() - began) * 1000.0,
               response_length=length, exception=exception, context={})


def rate_limiting(ctx: UserFaultContext) -> Injected:
    """``rate_limiting``: the catalogue's per-user effect (a burst as the user's client identity)."""
    return burst(ctx.base_url(), getattr(ctx.user, "client_id", None), hold=RATE_LIMIT_HOLD,
                 on_request=ctx.fire_request)
