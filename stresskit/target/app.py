"""The reference target's aiohttp application: REST API, cache, pages, WebSocket and admin.

Every malformed request gets a 4xx JSON answer; an unexpected error inside a handler gets a
500 JSON answer and is logged; the process itself never dies from a request (except through
the admin ``/admin/exit`` knob, on purpose).
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import hmac
import logging
import os
import random
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from aiohttp import web

from stresskit.target.config import TargetConfig
from stresskit.target.pages import page_rows, render_index, render_page
from stresskit.target.ratelimit import TokenBucketLimiter
from stresskit.target.ws import WebSocketHub

log = logging.getLogger("stresskit.target")

CACHE_PREFIX = "stresskit:cache:"
MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_LEN = 100
MAX_LIMIT = 100
MAX_LEAK_BYTES = 512 * 1024 * 1024
"""The deliberate leak (``leak_kb_per_request``) stops growing here, so a forgotten knob cannot take the host down."""


@dataclass
class FaultKnobs:
    """Server-side faults set through ``/admin/faults``."""

    latency_ms: float = 0.0
    error_ratio: float = 0.0
    force_429_ratio: float = 0.0
    leak_kb_per_request: float = 0.0
    """A deliberate leak, off by default: every ``/api`` request keeps this many KiB for good (up to
    :data:`MAX_LEAK_BYTES`), for demonstrating the leak detector on a soak."""

    LIMITS: ClassVar[dict[str, tuple[float, float]]] = {
        "latency_ms": (0.0, 60_000.0), "error_ratio": (0.0, 1.0), "force_429_ratio": (0.0, 1.0),
        "leak_kb_per_request": (0.0, 1024.0)}

    def update(self, values: dict[str, Any]) -> None:
        """Validate every value first, then apply them all (no partial update on bad input)."""
        checked = {}
        for key, value in values.items():
            if key not in self.LIMITS:
                raise ValueError(f"unknown fault knob {key!r}; known: {', '.join(self.LIMITS)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{key} must be a number")
            low, high = self.LIMITS[key]
            if not low <= value <= high:
                raise ValueError(f"{key} must be within [{low:g}, {high:g}]")
            checked[key] = float(value)
        for key, value in checked.items():
            setattr(self, key, value)


def bad_request(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


class Target:
    """State and handlers of one target process."""

    def __init__(self, config: TargetConfig) -> None:
        self.config = config
        self.faults = FaultKnobs()
        self.limiter = TokenBucketLimiter(config.rate_limit, config.rate_burst,
                                          max_clients=config.max_rate_clients)
        self.hub = WebSocketHub(config.ws_max_connections, config.ws_idle_timeout)
        self.items: dict[int, dict[str, Any]] = {
            i: {"id": i, "name": f"item {i} {_WORDS[i % len(_WORDS)]}", "price": round(1 + (i * 7.3) % 500, 2)}
            for i in range(1, config.items + 1)
        }
        self.next_id = config.items + 1
        self.created: deque[int] = deque()
        """Ids of items created through the API, oldest first; at most ``config.max_created_items``."""
        self.leaked: list[bytes] = []
        self.leaked_bytes = 0
        self.redis: Any = None
        self.started = time.time()
        self.rng = random.Random()
        self.counters = {"throttled": 0, "cache_hits": 0, "cache_misses": 0, "injected_errors": 0}

    # -- middleware -------------------------------------------------------------------------

    @web.middleware
    async def guard(self, request: web.Request, handler):
        """Rate limit and server-side faults for ``/api``; JSON errors for everything."""
        path = request.path
        if path.startswith("/api/") and not path.startswith("/api/pages/"):
            key = request.headers.get("X-Client-Id") or (request.remote or "unknown")
            wait = self.limiter.acquire(key)
            if wait == 0 and self.faults.force_429_ratio and self.rng.random() < self.faults.force_429_ratio:
                wait = 1.0
            if wait > 0:
                self.counters["throttled"] += 1
                retry = TokenBucketLimiter.retry_after(wait)
                return web.json_response(
                    {"error": "rate limited", "retry_after": retry},
                    status=429,
                    headers={"Retry-After": str(retry)},
                )
            if self.faults.leak_kb_per_request:
                self._leak(int(self.faults.leak_kb_per_request * 1024))
            await self._base_latency()
            if self.faults.latency_ms:
                await asyncio.sleep(self.faults.latency_ms / 1000.0)
            if self.faults.error_ratio and self.rng.random() < self.faults.error_ratio:
                self.counters["injected_errors"] += 1
                return web.json_response({"error": "injected server error"}, status=500)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400 and exc.content_type != "application/json":
                return web.json_response({"error": exc.reason}, status=exc.status, headers=_retry_headers(exc))
            raise
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in a handler must not take the target down
            log.exception("unhandled error on %s %s", request.method, path)
            return web.json_response({"error": "internal error"}, status=500)

    def _leak(self, size: int) -> None:
        """Keep ``size`` bytes for good (the deliberate-leak fault knob), up to MAX_LEAK_BYTES."""
        if size > 0 and self.leaked_bytes + size <= MAX_LEAK_BYTES:
            self.leaked.append(os.urandom(size))  # random bytes: real pages, not shared or compressed
            self.leaked_bytes += size

    async def _base_latency(self) -> None:
        if self.config.latency_ms > 0:
            await asyncio.sleep(self.rng.lognormvariate(0.0, 0.5) * self.config.latency_ms / 1000.0)

    # -- health ------------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        redis_state = "off"
        if self.redis is not None:
            try:
                await asyncio.wait_for(self.redis.ping(), timeout=1.0)
                redis_state = "ok"
            except Exception:  # noqa: BLE001  any failure of the ping means Redis is down for the health answer
                redis_state = "down"
        return web.json_response(
            {
                "status": "ok",
                "pid": os.getpid(),
                "uptime": round(time.time() - self.started, 3),
                "redis": redis_state,
                "ws_connections": len(self.hub.connections),
                "ws_subscribers": len(self.hub.subscribers),
                "ws_refused": self.hub.refused,
                "ws_idle_closed": self.hub.idle_closed,
                "pages": self.config.pages,
                "items": len(self.items),
                "created_items_kept": len(self.created),
                "rate_limiter_clients": len(self.limiter),
                "leaked_bytes": self.leaked_bytes,
                **self.counters,
            }
        )

    # -- items ---------------------------------------------------------------------------------

    async def list_items(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "20"))
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            return bad_request("limit and offset must be integers")
        if not (1 <= limit <= MAX_LIMIT) or offset < 0:
            return bad_request(f"limit must be within [1, {MAX_LIMIT}] and offset >= 0")
        ids = sorted(self.items)[offset : offset + limit]
        return web.json_response({"items": [self.items[i] for i in ids], "total": len(self.items)})

    async def get_item(self, request: web.Request) -> web.Response:
        item = self.items.get(int(request.match_info["item_id"]))
        if item is None:
            return bad_request("no such item", status=404)
        return web.json_response(item)

    async def create_item(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        name, price = body.get("name"), body.get("price")
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            return bad_request("name must be a string of 1 to 200 characters")
        if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
            return bad_request("price must be a number >= 0")
        unknown = set(body) - {"name", "price"}
        if unknown:
            return bad_request(f"unknown fields: {', '.join(sorted(unknown))}")
        item = {"id": self.next_id, "name": name, "price": float(price)}
        self.items[self.next_id] = item
        self.created.append(self.next_id)
        self.next_id += 1
        while len(self.created) > self.config.max_created_items:  # bounded: the oldest created go first
            self.items.pop(self.created.popleft(), None)
        return web.json_response(item, status=201)

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        if not 1 <= len(query) <= MAX_QUERY_LEN:
            return bad_request(f"q must be 1 to {MAX_QUERY_LEN} characters")
        scored = []
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(query.lower())
        for item in self.items.values():
            matcher.set_seq1(item["name"].lower())
            score = matcher.quick_ratio()
            if score > 0.3:
                scored.append((score, item["id"]))
        scored.sort(reverse=True)
        return web.json_response(
            {"query": query, "matches": len(scored), "items": [self.items[i] for _, i in scored[:10]]}
        )

    # -- cache -----------------------------------------------------------------------------------

    async def cached(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if len(key) > 200:
            return bad_request("key too long (200 characters at most)")
        if self.redis is None:
            return bad_request("cache not configured: start the target with --redis-url", status=503)
        redis_key = CACHE_PREFIX + key
        try:
            value = await asyncio.wait_for(self.redis.get(redis_key), timeout=2.0)
            hit = value is not None
            if not hit:
                await asyncio.sleep(0.005)  # the "database" behind the cache
                value = hashlib.sha256(key.encode()).hexdigest()
                await asyncio.wait_for(self.redis.set(redis_key, value, ex=self.config.cache_ttl), timeout=2.0)
        except Exception as exc:  # noqa: BLE001  whatever Redis raised, the client gets a 503
            return bad_request(f"cache unavailable: {type(exc).__name__}", status=503)
        self.counters["cache_hits" if hit else "cache_misses"] += 1
        value = value.decode() if isinstance(value, bytes) else value
        return web.json_response(
            {"key": key, "value": value, "cached": hit}, headers={"X-Cache": "HIT" if hit else "MISS"}
        )

    # -- pages -----------------------------------------------------------------------------------

    def _page_number(self, request: web.Request) -> int:
        page = int(request.match_info["page"])
        if not 1 <= page <= self.config.pages:
            raise web.HTTPNotFound(reason=f"no page {page}; pages are 1 to {self.config.pages}")
        return page

    async def page(self, request: web.Request) -> web.Response:
        page = self._page_number(request)
        return web.Response(text=render_page(page, self.config.pages), content_type="text/html")

    async def page_rows(self, request: web.Request) -> web.Response:
        page = self._page_number(request)
        return web.json_response({"page": page, "rows": page_rows(page, self.config.rows_per_page)})

    async def pages_index(self, request: web.Request) -> web.Response:
        return web.Response(text=render_index(self.config.pages), content_type="text/html")

    # -- admin -----------------------------------------------------------------------------------

    def _authorize(self, request: web.Request) -> web.Response | None:
        if not self.config.admin_token:
            return bad_request("admin disabled: start the target with --admin-token", status=403)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self.config.admin_token.encode()):
            return web.json_response(
                {"error": "missing or wrong admin token"}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return None

    async def get_faults(self, request: web.Request) -> web.Response:
        denied = self._authorize(request)
        if denied:
            return denied
        return web.json_response(_public(self.faults))

    async def set_faults(self, request: web.Request) -> web.Response:
        denied = self._authorize(request)
        if denied:
            return denied
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            self.faults.update(body)
        except (ValueError, TypeError) as exc:
            return bad_request(str(exc))
        log.warning("fault knobs set: %s", _public(self.faults))
        return web.json_response(_public(self.faults))

    async def clear_faults(self, request: web.Request) -> web.Response:
        denied = self._authorize(request)
        if denied:
            return denied
        self.faults = FaultKnobs()
        self.leaked, self.leaked_bytes = [], 0  # clearing the faults frees the deliberate leak too
        return web.json_response(_public(self.faults))

    async def drop_websockets(self, request: web.Request) -> web.Response:
        denied = self._authorize(request)
        if denied:
            return denied
        return web.json_response({"dropped": self.hub.drop_all()})

    async def exit(self, request: web.Request) -> web.Response:
        denied = self._authorize(request)
        if denied:
            return denied
        body = await _json_body(request, allow_empty=True)
        if isinstance(body, web.Response):
            return body
        code = body.get("code", 1)
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
            return bad_request("code must be an integer within [0, 255]")
        log.warning("exiting with code %d on admin request", code)
        asyncio.get_running_loop().call_later(0.05, os._exit, code)
        return web.json_response({"exiting": code}, status=202)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def on_startup(self, app: web.Application) -> None:
        if self.config.redis_url:
            import redis.asyncio as aioredis

            self.redis = aioredis.from_url(self.config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)

    async def on_shutdown(self, app: web.Application) -> None:
        await self.hub.close_all()
        if self.redis is not None:
            await self.redis.aclose()


def build_app(config: TargetConfig) -> web.Application:
    """The aiohttp application of the reference target for ``config``."""
    target = Target(config)
    app = web.Application(middlewares=[target.guard], client_max_size=MAX_BODY_BYTES)
    app["target"] = target
    app.router.add_get("/healthz", target.healthz)
    app.router.add_get("/api/healthz", target.healthz)
    app.router.add_get("/api/items", target.list_items)
    app.router.add_post("/api/items", target.create_item)
    app.router.add_get(r"/api/items/{item_id:\d+}", target.get_item)
    app.router.add_get("/api/search", target.search)
    app.router.add_get("/api/cache/{key}", target.cached)
    app.router.add_get(r"/api/pages/{page:\d+}/rows", target.page_rows)
    app.router.add_get("/pages/", target.pages_index)
    app.router.add_get(r"/pages/{page:\d+}", target.page)
    app.router.add_get("/ws", target.hub.handle)
    app.router.add_get("/admin/faults", target.get_faults)
    app.router.add_post("/admin/faults", target.set_faults)
    app.router.add_delete("/admin/faults", target.clear_faults)
    app.router.add_post("/admin/ws/drop", target.drop_websockets)
    app.router.add_post("/admin/exit", target.exit)
    app.on_startup.append(target.on_startup)
    app.on_shutdown.append(target.on_shutdown)
    return app


async def _json_body(request: web.Request, allow_empty: bool = False) -> dict[str, Any] | web.Response:
    if not request.can_read_body:
        return {} if allow_empty else bad_request("a JSON object body is required")
    try:
        body = await request.json()
    except web.HTTPRequestEntityTooLarge:
        return bad_request(f"body larger than {MAX_BODY_BYTES} bytes", status=413)
    except ValueError:
        return bad_request("body is not valid JSON")
    if not isinstance(body, dict):
        return bad_request("body must be a JSON object")
    return body


def _public(knobs: FaultKnobs) -> dict[str, float]:
    return asdict(knobs)


def _retry_headers(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("Retry-After", "Allow", "WWW-Authenticate")}


_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
          "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"]
