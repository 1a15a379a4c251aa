"""The target's WebSocket endpoint: echo with the server's timestamp, broadcast fan-out,
a connection limit (close code 1013) and idle-connection cleanup (close code 4000).

Protocol (JSON text frames):

- ``{"op": "echo", "id": X, "payload": P}`` → ``{"op": "echo", "id": X, "payload": P, "server_ts": T}``
- ``{"op": "subscribe"}`` → ``{"op": "subscribed", "subscribers": N}``; ``{"op": "unsubscribe"}``
- ``{"op": "broadcast", "id": X, "payload": P}`` → every subscriber gets
  ``{"op": "broadcast", "id": X, "payload": P, "server_ts": T}``; the sender gets
  ``{"op": "broadcast_ack", "id": X, "delivered": N}``
- anything else → ``{"op": "error", "error": "..."}`` (the connection stays open)

``server_ts`` is the server's ``time.time()`` when it handled the message.
"""

from __future__ import annotations

import json
import time

from aiohttp import WSMsgType, web

from stresskit.target.config import WS_CLOSE_IDLE, WS_CLOSE_LIMIT

MAX_MESSAGE_BYTES = 1 << 20


class WebSocketHub:
    """Tracks open connections and broadcast subscribers of one target process."""

    def __init__(self, max_connections: int, idle_timeout: float) -> None:
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.connections: set[web.WebSocketResponse] = set()
        self.subscribers: set[web.WebSocketResponse] = set()
        self.refused = 0
        self.idle_closed = 0
        self.dropped = 0

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True)
        await ws.prepare(request)
        if len(self.connections) >= self.max_connections:
            self.refused += 1
            await ws.close(code=WS_CLOSE_LIMIT, message=b"connection limit reached")
            return ws
        self.connections.add(ws)
        try:
            await self._serve(ws)
        finally:
            self.connections.discard(ws)
            self.subscribers.discard(ws)
        return ws

    async def _serve(self, ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            try:
                msg = await ws.receive(timeout=self.idle_timeout)
            except TimeoutError:
                self.idle_closed += 1
                await ws.close(code=WS_CLOSE_IDLE, message=b"idle timeout")
                return
            if msg.type == WSMsgType.TEXT:
                await self._dispatch(ws, msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_json({"op": "error", "error": "binary frames are not supported"})
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return

    async def _dispatch(self, ws: web.WebSocketResponse, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            await ws.send_json({"op": "error", "error": "message is not JSON"})
            return
        if not isinstance(message, dict):
            await ws.send_json({"op": "error", "error": "message must be a JSON object"})
            return
        op = message.get("op")
        now = time.time()
        if op == "echo":
            await ws.send_json(
                {"op": "echo", "id": message.get("id"), "payload": message.get("payload"), "server_ts": now}
            )
        elif op == "subscribe":
            self.subscribers.add(ws)
            await ws.send_json({"op": "subscribed", "subscribers": len(self.subscribers)})
        elif op == "unsubscribe":
            self.subscribers.discard(ws)
            await ws.send_json({"op": "unsubscribed"})
        elif op == "broadcast":
            delivered = await self.broadcast(
                {"op": "broadcast", "id": message.get("id"), "payload": message.get("payload"), "server_ts": now}
            )
            await ws.send_json({"op": "broadcast_ack", "id": message.get("id"), "delivered": delivered})
        else:
            await ws.send_json({"op": "error", "error": f"unknown op {op!r}"})

    async def broadcast(self, message: dict) -> int:
        """Send ``message`` to every subscriber; return how many it reached."""
        text = json.dumps(message)
        delivered = 0
        for sub in list(self.subscribers):
            if sub.closed:
                self.subscribers.discard(sub)
                continue
            try:
                await sub.send_str(text)
                delivered += 1
            except (ConnectionError, RuntimeError):
                self.subscribers.discard(sub)
        return delivered

    def drop_all(self) -> int:
        """Cut every connection without a close frame (fault injection); return how many."""
        count = 0
        for ws in list(self.connections):
            transport = ws._req.transport if ws._req is not None else None
            if transport is not None:
                transport.abort()
                count += 1
        self.dropped += count
        return count

    async def close_all(self) -> None:
        for ws in list(self.connections):
            await ws.close(code=1001, message=b"server shutdown")
