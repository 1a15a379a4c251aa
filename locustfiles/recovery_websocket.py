"""WebSocket drops at scale: the target cuts every WebSocket at once without a close frame
(POST /admin/ws/drop), and every user must notice and reconnect.

    locust -f locustfiles/recovery_websocket.py --headless -u 200 -r 50 -t 30s --csv run \\
        --recovery-at 10 --recovery-every 8

Each user's time from the drop to its next successful round trip is ``RECOVERY
websocket_drop_all``; the client's own ``reconnect`` entry times the reconnects.
"""

from itertools import count

from locust import constant, events, task

from stresskit.core.options import register_options
from stresskit.faults import use_faults
from stresskit.faults.recovery import use_recovery
from stresskit.run.embedded import use_managed_target
from stresskit.users.websocket import WebSocketUser, add_arguments

register_options(events, add_arguments)
use_managed_target(events)
use_faults(events)
use_recovery(events, "websocket_drop_all")


class RecoveringWebSocketUser(WebSocketUser):
    wait_time = constant(0.2)
    subscribe = True
    backoff_base = 0.1
    backoff_max = 2.0

    def on_start(self) -> None:
        self._seq = count(1)
        super().on_start()

    @task
    def echo_message(self) -> None:
        self.echo({"seq": next(self._seq)})
