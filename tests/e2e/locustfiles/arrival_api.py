"""One API user class under a scenario shape, with arrival rates, criteria and latency sketches.

Used by tests/e2e/test_arrival_runs.py and benchmarks/bench_arrival.py as a real ``locust``
process against a server of the test's own (``GET /``):

    locust -f tests/e2e/locustfiles/arrival_api.py --headless --host URL \
        --scenario-file FILE --scenario NAME --csv PREFIX

A stage that gives ``api`` a rate runs it open-model; one with a user count runs it closed-model
(each user waits ``E2E_API_WAIT`` seconds, default 0.01, between requests).
"""

import os

from locust import constant, events

from shapes import SelectedScenario  # noqa: F401
from stresskit.arrival import use_arrival
from stresskit.observe.latency import use_latency
from stresskit.run.criteria import use_criteria
from stresskit.run.shape import use_scenarios
from stresskit.users import ApiUser
from stresskit.users.api import Endpoint

use_scenarios(events)
use_criteria(events)
use_arrival(events)
use_latency(events)


class Api(ApiUser):
    wait_time = constant(float(os.environ.get("E2E_API_WAIT", "0.01")))
    endpoints = (Endpoint("GET", "/", name="/"),)
