"""The production mix against the reference target (or your backend with --host).

    locust -f locustfiles/production.py --headless

With no --host in a local run, the demo target (and Redis) are started on loopback for the run.
"""

from locust import FastHttpUser, between, events, task

from stresskit.embedded import use_embedded_target

use_embedded_target(events)


class ApiCaller(FastHttpUser):
    wait_time = between(0.1, 0.5)

    @task(5)
    def list_items(self):
        self.client.get("/api/items?limit=10")

    @task(2)
    def search(self):
        self.client.get("/api/search?q=alpha", name="/api/search")
