"""The reference target: the system under test used by the demo, the tests and the benchmarks.

An aiohttp service modelled on the backend stresskit exists to test: a REST API, a WebSocket
endpoint with echo and broadcast, JavaScript-rendered pages, a rate limiter, a Redis
read-through cache and token-protected fault knobs. It never imports Locust.
"""

from stresskit.target.config import WS_CLOSE_IDLE, WS_CLOSE_LIMIT, TargetConfig

__all__ = ["WS_CLOSE_IDLE", "WS_CLOSE_LIMIT", "TargetConfig"]
