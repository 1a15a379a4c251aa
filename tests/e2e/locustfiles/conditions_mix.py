"""scenario_mix.py's four user kinds with stresskit's failure injection, scenario conditions and the
embedded demo system (target behind the fault proxy, Redis, a fault-enabled agent) when no --host is given.

Used by tests/e2e/test_drills_conditions.py:

    locust -f tests/e2e/locustfiles/conditions_mix.py --headless --scenario heavy --host URL ...
"""

from locust import events

from shapes import EnduranceShape, HeavyShape, LightShape, MediumShape, ProductionShape, SelectedScenario  # noqa: F401
from stresskit.core.options import register_options
from stresskit.faults import use_faults
from stresskit.run.embedded import use_embedded_target
from stresskit.users import cache as cache_users
from tests.e2e.locustfiles.scenario_mix import Api, Chat, HttpPages, Sessions  # noqa: F401

register_options(events, cache_users.add_arguments)  # --redis-url: the embedded Redis when no --host
use_faults(events)
use_embedded_target(events)
