"""A plain FastHttpUser locustfile for the report's tests: a few named endpoints, one that always
fails (404), and the precise latency recorder switched on."""

from locust import FastHttpUser, constant, events, task

from stresskit.observe.latency import use_latency

use_latency(events, window_s=2.0, grace_s=3.0)


class ReportUser(FastHttpUser):
    wait_time = constant(0.01)

    @task(5)
    def items(self):
        self.client.get("/api/items?limit=5", name="/api/items")

    @task(3)
    def item(self):
        self.client.get("/api/items/3", name="/api/items/[id]")

    @task(1)
    def search(self):
        self.client.get("/api/search?q=item", name="/api/search")

    @task(1)
    def missing(self):
        self.client.get("/api/does-not-exist", name="/api/missing")
