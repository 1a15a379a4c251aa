"""A production-like locustfile for runs across namespace hosts: all four client kinds, the
scenario shape, the page quota, criteria, the collector and the distributed checks.

API, WebSocket and cache users are stresskit's own; the page processor fetches a page's rows
over HTTP (``/api/pages/N/rows``) instead of rendering it in Chromium, as in
tests/e2e/locustfiles/scenario_mix.py: these runs test the distribution of shapes, quotas and
figures, and a browser per page user would not fit 2 CPU cores next to five hosts.
``STRESSKIT_TEST_PAGE_WAIT`` is the pause between pages (default 1 s).
"""

import os

import gevent
from locust import FastHttpUser, constant, events, task

from shapes import SelectedScenario  # noqa: F401  (first shape imported: --scenario picks the scenario)
from stresskit.cluster import quota
from stresskit.cluster.distributed import use_distributed_checks
from stresskit.core.options import register_options
from stresskit.observe.collector import use_collector
from stresskit.run.criteria import use_criteria
from stresskit.run.shape import use_scenarios
from stresskit.users import ApiUser, CacheUser, WebSocketUser
from stresskit.users import api as api_users
from stresskit.users import cache as cache_users
from stresskit.users import websocket as ws_users

use_scenarios(events)
use_criteria(events)
use_collector(events)
use_distributed_checks(events)
quota.use_page_quota(events)
register_options(events, quota.add_arguments, ws_users.add_arguments, cache_users.add_arguments)
events.init.add_listener(cache_users.init_cache_hit_rate)

PAGE_WAIT = float(os.environ.get("STRESSKIT_TEST_PAGE_WAIT", "1.0"))


class Api(ApiUser):
    wait_time = constant(0.2)
    endpoints = api_users.REFERENCE_ENDPOINTS


class Chat(WebSocketUser):
    wait_time = constant(0.3)

    @task
    def chat(self):
        self.echo({"text": "hello"})


class Sessions(CacheUser):
    wait_time = constant(0.1)
    key_space = 20
    key_prefix = "hosts:"
    read_ratio = 0.8


class HttpPages(FastHttpUser):
    kind = "browser"
    wait_time = constant(PAGE_WAIT)

    def on_start(self):
        self.quota = quota.page_quota_of(self.environment)
        self.grant = None

    def on_stop(self):
        if self.grant is not None:
            self.quota.release(self.grant)

    @task
    def process_next_page(self):
        grant = self.quota.acquire()
        if grant.status != "page":
            gevent.sleep(0.2)
            return
        self.grant = grant
        with self.client.get(f"/api/pages/{grant.page}/rows", name="/api/pages/[n]/rows",
                             catch_response=True) as resp:
            if resp.status_code == 200 and resp.json().get("rows"):
                self.quota.complete(grant)
            else:
                resp.failure(f"status {resp.status_code}")
                self.quota.fail(grant)
        self.grant = None
