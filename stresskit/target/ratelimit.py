"""A per-client token bucket, the limiter behind the target's 429 responses."""

from __future__ import annotations

import math
import time


class TokenBucketLimiter:
    """Allows ``rate`` requests per second per key with bursts up to ``burst``.

    Idle buckets are dropped once they would be full again, so memory stays bounded by the
    number of clients active in the last ``burst / rate`` seconds.
    """

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._last_sweep = clock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key``; return 0 when allowed, else seconds until a token is free."""
        now = self._clock()
        tokens, stamp = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        if now - self._last_sweep > 10.0:
            self._sweep(now)
        return wait

    def _sweep(self, now: float) -> None:
        full_after = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
        self._last_sweep = now

    @staticmethod
    def retry_after(wait: float) -> int:
        """The Retry-After header value (whole seconds, at least 1) for a wait in seconds."""
        return max(1, math.ceil(wait))
