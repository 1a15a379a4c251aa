"""A per-client token bucket, the limiter behind the target's 429 responses."""

from __future__ import annotations

import math
import time


class TokenBucketLimiter:
    """Allows ``rate`` requests per second per key with bursts up to ``burst``.

    Idle buckets are dropped once they would be full again, so memory stays bounded by the
    number of clients active in the last ``burst / rate`` seconds — and never holds more than
    ``max_clients`` buckets: past that, the least recently seen clients are forgotten (a
    forgotten client starts again with a full bucket, as a new one would).
    """

    def __init__(self, rate: float, burst: int, clock=time.monotonic, max_clients: int = 100_000) -> None:
        if rate <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate must be > 0, burst >= 1 and max_clients >= 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._last_sweep = clock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key``; return 0 when allowed, else seconds until a token is free."""
        now = self._clock()
        tokens, stamp = self._buckets.pop(key, (float(self.burst), now))  # re-inserted last: LRU order
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        if now - self._last_sweep > 10.0:
            self._sweep(now)
        if len(self._buckets) > self.max_clients:
            self._sweep(now)
            for stale in list(self._buckets)[: len(self._buckets) - self.max_clients]:
                del self._buckets[stale]
        return wait

    def __len__(self) -> int:
        """Clients with a bucket now."""
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        full_after = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
        self._last_sweep = now

    @staticmethod
    def retry_after(wait: float) -> int:
        """The Retry-After header value (whole seconds, at least 1) for a wait in seconds."""
        return max(1, math.ceil(wait))
