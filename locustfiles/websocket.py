"""WebSocket clients against the reference target (or your own server with --host / --ws-url).

    locust -f locustfiles/websocket.py --headless -u 50 -r 10 -t 1m

With no --host in a local run, the demo target is started on loopback for the run. Each user
holds one connection, subscribes to the broadcast channel, mostly echoes and now and then
broadcasts; ``--ws-connections-per-user N`` turns on connection-limit mode.
"""

from locust import events

from stresskit.core.options import register_options
from stresskit.observe.finalcsv import use_final_csv
from stresskit.run.embedded import use_embedded_target
from stresskit.users.reference import ReferenceWebSocketUser  # noqa: F401  (the user Locust runs)
from stresskit.users.websocket import add_arguments

register_options(events, add_arguments)
use_final_csv(events)
use_embedded_target(events)
