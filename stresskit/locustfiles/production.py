"""The production mix: WebSocket clients, API callers, cache clients and browser page processors.

    locust -f locustfiles/production.py --headless                       # light scenario, demo target
    locust -f locustfiles/production.py --headless --scenario production --time-scale 0.01
    locust -f locustfiles/production.py --headless --host https://staging.example --redis-url redis://...

The scenario (``--scenario``, default ``light``; see stresskit/data/scenarios.toml) decides how many users
of each kind run, for how long, how many pages are processed and which faults are injected. With
no ``--host`` in a local run, the demo target (and Redis) are started on loopback for the run.
``--class-picker`` lets the web UI choose one shape per scenario.
"""

from locust import events

from stresskit.compose import use_stresskit

# isort: off
from stresskit.shapes import (  # noqa: F401  (SelectedScenario first: the class picker's default)
    SelectedScenario,
    LightShape,
    MediumShape,
    HeavyShape,
    ProductionShape,
    EnduranceShape,
)
# isort: on
from stresskit.users.reference import (  # noqa: F401
    ReferenceApiUser,
    ReferenceCacheUser,
    ReferencePageUser,
    ReferenceWebSocketUser,
)

use_stresskit(events)
