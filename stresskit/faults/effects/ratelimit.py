"""``rate_limiting``: a real burst under the user's client identity until the target answers 429.

The target limits per client (``X-Client-Id``, else the peer address). The burst sends cheap
requests from several keep-alive connections at once, as the user's identity, until the first
429, and the same connections go on for ``hold`` seconds in the background so the bucket stays
empty: the user's own requests are throttled for real and it must honour ``Retry-After``.
Bounded in requests and time.
"""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import gevent
from gevent.event import Event

from stresskit.errors import FaultError
from stresskit.faults.effects import Injected

__all__ = ["burst"]


def burst(base_url: str, client_id: str | None, hold: float = 1.0, path: str = "/api/healthz",
          concurrency: int = 16, max_requests: int = 50_000, max_seconds: float = 10.0) -> Injected:
    """Burst against ``base_url`` until a 429 comes back, then keep it tripped for ``hold`` seconds."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
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
        conn = connection_class(parts.hostname, port, timeout=5)
        try:
            while not until.is_set() and counts["sent"] < max_requests and time.monotonic() < deadline:
                counts["sent"] += 1
                try:
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    counts["errors"] += 1
                    conn.close()
                    if counts["errors"] > 100:
                        return
                    continue
                if response.status == 429:
                    counts["limited"] += 1
                    if not tripped.is_set():
                        retry_after.append(response.getheader("Retry-After") or "")
                        tripped.set()
        finally:
            conn.close()

    done = Event()
    workers = [gevent.spawn(hammer, done) for _ in range(concurrency)]
    # the same connections keep hammering through the hold, so no token is left for the user
    tripped.wait(max_seconds)
    elapsed = time.monotonic() - start

    def release() -> None:
        done.set()
        gevent.killall(workers, block=False)

    if not tripped.is_set():
        release()
        raise FaultError(f"a burst of {counts['sent']} requests in {elapsed:.1f}s ({counts['errors']} errors) did "
                         f"not trip the limiter of {base_url}")
    who = f"client id {client_id}" if client_id else "the peer address (no client id)"
    detail = (f"burst of {counts['sent']} requests in {elapsed:.2f}s as {who} tripped the limiter "
              f"(429 with Retry-After {retry_after[0] or '?'}s), kept tripped for {hold:g}s")
    deadline = time.monotonic() + hold + 1.0  # the hammers' own bound, should the release never come
    if hold <= 0:
        release()
        return Injected(detail)
    return Injected(detail, release=release, release_after=hold)
