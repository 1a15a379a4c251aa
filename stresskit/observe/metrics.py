"""Live Prometheus metrics of a run, served by the master (or the local runner) on a port of its own.

    locust -f locustfiles/production.py --headless --metrics-port 9646 [--metrics-token T]

``GET /metrics`` answers Prometheus text (format 0.0.4) in headless and web UI runs alike — a
port of its own rather than a route of the web UI, because a headless run has no web UI and CI
runs are the ones watched from dashboards. It listens on ``--metrics-bind`` (default
127.0.0.1); a bind that is not loopback needs ``--metrics-token`` (``STRESSKIT_METRICS_TOKEN``),
which every scrape must then send as ``Authorization: Bearer <token>`` (Prometheus:
``authorization: {credentials: ...}``). Bad options stop the run before any load, exit 2.

What is served (:data:`FAMILIES` is the one list; docs/distributed.md explains each):

- requests and failures per request type and name (counters; Locust's per-test stats, kept
  growing across a stats reset so they stay counters), latency per name as a summary from the
  whole-run DDSketches (``quantile`` 0.5/0.9/0.95/0.99 in seconds, ``_sum``, ``_count``);
- users per kind; pages in the quota, due by the pace and completed (gauges of the current test);
- faults injected / recovered, critical failures, resource alerts (counters);
- each criterion and threshold so far: passed (1/0), evaluated (1/0), value and limit; the
  verdict so far (1 = every evaluated criterion and threshold passes).

Importing this module registers nothing; :func:`use_metrics` (called by ``use_stresskit``) does.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stresskit.core.addresses import is_loopback
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import option, register_options
from stresskit.core.perrun import Once, PerRun
from stresskit.core.runstate import run_state_of

__all__ = ["FAMILIES", "QUANTILES", "MetricsExporter", "add_arguments", "metric_names", "use_metrics"]

log = logging.getLogger("stresskit.observe.metrics")

QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)
"""The quantiles of the latency summaries."""

_SLOT: PerRun[Any] = PerRun("metrics")
_NOT_EVALUATED = ("not evaluated", "not applicable")


@dataclass(frozen=True)
class Family:
    """One metric family the master serves."""

    name: str
    kind: str
    help: str


FAMILIES: tuple[Family, ...] = (
    Family("stresskit_requests_total", "counter", "Requests per request type and name."),
    Family("stresskit_request_failures_total", "counter", "Failed requests per request type and name."),
    Family("stresskit_request_duration_seconds", "summary",
           "Response time per request type and name over the run so far (DDSketch, 1% relative accuracy)."),
    Family("stresskit_users", "gauge", "Running users per kind (websocket, api, cache, browser)."),
    Family("stresskit_pages_quota", "gauge", "Pages in the current test's page quota."),
    Family("stresskit_pages_due", "gauge", "Pages due by now by the scenario's pace."),
    Family("stresskit_pages_completed", "gauge", "Pages completed in the current test."),
    Family("stresskit_pages_behind", "gauge", "Pages due but not completed yet."),
    Family("stresskit_faults_injected_total", "counter", "Faults injected."),
    Family("stresskit_faults_recovered_total", "counter", "Injected faults the harness recovered from."),
    Family("stresskit_critical_failures_total", "counter", "Failures the harness could not recover from."),
    Family("stresskit_alerts_total", "counter", "Resource alerts (sustained high CPU or memory on a target host)."),
    Family("stresskit_criterion_passed", "gauge", "1 when the success criterion passes so far, else 0."),
    Family("stresskit_criterion_evaluated", "gauge", "1 when the criterion is evaluated in this run, 0 if not."),
    Family("stresskit_criterion_value", "gauge", "The criterion's current value (its unit is the limit's)."),
    Family("stresskit_criterion_limit", "gauge", "The criterion's limit."),
    Family("stresskit_threshold_passed", "gauge", "1 when the --threshold passes so far, else 0."),
    Family("stresskit_threshold_value", "gauge", "The --threshold's current value."),
    Family("stresskit_verdict_passing", "gauge", "1 when every evaluated criterion and threshold passes so far."),
    Family("stresskit_scenario_info", "gauge", "The running scenario (label scenario); value 1."),
)


def metric_names() -> list[str]:
    """Every metric name the master can serve, summaries with their ``_sum`` and ``_count``."""
    names = []
    for family in FAMILIES:
        names.append(family.name)
        if family.kind == "summary":
            names += [f"{family.name}_sum", f"{family.name}_count"]
    return names


def add_arguments(parser: Any) -> None:
    """``--metrics-port``, ``--metrics-bind``, ``--metrics-token`` (not in the web UI's form)."""
    parser.add_argument("--metrics-port", type=int, default=None, env_var="STRESSKIT_METRICS_PORT",
                       include_in_web_ui=False,
                       help="stresskit: serve Prometheus metrics of the run at http://BIND:PORT/metrics "
                            "(master or local run; default: off)")
    parser.add_argument("--metrics-bind", default="127.0.0.1", env_var="STRESSKIT_METRICS_BIND",
                       include_in_web_ui=False,
                       help="stresskit: address of the metrics endpoint (default 127.0.0.1; any other needs "
                            "--metrics-token)")
    parser.add_argument("--metrics-token", default=None, env_var="STRESSKIT_METRICS_TOKEN", is_secret=True,
                       include_in_web_ui=False,
                       help="stresskit: bearer token every scrape must send (required off loopback)")


class _Counters:
    """Counters that only grow although their source can restart from zero (a new test resets
    Locust's stats and the run state): a drop adds the last value to a base, as Prometheus would."""

    def __init__(self) -> None:
        self._base: dict[Any, float] = {}
        self._last: dict[Any, float] = {}

    def __call__(self, key: Any, value: float) -> float:
        last = self._last.get(key, 0.0)
        if value < last:
            self._base[key] = self._base.get(key, 0.0) + last
        self._last[key] = value
        return self._base.get(key, 0.0) + value


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, Any]) -> str:
    return "{" + ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items()) + "}" if labels else ""


def _number(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


Row = tuple[str, dict[str, Any], float | None]
"""(suffix, labels, value) of one sample line of a family."""


class MetricsExporter:
    """Builds the exposition text from the environment's live figures (master or local runner)."""

    def __init__(self, environment: RunEnvironment) -> None:
        self.environment = environment
        self._counters = _Counters()
        self._families = {family.name: family for family in FAMILIES}

    def render(self) -> str:
        """The exposition text now."""
        out: list[str] = []
        for name, rows in self._collect():
            present = [(suffix, labels, value) for suffix, labels, value in rows if value is not None]
            if not present:
                continue
            family = self._families[name]
            out.append(f"# HELP {name} {family.help}")
            out.append(f"# TYPE {name} {family.kind}")
            out.extend(f"{name}{suffix}{_labels(labels)} {_number(value)}" for suffix, labels, value in present)
        return "\n".join(out) + "\n"

    def _collect(self) -> Iterable[tuple[str, list[Row]]]:
        env = self.environment
        runner = env.runner
        count = self._counters
        entries = list(runner.stats.entries.values()) if runner is not None else []
        yield "stresskit_requests_total", [
            ("", {"type": e.method, "name": e.name}, count(("req", e.method, e.name), e.num_requests)) for e in entries]
        yield "stresskit_request_failures_total", [
            ("", {"type": e.method, "name": e.name}, count(("fail", e.method, e.name), e.num_failures))
            for e in entries]
        yield "stresskit_request_duration_seconds", list(self._latency_rows())
        yield "stresskit_users", [("", {"kind": kind}, n) for kind, n in sorted(self._users_per_kind().items())]
        state = run_state_of(env)
        yield "stresskit_pages_quota", [("", {}, state.pages_total)]
        yield "stresskit_pages_due", [("", {}, state.pages_due)]
        yield "stresskit_pages_completed", [("", {}, state.pages_completed)]
        yield "stresskit_pages_behind", [("", {}, state.pages_behind)]
        yield "stresskit_faults_injected_total", [("", {}, count("injected", state.faults_injected))]
        yield "stresskit_faults_recovered_total", [("", {}, count("recovered", state.faults_recovered))]
        yield "stresskit_critical_failures_total", [("", {}, count("critical", state.critical_failures))]
        yield "stresskit_alerts_total", [("", {}, count("alerts", len(state.alerts)))]
        yield from self._verdict_rows()

    def _latency_rows(self) -> Iterable[Row]:
        from stresskit.observe.latency import latency_recorder_of

        recorder = latency_recorder_of(self.environment)
        if recorder is None or not hasattr(recorder, "run_summaries"):
            return
        for (rtype, name), (n, total_ms, quantiles) in sorted(recorder.run_summaries(QUANTILES).items()):
            labels = {"type": rtype, "name": name}
            for q, value in zip(QUANTILES, quantiles, strict=True):
                if value is not None:
                    yield "", {**labels, "quantile": repr(q)}, value / 1000.0
            yield "_sum", labels, self._counters(("sum", rtype, name), total_ms / 1000.0)
            yield "_count", labels, self._counters(("count", rtype, name), n)

    def _users_per_kind(self) -> dict[str, int]:
        runner = self.environment.runner
        if runner is None:
            return {}
        counts = getattr(runner, "reported_user_classes_count", None)
        counts = counts if counts is not None else runner.user_classes_count
        classes = getattr(self.environment, "available_user_classes", None) or {
            cls.__name__: cls for cls in self.environment.user_classes}
        kinds: dict[str, int] = {}
        for name, n in counts.items():
            kind = getattr(classes.get(name), "kind", None) or "other"
            kinds[kind] = kinds.get(kind, 0) + n
        return kinds

    def _verdict_rows(self) -> Iterable[tuple[str, list[Row]]]:
        from stresskit.run.criteria import criteria_of
        from stresskit.run.thresholds import evaluate

        criteria = criteria_of(self.environment)
        results = criteria.criteria_results() if criteria is not None and self.environment.runner is not None else []
        passed: list[Row] = []
        evaluated: list[Row] = []
        values: list[Row] = []
        limits: list[Row] = []
        passing = True
        for result in results:
            labels: dict[str, Any] = {"criterion": result.name}
            judged = result.passed is not None and not str(result.detail).startswith(_NOT_EVALUATED)
            evaluated.append(("", labels, 1 if judged else 0))
            if judged:
                passed.append(("", labels, 1 if result.passed else 0))
                passing = passing and bool(result.passed)
            values.append(("", labels, result.value))
            limits.append(("", labels, result.limit))
        threshold_passed: list[Row] = []
        threshold_values: list[Row] = []
        for threshold in criteria.thresholds if criteria is not None else []:
            outcome = evaluate(threshold, self.environment)
            labels = {"threshold": threshold.expression}
            threshold_values.append(("", labels, outcome.value))
            if outcome.value is not None and outcome.passed is not None:
                threshold_passed.append(("", labels, 1 if outcome.passed else 0))
                passing = passing and bool(outcome.passed)
        yield "stresskit_criterion_passed", passed
        yield "stresskit_criterion_evaluated", evaluated
        yield "stresskit_criterion_value", values
        yield "stresskit_criterion_limit", limits
        yield "stresskit_threshold_passed", threshold_passed
        yield "stresskit_threshold_value", threshold_values
        yield "stresskit_verdict_passing", [("", {}, 1 if passing else 0)] if criteria is not None else []
        from stresskit.run.shape import plan_of

        plan = plan_of(self.environment)
        yield "stresskit_scenario_info", [("", {"scenario": plan.scenario.name}, 1)] if plan else []


def _wsgi_app(render: Callable[[], str], token: str | None) -> Callable[..., Any]:
    expected = f"Bearer {token}".encode() if token else None

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"stresskit: only GET /metrics is served here\n"]
        if expected is not None and not hmac.compare_digest(
                environ.get("HTTP_AUTHORIZATION", "").encode(), expected):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"stresskit: send Authorization: Bearer <--metrics-token>\n"]
        try:
            body = render().encode()
        except Exception:  # a bug here must not take the run down: answer 500, say it in the log
            log.exception("rendering the metrics failed")
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"stresskit: rendering the metrics failed; see the master's log\n"]
        start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app



_REGISTERED = Once()


def use_metrics(events: Any) -> None:
    """Opt a locustfile into the Prometheus endpoint (served only with ``--metrics-port``). Idempotent."""
    register_options(events, add_arguments)
    if not _REGISTERED.first(events):
        return
    events.init.add_listener(_on_init)


def _on_init(environment: RunEnvironment, **_: Any) -> None:
    from locust.runners import WorkerRunner

    from stresskit.core.exitcodes import quit_bad_configuration

    port = option(environment, "metrics_port", None)
    if port is None or isinstance(environment.runner, WorkerRunner):
        return
    bind = str(option(environment, "metrics_bind", "127.0.0.1") or "127.0.0.1")
    token = option(environment, "metrics_token", None) or None
    if not 0 <= int(port) <= 65535:
        quit_bad_configuration(environment, f"--metrics-port {port}: not a TCP port (0-65535)")
    if not token and not is_loopback(bind):
        quit_bad_configuration(environment, f"--metrics-bind {bind} is not loopback: set --metrics-token "
                                            "(or STRESSKIT_METRICS_TOKEN) so only your Prometheus can scrape")
    from gevent.pywsgi import WSGIServer

    exporter = MetricsExporter(environment)
    server = WSGIServer((bind, int(port)), _wsgi_app(exporter.render, token), log=None, error_log=log)
    try:
        server.start()
    except OSError as exc:
        quit_bad_configuration(environment, f"--metrics-port {port} on {bind}: cannot listen ({exc.strerror}); "
                                            "pick a free port")
    _SLOT.set(environment, (exporter, server))
    host, bound = server.address[:2]
    log.info("Prometheus metrics at http://%s:%d/metrics%s", host, bound, " (bearer token required)" if token else "")

    def stop(**_: Any) -> None:
        server.stop(timeout=1)

    environment.events.quitting.add_listener(stop)
