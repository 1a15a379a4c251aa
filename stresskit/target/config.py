"""Settings of the reference target and the protocol constants clients rely on."""

from __future__ import annotations

from dataclasses import dataclass

WS_CLOSE_LIMIT = 1013
"""Close code sent to a WebSocket connection refused because the connection limit is reached
(RFC 6455 "Try Again Later")."""

WS_CLOSE_IDLE = 4000
"""Close code sent to a WebSocket connection that stayed silent longer than the idle timeout."""


@dataclass(frozen=True)
class TargetConfig:
    """Everything the reference target can be told at start-up."""

    bind: str = "127.0.0.1"
    port: int = 8089
    redis_url: str | None = None
    admin_token: str | None = None
    pages: int = 724
    rows_per_page: int = 20
    latency_ms: float = 2.0
    """Median of the log-normal base latency added to API calls (0 turns it off)."""
    ws_max_connections: int = 10_000
    ws_idle_timeout: float = 60.0
    rate_limit: float = 500.0
    """Requests per second allowed per client (``X-Client-Id`` header, else peer address)."""
    rate_burst: int = 1000
    cache_ttl: int = 60
    items: int = 1000
    max_created_items: int = 1_000
    """Items created through ``POST /api/items`` that are kept; the oldest go first (bounded memory).

    About 370 bytes each. 10,000 (the bound before) took ~1.6 h to fill under the time-scaled
    production soak (1.7 items a second), so the target grew ~2.5 MB/h for the whole 1-hour soak;
    1,000 fill in about 10 minutes and hold ~0.4 MB."""
    max_rate_clients: int = 100_000
    """Clients the rate limiter keeps a bucket for; idle ones are dropped first (bounded memory)."""
