"""Test locustfile without stresskit's distributed checks (a worker running it differs from the master)."""

from locust import FastHttpUser, constant, task


class LabelledApiUser(FastHttpUser):
    wait_time = constant(0.2)

    @task
    def items(self):
        self.client.get("/api/items?limit=5", name="/api/items [unchecked]")
