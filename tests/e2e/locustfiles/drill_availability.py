"""API, WebSocket and cache users under a scenario shape, judged with per-kind availability.

Used by tests/e2e/test_drills_availability.py as a real ``locust`` process:

    locust -f tests/e2e/locustfiles/drill_availability.py --headless --host URL --redis-url URL \
        --scenario-file FILE --scenario drill --csv PREFIX

Everything but the page processors, the fault injector, the collector and the embedded target is
wired with ``use_stresskit``, as a team's own locustfile would do. Users are short-waiting so
each one-second window holds requests of every kind.
"""

import os

from locust import constant, events, task

from stresskit.compose import use_stresskit
from stresskit.users import ApiUser, CacheUser, WebSocketUser
from stresskit.users import api as api_users
from stresskit.users.api import Endpoint

use_stresskit(events, faults=False, collector=False, latency=False, web_login=False, embedded_target=False)


class Api(ApiUser):
    wait_time = constant(0.1)
    # DRILL_API_PATH: a plain GET of that path instead of the reference target's endpoint mix
    # (for a backend that is not the reference target, e.g. Python's http.server)
    endpoints = (Endpoint("GET", os.environ["DRILL_API_PATH"]),) if os.environ.get("DRILL_API_PATH") \
        else api_users.REFERENCE_ENDPOINTS


class Chat(WebSocketUser):
    wait_time = constant(0.2)
    backoff_max = 2.0

    @task
    def chat(self):
        self.echo({"text": "hello"})


class Sessions(CacheUser):
    wait_time = constant(0.05)
    key_space = 40
    read_ratio = 0.7
