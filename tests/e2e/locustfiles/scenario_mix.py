"""All four user kinds against the reference target, driven by a scenario shape, with criteria.

Used by tests/e2e/test_scenario_runs.py and test_suite.py as a real ``locust`` process:

    locust -f tests/e2e/locustfiles/scenario_mix.py --headless --host URL --redis-url URL \
        --scenario light --time-scale 0.005 --csv PREFIX

API, WebSocket and cache users are stresskit's own classes. The page processor here fetches a
page's rows over HTTP (``/api/pages/N/rows``) instead of rendering it in Chromium: these runs
test shapes, quotas and criteria, and a browser per page user would not fit 2 CPU cores.
It takes pages from the shared quota like ``PageProcessorUser`` does.

Knobs for the tests (environment variables):

* ``E2E_REDIS_URL`` — the Redis server of the cache users;
* ``E2E_PAGE_WAIT`` — seconds a page user waits between pages (default 0.1);
* ``E2E_PAGES_HOST`` — a separate base URL for pages. When that backend is gone for good
  (``E2E_PAGE_ATTEMPTS`` connection failures in a row, default 5) the page user records a
  critical failure — the harness cannot recover a backend that never comes back — gives its
  page back and stops. Recorded into the run state directly, so local runs only.
"""

import os

import gevent
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

from shapes import EnduranceShape, HeavyShape, LightShape, MediumShape, ProductionShape, SelectedScenario  # noqa: F401
from stresskit.cluster import quota
from stresskit.core.options import register_options
from stresskit.core.runstate import run_state_of
from stresskit.observe.collector import use_collector
from stresskit.run.criteria import use_criteria
from stresskit.run.shape import use_scenarios
from stresskit.users import ApiUser, CacheUser, WebSocketUser
from stresskit.users import api as api_users
from stresskit.users import cache as cache_users
from stresskit.users import websocket as ws_users

use_scenarios(events)
use_criteria(events)
use_collector(events, web_ui=False)  # --agent URL: the target host's resource samples and alerts
quota.use_page_quota(events)
register_options(events, quota.add_arguments, ws_users.add_arguments)
events.init.add_listener(cache_users.init_cache_hit_rate)

PAGE_WAIT = float(os.environ.get("E2E_PAGE_WAIT", "0.1"))
PAGES_HOST = os.environ.get("E2E_PAGES_HOST") or None
PAGE_ATTEMPTS = int(os.environ.get("E2E_PAGE_ATTEMPTS", "5"))


class Api(ApiUser):
    wait_time = constant(0.1)
    endpoints = api_users.REFERENCE_ENDPOINTS


class Chat(WebSocketUser):
    wait_time = constant(0.2)

    @task
    def chat(self):
        self.echo({"text": "hello"})


class Sessions(CacheUser):
    redis_url = os.environ.get("E2E_REDIS_URL")
    wait_time = constant(0.05)
    key_space = 40
    key_prefix = f"e2e:{os.getpid()}:"  # every run starts with a cold cache
    read_ratio = 0.7


class HttpPages(FastHttpUser):
    """A page processor over HTTP (see the module docstring)."""

    kind = "browser"
    wait_time = constant(PAGE_WAIT)

    def on_start(self):
        self.quota = quota.page_quota_of(self.environment)
        self.grant = None
        self.base = PAGES_HOST or ""  # an absolute URL goes to that host instead of --host

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
        for _attempt in range(PAGE_ATTEMPTS):
            with self.client.get(f"{self.base}/api/pages/{grant.page}/rows", name="/api/pages/[n]/rows",
                                 catch_response=True) as resp:
                if resp.status_code == 200 and resp.json().get("rows"):
                    self.quota.complete(grant)
                    self.grant = None
                    return
                if resp.status_code:  # an answer, but a bad one: the page failed
                    resp.failure(f"status {resp.status_code}")
                    self.quota.fail(grant)
                    self.grant = None
                    return
                resp.failure("backend unreachable")
            gevent.sleep(0.2)
        run_state_of(self.environment).record_critical(
            f"pages backend {self.base or self.host} unreachable after {PAGE_ATTEMPTS} attempts")
        self.quota.release(grant)
        self.grant = None
        raise StopUser()
