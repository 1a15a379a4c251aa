"""``WebSocketUser``: an abstract Locust user holding one or more WebSocket connections.

Subclass it like Locust's ``HttpUser``::

    class ChatUser(WebSocketUser):
        wait_time = between(0.5, 2)
        subscribe = True

        @task
        def chat(self):
            self.echo({"text": "hello"})

Each connection is a :class:`stresskit.clients.websocket.WebSocketConnection` with one
receive-loop greenlet; ``on_stop`` kills those greenlets and closes every connection. What
the stats show is listed in that module's docstring.

Connection-limit mode: with ``connections_per_user = N`` (or ``--ws-connections-per-user``)
one user opens N connections; the first one runs the tasks, the others are held open with
pings. A connection the server refuses (a close code in ``refusal_codes``, 1013 on the
reference target) is recorded as ``refused (close 1013)`` and not retried, so the target's
limit is the number of ``connect`` successes minus ``refused`` failures.

Every knob is a class attribute; the command-line options below override them for all
WebSocket users of a run (see :func:`add_arguments`).
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
from locust import User
from locust.exception import StopUser

from stresskit.clients.websocket import REFUSAL_CODES, WebSocketConnection, websocket_url
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import positive_float, positive_int, setting
from stresskit.core.perrun import log_once

__all__ = ["WebSocketUser", "add_arguments"]

log = logging.getLogger("stresskit.users.websocket")


def add_arguments(parser: Any) -> None:
    """Add the WebSocket user options to Locust's parser (each with a ``STRESSKIT_*`` variable)."""
    parser.add_argument("--ws-url", env_var="STRESSKIT_WS_URL", default=None,
                        help="WebSocket URL (ws:// or wss://); default: --host with http→ws and --ws-path")
    parser.add_argument("--ws-path", env_var="STRESSKIT_WS_PATH", default=None,
                        help="path of the WebSocket endpoint on --host (default: the class's ws_path, /ws)")
    parser.add_argument("--ws-connections-per-user", env_var="STRESSKIT_WS_CONNECTIONS_PER_USER", type=positive_int,
                        default=None, help="connections each WebSocket user holds (connection-limit mode when > 1)")
    parser.add_argument("--ws-reply-timeout", env_var="STRESSKIT_WS_REPLY_TIMEOUT", type=positive_float,
                        default=None, help="seconds to wait for a reply before recording a failure (default 10)")
    parser.add_argument("--ws-max-reconnect-delay", env_var="STRESSKIT_WS_MAX_RECONNECT_DELAY",
                        type=positive_float, default=None,
                        help="cap of the exponential reconnect backoff in seconds (default 10)")




class WebSocketUser(User):
    """A Locust user with WebSocket connections to ``host`` (see the module docstring)."""

    abstract = True
    kind = "websocket"

    ws_path: str = "/ws"
    """Path of the WebSocket endpoint on ``host``."""
    ws_url: str | None = None
    """Full ws:// URL; overrides ``host`` + ``ws_path``."""
    connections_per_user: int = 1
    """Connections this user holds; > 1 is connection-limit mode."""
    subscribe: bool = False
    """Join the broadcast channel on every (re)connect of the first connection."""
    reply_timeout: float = 10.0
    connect_timeout: float = 10.0
    keepalive_interval: float = 20.0
    """Seconds between pings on every connection (keeps held connections from idling out)."""
    reconnect: bool = True
    backoff_base: float = 0.5
    backoff_max: float = 10.0
    max_attempts: int = 8
    """Connection attempts per (re)connect before the connection gives up."""
    refusal_codes: tuple[int, ...] = REFUSAL_CODES
    retry_refused: bool = False
    handshake_headers: dict[str, str] | None = None

    def __init__(self, environment: RunEnvironment) -> None:
        super().__init__(environment)
        self.connections: list[WebSocketConnection] = []
        self.ws: WebSocketConnection | None = None
        self._keepalive: gevent.Greenlet | None = None

    # -- configuration -----------------------------------------------------------------------

    def url(self) -> str:
        """The WebSocket URL this user connects to."""
        env = self.environment
        explicit = setting(env, "ws_url", self.ws_url or "")
        if explicit:
            return explicit
        host = self.host or env.host or ""
        return websocket_url(host, setting(env, "ws_path", self.ws_path))

    def new_connection(self, url: str, primary: bool) -> WebSocketConnection:
        """Build (not open) one connection; override to customise."""
        env = self.environment
        return WebSocketConnection(
            url, env.events.request, context=self.context,
            reply_timeout=setting(env, "ws_reply_timeout", float(self.reply_timeout)),
            connect_timeout=self.connect_timeout,
            refusal_codes=tuple(self.refusal_codes),
            reconnect=self.reconnect, retry_refused=self.retry_refused,
            backoff_base=self.backoff_base,
            backoff_max=setting(env, "ws_max_reconnect_delay", float(self.backoff_max)),
            max_attempts=self.max_attempts,
            on_connected=self._on_primary_connected if primary else None,
            on_message=self.on_ws_message if primary else None,
            header=self.handshake_headers,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def on_start(self) -> None:
        """Open the connections; a user whose first connection cannot open stops (one log line)."""
        env = self.environment
        if not (self.host or env.host or setting(env, "ws_url", self.ws_url or "")):
            self.give_up("WebSocket users need a target: pass --host (or --ws-url / STRESSKIT_WS_URL)")
            return
        url = self.url()
        count = setting(env, "ws_connections_per_user", int(self.connections_per_user))
        self.ws = self.new_connection(url, primary=True)
        self.connections.append(self.ws)
        if not self.ws.connect_with_retry():
            self.give_up(f"WebSocket user gives up: {self.ws.last_error} "
                         f"(check --host / --ws-url and that the server accepts WebSocket upgrades)")
            return
        for _ in range(count - 1):
            if self.environment.runner is not None and self.environment.runner.state == "stopping":
                break
            conn = self.new_connection(url, primary=False)
            conn.reconnect_enabled = self.reconnect
            self.connections.append(conn)
            conn.connect()
        self._keepalive = gevent.spawn(self._keep_alive)

    def give_up(self, message: str) -> None:
        """Log ``message`` once per run and let this user stop before its next task (no traceback)."""
        log_once(self.environment, log, message)
        self.stop()

    def on_stop(self) -> None:
        """Kill every receive loop and close every connection."""
        if self._keepalive is not None:
            self._keepalive.kill(block=True, timeout=2)
            self._keepalive = None
        for conn in self.connections:
            conn.close()

    def _keep_alive(self) -> None:
        while True:
            gevent.sleep(self.keepalive_interval)
            for conn in list(self.connections):
                if conn.connected:
                    conn.ping()

    def _on_primary_connected(self, conn: WebSocketConnection) -> None:
        if self.subscribe:
            conn.subscribe()

    def on_ws_message(self, message: dict) -> None:
        """Called with each message on the first connection that is not a reply or broadcast."""

    # -- what tasks call -------------------------------------------------------------------------

    @property
    def held_connections(self) -> int:
        """Connections open right now."""
        return sum(1 for conn in self.connections if conn.connected)

    def _primary(self) -> WebSocketConnection:
        conn = self.ws
        if conn is None or conn.gave_up:
            if conn is not None:
                log_once(self.environment, log, f"WebSocket user stops: {conn.last_error}")
            raise StopUser()
        return conn

    def echo(self, payload: Any = None, name: str | None = None) -> dict | None:
        """Round trip an echo; reported as ``rtt echo``. Returns the reply or None."""
        return self._primary().request("echo", payload, name=name)

    def broadcast(self, payload: Any = None, name: str | None = None) -> dict | None:
        """Broadcast to every subscriber; the ack's round trip is ``rtt broadcast``."""
        return self._primary().request("broadcast", payload, name=name)

    def request(self, op: str, payload: Any = None, name: str | None = None, expect: str | None = None) -> dict | None:
        """Any request/reply op of your server's protocol."""
        return self._primary().request(op, payload, name=name, expect=expect)

    def send(self, message: dict) -> bool:
        """Send a JSON message without waiting for a reply."""
        return self._primary().send(message)

    def cut(self) -> int:
        """Cut every open connection without a close frame (fault injection); return how many.

        Each cut connection reports ``closed unexpectedly`` and reconnects with backoff; the
        reconnect time is the ``reconnect`` stats entry and ``conn.reconnected`` is set.
        """
        return sum(1 for conn in self.connections if conn.cut())
