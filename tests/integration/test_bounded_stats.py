"""Locust's per-second statistics on the master stay bounded over a long run (stresskit.observe.statsbound).

A real Locust Environment and LocalRunner: requests are recorded through the real ``request``
event, then the per-second counters a 2 h run leaves behind are put in place (one key per
second, as Locust's own ``_log_time_of_request`` writes them) and trimmed. What Locust reads
— totals, the current rates, percentiles — must be the same before and after.
"""

import locust  # noqa: F401,I001  (gevent patching first)

import time

from locust import User, events as locust_events, task
from locust.env import Environment
from locust.event import Events

from stresskit.observe.statsbound import KEEP_SECONDS, thin_history, trim_stats, use_bounded_stats


class Noop(User):
    @task
    def noop(self):
        pass


def test_two_hours_of_per_second_counters_are_trimmed_and_rates_unchanged():
    env = Environment(user_classes=[Noop], events=Events())
    runner = env.create_local_runner()
    stats = runner.stats
    now = int(time.time())
    stats.total.start_time = now - 7200
    for name in ("/api/items", "/api/search", "WS echo"):
        for _ in range(5):
            env.events.request.fire(request_type="GET", name=name, response_time=12.0, response_length=10,
                                    exception=None, context={})
        entry = stats.get(name, "GET")
        for t in range(now - 7200, now + 1):  # what 2 h at one request a second leave
            entry.num_reqs_per_sec[t] += 1
            stats.total.num_reqs_per_sec[t] += 1
            if t % 7 == 0:
                entry.num_fail_per_sec[t] += 1
    before = {name: (stats.get(name, "GET").current_rps, stats.get(name, "GET").current_fail_per_sec,
                     stats.get(name, "GET").num_requests, stats.get(name, "GET").get_response_time_percentile(0.95))
              for name in ("/api/items", "/api/search", "WS echo")}
    total_rps = stats.total.current_rps
    removed = trim_stats(stats)
    assert removed > 3 * 7000
    for name, figures in before.items():
        entry = stats.get(name, "GET")
        assert len(entry.num_reqs_per_sec) <= KEEP_SECONDS + 1 and len(entry.num_fail_per_sec) <= KEEP_SECONDS + 1
        assert (entry.current_rps, entry.current_fail_per_sec, entry.num_requests,
                entry.get_response_time_percentile(0.95)) == figures
    assert len(stats.total.num_reqs_per_sec) <= KEEP_SECONDS + 1
    assert stats.total.current_rps == total_rps
    runner.quit()


def test_history_is_thinned_not_cut():
    history = [{"time": i} for i in range(10_000)]
    removed = thin_history(history, max_points=2000)
    assert len(history) <= 2000 and removed == 10_000 - len(history)
    assert history[0]["time"] == 0 and history[-1]["time"] == 9_999, "the whole run stays on the chart"
    recent = [h["time"] for h in history[-500:]]
    assert recent == list(range(9_500, 10_000)), "the recent points keep full resolution"
    assert [h["time"] for h in history] == sorted(h["time"] for h in history)


def test_use_bounded_stats_runs_on_the_master_only_and_stops_at_quitting():
    events = Events()
    use_bounded_stats(events)
    use_bounded_stats(events)  # idempotent
    env = Environment(user_classes=[Noop], events=events)
    runner = env.create_local_runner()
    events.init.fire(environment=env, runner=runner, web_ui=None)
    loop = env._stresskit_statsbound
    assert not loop.dead
    events.quitting.fire(environment=env, reverse=True)
    loop.join(timeout=5)
    assert loop.dead
    assert locust_events is not events
