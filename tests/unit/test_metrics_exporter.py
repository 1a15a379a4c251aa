"""The master's exposition from a real Locust environment: known answers, counters that only grow.

A local runner's stats receive real ``request`` events; the exporter must report exactly those
counts, keep ``_total`` counters growing when Locust resets its stats for a new test, and write
lines in the Prometheus text format.
"""

import re

from locust import User, constant, task
from locust.env import Environment

from stresskit.observe.metrics import FAMILIES, MetricsExporter, metric_names

LINE = re.compile(r'[a-z_][a-z0-9_]*(\{([a-z_]+="[^"]*",?)*\})? (-?[0-9.]+(e[-+]?[0-9]+)?|NaN|[+-]Inf)')


class Api(User):
    kind = "api"
    wait_time = constant(1)

    @task
    def nothing(self):
        pass


def value(text: str, metric: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{metric}(\{{{re.escape(wanted)}\}})? (\S+)$" if labels else rf"^{metric} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, (metric, labels, text)
    return float(match.groups()[-1])


def fire(env, n, failures=0):
    for i in range(n):
        env.events.request.fire(request_type="GET", name="/api/items", response_time=12.0, response_length=0,
                                exception=RuntimeError("boom") if i < failures else None, context={})


def test_counts_match_the_stats_and_counters_survive_a_stats_reset():
    env = Environment(user_classes=[Api])
    env.create_local_runner()
    exporter = MetricsExporter(env)
    fire(env, 7, failures=2)
    text = exporter.render()
    assert value(text, "stresskit_requests_total", type="GET", name="/api/items") == 7
    assert value(text, "stresskit_request_failures_total", type="GET", name="/api/items") == 2
    for line in text.splitlines():
        assert line.startswith("#") or LINE.fullmatch(line), line
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    assert all(name in metric_names() for name in types)
    assert all(name.endswith("_total") == (kind == "counter") for name, kind in types.items())

    env.runner.stats.reset_all()  # a new test in the web UI starts Locust's stats afresh
    fire(env, 3)
    text = exporter.render()
    assert value(text, "stresskit_requests_total", type="GET", name="/api/items") == 10
    assert value(text, "stresskit_request_failures_total", type="GET", name="/api/items") == 2
    env.runner.quit()


def test_family_names_follow_the_conventions():
    for family in FAMILIES:
        assert family.name.startswith("stresskit_")
        assert family.name.endswith("_total") == (family.kind == "counter"), family.name
        assert "percent" not in family.name and "_ms" not in family.name, family.name
