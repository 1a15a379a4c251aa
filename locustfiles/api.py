"""API callers against the reference target (or your own API with --host).

    locust -f locustfiles/api.py --headless -u 20 -r 5 -t 1m

With no --host in a local run, the demo target (and Redis, for /api/cache) is started on
loopback for the run. The mix is ``stresskit.users.api.REFERENCE_ENDPOINTS``; throttled
requests show up as ``<name> (throttled)`` entries, not as failures.
"""

from locust import events

from stresskit.core.options import register_options
from stresskit.observe.finalcsv import use_final_csv
from stresskit.run.embedded import use_embedded_target
from stresskit.users.api import add_arguments
from stresskit.users.reference import ReferenceApiUser  # noqa: F401  (the user Locust runs)

register_options(events, add_arguments)
use_final_csv(events)
use_embedded_target(events)
