"""A team's own locustfile: subclasses of the abstract users, ``use_stresskit(events)``, no shape import.

``--scenario`` must work without importing a shape (``use_stresskit`` provides SelectedScenario).
tests/e2e/test_use_stresskit.py runs it; tests/e2e/test_wheel_install.py runs a copy from an
installed wheel. ``OWN_SHAPE=plain`` adds a shape of the user's own (not a scenario shape);
``OWN_SHAPE=light`` imports only the light scenario's shape.
"""

import os

from locust import LoadTestShape, constant, events, task

from stresskit.compose import use_stresskit
from stresskit.users import ApiUser, WebSocketUser
from stresskit.users.api import REFERENCE_ENDPOINTS

use_stresskit(events, faults=False, embedded_target=False)


class Catalogue(ApiUser):
    wait_time = constant(0.1)
    endpoints = REFERENCE_ENDPOINTS


class Chat(WebSocketUser):
    wait_time = constant(0.2)

    @task
    def chat(self):
        self.echo({"text": "hello"})


if os.environ.get("OWN_SHAPE") == "plain":

    class TwoUsersForThreeSeconds(LoadTestShape):
        """A shape of the user's own: two users for three seconds."""

        def tick(self):
            return (2, 2) if self.get_run_time() < 3 else None

elif os.environ.get("OWN_SHAPE") == "light":
    from stresskit.shapes import LightShape  # noqa: F401
