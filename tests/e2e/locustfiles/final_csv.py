"""A user that keeps sending until the very end of the run, for the final-CSV test.

It counts every request it fires and writes the count to ``$FINAL_COUNT_FILE`` when Locust quits.
"""

import os

from locust import FastHttpUser, constant, events, task

from stresskit.observe.finalcsv import use_final_csv

use_final_csv(events)
fired = {"count": 0}


@events.request.add_listener
def count(**_):
    fired["count"] += 1


@events.quit.add_listener
def write_count(**_):
    with open(os.environ["FINAL_COUNT_FILE"], "w") as fh:
        fh.write(str(fired["count"]))


class Steady(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def health(self):
        self.client.get("/healthz")
