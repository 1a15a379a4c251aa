"""One plain HTTP API user with stresskit's failure injection and criteria: the rate_limiting burst drill.

    locust -f tests/e2e/locustfiles/burst_api.py --headless --host URL -u 2 -r 2 -t 6s \
        --failure-rate 0.5 --faults rate_limiting --csv PREFIX
"""

from locust import HttpUser, constant, events, task

from stresskit.faults import use_faults
from stresskit.observe.finalcsv import use_final_csv
from stresskit.run.criteria import use_criteria

use_criteria(events)
use_faults(events)
use_final_csv(events)  # the _stats.csv holds every request, to the last one


class Plain(HttpUser):
    wait_time = constant(0.05)

    @task
    def items(self):
        self.client.get("/api/items")
