"""Test locustfile: the web UI behind stresskit's password login (``--web-login``)."""

from locust import HttpUser, constant, events, task

from stresskit.observe.weblogin import use_web_login

use_web_login(events)


class Idle(HttpUser):
    wait_time = constant(1)

    @task
    def nothing(self):
        pass
