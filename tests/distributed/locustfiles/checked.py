"""Test locustfile for distributed runs: one small API user, distributed checks on.

Each request is named after the worker that sent it (``STRESSKIT_TEST_LABEL``), so the master's
aggregated stats show which workers carried load and when.
"""

import os

from locust import FastHttpUser, constant, events, task

from stresskit.cluster.distributed import use_distributed_checks

use_distributed_checks(events, hello_timeout=float(os.environ.get("STRESSKIT_TEST_HELLO_TIMEOUT", "10")))

LABEL = os.environ.get("STRESSKIT_TEST_LABEL", "worker")


class LabelledApiUser(FastHttpUser):
    wait_time = constant(0.2)

    @task
    def items(self):
        self.client.get("/api/items?limit=5", name=f"/api/items [{LABEL}]")
