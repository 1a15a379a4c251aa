"""The agent's HTTP server: sampling on a schedule, resumable NDJSON streaming, auth and limits.

One asyncio event loop (standard library only, no gevent) serves every connection; the
sampler runs in one worker thread so a slow ``/proc`` read never stalls a subscriber.

Endpoints (every one but health needs ``Authorization: Bearer <token>`` when a token is set):

============================  ===============================================================
``GET /v1/health``            ``{"status": "ok", "instance", "seq", "oldest", ...}`` — no auth
``GET /v1/samples?since=N``   sample lines from ``N`` on, then live (``instance=ID`` optional)
``GET /v1/latest``            the latest sample as one JSON object
``GET /metrics``              Prometheus text
``GET /v1/faults``            the active faults
``POST /v1/faults/memory``    ``{"mb": N, "seconds": T}`` (needs ``--allow-faults``)
``POST /v1/faults/cpu``       ``{"cores": N, "seconds": T}`` (needs ``--allow-faults``)
``DELETE /v1/faults``         release every active fault
============================  ===============================================================

Without ``since`` a stream starts with the next sample. With ``since`` older than the ring it
starts at the oldest sample kept, so the subscriber sees the jump in ``seq``. A ``since`` from
another agent lifetime (``instance`` differs, or ``since`` is past the next sequence number)
starts at the oldest sample too, and the subscriber sees the new ``instance``.

Every request must arrive whole within ``request_timeout`` with a head of at most 8 KiB and a
body of at most 4 KiB, or its connection is answered 408/431/413 and closed; a subscriber that
stops reading for ``write_timeout`` is dropped. Other subscribers are not affected: nothing is
shared with a connection but the ring, which is read without waiting on anyone.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from stresskit.agent import prometheus
from stresskit.agent.actuator import Actuator, FaultLimits, FaultRefused
from stresskit.agent.ring import Ring
from stresskit.agent.sampler import Sampler, Selection, default_host_name
from stresskit.agent.schema import SCHEMA_VERSION
from stresskit.core.addresses import LOOPBACK_HOSTS

__all__ = ["LOOPBACK_HOSTS", "MAX_BODY", "MAX_HEAD", "AgentConfig", "AgentServer"]

log = logging.getLogger("stresskit.agent")

MAX_HEAD = 8192
MAX_BODY = 4096
MAX_HEADERS = 64
_SINCE = re.compile(r"\d{1,18}")
_INSTANCE = re.compile(r"[0-9a-f]{1,64}")
_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
            413: "Payload Too Large", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented", 503: "Service Unavailable"}


@dataclass
class AgentConfig:
    """Everything the agent is told on its command line."""

    bind: str = "127.0.0.1"
    port: int = 9105
    token: str | None = None
    interval: float = 1.0
    ring_seconds: float = 3600.0
    ring_max_bytes: int = 64 * 1024 * 1024
    host_name: str = field(default_factory=default_host_name)
    max_connections: int = 32
    request_timeout: float = 5.0
    write_timeout: float = 10.0
    heartbeat: float = 5.0
    rescan_seconds: float = 5.0
    detail_seconds: float = 10.0
    selection: Selection = field(default_factory=Selection)
    limits: FaultLimits = field(default_factory=FaultLimits)


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class _Reject(Exception):
    """Answer ``status`` with ``message`` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AgentServer:
    """The running agent: sampler thread, ring, actuator and HTTP endpoints on one event loop."""

    def __init__(self, config: AgentConfig, sampler: Sampler | None = None) -> None:
        self.config = config
        self.instance = uuid.uuid4().hex[:16]
        self.sampler = sampler or Sampler(config.selection, rescan_seconds=config.rescan_seconds,
                                          detail_seconds=config.detail_seconds)
        self.ring = Ring(config.ring_seconds, config.ring_max_bytes)
        self.actuator = Actuator(config.limits)
        self.started = time.time()
        self.samples_total = 0
        self.sample_errors_total = 0
        self.dropped_total = 0
        self.requests_total = 0
        self.subscribers = 0
        self._latest: dict[str, Any] | None = None
        self._next_seq = 1
        self._open = 0
        self._new_sample = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stresskit-sampler")
        self._server: asyncio.Server | None = None
        self._sampling: asyncio.Task[None] | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._routes: dict[str, dict[str, Callable[[_Request, asyncio.StreamWriter], Awaitable[None]]]] = {
            "/v1/health": {"GET": self._health},
            "/v1/samples": {"GET": self._samples},
            "/v1/latest": {"GET": self._latest_sample},
            "/metrics": {"GET": self._metrics},
            "/v1/faults": {"GET": self._faults, "DELETE": self._release},
            "/v1/faults/memory": {"POST": self._fault_memory},
            "/v1/faults/cpu": {"POST": self._fault_cpu},
        }

    # -- life cycle --------------------------------------------------------------------------------

    async def start(self) -> int:
        """Bind, take the first sample, start sampling; returns the bound port."""
        self._new_sample = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, self.config.bind, self.config.port,
                                                  limit=MAX_HEAD, reuse_address=True)
        await self._take_sample()
        self._sampling = asyncio.get_running_loop().create_task(self._sample_loop())
        return self.port

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop sampling and serving, release every fault, close every connection."""
        if self._sampling is not None:
            self._sampling.cancel()
        if self._server is not None:
            self._server.close()
        released = await self.actuator.release_all()
        if released:
            log.warning("released %d active fault(s) on exit", released)
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.sampler.close()

    # -- sampling ----------------------------------------------------------------------------------

    def _encode(self, seq: int) -> tuple[dict[str, Any], bytes]:
        body = self.sampler.sample()
        sample = {"v": SCHEMA_VERSION, "type": "sample", "seq": seq, "instance": self.instance,
                  "host": self.config.host_name, "interval": self.config.interval, **body}
        return sample, json.dumps(sample, separators=(",", ":")).encode() + b"\n"

    async def _take_sample(self) -> None:
        seq = self._next_seq
        try:
            sample, line = await asyncio.get_running_loop().run_in_executor(self._executor, self._encode, seq)
        except Exception:
            self.sample_errors_total += 1
            if self.sample_errors_total <= 3 or self.sample_errors_total % 100 == 0:
                log.exception("sample %d failed (%d failures so far)", seq, self.sample_errors_total)
            return
        self.ring.append(seq, sample["mono"], line)
        self._next_seq = seq + 1
        self._latest = sample
        self.samples_total += 1
        event, self._new_sample = self._new_sample, asyncio.Event()
        event.set()

    async def _sample_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.interval
        due = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            await self._take_sample()
            due += interval
            late = loop.time() - due
            if late > 0:  # sampling overran: skip the ticks that are already past, keep the grid
                due += (int(late // interval) + 1) * interval

    # -- connections -------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._open += 1
        self._writers.add(writer)
        self.requests_total += 1
        try:
            if self._open > self.config.max_connections:
                raise _Reject(503, f"too many connections (limit {self.config.max_connections})")
            try:
                request = await asyncio.wait_for(self._read_request(reader), self.config.request_timeout)
            except TimeoutError:
                raise _Reject(408, f"request not received within {self.config.request_timeout:g}s") from None
            await self._dispatch(request, writer)
        except _Reject as reject:
            if reject.status in (408, 413, 431, 503):
                self.dropped_total += 1
                log.info("dropped a connection from %s: %d %s", _peer(writer), reject.status, reject.message)
            await self._respond(writer, reject.status, {"error": reject.message})
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:  # the agent is stopping: end this connection quietly
            pass
        except Exception:
            log.exception("request from %s failed", _peer(writer))
            await self._respond(writer, 500, {"error": "internal error; see the agent's log"})
        finally:
            self._open -= 1
            self._writers.discard(writer)
            self._handlers.discard(task)
            if writer.transport.get_write_buffer_size():
                writer.transport.abort()  # a peer that does not read gets no more of our time
            else:
                writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise _Reject(431, f"request head larger than {MAX_HEAD} bytes") from None
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise _Reject(400, "incomplete request") from None
            raise
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
            raise _Reject(400, "malformed request line")
        method, target, _ = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            name = name.strip().lower()
            if not sep or not name or " " in name:
                raise _Reject(400, "malformed header line")
            if name in headers and name in ("authorization", "content-length", "transfer-encoding"):
                raise _Reject(400, f"duplicate {name} header")
            headers[name] = value.strip()
        if len(headers) > MAX_HEADERS:
            raise _Reject(431, f"more than {MAX_HEADERS} headers")
        if "transfer-encoding" in headers:
            raise _Reject(501, "chunked request bodies are not supported; send Content-Length")
        body = b""
        if "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit():
                raise _Reject(400, "Content-Length is not a number")
            if int(length) > MAX_BODY:
                raise _Reject(413, f"request body larger than {MAX_BODY} bytes")
            body = await reader.readexactly(int(length))
        url = urlsplit(target)
        try:
            pairs = parse_qsl(url.query, keep_blank_values=True, strict_parsing=bool(url.query))
        except ValueError:
            raise _Reject(400, "malformed query string") from None
        query: dict[str, str] = {}
        for key, value in pairs:
            if key in query:
                raise _Reject(400, f"query parameter '{key}' given twice")
            query[key] = value
        return _Request(method, url.path, query, headers, body)

    def _authorized(self, request: _Request) -> bool:
        token = self.config.token
        if not token:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), token.encode())

    async def _dispatch(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        if request.path != "/v1/health" and not self._authorized(request):
            await self._respond(writer, 401, {"error": "missing or wrong bearer token"},
                                headers={"WWW-Authenticate": 'Bearer realm="stresskit-agent"'})
            return
        methods = self._routes.get(request.path)
        if methods is None:
            raise _Reject(404, f"no such endpoint: {request.path}")
        handler = methods.get(request.method)
        if handler is None:
            await self._respond(writer, 405, {"error": f"{request.method} is not allowed on {request.path}"},
                                headers={"Allow": ", ".join(sorted(methods))})
            return
        await handler(request, writer)

    async def _respond(self, writer: asyncio.StreamWriter, status: int, body: Any,
                       content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode() + b"\n")
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", f"Content-Type: {content_type}",
                f"Content-Length: {len(data)}", "Cache-Control: no-store", "Connection: close"]
        head += [f"{key}: {value}" for key, value in (headers or {}).items()]
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
            await asyncio.wait_for(writer.drain(), self.config.write_timeout)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass

    @staticmethod
    def _only(request: _Request, allowed: tuple[str, ...]) -> None:
        for key in request.query:
            if key not in allowed:
                hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
                raise _Reject(400, f"unknown query parameter '{key}'{hint}")

    def _json_body(self, request: _Request) -> Any:
        try:
            return json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _Reject(400, "the body must be JSON") from None

    # -- endpoints ---------------------------------------------------------------------------------

    async def _health(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        self._only(request, ())
        from stresskit import __version__

        await self._respond(writer, 200, {
            "status": "ok", "schema": SCHEMA_VERSION, "version": __version__, "instance": self.instance,
            "seq": self.ring.latest, "oldest": self.ring.oldest, "interval": self.config.interval,
            "uptime": round(time.time() - self.started, 3), "subscribers": self.subscribers,
            "faults_enabled": self.config.limits.enabled,
        })

    async def _latest_sample(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        self._only(request, ())
        await self._respond(writer, 200, self._latest)

    async def _metrics(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        self._only(request, ())
        counters = {"samples_total": self.samples_total, "sample_errors_total": self.sample_errors_total,
                    "dropped_connections_total": self.dropped_total, "requests_total": self.requests_total,
                    "subscribers": self.subscribers, "ring_samples": len(self.ring),
                    "ring_bytes": self.ring.nbytes, "faults_active": len(self.actuator.active())}
        await self._respond(writer, 200, prometheus.render(self._latest, counters, prometheus.io_totals()),
                            content_type="text/plain; version=0.0.4; charset=utf-8")

    def _start_seq(self, query: dict[str, str]) -> int:
        latest = self.ring.latest or 0
        oldest = self.ring.oldest or 1
        since_text = query.get("since")
        instance = query.get("instance")
        if instance is not None and not _INSTANCE.fullmatch(instance):
            raise _Reject(400, "'instance' must be the hex instance id from a sample or /v1/health")
        if since_text is None:
            return latest + 1
        if not _SINCE.fullmatch(since_text):
            raise _Reject(400, "'since' must be a non-negative integer sequence number")
        since = int(since_text)
        other_lifetime = (instance is not None and instance != self.instance) or (
            instance is None and since > latest + 1)
        if other_lifetime:
            return oldest
        return max(since, 1)

    async def _samples(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        self._only(request, ("since", "instance"))
        next_seq = self._start_seq(request.query)
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nCache-Control: no-store\r\n"
                f"Connection: close\r\nX-Stresskit-Instance: {self.instance}\r\n\r\n")
        writer.write(head.encode())
        heartbeat = self.config.heartbeat
        self.subscribers += 1
        log.info("subscriber %s from seq %d", _peer(writer), next_seq)
        try:
            while True:
                entries = self.ring.since(next_seq)
                if entries:
                    writer.writelines(line for _, line in entries)
                    next_seq = entries[-1][0] + 1
                else:
                    event = self._new_sample
                    try:
                        await asyncio.wait_for(event.wait(), heartbeat)
                        continue
                    except TimeoutError:
                        beat = {"v": SCHEMA_VERSION, "type": "heartbeat", "seq": self.ring.latest,
                                "instance": self.instance, "time": time.time()}
                        writer.write(json.dumps(beat, separators=(",", ":")).encode() + b"\n")
                try:
                    await asyncio.wait_for(writer.drain(), self.config.write_timeout)
                except TimeoutError:
                    self.dropped_total += 1
                    log.info("dropped subscriber %s: not reading for %gs", _peer(writer),
                             self.config.write_timeout)
                    return
        finally:
            self.subscribers -= 1

    async def _faults(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        self._only(request, ())
        await self._respond(writer, 200, {"enabled": self.config.limits.enabled, "faults": self.actuator.active()})

    async def _release(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        self._only(request, ())
        released = await self.actuator.release_all()
        await self._respond(writer, 200, {"released": released})

    async def _fault(self, request: _Request, writer: asyncio.StreamWriter, start) -> None:
        self._only(request, ())
        try:
            if not self.config.limits.enabled:
                body = None  # refuse before looking at the body
            else:
                body = self._json_body(request)
            result = await start(body)
        except FaultRefused as refused:
            raise _Reject(refused.status, refused.message) from None
        await self._respond(writer, 201, result)

    async def _fault_memory(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        await self._fault(request, writer, self.actuator.hold_memory)

    async def _fault_cpu(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        await self._fault(request, writer, self.actuator.burn_cpu)


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
