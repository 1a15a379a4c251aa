"""Two named requests, for the stats-history side file test: the side file opted in, nothing else."""

from locust import FastHttpUser, constant, events, task

from stresskit.observe.historyside import use_history_side_file

use_history_side_file(events)


class Steady(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def health(self):
        self.client.get("/healthz")

    @task
    def missing(self):
        with self.client.get("/no-such-page", catch_response=True) as response:
            response.failure("expected: a failure in the history")
