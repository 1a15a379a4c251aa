"""Per-kind availability: the window/outage arithmetic (table-driven, no sleeping), the one
request-type table, worker → master merging through Locust's report hooks on a real Environment,
the criteria it adds, and the per-test reset of the run state.

Real runs (a backend SIGKILLed, Redis stopped) are in tests/e2e/test_drills_availability.py.
"""

import argparse
import time

import pytest
from locust.env import Environment

from stresskit.core.runstate import run_state_of
from stresskit.events import stresskit_events_of
from stresskit.run.availability import (
    REPORT_KEY,
    USER_FAULT_GRACE,
    Availability,
    Outage,
    _Counts,
    failed_checks,
    is_evidence,
    judge,
    kind_of,
)
from stresskit.run.criteria import RunCriteria
from tests.support.wait import wait_for

T = int(time.time())  # an epoch second (recorded counts must be near this machine's clock)


def counts(pattern: str, base: int = T) -> dict[int, tuple[int, int]]:
    """'u' = a window with a success, 'd' = failures only, 'm' = both, '.' = no request."""
    table = {"u": (3, 0), "d": (0, 2), "m": (1, 4), ".": (0, 0)}
    return {base + i: table[c] for i, c in enumerate(pattern) if c != "."}


# pattern, end offset (None = last active window), windows, up, outages as (start, end) offsets
CASES = [
    ("uuuuu", 5, 5, 5, []),
    ("uuddu", 5, 5, 3, [(2, 4)]),
    ("mmmm", 4, 4, 4, []),                      # one success in a window is enough
    ("uud...u", 7, 7, 3, [(2, 6)]),            # silence after a failure (backoff) is down
    ("uu...uu", 7, 7, 7, []),                  # silence after a success (wait time) is up
    ("uud", 10, 10, 2, [(2, 10)]),             # users gave up: down until the run ends
    ("..uu", 4, 2, 2, []),                     # windows start at the kind's first request
    ("ddd", 3, 3, 0, [(0, 3)]),                # never available
    ("uuuud", 4, 4, 4, []),                    # the window the test stopped in is not judged
    ("uudu", None, 4, 3, [(2, 3)]),
    ("", 5, 0, 0, []),
]


@pytest.mark.parametrize(("pattern", "end", "windows", "up", "outages"), CASES)
def test_window_and_outage_arithmetic(pattern, end, windows, up, outages):
    figures = judge("api", counts(pattern), None if end is None else T + end + 0.4)
    assert (figures.windows, figures.windows_up) == (windows, up)
    assert [(o.start - T, o.end - T) for o in figures.outages] == outages
    assert figures.availability == (up / windows if windows else None)


def test_requests_failures_and_error_ratio_count_every_attempt():
    figures = judge("cache", counts("uudm"), T + 4)
    assert (figures.requests, figures.failures) == (3 + 3 + 2 + 5, 2 + 4)
    assert figures.error_ratio == pytest.approx(6 / 13)


def test_excused_windows_are_neither_up_nor_down():
    excused = {T + 2, T + 3}
    figures = judge("api", counts("uudddu"), T + 6, lambda w: w in excused)
    assert (figures.windows, figures.windows_up) == (4, 3)
    assert [(o.start - T, o.end - T) for o in figures.outages] == [(4, 5)]


@pytest.mark.parametrize(("pattern", "end", "max_share", "max_outage", "problems"), [
    ("u" * 100, 100, 0.05, 30, 0),
    ("u" * 95 + "d" * 5, 100, 0.05, 30, 0),       # exactly 5%: allowed
    ("u" * 94 + "d" * 6, 100, 0.05, 30, 1),       # 6%: too much
    ("u" * 960 + "d" * 40, 1000, 0.05, 30, 1),    # 4% but 40 s in a row
    ("u" * 60 + "d" * 40, 100, 0.05, 30, 2),      # both
    ("", 100, 0.05, 30, 1),                       # sent nothing at all
])
def test_limits(pattern, end, max_share, max_outage, problems):
    figures = judge("websocket", counts(pattern), T + end)
    assert len(failed_checks(figures, max_share, max_outage)) == problems


@pytest.mark.parametrize(("request_type", "kind"), [
    ("GET", "api"), ("post", "api"), ("DELETE", "api"), ("WS", "websocket"), ("REDIS", "cache"),
    ("PAGE", "browser"), ("RECOVERY", None), ("BURST", None), ("", None),
])
def test_one_table_maps_request_types_to_kinds(request_type, kind):
    assert kind_of(request_type) == kind


@pytest.mark.parametrize(("request_type", "name", "evidence"), [
    ("PAGE", "browser memory", False), ("PAGE", "restart: crash", False), ("PAGE", "session start", False),
    ("PAGE", "page", True), ("PAGE", "error: stale element", True), ("WS", "messages out", False),
    ("WS", "rtt echo", True), ("WS", "connect", True), ("GET", "/api/items", True),
])
def test_bookkeeping_entries_are_not_evidence(request_type, name, evidence):
    assert is_evidence(request_type, name) is evidence


def test_counts_grow_both_ways():
    c = _Counts()
    c.add(T + 5, 1, 0)
    c.add(T + 2, 0, 1)
    c.add(T + 9, 2, 3)
    c.add(T + 5, 1, 1)
    assert c.as_mapping() == {T + 2: (0, 1), T + 5: (2, 1), T + 9: (2, 3)}
    assert c.get(T + 100) == (0, 0)


def env_with(options=None):
    env = Environment(parsed_options=argparse.Namespace(**(options or {})))
    env.create_local_runner()
    return env


def test_requests_are_bucketed_per_kind_and_judged_on_a_local_runner():
    env = env_with()
    tracker = Availability(env)
    tracker._on_test_start()
    fire = env.events.request.fire
    for _ in range(3):
        fire(request_type="GET", name="/x", response_time=1, response_length=0, exception=None, context={})
    fire(request_type="REDIS", name="GET", response_time=1, response_length=0, exception=OSError("down"), context={})
    fire(request_type="PAGE", name="browser memory", response_time=1, response_length=0, exception=None, context={})
    fire(request_type="RECOVERY", name="x", response_time=1, response_length=0, exception=None, context={})
    assert set(tracker.counts) == {"api", "cache"}
    doc = tracker.document()
    assert doc["resolution_seconds"] == 1.0 and doc["max_unavailable_share"] == 0.05
    assert doc["max_outage_seconds"] == 30.0
    assert doc["kinds"]["api"]["requests"] == 3 and doc["kinds"]["cache"]["failures"] == 1
    assert set(doc["kinds"]["api"]) == {"availability", "requests", "failures", "error_ratio", "windows",
                                        "windows_up", "outages"}
    tracker.remove()


def test_worker_counts_reach_the_master_through_the_report_hooks():
    """Two workers' per-second counts, piggybacked on report_to_master, add up on the master."""
    master = Availability(env_with())
    for worker_rows in ([[T, 2, 0], [T + 1, 0, 3]], [[T, 1, 1], [T + 2, 4, 0]]):
        data = {}
        worker = Availability(env_with())
        worker._worker = True  # counted as on a worker: pending until the next report
        for window, ok, failed in worker_rows:
            worker._pending.setdefault("cache", {})[window] = [ok, failed]
        worker._on_report_to_master(client_id="w", data=data)
        assert worker._pending == {} and REPORT_KEY in data
        master._on_worker_report(client_id="w", data=data)
    assert master.counts["cache"].as_mapping() == {T: (3, 1), T + 1: (0, 3), T + 2: (4, 0)}
    master._on_worker_report(client_id="w", data={REPORT_KEY: {"nonsense": [[1, 2, 3]], "cache": [["x"]]}})
    assert master.counts["cache"].as_mapping()[T] == (3, 1)
    # a worker with a clock a year off, or impossible counts, cannot blow the arrays up
    master._on_worker_report(client_id="w", data={REPORT_KEY: {"cache": [[T + 365 * 86400, 1, 0], [T, -1, 0],
                                                                          [T, 2**40, 0]]}})
    assert master.dropped == 3 and master.counts["cache"].base == T and len(master.counts["cache"].ok) == 3


def test_injected_faults_excuse_the_kinds_they_hit():
    env = env_with()
    tracker = Availability(env)
    hooks = stresskit_events_of(env)
    hooks.fault_injected.fire(kind="backend_crash", user="", worker="local", detail="", timestamp=T + 10.2)
    hooks.fault_recovered.fire(kind="backend_crash", user="", worker="local", recovery_time=3.0, timestamp=T + 13.5)
    hooks.fault_injected.fire(kind="websocket_drop", user="u1", worker="local", detail="", timestamp=T + 50.0)
    api, ws = tracker._excused("api"), tracker._excused("websocket")
    assert [w - T for w in range(T, T + 60) if api(w)] == [10, 11, 12, 13]
    assert [w - T for w in range(T, T + 60) if ws(w)] == [10, 11, 12, 13] + \
        list(range(50, 50 + int(USER_FAULT_GRACE)))
    tracker.remove()


def test_a_user_fault_excuses_nothing_when_its_kind_has_other_users():
    """With two WebSocket users, one user's dropped socket cannot make the kind unavailable."""
    from locust import User, constant, task

    class Chat(User):
        kind = "websocket"
        wait_time = constant(0.5)

        @task
        def idle(self):
            pass

    env = Environment(user_classes=[Chat], parsed_options=argparse.Namespace())
    runner = env.create_local_runner()
    tracker = Availability(env)
    runner.start(2, spawn_rate=100)
    try:
        wait_for(lambda: runner.user_count == 2, timeout=10, what="two users")
        stresskit_events_of(env).fault_injected.fire(kind="websocket_drop", user="u1", worker="local", detail="",
                                                  timestamp=T + 50.0)
        assert not any(tracker._excused("websocket")(w) for w in range(T, T + 60))
    finally:
        runner.quit()
        tracker.remove()


def criteria_env(tmp_path):
    env = Environment(parsed_options=argparse.Namespace(csv_prefix=None, headless=True, time_scale=1.0,
                                                        threshold=[]))
    env.create_local_runner()
    return env


def test_a_kind_that_was_down_fails_although_the_global_ratio_passes(tmp_path):
    from stresskit.run import availability as module

    env = criteria_env(tmp_path)
    tracker = Availability(env)
    module._SLOT.set(env, tracker)
    crit = RunCriteria(env, [])
    crit.started = T
    tracker.stopping = T + 60
    for second in range(60):  # the cache answers all minute; the API dies after 10 s
        tracker.record("cache", T + second, 50, 0)
        tracker.record("api", T + second, *((5, 0) if second < 10 else ((0, 1) if second % 10 == 0 else (0, 0))))
    by_name = {c.name: c for c in crit.criteria_results()}
    assert by_name["availability"].passed is False
    assert "api 16.7%" in by_name["availability"].detail and "cache 100.0%" in by_name["availability"].detail
    assert by_name["availability"].value == pytest.approx(10 / 60)
    # backing off, the API users sent only 5 failing requests against 50 good ones: the error
    # ratio alone (9%) would pass, the time without a server does not
    assert by_name["kind_error_ratio"].passed is True
    assert "api 5/55 (9.1%)" in by_name["kind_error_ratio"].detail
    doc = crit.document(crit.criteria_results(), [], 3)
    outages = doc["availability"]["kinds"]["api"]["outages"]
    assert outages == [{"kind": "api", "start": T + 10.0, "end": T + 60.0, "seconds": 50.0}]
    crit.remove()
    tracker.remove()


def test_a_planned_kind_that_sent_nothing_fails(tmp_path):
    env = criteria_env(tmp_path)
    tracker = Availability(env)
    tracker.stopping = T + 10
    tracker.expected.add("cache")
    for second in range(10):
        tracker.record("api", T + second, 1, 0)
    (name, passed, value, _limit, detail), _ = tracker.criteria()
    assert (name, passed, value) == ("availability", False, 0.0)
    assert "cache – FAILED: sent no request at all" in detail
    tracker.remove()


def test_a_new_test_resets_the_run_state_and_the_stop_reason(tmp_path):
    """A second test on the same master, stopped with STOP, must not show the first one's reason."""
    env = criteria_env(tmp_path)
    crit = RunCriteria(env, [])
    state = run_state_of(env)
    state.stop_reason = "error ratio 90% > 50%"
    state.record_critical("first test")
    state.add(faults_injected=3, cache_hits=5, pages_total=10)
    crit.stop_reason, crit.stopped_early = "error ratio 90% > 50%", True
    stresskit_events_of(env).resource_sample.fire(sample={})
    env.events.test_start.fire(environment=env)
    try:
        doc = crit.document(crit.criteria_results(), [], 0)
        assert doc["stop_reason"] == "" and not doc["stopped_early"]
        assert crit.samples == 0  # resources_stable counts this test's agent samples only
        assert (state.critical_failures, state.critical_details, state.faults_injected, state.cache_hits) == \
            (0, [], 0, 0)
        assert state.pages_total == 10  # the page quota's own figure, reset by the quota itself
    finally:
        crit.remove()


def test_outage_as_dict_matches_the_contract():
    assert Outage("cache", T + 1.0, T + 4.0).as_dict() == {"kind": "cache", "start": T + 1.0, "end": T + 4.0,
                                                          "seconds": 3.0}


def test_the_live_log_says_when_an_outage_starts_and_ends(caplog):
    env = env_with()
    tracker = Availability(env)
    for second, (ok, failed) in enumerate([(2, 0), (2, 0), (0, 1), (0, 0), (0, 1), (3, 0), (1, 0)]):
        tracker.record("api", T + second, ok, failed)
        tracker.record("cache", T + second, 5, 0)
    with caplog.at_level("WARNING", logger="stresskit.run.availability"):
        tracker.check_live(now=T + 3 + 1.6)   # windows up to T+3 are judged: the outage began at T+2
        tracker.check_live(now=T + 3 + 1.6)   # said once
        tracker.check_live(now=T + 7 + 1.6)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("availability: api outage started at ")
    assert messages[1].startswith("availability: api outage ended at ") and "after 3 s" in messages[1]
    tracker.remove()


def test_a_users_declared_kind_wins_over_its_request_type():
    """A page processor fetching pages over HTTP is judged as browser; a RECOVERY entry never counts."""
    from locust import FastHttpUser, constant, task

    class HttpPages(FastHttpUser):
        kind = "browser"
        host = "http://127.0.0.1:9"
        wait_time = constant(10)

        @task
        def fetch(self):
            fire = self.environment.events.request.fire
            fire(request_type="GET", name="/api/pages/[n]/rows", response_time=1, response_length=0,
                 exception=None, context={})
            fire(request_type="RECOVERY", name="browser_crash", response_time=1, response_length=0,
                 exception=None, context={})

    env = Environment(user_classes=[HttpPages], parsed_options=argparse.Namespace())
    runner = env.create_local_runner()
    tracker = Availability(env)
    runner.start(1, spawn_rate=10)
    try:
        wait_for(lambda: "browser" in tracker.counts, timeout=10, what="the page fetch")
        assert set(tracker.counts) == {"browser"}
    finally:
        runner.quit()
        tracker.remove()


def test_websocket_attempts_without_a_connection_are_failures_in_the_stats():
    """Between a drop and the reconnect, a send or a subscribe is an attempt that failed: it must be
    in the stats (Locust's own request hook and stats), not silently skipped."""
    from stresskit.clients.websocket import WebSocketConnection

    env = env_with()  # Locust's own runner: its request listener keeps the stats
    conn = WebSocketConnection("ws://127.0.0.1:9/ws", env.events.request, reply_timeout=0.01)
    assert conn.send({"op": "echo"}) is False
    assert conn.subscribe() is False
    assert env.runner.stats.get("messages out", "WS").num_failures == 1
    assert env.runner.stats.get("rtt subscribe", "WS").num_failures == 1
