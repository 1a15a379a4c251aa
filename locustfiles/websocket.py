"""WebSocket clients against the reference target (or your own server with --host / --ws-url).

    locust -f locustfiles/websocket.py --headless -u 50 -r 10 -t 1m

With no --host in a local run, the demo target is started on loopback for the run. Each user
holds one connection, subscribes to the broadcast channel, mostly echoes and now and then
broadcasts; ``--ws-connections-per-user N`` turns on connection-limit mode.
"""

from itertools import count

from locust import between, events, task

from stresskit.embedded import use_embedded_target
from stresskit.options import register_options
from stresskit.users.websocket import WebSocketUser, add_arguments

register_options(events, add_arguments)
use_embedded_target(events)


class ReferenceWebSocketUser(WebSocketUser):
    """Echo round trips (``rtt echo``) and broadcasts (``rtt broadcast``, ``broadcast delivery``)."""

    wait_time = between(0.5, 1.5)
    subscribe = True

    def on_start(self) -> None:
        self._seq = count(1)
        super().on_start()

    @task(20)
    def echo_message(self) -> None:
        self.echo({"seq": next(self._seq), "text": "hello from stresskit"})

    @task(1)
    def broadcast_message(self) -> None:
        self.broadcast({"seq": next(self._seq), "text": "news for every subscriber"})
