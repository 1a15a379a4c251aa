"""One WebSocket connection for Locust users, on websocket-client, cooperative under gevent.

A :class:`WebSocketConnection` owns one socket and the one greenlet that reads it. Everything
it observes is reported through Locust's ``request`` event with request type ``"WS"``, so
stats, CSV files, the web UI and distributed aggregation need nothing extra:

============================  ===============================================================
stats name                    what it measures
============================  ===============================================================
``connect``                   the opening handshake (failures: unreachable, upgrade refused)
``rtt <op>``                  a request's round trip, sent → its reply (``rtt echo`` ...)
``broadcast delivery``        server timestamp → receipt, once per message per subscriber
``messages in`` / ``out``     one entry per frame, no response time: their req/s is msg/s
``closed unexpectedly``       a close we did not ask for (code in the message; 1006 = no
                              close frame), always a failure
``refused (close N)``         the server closed a fresh connection with a refusal code
                              (1013 by default), e.g. its connection limit
``reconnect``                 close detected → open again, backoff included; a failure
                              when the attempts are used up
``server error``              an ``{"op": "error"}`` message from the server
============================  ===============================================================

The wire protocol is the reference target's (``stresskit/target/ws.py``): JSON objects with an
``op``; a reply carries the request's ``id``. A plain echo server fits it too, since it sends
the request itself back.

Nothing here spawns anything until :meth:`WebSocketConnection.connect` is called; every
greenlet it starts is killed by :meth:`WebSocketConnection.close`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import logging
import random
import socket
import struct
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import gevent
from gevent.event import AsyncResult, Event

from stresskit.errors import TargetError

__all__ = [
    "REFUSAL_CODES",
    "REQUEST_TYPE",
    "WebSocketClosed",
    "WebSocketConnection",
    "WebSocketRefused",
    "WebSocketReplyTimeout",
    "WebSocketServerError",
    "WebSocketUpgradeRefused",
    "websocket_url",
]

log = logging.getLogger("stresskit.clients.websocket")


def _import_websocket_client() -> ModuleType:
    """websocket-client's package, also when another module holds the name ``websocket``.

    Locust imports a locustfile named ``websocket.py`` (``locustfiles/websocket.py`` among them)
    as the module ``websocket``, with its directory first on ``sys.path``, so a plain
    ``import websocket`` would return the locustfile. The package is found on ``sys.path`` as
    the first ``websocket`` that is a package and registered under its own name again (Locust
    keeps its own reference to the locustfile module).
    """
    current = sys.modules.get("websocket")
    if current is not None and getattr(current, "__path__", None) is not None:
        return current
    for entry in sys.path:
        spec = importlib.machinery.PathFinder.find_spec("websocket", [entry])
        if spec is not None and spec.submodule_search_locations and spec.loader is not None:
            break
    else:
        raise ImportError("the websocket-client package is not installed (pip install websocket-client)")
    module = importlib.util.module_from_spec(spec)
    sys.modules["websocket"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if current is not None:
            sys.modules["websocket"] = current
        else:
            sys.modules.pop("websocket", None)
        raise
    return module


websocket = _import_websocket_client()

REQUEST_TYPE = "WS"
REFUSAL_CODES: tuple[int, ...] = (1013,)
"""Close codes that mean "refused" rather than "dropped" (1013 = Try Again Later, the
reference target's connection-limit code)."""

CLOSE_ABNORMAL = 1006
"""RFC 6455 code for a connection that ended without a close frame."""

_REPLY_OPS = {"echo": "echo", "broadcast": "broadcast_ack", "subscribe": "subscribed", "unsubscribe": "unsubscribed"}
"""The op of the reply each request op expects; ops missing here expect a reply of the same op."""


class WebSocketClosed(TargetError):
    """The connection closed without us asking; ``code`` is the close code (1006: no close frame)."""

    def __init__(self, message: str, code: int = CLOSE_ABNORMAL) -> None:
        super().__init__(message)
        self.code = code


class WebSocketRefused(WebSocketClosed):
    """The server closed a connection with a refusal code (for example its connection limit)."""


class WebSocketUpgradeRefused(TargetError):
    """The server answered the opening handshake with an HTTP status instead of 101."""


class WebSocketReplyTimeout(TargetError):
    """No reply arrived within the reply timeout."""


class WebSocketServerError(TargetError):
    """The server answered with an ``{"op": "error"}`` message."""


def websocket_url(host: str, path: str = "/ws") -> str:
    """The ws:// (or wss://) URL for ``path`` on an http(s):// or ws(s):// ``host``."""
    base = host.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    elif not base.startswith(("ws://", "wss://")):
        base = "ws://" + base
    if not path:
        return base
    return base + (path if path.startswith("/") else "/" + path)


def _close_code(data: bytes) -> tuple[int, str]:
    if len(data) >= 2:
        code = struct.unpack("!H", data[:2])[0]
        return code, data[2:].decode("utf-8", "replace")
    return 1005, ""  # "no status received"


class WebSocketConnection:
    """One WebSocket connection that reports what happens on it through Locust's ``request`` event.

    :param url: ws:// or wss:// URL
    :param request_event: ``environment.events.request``
    :param context: returns the ``context`` dict passed with every event (for example
        ``user.context``), so listeners can tell whose connection it was
    :param reply_timeout: seconds :meth:`request` waits for a reply (and for a connection)
    :param connect_timeout: seconds for the TCP connect and the opening handshake
    :param refusal_codes: close codes reported as ``refused (close N)``
    :param reconnect: reconnect after an unexpected close (refusals only with ``retry_refused``)
    :param retry_refused: also reconnect after a refusal close
    :param backoff_base: first reconnect delay in seconds, doubled per attempt ...
    :param backoff_max: ... up to this cap
    :param max_attempts: connection attempts per (re)connect before giving up
    :param on_connected: called with the connection after every successful (re)connect,
        from the greenlet that connected (use it to subscribe again)
    :param on_message: called with every decoded message that is neither a reply nor a
        broadcast delivery
    :param header: extra handshake headers
    """

    def __init__(
        self,
        url: str,
        request_event: Any,
        *,
        context: Callable[[], dict] | None = None,
        reply_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        refusal_codes: tuple[int, ...] = REFUSAL_CODES,
        reconnect: bool = True,
        retry_refused: bool = False,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        max_attempts: int = 8,
        on_connected: Callable[[WebSocketConnection], None] | None = None,
        on_message: Callable[[dict], None] | None = None,
        header: dict[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self._request_event = request_event
        self._context = context or dict
        self.reply_timeout = reply_timeout
        self.connect_timeout = connect_timeout
        self.refusal_codes = tuple(refusal_codes)
        self.reconnect_enabled = reconnect
        self.retry_refused = retry_refused
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_attempts = max(1, int(max_attempts))
        self.on_connected = on_connected
        self.on_message = on_message
        self.header = dict(header or {})
        self._rng = rng or random.Random()

        self._ws: Any = None  # websocket.WebSocket, loaded at run time
        self._receiver: gevent.Greenlet | None = None
        self._reconnector: gevent.Greenlet | None = None
        self._connected = Event()
        self._closing = False
        self._cut = False
        self._handler_failed = False
        self._pending: dict[tuple[Any, Any], AsyncResult] = {}
        self._next_id = 0

        self.gave_up = False
        """True once the connection stopped trying: attempts used up, refused, or upgrade refused."""
        self.last_error: str = ""
        self.last_close_code: int | None = None
        self.connects = 0
        self.reconnects = 0
        self.unexpected_closes = 0
        self.refused = 0
        self.messages_in = 0
        self.messages_out = 0
        self.reconnected = Event()
        """Set after every successful reconnect (clear it, cut, then wait on it)."""

    # -- state ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def live_greenlets(self) -> int:
        """How many of this connection's greenlets (receive loop, reconnect) are still running."""
        return sum(1 for g in (self._receiver, self._reconnector) if g is not None and not g.dead)

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until the connection is open; False on timeout."""
        return self._connected.wait(timeout)

    # -- reporting -----------------------------------------------------------------------------

    def _fire(self, name: str, response_time: float | None, length: int = 0,
              exception: BaseException | None = None) -> None:
        self._request_event.fire(
            request_type=REQUEST_TYPE, name=name, response_time=response_time,
            response_length=length, exception=exception, context=self._context(),
        )

    # -- connecting ----------------------------------------------------------------------------

    def connect(self) -> bool:
        """Open the connection once; report ``connect``; True when it is open.

        An HTTP answer instead of the upgrade sets :attr:`gave_up` (retrying cannot help).
        """
        if self._closing:
            return False
        start = time.perf_counter()
        ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
        try:
            ws.connect(self.url, timeout=self.connect_timeout, header=self.header or None)
        except websocket.WebSocketBadStatusException as exc:
            ws.shutdown()
            status = f"HTTP {exc.status_code} {exc.status_message or ''}".strip()
            refused = WebSocketUpgradeRefused(f"{self.url} refused the WebSocket upgrade: {status}")
            self.last_error = str(refused)
            self.gave_up = True
            self._fire("connect", (time.perf_counter() - start) * 1000, 0, refused)
            return False
        except (OSError, websocket.WebSocketException, ValueError) as exc:
            ws.shutdown()
            error = ConnectionError(f"cannot connect to {self.url}: {exc or type(exc).__name__}")
            self.last_error = str(error)
            self._fire("connect", (time.perf_counter() - start) * 1000, 0, error)
            return False
        ws.settimeout(None)
        self._cut = False
        self._ws = ws
        self.connects += 1
        self._fire("connect", (time.perf_counter() - start) * 1000, 0, None)
        self._connected.set()
        self._receiver = gevent.spawn(self._receive_loop, ws)
        if self.on_connected is not None:
            self.on_connected(self)
        return True

    def connect_with_retry(self) -> bool:
        """:meth:`connect` with capped exponential backoff, up to ``max_attempts`` tries."""
        for attempt in range(self.max_attempts):
            if self._closing or self.gave_up:
                return False
            if self.connect():
                return True
            if attempt + 1 < self.max_attempts and not self.gave_up:
                gevent.sleep(self.backoff(attempt))
        self.gave_up = True
        return False

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1``: base·2^attempt capped, with ±20% jitter."""
        delay = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return delay * self._rng.uniform(0.8, 1.2)

    # -- the receive loop -----------------------------------------------------------------------

    def _receive_loop(self, ws: Any) -> None:
        code, reason = CLOSE_ABNORMAL, "connection ended without a close frame"
        try:
            while True:
                opcode, data = ws.recv_data(control_frame=True)
                if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                    self._handle(data)
                elif opcode == websocket.ABNF.OPCODE_CLOSE:
                    code, reason = _close_code(data)
                    break
        except gevent.GreenletExit:
            raise
        except (OSError, websocket.WebSocketException, ValueError) as exc:
            if self._cut:
                reason = "socket cut by the client without a close frame"
            elif not isinstance(exc, websocket.WebSocketConnectionClosedException):
                reason = f"{type(exc).__name__}: {exc}"
        self._closed(ws, code, reason)

    def _handle(self, data: bytes | str) -> None:
        now = time.time()
        self.messages_in += 1
        self._fire("messages in", None, len(data))
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self._deliver({"op": None, "raw": data})
            return
        op = message.get("op")
        waiter = self._pending.get((op, message.get("id")))
        if waiter is not None:
            waiter.set((message, len(data)))
            return
        if op == "broadcast" and isinstance(message.get("server_ts"), (int, float)):
            self._fire("broadcast delivery", max(0.0, (now - message["server_ts"]) * 1000), len(data))
        elif op == "error":
            self._fire("server error", None, len(data), WebSocketServerError(str(message.get("error"))))
        else:
            self._deliver(message)

    def _deliver(self, message: dict) -> None:
        """Hand ``message`` to ``on_message``; a bug there is logged once, and the loop goes on."""
        if self.on_message is None:
            return
        try:
            self.on_message(message)
        except Exception:
            if not self._handler_failed:
                self._handler_failed = True
                log.exception("on_message handler failed (logged once per connection)")

    def _closed(self, ws: Any, code: int, reason: str) -> None:
        """The socket ``ws`` ended (closed by the server, cut, or reset)."""
        if ws is not self._ws:
            return
        self._connected.clear()
        self._ws = None
        self.last_close_code = code
        ws.shutdown()
        if self._closing:
            return
        refused = code in self.refusal_codes
        detail = f" ({reason})" if reason else ""
        if refused:
            self.refused += 1
            error: WebSocketClosed = WebSocketRefused(f"server refused the connection with close code {code}{detail}", code)
            self._fire(f"refused (close {code})", None, 0, error)
        else:
            self.unexpected_closes += 1
            error = WebSocketClosed(f"connection closed unexpectedly with code {code}{detail}", code)
            self._fire("closed unexpectedly", None, 0, error)
        self.last_error = str(error)
        self._fail_pending(error)
        if self.reconnect_enabled and (not refused or self.retry_refused):
            self._reconnector = gevent.spawn(self._reconnect)
        else:
            self.gave_up = True

    def _reconnect(self) -> None:
        start = time.perf_counter()
        for attempt in range(self.max_attempts):
            gevent.sleep(self.backoff(attempt))
            if self._closing or self.gave_up:
                return
            if self.connect():
                self.reconnects += 1
                self._fire("reconnect", (time.perf_counter() - start) * 1000, 0, None)
                self.reconnected.set()
                return
        self.gave_up = True
        self._fire("reconnect", (time.perf_counter() - start) * 1000, 0,
                   ConnectionError(f"gave up reconnecting to {self.url} after {self.max_attempts} attempts: "
                                   f"{self.last_error}"))

    def _fail_pending(self, error: BaseException) -> None:
        for waiter in list(self._pending.values()):
            if not waiter.ready():
                waiter.set_exception(error)

    # -- sending ---------------------------------------------------------------------------------

    def send_text(self, text: str, report_unsent: bool = True) -> bool:
        """Send one text frame now (no waiting for a connection); report it in ``messages out``.

        A frame that cannot be sent because no connection is open (between a drop and the
        reconnect) is a ``messages out`` failure too, unless ``report_unsent`` is false (the
        caller reports the attempt under its own name)."""
        ws = self._ws
        if ws is None:
            if report_unsent:
                self._fire("messages out", None, 0,
                           ConnectionError(f"not connected to {self.url}: {self.last_error or 'connecting'}"))
            return False
        try:
            ws.send(text)
        except (OSError, websocket.WebSocketException) as exc:
            self._fire("messages out", None, 0, ConnectionError(f"send failed: {exc}"))
            ws.abort()  # the receive loop sees the end and handles the reconnect
            return False
        self.messages_out += 1
        self._fire("messages out", None, len(text))
        return True

    def send(self, message: dict) -> bool:
        """Send a JSON message without waiting for a reply."""
        return self.send_text(json.dumps(message))

    def request(self, op: str, payload: Any = None, name: str | None = None,
                extra: dict | None = None, expect: str | None = None) -> dict | None:
        """Send ``{"op": op, "id": N, "payload": payload}`` and wait for its reply.

        The round trip is reported as ``name`` (default ``rtt <op>``). Returns the reply, or
        ``None`` after reporting a failure (not connected, closed, timed out).
        """
        name = name or f"rtt {op}"
        if not self._connected.wait(self.reply_timeout):
            self._fire(name, None, 0, ConnectionError(f"not connected to {self.url}: {self.last_error or 'connecting'}"))
            return None
        self._next_id += 1
        msg_id = self._next_id
        message = {"op": op, "id": msg_id}
        if payload is not None:
            message["payload"] = payload
        if extra:
            message.update(extra)
        return self._round_trip(json.dumps(message), (expect or _REPLY_OPS.get(op, op), msg_id), name)

    def subscribe(self) -> bool:
        """Join the broadcast channel (reference target protocol); True on ``subscribed``."""
        if not self._connected.wait(self.reply_timeout):
            self._fire("rtt subscribe", None, 0,
                       ConnectionError(f"not connected to {self.url}: {self.last_error or 'connecting'}"))
            return False
        return self._round_trip(json.dumps({"op": "subscribe"}), ("subscribed", None), "rtt subscribe") is not None

    def _round_trip(self, text: str, key: tuple[str, Any], name: str) -> dict | None:
        waiter = AsyncResult()
        self._pending[key] = waiter
        start = time.perf_counter()
        try:
            if not self.send_text(text, report_unsent=False):
                self._fire(name, None, 0, ConnectionError(f"not connected to {self.url}"))
                return None
            try:
                message, length = waiter.get(timeout=self.reply_timeout)
            except gevent.Timeout:
                self._fire(name, (time.perf_counter() - start) * 1000, 0,
                           WebSocketReplyTimeout(f"no reply within {self.reply_timeout:g}s"))
                return None
            except WebSocketClosed as exc:
                self._fire(name, (time.perf_counter() - start) * 1000, 0, exc)
                return None
            self._fire(name, (time.perf_counter() - start) * 1000, length)
            return message
        finally:
            self._pending.pop(key, None)

    def ping(self) -> bool:
        """Send a ping control frame (keeps a silent connection from being idle-closed)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            ws.ping()
            return True
        except (OSError, websocket.WebSocketException):
            ws.abort()
            return False

    # -- faults and closing ----------------------------------------------------------------------

    def cut(self) -> bool:
        """Shut the TCP socket down abruptly, without a close frame (fault injection).

        The peer sees the connection end with no close handshake (a reset once the socket is
        closed); this connection reports ``closed unexpectedly`` (code 1006) and reconnects
        as after any other drop. Returns False when there was no open socket to cut.
        """
        ws = self._ws
        sock = ws.sock if ws is not None else None
        if sock is None:
            return False
        self._cut = True
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            return False
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Kill the receive (and reconnect) greenlet, then close politely (status 1000)."""
        self._closing = True
        for greenlet in (self._reconnector, self._receiver):
            if greenlet is not None and greenlet is not gevent.getcurrent():
                greenlet.kill(block=True, timeout=timeout)
        ws, self._ws = self._ws, None
        self._connected.clear()
        self._fail_pending(WebSocketClosed("connection closed by the client", 1000))
        if ws is not None:
            try:
                ws.close(timeout=timeout)
            except (OSError, websocket.WebSocketException, ValueError):
                pass
            finally:
                ws.shutdown()
