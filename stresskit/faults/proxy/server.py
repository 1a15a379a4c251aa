"""The fault proxy's server: proxies, their toxics and the Toxiproxy-style control API (asyncio + aiohttp).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["VERSION", "ApiError", "Proxy", "ProxyServer", "Toxic"]

log = logging.getLogger("stresskit.proxy")

VERSION = "stresskit-proxy/1 (toxiproxy api 2.x subset)"
CHUNK = 32 * 1024
MAX_BODY = 64 * 1024

_ATTRS: dict[str, dict[str, float]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
}
STREAMS = ("upstream", "downstream")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Toxic:
    """One toxic on one stream of a proxy."""

    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, float] = field(default_factory=dict)
    since: float = field(default_factory=time.monotonic)
    serial: int = 0

    @classmethod
    def from_json(cls, body: Any, serial: int) -> Toxic:
        if not isinstance(body, dict):
            raise ApiError(400, "toxic must be a JSON object")
        kind = body.get("type")
        if kind not in _ATTRS:
            raise ApiError(400, f"unknown toxic type {kind!r}; known: {', '.join(_ATTRS)}")
        stream = body.get("stream", "downstream")
        if stream not in STREAMS:
            raise ApiError(400, f"stream must be upstream or downstream, got {stream!r}")
        toxicity = _num(body.get("toxicity", 1.0), "toxicity", 0.0, 1.0)
        name = body.get("name") or f"{kind}_{stream}"
        if not isinstance(name, str) or not name or len(name) > 100:
            raise ApiError(400, "toxic name must be a string of 1 to 100 characters")
        attrs = _attributes(kind, body.get("attributes") or {}, {})
        return cls(name=name, type=kind, stream=stream, toxicity=toxicity, attributes=attrs, serial=serial)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "stream": self.stream, "toxicity": self.toxicity,
                "attributes": dict(self.attributes)}


def _num(value: Any, name: str, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"{name} must be a number")
    if value < low or (high is not None and value > high):
        raise ApiError(400, f"{name} must be >= {low:g}" + (f" and <= {high:g}" if high is not None else ""))
    return value


def _attributes(kind: str, given: Any, current: dict[str, float]) -> dict[str, float]:
    if not isinstance(given, dict):
        raise ApiError(400, "attributes must be a JSON object")
    known = _ATTRS[kind]
    unknown = set(given) - set(known)
    if unknown:
        raise ApiError(400, f"unknown attribute(s) for {kind}: {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(known)}")
    attrs = {**known, **current}
    for key, value in given.items():
        attrs[key] = _num(value, f"attributes.{key}", 0.0)
    return attrs


class Link:
    """One proxied connection: the client's socket and the upstream socket, two pumps and a watchdog."""

    def __init__(self, proxy: Proxy, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.client_reader, self.client_writer = client
        self.upstream_reader: asyncio.StreamReader | None = None
        self.upstream_writer: asyncio.StreamWriter | None = None
        self.started = time.monotonic()
        self.closed = False
        self.sent = {"upstream": 0, "downstream": 0}
        self._draws: dict[int, bool] = {}
        self._rng = random.Random()

    def active(self, stream: str, kind: str | None = None) -> list[Toxic]:
        """The toxics of ``stream`` (of type ``kind``) that affect this connection, in order."""
        found = []
        for toxic in self.proxy.toxics.values():
            if toxic.stream != stream or (kind is not None and toxic.type != kind):
                continue
            draw = self._draws.get(toxic.serial)
            if draw is None:
                draw = self._draws[toxic.serial] = self._rng.random() < toxic.toxicity
            if draw:
                found.append(toxic)
        return found

    async def run(self) -> None:
        host, port = self.proxy.upstream_address
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout=10)
            self.upstream_reader, self.upstream_writer = upstream_reader, upstream_writer
        except (TimeoutError, OSError) as exc:
            log.info("%s: upstream %s:%s unreachable: %s", self.proxy.name, host, port, exc)
            self.abort(reset=True)
            return
        tasks = [
            asyncio.create_task(self._pump(self.client_reader, upstream_writer, "upstream")),
            asyncio.create_task(self._pump(upstream_reader, self.client_writer, "downstream")),
            asyncio.create_task(self._watchdog()),
        ]
        try:
            await asyncio.wait(tasks[:2], return_when=asyncio.ALL_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.abort(reset=False)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: str) -> None:
        queue: asyncio.Queue[tuple[float, bytes | None, float]] = asyncio.Queue()
        writer_task = asyncio.create_task(self._writer(queue, writer, stream))
        last_due = 0.0
        try:
            while not self.closed:
                try:
                    data = await reader.read(CHUNK)
                except (OSError, asyncio.IncompleteReadError):
                    data = b""
                now = time.monotonic()
                if not data:
                    # a timeout toxic swallows the close too (as Toxiproxy's does): the peer sees
                    # nothing until the toxic goes or the watchdog closes the connection
                    while self.active(stream, "timeout") and not self.closed:
                        await self.proxy.wait_change(None)
                    delay = sum(t.attributes["delay"] for t in self.active(stream, "slow_close")) / 1000.0
                    await queue.put((max(now + delay, last_due), None, 0.0))
                    break
                if self.active(stream, "timeout"):
                    continue  # dropped on the floor; the watchdog closes the connection after `timeout`
                last = False
                limits = [int(t.attributes["bytes"]) for t in self.active(stream, "limit_data")]
                if limits and self.sent[stream] + len(data) >= min(limits):
                    data = data[:max(0, min(limits) - self.sent[stream])]
                    last = True
                pieces = [data]
                self.sent[stream] += len(data)
                delay = 0.0
                for toxic in self.active(stream, "latency"):
                    jitter = toxic.attributes["jitter"]
                    delay += max(0.0, toxic.attributes["latency"] + self._rng.uniform(-jitter, jitter)) / 1000.0
                rate = 0.0
                for toxic in self.active(stream, "bandwidth"):
                    kbps = toxic.attributes["rate"]
                    rate = kbps * 1024 if rate == 0 else min(rate, kbps * 1024)
                for toxic in self.active(stream, "slicer"):
                    pieces = list(_slice(pieces, toxic, self._rng))
                due = max(now + delay, last_due)
                for index, piece in enumerate(pieces):
                    gap = 0.0
                    if index:
                        for toxic in self.active(stream, "slicer"):
                            gap = toxic.attributes["delay"] / 1e6
                    due += gap
                    await queue.put((due, piece, rate))
                last_due = due
                if last:
                    await queue.put((due, None, 0.0))
                    await writer_task
                    self.abort(reset=False)
                    return
            await writer_task
        finally:
            writer_task.cancel()

    async def _writer(self, queue: asyncio.Queue, writer: asyncio.StreamWriter, stream: str) -> None:
        while True:
            due, data, rate = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                try:
                    if writer.can_write_eof():
                        writer.write_eof()
                    else:
                        writer.close()
                except (OSError, RuntimeError):
                    pass
                return
            if not data:
                continue
            try:
                if rate > 0:
                    step = max(1, int(rate / 20))  # about 20 writes a second at the limit
                    for start in range(0, len(data), step):
                        piece = data[start:start + step]
                        writer.write(piece)
                        await writer.drain()
                        await asyncio.sleep(len(piece) / rate)
                else:
                    writer.write(data)
                    await writer.drain()
            except (OSError, RuntimeError):
                self.abort(reset=False)
                return

    async def _watchdog(self) -> None:
        """Closes the connection when a ``timeout`` or ``reset_peer`` toxic's time is up."""
        while not self.closed:
            now = time.monotonic()
            deadline = None
            action = None
            for stream in STREAMS:
                for toxic in self.active(stream, "timeout") + self.active(stream, "reset_peer"):
                    ms = toxic.attributes["timeout"]
                    if toxic.type == "timeout" and ms == 0:
                        continue  # a blackhole never closes by itself
                    at = max(self.started, toxic.since) + ms / 1000.0
                    if deadline is None or at < deadline:
                        deadline, action = at, toxic.type
            if deadline is not None and deadline <= now:
                self.abort(reset=action == "reset_peer")
                return
            await self.proxy.wait_change(None if deadline is None else deadline - now)

    def abort(self, reset: bool) -> None:
        """Close both sockets now; with ``reset`` the client gets a TCP RST instead of a FIN."""
        self.closed = True
        for writer in (self.client_writer, self.upstream_writer):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            if reset and sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            transport = writer.transport
            if reset:
                transport.abort()
            else:
                transport.close()
        self.proxy.links.discard(self)


def _slice(pieces: list[bytes], toxic: Toxic, rng: random.Random):
    size = max(1, int(toxic.attributes["average_size"]) or CHUNK)
    variation = int(toxic.attributes["size_variation"])
    for data in pieces:
        start = 0
        while start < len(data):
            n = max(1, size + (rng.randint(-variation, variation) if variation else 0))
            yield data[start:start + n]
            start += n


class Proxy:
    """One listening proxy with its toxics and live connections."""

    _serials = itertools.count(1)

    def __init__(self, name: str, listen: Any, upstream: Any, enabled: bool = True) -> None:  # validated here
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.listen_address = _host_port(listen, "listen")
        self.upstream_address = _host_port(upstream, "upstream")
        self.enabled = False
        self.want_enabled = enabled
        self.toxics: dict[str, Toxic] = {}
        self.links: set[Link] = set()
        self.server: asyncio.base_events.Server | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        if self.want_enabled:
            await self.enable()

    async def enable(self) -> None:
        if self.enabled:
            return
        host, port = self.listen_address
        try:
            self.server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        except OSError as exc:
            raise ApiError(409, f"cannot listen on {self.listen}: {exc.strerror or exc}") from None
        if port == 0:
            port = self.server.sockets[0].getsockname()[1]
            self.listen_address = (host, port)
            self.listen = f"{host}:{port}"
        self.enabled = True
        self.changed()

    async def disable(self) -> None:
        """Toxiproxy's *down*: stop listening and cut every connection."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for link in list(self.links):
            link.abort(reset=False)
        self.enabled = False
        self.changed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.enabled:
            writer.transport.abort()
            return
        link = Link(self, (reader, writer))
        self.links.add(link)
        try:
            await link.run()
        finally:
            self.links.discard(link)

    def changed(self) -> None:
        """Wake every connection's watchdog (a toxic came or went)."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_change(self, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def add_toxic(self, body: Any) -> Toxic:
        toxic = Toxic.from_json(body, next(self._serials))
        if toxic.name in self.toxics:
            raise ApiError(409, f"toxic {toxic.name!r} already exists on {self.name}")
        self.toxics[toxic.name] = toxic
        self.changed()
        log.info("%s: + toxic %s", self.name, json.dumps(toxic.to_json()))
        return toxic

    def update_toxic(self, name: str, body: Any) -> Toxic:
        toxic = self._toxic(name)
        if not isinstance(body, dict):
            raise ApiError(400, "toxic update must be a JSON object")
        toxic.attributes = _attributes(toxic.type, body.get("attributes") or {}, toxic.attributes)
        if "toxicity" in body:
            toxic.toxicity = _num(body["toxicity"], "toxicity", 0.0, 1.0)
        self.changed()
        return toxic

    def remove_toxic(self, name: str) -> None:
        toxic = self._toxic(name)
        if toxic.type == "timeout":
            # as Toxiproxy's timeout toxic cleans up: the bytes it dropped are gone for good, so every
            # connection it held is closed with it, never left open and silent (a request begun in it
            # would otherwise hang until the client's own timeout, long after the toxic went)
            for link in list(self.links):
                if toxic in link.active(toxic.stream, "timeout"):
                    link.abort(reset=False)
        del self.toxics[name]
        self.changed()
        log.info("%s: - toxic %s", self.name, name)

    def _toxic(self, name: str) -> Toxic:
        try:
            return self.toxics[name]
        except KeyError:
            raise ApiError(404, f"toxic {name!r} not found on {self.name}") from None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled,
                "toxics": [t.to_json() for t in self.toxics.values()], "connections": len(self.links)}


def _host_port(text: Any, what: str) -> tuple[str, int]:
    if not isinstance(text, str) or ":" not in text:
        raise ApiError(400, f"{what} must be HOST:PORT, got {text!r}")
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise ApiError(400, f"{what} port must be a number, got {port!r}") from None
    if not 0 <= number <= 65535:
        raise ApiError(400, f"{what} port must be within [0, 65535]")
    return host, number


class ProxyServer:
    """All proxies of one ``stresskit proxy`` process plus the Toxiproxy-style control API."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.proxies: dict[str, Proxy] = {}

    async def create(self, body: Any) -> Proxy:
        if not isinstance(body, dict):
            raise ApiError(400, "proxy must be a JSON object with name, listen, upstream")
        name = body.get("name")
        if not isinstance(name, str) or not name or len(name) > 100:
            raise ApiError(400, "proxy name must be a string of 1 to 100 characters")
        if name in self.proxies:
            raise ApiError(409, f"proxy {name!r} already exists")
        proxy = Proxy(name, body.get("listen"), body.get("upstream"), bool(body.get("enabled", True)))
        await proxy.start()
        self.proxies[name] = proxy
        log.info("proxy %s: %s → %s", name, proxy.listen, proxy.upstream)
        return proxy

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiError(404, f"proxy {name!r} not found") from None

    async def reset(self) -> None:
        for proxy in self.proxies.values():
            proxy.toxics.clear()
            proxy.changed()
            await proxy.enable()

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.disable()

    # -- HTTP API ------------------------------------------------------------------------------

    def app(self):
        from aiohttp import web

        @web.middleware
        async def guard(request: web.Request, handler):
            if self.token:
                scheme, _, given = request.headers.get("Authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), self.token.encode()):
                    return web.json_response({"error": "missing or wrong token", "status": 401}, status=401)
            try:
                return await handler(request)
            except ApiError as exc:
                return web.json_response({"error": str(exc), "status": exc.status}, status=exc.status)

        async def body_of(request: web.Request) -> Any:
            if request.content_length and request.content_length > MAX_BODY:
                raise ApiError(413, "body too large")
            raw = await request.read()
            if not raw.strip():
                return {}
            try:
                return json.loads(raw)
            except ValueError:
                raise ApiError(400, "body is not valid JSON") from None

        async def version(request):
            return web.Response(text=VERSION)

        async def list_proxies(request):
            return web.json_response({n: p.to_json() for n, p in self.proxies.items()})

        async def create_proxy(request):
            proxy = await self.create(await body_of(request))
            return web.json_response(proxy.to_json(), status=201)

        async def get_proxy(request):
            return web.json_response(self.get(request.match_info["proxy"]).to_json())

        async def update_proxy(request):
            proxy = self.get(request.match_info["proxy"])
            body = await body_of(request)
            if not isinstance(body, dict):
                raise ApiError(400, "body must be a JSON object")
            if "enabled" in body:
                if not isinstance(body["enabled"], bool):
                    raise ApiError(400, "enabled must be true or false")
                if body["enabled"]:
                    await proxy.enable()
                else:
                    await proxy.disable()
                log.warning("proxy %s %s", proxy.name, "up" if proxy.enabled else "DOWN")
            return web.json_response(proxy.to_json())

        async def delete_proxy(request):
            proxy = self.get(request.match_info["proxy"])
            await proxy.disable()
            del self.proxies[proxy.name]
            return web.Response(status=204)

        async def list_toxics(request):
            proxy = self.get(request.match_info["proxy"])
            return web.json_response([t.to_json() for t in proxy.toxics.values()])

        async def add_toxic(request):
            proxy = self.get(request.match_info["proxy"])
            return web.json_response(proxy.add_toxic(await body_of(request)).to_json())

        async def get_toxic(request):
            proxy = self.get(request.match_info["proxy"])
            return web.json_response(proxy._toxic(request.match_info["toxic"]).to_json())

        async def update_toxic(request):
            proxy = self.get(request.match_info["proxy"])
            toxic = proxy.update_toxic(request.match_info["toxic"], await body_of(request))
            return web.json_response(toxic.to_json())

        async def delete_toxic(request):
            self.get(request.match_info["proxy"]).remove_toxic(request.match_info["toxic"])
            return web.Response(status=204)

        async def reset(request):
            await self.reset()
            return web.Response(status=204)

        app = web.Application(middlewares=[guard], client_max_size=MAX_BODY)
        app.router.add_get("/version", version)
        app.router.add_post("/reset", reset)
        app.router.add_get("/proxies", list_proxies)
        app.router.add_post("/proxies", create_proxy)
        app.router.add_get("/proxies/{proxy}", get_proxy)
        app.router.add_post("/proxies/{proxy}", update_proxy)
        app.router.add_delete("/proxies/{proxy}", delete_proxy)
        app.router.add_get("/proxies/{proxy}/toxics", list_toxics)
        app.router.add_post("/proxies/{proxy}/toxics", add_toxic)
        app.router.add_get("/proxies/{proxy}/toxics/{toxic}", get_toxic)
        app.router.add_post("/proxies/{proxy}/toxics/{toxic}", update_toxic)
        app.router.add_delete("/proxies/{proxy}/toxics/{toxic}", delete_toxic)
        return app
