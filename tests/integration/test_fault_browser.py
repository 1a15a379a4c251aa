"""Browser faults against headless Chromium and the reference target's pages: each fault's real
effect in the user's own browser, and the page processor's real recovery, timed as RECOVERY entries.

One user, one browser, one test: the kinds run one after the other on the same session."""

import locust  # noqa: F401,I001  (gevent patching first)

import os
from functools import partial

import psutil
import pytest
from locust.env import Environment

from stresskit.faults.config import FaultConfig
from stresskit.faults.injector import FaultInjector
from stresskit.faults.log import attach_log
from stresskit.cluster.quota import page_quota_of
from stresskit.users.page import PageProcessorUser
from tests.support.wait import wait_for as poll_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


# the shared poll with this module's defaults: a browser recovery takes up to tens of seconds
wait_for = partial(poll_until, timeout=30.0, interval=0.05)


def count(env, name, kind="PAGE", failures=False) -> int:
    entry = env.stats.entries.get((name, kind))
    if entry is None:
        return 0
    return entry.num_failures if failures else entry.num_requests


class Pages(PageProcessorUser):
    restart_every_pages = 0
    memory_sample_interval = 0
    page_timeout = 10.0


def test_each_browser_fault_has_its_real_effect_and_the_user_recovers(target):
    env = Environment(user_classes=[Pages], host=target.url)
    runner = env.create_local_runner()
    page_quota_of(env).set_total(40)
    log = attach_log(env)
    injector = FaultInjector(env, FaultConfig(rate=0.0, recovery_limit=30.0))
    pages = "/pages/[page]"
    try:
        runner.start(1, spawn_rate=1)
        wait_for(lambda: count(env, pages) >= 1, what="the first page")
        user = [g.args[0] for g in runner.user_greenlets][0]

        # element_not_found: rows removed from the live page before they are located
        assert injector.inject(user, "element_not_found")
        wait_for(lambda: count(env, "element_not_found", "RECOVERY") == 1, what="recovery from element_not_found")
        assert count(env, "error: missing element", failures=True) >= 1

        # stale_element: located rows replaced before they are read → StaleElementReferenceException
        assert injector.inject(user, "stale_element")
        wait_for(lambda: count(env, "stale_element", "RECOVERY") == 1, what="recovery from stale_element")
        assert count(env, "error: stale element", failures=True) >= 1

        # javascript_error: a real uncaught error, found in Chromium's console log
        js_before = count(env, "js error", failures=True)
        assert injector.inject(user, "javascript_error")
        wait_for(lambda: count(env, "javascript_error", "RECOVERY") == 1, what="recovery from javascript_error")
        assert count(env, "js error", failures=True) == js_before + 1
        js_messages = [e for e in env.stats.errors.values() if e.name == "js error"]
        assert any("stresskit injected fault" in str(e.error) for e in js_messages)

        # browser_crash: the user's own chromedriver + Chromium tree is SIGKILLed and restarted
        old_pids = set(user.browser_pids())
        assert old_pids and all(os.getpid() in {p.pid for p in psutil.Process(pid).parents()} for pid in old_pids)
        assert injector.inject(user, "browser_crash")
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                       for pid in old_pids)
        wait_for(lambda: count(env, "browser_crash", "RECOVERY") == 1, what="recovery from browser_crash")
        assert count(env, "restart: crash") == 1
        new_pids = set(user.browser_pids())
        assert new_pids and not (new_pids & old_pids)
    finally:
        runner.quit()
        injector.remove()

    kinds = ["element_not_found", "stale_element", "javascript_error", "browser_crash"]
    for kind in kinds:
        recovery = env.stats.entries[(kind, "RECOVERY")]
        assert recovery.num_failures == 0 and recovery.max_response_time < 30_000
    injected = [r for r in log.rows if r["event"] == "injected"]
    recovered = [r for r in log.rows if r["event"] == "recovered"]
    assert [r["kind"] for r in injected] == kinds
    assert [r["kind"] for r in recovered] == kinds
    assert all(r["user"] == "w0/Pages/0" and r["worker"] == "local" for r in injected + recovered)
    # the armed faults say what they really did in the page
    assert "removed" in recovered[0]["detail"] and "replaced" in recovered[1]["detail"]
    assert "SIGKILL" in injected[3]["detail"]
    assert injector.stats["critical"] == 0
