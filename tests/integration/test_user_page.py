"""PageProcessorUser in a real Locust LocalRunner, driving real headless Chromium against the
reference target: pages and rows, and every recovery path under the real condition (killed
browser processes, DOM nodes replaced or removed, an uncaught JavaScript error, proactive and
memory restarts) plus a missing chromedriver."""

import locust  # noqa: F401,I001  (gevent patching first)

import logging
import time

import gevent
import psutil
import pytest
from locust.env import Environment
from locust.event import Events

from stresskit.events import stresskit_events_of
from stresskit.cluster.quota import page_quota_of
from stresskit.core.runstate import run_state_of
from stresskit.target.pages import page_rows
from stresskit.users.page import PageProcessorUser

ROWS_PER_PAGE = 20  # the reference target's default
PAGE = "/pages/[page]"


def run_pages(user_class, host, pages, users=1, timeout=90.0):
    """Run ``users`` of ``user_class`` in a LocalRunner until the quota of ``pages`` is done and
    every user stopped itself (users stop on their own once the quota says ``done``)."""
    env = Environment(user_classes=[user_class], host=host, events=Events())
    runner = env.create_local_runner()
    quota = page_quota_of(env)
    quota.set_total(pages)
    completed = []
    stresskit_events_of(env).page_completed.add_listener(lambda page, rows, **_: completed.append((page, rows)))
    runner.start(users, spawn_rate=users)
    deadline = time.monotonic() + timeout
    gevent.sleep(0.1)
    while (not quota.done or runner.user_count) and time.monotonic() < deadline:
        gevent.sleep(0.05)
    remaining = runner.user_count
    runner.quit()
    assert quota.done, f"quota not done in {timeout}s: {quota.completed}/{quota.total} completed"
    assert remaining == 0, "users did not stop by themselves after the quota was done"
    return env, completed


def entry(env, name):
    return env.stats.get(name, "PAGE")


def gone(pids):
    """True when none of ``pids`` is a running (non-zombie) process."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def wait_gone(pids, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not gone(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return gone(pids)


@pytest.mark.browser
def test_processes_pages_extracts_rows_and_quits_browser(target):
    seen = {}
    pids = set()

    class Pages(PageProcessorUser):
        def page_url(self, page):  # quota pages 1..4 → the target's last pages 37..40
            return f"{self.environment.host}/pages/{36 + page}"

        def on_page(self, page, result):
            pids.update(self.browser_pids())
            seen[36 + page] = result

    env, completed = run_pages(Pages, target.url, pages=4)

    assert sorted(p for p, _ in completed) == [1, 2, 3, 4]
    assert all(rows == ROWS_PER_PAGE for _, rows in completed)
    for page, result in seen.items():
        expected = page_rows(page, ROWS_PER_PAGE)
        assert [row["id"] for row in result.rows] == [str(r["id"]) for r in expected]
        assert [row["cells"] for row in result.rows] == [[str(r["id"]), r["name"], r["value"]] for r in expected]
        assert result.attempts == 1
        assert result.next_url == (f"{target.url}/pages/{page + 1}" if page < 40 else None)
    stats = entry(env, PAGE)
    assert (stats.num_requests, stats.num_failures) == (4, 0)
    assert stats.avg_content_length == ROWS_PER_PAGE
    assert env.stats.total.num_failures == 0
    state = run_state_of(env)
    assert (state.pages_total, state.pages_completed, state.pages_failed) == (4, 4, 0)
    # the user's own browser: chromedriver plus several Chromium processes, all gone after on_stop
    assert len(pids) >= 3
    assert wait_gone(pids), "browser processes survived on_stop"


@pytest.mark.browser
def test_killed_browser_is_detected_and_restarted(target):
    """Kill the user's browser tree by the pids it reports: mid-page and between pages."""
    killed = []

    def kill_tree(user):
        pids = user.browser_pids()
        for pid in pids:
            try:
                psutil.Process(pid).kill()
            except psutil.NoSuchProcess:
                pass
        killed.append(pids)

    class Pages(PageProcessorUser):
        def on_start(self):
            super().on_start()
            state = {"armed": True}

            def mid_page(driver, page):  # page 2, first attempt: crash after it rendered
                if page == 2 and state["armed"]:
                    state["armed"] = False
                    kill_tree(self)

            self.processor.after_ready_hooks.append(mid_page)

        def on_page(self, page, result):
            if page == 3:  # between pages
                kill_tree(self)

    env, completed = run_pages(Pages, target.url, pages=5)

    assert sorted(p for p, _ in completed) == [1, 2, 3, 4, 5]
    assert len(killed) == 2
    assert all(len(pids) >= 3 for pids in killed)
    assert all(wait_gone(pids) for pids in killed)
    assert entry(env, "restart: crash").num_requests == 2
    assert entry(env, "restart: crash").num_failures == 0
    assert entry(env, "error: session dead").num_failures == 2
    assert entry(env, "recovered: session dead").num_requests == 2
    assert entry(env, PAGE).num_failures == 0
    assert run_state_of(env).session_restarts == 2


@pytest.mark.browser
def test_stale_and_missing_elements_refresh_and_retry_and_js_errors_are_reported(target):
    class Pages(PageProcessorUser):
        def on_start(self):
            super().on_start()
            armed = {"stale": True, "missing": True, "js": True}

            def replace_rows(driver, page, elements):  # page 1: nodes replaced after they were located
                if page == 1 and armed.pop("stale", False):
                    driver.execute_script(
                        "var t = document.getElementById('rows'); t.replaceWith(t.cloneNode(true));")

            def remove_rows(driver, page):  # page 2: the rows are gone before they are located
                if page == 2 and armed.pop("missing", False):
                    driver.execute_script("document.getElementById('rows').remove();")

            def throw_js(driver, page):  # page 3: a real uncaught error inside the page
                if page == 3 and armed.pop("js", False):
                    driver.execute_script(
                        "var s = document.createElement('script');"
                        "s.textContent = \"throw new Error('injected-js-error')\";"
                        "document.body.appendChild(s);")

            self.processor.before_use_hooks.append(replace_rows)
            self.processor.after_ready_hooks.extend([remove_rows, throw_js])

    env, completed = run_pages(Pages, target.url, pages=3)

    assert sorted(completed) == [(1, ROWS_PER_PAGE), (2, ROWS_PER_PAGE), (3, ROWS_PER_PAGE)]
    assert entry(env, "error: stale element").num_failures == 1
    assert entry(env, "recovered: stale element").num_requests == 1
    assert entry(env, "error: missing element").num_failures == 1
    assert entry(env, "recovered: missing element").num_requests == 1
    js = entry(env, "js error")
    assert js.num_failures == 1
    errors = [e for e in env.stats.errors.values() if e.name == "js error"]
    assert len(errors) == 1 and "injected-js-error" in str(errors[0].error)
    assert entry(env, PAGE).num_failures == 0
    assert run_state_of(env).session_restarts == 0


@pytest.mark.browser
def test_proactive_restart_after_configured_pages(target):
    class Pages(PageProcessorUser):
        restart_every_pages = 2

    env, completed = run_pages(Pages, target.url, pages=4)

    assert sorted(p for p, _ in completed) == [1, 2, 3, 4]
    assert entry(env, "restart: proactive").num_requests == 2  # after pages 2 and 4
    assert entry(env, "restart: proactive").num_failures == 0
    assert entry(env, "restart: crash").num_requests == 0
    assert run_state_of(env).session_restarts == 2


@pytest.mark.browser
def test_browser_memory_is_sampled_and_a_runaway_browser_restarted(target):
    class Pages(PageProcessorUser):
        memory_sample_interval = 0.001  # sample after every page
        memory_limit_mb = 50  # a headless Chromium holds far more: every sample is "runaway"

    env, completed = run_pages(Pages, target.url, pages=2)

    assert len(completed) == 2
    memory = entry(env, "browser memory")
    assert memory.num_requests == 2
    assert memory.avg_content_length > 50 * 2**20
    assert entry(env, "browser memory limit").num_failures == 2
    assert entry(env, "restart: memory").num_requests == 2
    assert run_state_of(env).session_restarts == 2


def test_missing_chromedriver_is_one_clear_error_and_the_user_stops(target, monkeypatch, caplog):
    monkeypatch.setenv("STRESSKIT_CHROMEDRIVER", "/nonexistent")

    class Pages(PageProcessorUser):
        pass

    env = Environment(user_classes=[Pages], host=target.url, events=Events())
    runner = env.create_local_runner()
    page_quota_of(env).set_total(3)
    with caplog.at_level(logging.ERROR):
        runner.start(2, spawn_rate=2)
        deadline = time.monotonic() + 20
        gevent.sleep(0.2)
        while runner.user_count and time.monotonic() < deadline:
            gevent.sleep(0.05)
        count = runner.user_count
        runner.quit()
    assert count == 0, "page users kept running without a browser"
    start = entry(env, "session start")
    assert (start.num_requests, start.num_failures) == (2, 2)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert "STRESSKIT_CHROMEDRIVER='/nonexistent'" in message and "\n" not in message
    assert not any(r.exc_info for r in caplog.records)
    assert page_quota_of(env).completed == 0 and page_quota_of(env).ledger.in_flight == 0


@pytest.mark.browser
def test_user_stopped_while_its_browser_starts_leaves_no_process(target):
    class Pages(PageProcessorUser):
        pass

    env = Environment(user_classes=[Pages], host=target.url, events=Events())
    runner = env.create_local_runner()
    page_quota_of(env).set_total(1)
    me = psutil.Process()
    runner.start(1, spawn_rate=1)
    browser = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # chromedriver has launched Chromium; the session is not up yet
        drivers = [p for p in me.children() if p.name() == "chromedriver"]
        browser = [p for d in drivers for p in (d, *d.children(recursive=True))]
        if len(browser) >= 2:
            break
        gevent.sleep(0.02)
    assert len(browser) >= 2, "chromedriver never launched Chromium"
    session_started = entry(env, "session start").num_requests
    runner.quit()
    assert session_started == 0, "the browser was already up; the test did not stop it mid-start"
    assert wait_gone([p.pid for p in browser])


def test_missing_host_is_one_clear_error_and_no_browser_starts(caplog):
    class Pages(PageProcessorUser):
        pass

    env = Environment(user_classes=[Pages], events=Events())
    runner = env.create_local_runner()
    page_quota_of(env).set_total(3)
    with caplog.at_level(logging.ERROR):
        runner.start(1, spawn_rate=1)
        deadline = time.monotonic() + 10
        gevent.sleep(0.1)
        while runner.user_count and time.monotonic() < deadline:
            gevent.sleep(0.05)
        count = runner.user_count
        runner.quit()
    assert count == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "--host" in errors[0], errors
    assert entry(env, "session start").num_requests == 0
