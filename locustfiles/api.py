"""API callers against the reference target (or your own API with --host).

    locust -f locustfiles/api.py --headless -u 20 -r 5 -t 1m

With no --host in a local run, the demo target (and Redis, for /api/cache) is started on
loopback for the run. The mix is ``stresskit.users.api.REFERENCE_ENDPOINTS``; throttled
requests show up as ``<name> (throttled)`` entries, not as failures.
"""

from locust import between, events

from stresskit.embedded import use_embedded_target
from stresskit.options import register_options
from stresskit.users.api import REFERENCE_ENDPOINTS, ApiUser, add_arguments

register_options(events, add_arguments)
use_embedded_target(events)


class ReferenceApiUser(ApiUser):
    """Reads, searches, writes and cache-backed reads in the reference target's proportions."""

    wait_time = between(0.1, 0.5)
    endpoints = REFERENCE_ENDPOINTS
