"""The page quota: the ledger's rules, and exactly-once processing by two real page processors
(headless Chromium) sharing one quota in a Locust LocalRunner."""

import locust  # noqa: F401,I001  (gevent patching first)

import argparse
import time
from collections import Counter

import gevent
import gevent.event
import pytest
from locust.env import Environment
from locust.event import Events

from stresskit.errors import ConfigError
from stresskit.events import stresskit_events_of
from stresskit.cluster.quota import PageLedger, add_arguments, use_page_quota, page_quota_of
from stresskit.core.runstate import run_state_of
from stresskit.users.page import PageProcessorUser


def drain(ledger, holder):
    pages = []
    while (grant := ledger.grant(holder)).status == "page":
        pages.append(grant.page)
    return pages, grant.status


def test_ledger_hands_out_every_page_once_in_order():
    ledger = PageLedger(5)
    pages, status = drain(ledger, "a")
    assert pages == [1, 2, 3, 4, 5]
    assert status == "wait"  # all handed out, none finished
    assert not ledger.done and ledger.in_flight == 5
    for page in pages:
        assert ledger.finish(page, ok=page != 3)
    assert ledger.done
    assert (ledger.completed, ledger.failed, ledger.in_flight) == (4, 1, 0)
    assert ledger.grant("a").status == "done"


def test_first_finish_wins_and_duplicates_are_counted_not_added():
    ledger = PageLedger(2)
    g1 = ledger.grant("worker-a")
    assert ledger.finish(g1.page, ok=True)
    assert not ledger.finish(g1.page, ok=True)
    assert not ledger.finish(g1.page, ok=False)
    assert ledger.duplicates == 2
    assert (ledger.completed, ledger.failed) == (1, 0)


def test_released_page_goes_out_again_first_and_only_its_holder_can_release():
    ledger = PageLedger(3)
    g1, g2 = ledger.grant("a"), ledger.grant("b")
    assert not ledger.release(g1.page, "b")  # not b's page
    assert ledger.release(g1.page, "a")
    assert ledger.grant("b").page == g1.page
    assert ledger.grant("b").page == 3
    assert g2.page == 2


def test_dead_holder_pages_are_reclaimed_and_a_late_report_still_counts_once():
    ledger = PageLedger(4)
    a1, b1, a2, b2 = (ledger.grant(h) for h in ("a", "b", "a", "b"))
    assert [g.page for g in (a1, b1, a2, b2)] == [1, 2, 3, 4]
    assert ledger.reclaim("b") == [b1.page, b2.page]
    assert ledger.reclaimed == 2
    assert ledger.holders() == {"a"}
    again = ledger.grant("a")
    assert again.page == b1.page
    assert ledger.finish(again.page, ok=True)
    assert not ledger.finish(b1.page, ok=True)  # the slow "dead" worker reports after all
    assert ledger.duplicates == 1
    assert ledger.grant("a").page == b2.page


def test_epoch_reset_ignores_reports_from_the_previous_run():
    ledger = PageLedger(2)
    old = ledger.grant("a")
    ledger.reset()
    assert ledger.total == 2 and ledger.epoch == old.epoch + 1
    assert not ledger.finish(old.page, ok=True, epoch=old.epoch)
    assert not ledger.release(old.page, "a", epoch=old.epoch)
    assert ledger.completed == 0
    assert ledger.grant("a").page == 1


def test_lowering_the_total_drops_pages_not_handed_out():
    ledger = PageLedger(10)
    g1 = ledger.grant("a")
    ledger.set_total(1)
    assert ledger.grant("a").status == "wait"
    ledger.finish(g1.page, ok=True)
    assert ledger.done
    with pytest.raises(ConfigError):
        ledger.set_total(-1)


def test_total_comes_from_set_total_then_option_then_env_then_default(monkeypatch):
    monkeypatch.delenv("STRESSKIT_PAGES", raising=False)
    env = Environment(events=Events())
    env.create_local_runner()
    assert page_quota_of(env).total == 10
    monkeypatch.setenv("STRESSKIT_PAGES", "7")
    assert page_quota_of(env).total == 7
    env.parsed_options = argparse.Namespace(pages=5)
    assert page_quota_of(env).total == 5
    page_quota_of(env).set_total(3)
    assert page_quota_of(env).total == 3
    assert run_state_of(env).pages_total == 3
    fresh = Environment(events=Events(), parsed_options=argparse.Namespace(pages="many"))
    with pytest.raises(ConfigError, match="--pages"):
        _ = page_quota_of(fresh).total


def test_pages_option_reads_the_environment_variable(monkeypatch):
    from locust.argument_parser import get_parser

    events = Events()
    events.init_command_line_parser.add_listener(add_arguments)
    monkeypatch.setenv("STRESSKIT_PAGES", "12")
    parser = get_parser()
    events.init_command_line_parser.fire(parser=parser)
    assert parser.parse_args(["-f", "x.py"]).pages == 12
    assert parser.parse_args(["-f", "x.py", "--pages", "3"]).pages == 3


def test_install_resets_at_test_start_and_stops_the_run_when_done():
    events = Events()
    use_page_quota(events, stop_when_done=True)
    env = Environment(events=events)
    runner = env.create_local_runner()
    events.init.fire(environment=env, runner=runner, web_ui=None)
    quota = page_quota_of(env)
    quota.set_total(2)
    events.test_start.fire(environment=env)
    epoch = quota.ledger.epoch
    stopped = []
    runner.stop = lambda: stopped.append("stop")
    g1, g2 = quota.acquire(), quota.acquire()
    quota.complete(g1)
    quota.fail(g2)
    gevent.sleep(0)  # the stop runs in its own greenlet, never inside a message handler
    assert stopped == ["stop"]
    assert (run_state_of(env).pages_completed, run_state_of(env).pages_failed) == (1, 1)
    events.test_start.fire(environment=env)
    assert quota.ledger.epoch == epoch + 1 and quota.completed == 0 and quota.total == 2


@pytest.mark.browser
def test_two_page_processors_process_each_page_exactly_once(target):
    started = []
    both_started = gevent.event.Event()
    worked = Counter()

    class Pages(PageProcessorUser):
        def on_start(self):
            super().on_start()
            started.append(self)
            if len(started) == 2:
                both_started.set()
            both_started.wait(timeout=60)  # both browsers up before either takes a page

        def on_page(self, page, result):
            worked[id(self)] += 1

    env = Environment(user_classes=[Pages], host=target.url, events=Events())
    runner = env.create_local_runner()
    quota = page_quota_of(env)
    quota.set_total(8)
    done_by = []
    stresskit_events_of(env).page_completed.add_listener(lambda page, rows, **_: done_by.append((page, rows)))
    runner.start(2, spawn_rate=2)
    deadline = time.monotonic() + 120
    gevent.sleep(0.1)
    while (not quota.done or runner.user_count) and time.monotonic() < deadline:
        gevent.sleep(0.05)
    users_left = runner.user_count
    runner.quit()

    counts = Counter(page for page, _ in done_by)
    assert sorted(counts) == list(range(1, 9))
    assert set(counts.values()) == {1}
    assert all(rows == 20 for _, rows in done_by)
    assert quota.done and users_left == 0
    assert (quota.completed, quota.failed, quota.ledger.duplicates) == (8, 0, 0)
    state = run_state_of(env)
    assert (state.pages_total, state.pages_completed, state.pages_failed) == (8, 8, 0)
    assert env.stats.get("/pages/[page]", "PAGE").num_requests == 8
    assert len(worked) == 2 and sum(worked.values()) == 8  # both users took pages from the one quota
