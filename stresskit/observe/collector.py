"""The collector on the Locust master (or local runner): agent samples in, resources CSV and alerts out.

Opt in from a locustfile::

    from locust import events
    from stresskit.observe.collector import use_collector

    use_collector(events)          # adds --agent, --agent-token, --alert-*; nothing happens on import

While a test runs, the collector subscribes to every ``--agent`` (one greenlet each), writes
each sample to ``<--csv prefix>_resources.csv`` as it arrives (flushed per sample, columns
``stresskit.core.schema.RESOURCE_COLUMNS``), keeps the last minutes in memory for the web UI and
fires ``resource_sample`` for other parts. A dropped stream is reopened from the last sequence
number it saw, so nothing is lost while the agent's ring still holds it; samples that really
are lost — the ring overflowed, the agent restarted, or it stayed away until the test ended —
become ``gap`` rows and a log line.

When a host's CPU or memory stays above ``--alert-cpu`` / ``--alert-memory`` for
``--alert-sustain`` seconds the collector logs it, fires ``resource_alert`` and appends it to
``run_state_of(environment).alerts`` (which the success criteria read).

Every load generator measures itself (psutil, its own process): workers send the figures with
their ``report_to_master`` data, the master and a local runner sample themselves on the same
3 s beat; they become ``generator`` rows beside the target's, so a saturated generator shows.
The collector itself never runs on a worker.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import gevent
import gevent.event
import psutil

from stresskit.agent.client import AgentClient, SampleStream
from stresskit.agent.schema import SampleError, gap_row, generator_row, sample_rows, validate_sample
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.limits import RESOURCE_ALERT_PERCENT
from stresskit.core.options import option, register_options
from stresskit.core.perrun import Once, PerRun
from stresskit.core.runstate import run_state_of
from stresskit.core.schema import RESOURCE_COLUMNS, RESOURCES_SUFFIX
from stresskit.errors import AgentAuthError, AgentError, ConfigError
from stresskit.events import stresskit_events_of

__all__ = [
    "GENERATOR_KEY",
    "AlertPolicy",
    "AlertTracker",
    "Collector",
    "GeneratorProbe",
    "add_arguments",
    "collector_of",
    "use_collector",
]

log = logging.getLogger("stresskit.observe.collector")

GENERATOR_KEY = "stresskit_generator"
"""Key of a worker's own figures in its ``report_to_master`` data."""

GENERATOR_INTERVAL = 3.0
"""Seconds between the master's / local runner's measurements of itself (Locust's report beat)."""

_SLOT: PerRun[Any] = PerRun("collector")


# -- options ---------------------------------------------------------------------------------------

def _agent_urls(text: str) -> str:
    for url in _split(text):
        try:
            AgentClient(url)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"{value:g} is not a percentage in (0, 100]")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value:g} seconds is negative")
    return value


def _split(values: Iterable[str] | str | None) -> list[str]:
    if not values:
        return []
    if isinstance(values, str):
        values = [values]
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def add_arguments(parser: Any) -> None:
    """The collector's options on Locust's parser (``--agent``, ``--agent-token``, ``--alert-*``)."""
    group = parser.add_argument_group("stresskit resource agents")
    ui_hidden = []
    ui_hidden.append(group.add_argument(
        "--agent", action="append", default=None, type=_agent_urls, env_var="STRESSKIT_AGENT", metavar="URL",
        help="a target host's stresskit agent, http://host:port (repeatable, or comma separated in "
             "STRESSKIT_AGENT); sampled while the test runs"))
    token = group.add_argument(
        "--agent-token", default=None, env_var="STRESSKIT_AGENT_TOKEN", metavar="TOKEN",
        help="bearer token of the agents (prefer the STRESSKIT_AGENT_TOKEN variable)")
    token.is_secret = True
    ui_hidden.append(token)
    group.add_argument("--alert-cpu", type=_percent, default=RESOURCE_ALERT_PERCENT, env_var="STRESSKIT_ALERT_CPU",
                       metavar="PERCENT",
                       help="alert when a target host's CPU stays above this (default 90)")
    group.add_argument("--alert-memory", type=_percent, default=RESOURCE_ALERT_PERCENT, env_var="STRESSKIT_ALERT_MEMORY",
                       metavar="PERCENT", help="alert when a target host's memory stays above this (default 90)")
    group.add_argument("--alert-sustain", type=_seconds, default=60.0, env_var="STRESSKIT_ALERT_SUSTAIN",
                       metavar="SECONDS", help="how long a host must stay above a threshold to alert (default 60)")
    for action in ui_hidden:  # a URL list and a token have no business in the web form
        action.include_in_web_ui = False


# -- alerts ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AlertPolicy:
    """Thresholds in percent and the time a host must stay above one before it alerts."""

    cpu: float = 90.0
    memory: float = 90.0
    sustain: float = 60.0

    def threshold(self, metric: str) -> float:
        return self.cpu if metric == "cpu_percent" else self.memory


@dataclass
class _Excursion:
    since: float
    value: float
    fired: bool = False


class AlertTracker:
    """Turns a host's readings into alerts: one per excursion above a threshold that lasts ``sustain``.

    A pure function of the readings and their timestamps (no clock inside), so it is tested
    table-driven. A reading at or below the threshold ends the excursion; ``None`` readings
    (not known yet) are ignored.
    """

    METRICS = ("cpu_percent", "memory_percent")

    def __init__(self, policy: AlertPolicy) -> None:
        self.policy = policy
        self._open: dict[tuple[str, str], _Excursion] = {}

    def update(self, host: str, metric: str, value: float | None, at: float) -> dict[str, Any] | None:
        """Feed one reading; returns the alert dict the moment an excursion has lasted ``sustain``."""
        if value is None:
            return None
        key = (host, metric)
        threshold = self.policy.threshold(metric)
        if value <= threshold:
            ended = self._open.pop(key, None)
            if ended is not None and ended.fired:
                log.warning("host %s %s back to %.1f%% (at or below %.0f%%)", host, metric, value, threshold)
            return None
        excursion = self._open.setdefault(key, _Excursion(since=at, value=value))
        excursion.value = value
        if excursion.fired or at - excursion.since < self.policy.sustain:
            return None
        excursion.fired = True
        return {"host": host, "metric": metric, "value": value, "threshold": threshold, "since": excursion.since,
                "time": at}

    def active(self) -> list[dict[str, Any]]:
        """The excursions that have alerted and not ended."""
        return [{"host": host, "metric": metric, "value": exc.value, "threshold": self.policy.threshold(metric),
                 "since": exc.since} for (host, metric), exc in self._open.items() if exc.fired]


# -- the load generators' own figures --------------------------------------------------------------

class GeneratorProbe:
    """This process's CPU and memory, for the ``generator`` rows.

    The meaningless first ``cpu_percent`` reading is taken (and thrown away) on construction,
    so every :meth:`read` reports the CPU used since the previous one.
    """

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self._proc.cpu_percent(None)
        self._total = psutil.virtual_memory().total

    def read(self) -> dict[str, Any]:
        with self._proc.oneshot():
            cpu = self._proc.cpu_percent(None)
            rss = self._proc.memory_info().rss
            threads = self._proc.num_threads()
        return {"time": time.time(), "pid": self._proc.pid, "cpu_percent": cpu, "rss_bytes": rss,
                "memory_percent": round(rss / self._total * 100.0, 3), "threads": threads}


# -- in-memory history for the web UI --------------------------------------------------------------

class History:
    """The last ``window`` seconds of (time, cpu %, memory %, rss) per series, bounded in points too.

    Every point gets a revision number as it is added, so a poller asks for what arrived since
    its last revision; timestamps would not do, as generators and agents report out of order.
    """

    def __init__(self, window: float = 900.0, max_points: int = 900) -> None:
        self.window = window
        self.max_points = max_points
        self.revision = 0
        self._series: dict[tuple[str, str, str], deque[tuple[int, float, Any, Any, Any]]] = {}

    def add(self, host: str, kind: str, name: str, at: float, cpu: Any, memory: Any, rss: Any) -> None:
        key = (host, kind, name)
        points = self._series.get(key)
        if points is None:
            points = self._series[key] = deque(maxlen=self.max_points)
        self.revision += 1
        points.append((self.revision, at, cpu, memory, rss))

    def prune(self, now: float) -> None:
        """Forget the points older than the window, and the series (e.g. processes that exited) left without one."""
        horizon = now - self.window
        for key, points in list(self._series.items()):
            while points and points[0][1] < horizon:
                points.popleft()
            if not points:
                del self._series[key]

    def export(self, after: int = 0) -> list[dict[str, Any]]:
        """Series with their points added after revision ``after``, as ``[time, cpu, memory, rss]``."""
        out = []
        for (host, kind, name), points in sorted(self._series.items()):
            if points and points[-1][0] > after:
                out.append({"host": host, "kind": kind, "name": name,
                            "points": [list(p[1:]) for p in points if p[0] > after]})
        return out

    def latest(self) -> list[dict[str, Any]]:
        """The newest point of every series."""
        return [{"host": host, "kind": kind, "name": name, "time": pts[-1][1], "cpu_percent": pts[-1][2],
                 "memory_percent": pts[-1][3], "rss_bytes": pts[-1][4]}
                for (host, kind, name), pts in sorted(self._series.items()) if pts]


# -- one agent --------------------------------------------------------------------------------------

@dataclass
class _Link:
    url: str
    client: AgentClient
    host: str
    started: float
    instance: str | None = None
    last_seq: int | None = None
    last_time: float | None = None
    interval: float = 1.0
    connected: bool = False
    down_since: float | None = None
    error: str = ""
    samples: int = 0
    connects: int = 0
    gaps: int = 0
    lost: int = 0
    stream: SampleStream | None = None
    greenlet: gevent.Greenlet | None = field(default=None, repr=False)

    def status(self) -> dict[str, Any]:
        return {"host": self.host, "url": self.url, "connected": self.connected, "down_since": self.down_since,
                "error": self.error, "instance": self.instance, "last_seq": self.last_seq,
                "last_time": self.last_time, "samples": self.samples, "connects": self.connects, "gaps": self.gaps,
                "lost": self.lost}


class Collector:
    """Subscribes to the agents while a test runs; see the module docstring."""

    def __init__(self, environment: RunEnvironment, agents: list[str], token: str | None, csv_path: Path | None,
                 policy: AlertPolicy, generator_name: str = "local", history: History | None = None,
                 read_timeout: float = 15.0, generator_interval: float = GENERATOR_INTERVAL) -> None:
        self.environment = environment
        self.agents = list(agents)
        self.token = token
        self.csv_path = csv_path
        self.policy = policy
        self.generator_name = generator_name
        self.history = history or History()
        self.read_timeout = read_timeout
        self.generator_interval = generator_interval
        self.alerts = AlertTracker(policy)
        self.alert_log: list[dict[str, Any]] = []
        self.gap_log: deque[dict[str, Any]] = deque(maxlen=200)
        self.links: list[_Link] = []
        self.running = False
        self.rows_written = 0
        self._write_failed = False
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter | None = None
        self._columnar: Any = None  # a ColumnarWriter; None: not opened yet; False: given up
        self._stop = gevent.event.Event()
        self._probe = GeneratorProbe()
        self._probe_greenlet: gevent.Greenlet | None = None
        self._events = stresskit_events_of(environment)
        self._listener_errors = 0

    # -- life cycle --------------------------------------------------------------------------------

    def set_policy(self, policy: AlertPolicy) -> None:
        """Use new alert thresholds (between tests; open excursions start over)."""
        if policy != self.policy:
            self.policy = policy
            self.alerts = AlertTracker(policy)

    def start(self) -> None:
        """Subscribe to every agent (from its next sample) and start measuring this generator."""
        if self.running:
            return
        self.running = True
        self._stop = gevent.event.Event()
        now = time.time()
        self.links = []
        for url in self.agents:
            client = AgentClient(url, self.token)
            link = _Link(url=client.url, client=client, host=urlsplit(client.url).netloc, started=now)
            link.greenlet = gevent.spawn(self._follow, link)
            self.links.append(link)
        self._probe_greenlet = gevent.spawn(self._probe_loop)
        if self.agents:
            log.info("collecting resources from %s%s", ", ".join(self.agents),
                     f" into {self.csv_path}" if self.csv_path else "")

    def stop(self) -> None:
        """Unsubscribe, record the gap of any agent still away, flush."""
        if not self.running:
            return
        self.running = False
        self._stop.set()
        greenlets = [g for g in [*(link.greenlet for link in self.links), self._probe_greenlet] if g is not None]
        gevent.killall(greenlets, block=True, timeout=5)
        now = time.time()
        for link in self.links:
            if not link.connected:
                start = link.last_time + link.interval if link.last_time is not None else link.started
                lost = int((now - start) // link.interval) + (1 if link.last_time is None else 0)
                if lost > 0:
                    self._gap(link, start, lost, "unreachable until the test ended")
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                from stresskit.run.lifecycle import discard, note_write_error

                self._write_failed = True
                discard(self._file)
                self._file = self._writer = None
                note_write_error(self.environment, str(self.csv_path), exc)

    def close(self) -> None:
        """Stop and close the CSV file (``quitting``)."""
        self.stop()
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None
        if self._columnar:
            self._columnar.close()
        self._columnar = None

    # -- per agent ---------------------------------------------------------------------------------

    def _follow(self, link: _Link) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                since = link.last_seq + 1 if link.last_seq is not None else None
                link.stream = link.client.samples(since=since, instance=link.instance,
                                                  read_timeout=self.read_timeout)
                self._up(link)
                backoff = 0.5
                for sample in link.stream:
                    self._on_sample(link, sample)
                    if self._stop.is_set():
                        return
                raise AgentError(f"agent {link.url} closed the stream")
            except AgentAuthError as exc:
                self._down(link, str(exc), level=logging.ERROR)
                backoff = 30.0  # a wrong token does not fix itself; keep the log quiet
            except (AgentError, SampleError) as exc:
                if self._stop.is_set():
                    return
                self._down(link, str(exc))
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 5.0)

    def _up(self, link: _Link) -> None:
        if link.down_since is not None:
            log.warning("agent %s reachable again after %.1fs; resuming from seq %s", link.url,
                        time.time() - link.down_since, (link.last_seq or 0) + 1)
        link.connected, link.down_since, link.error = True, None, ""
        link.connects += 1

    def _down(self, link: _Link, error: str, level: int = logging.WARNING) -> None:
        if link.connected or link.down_since is None:
            log.log(level, "%s; the test goes on, reconnecting (samples the agent keeps meanwhile are fetched "
                           "then, lost ones recorded as a gap)", error)
            link.down_since = time.time()
        link.connected, link.error = False, error

    def _on_sample(self, link: _Link, sample: dict[str, Any]) -> None:
        validate_sample(sample)
        seq, at = sample["seq"], float(sample["time"])
        interval = float(sample["interval"]) or 1.0
        if link.instance is not None and sample["instance"] != link.instance:
            previous = link.last_time if link.last_time is not None else at
            lost = max(0, round((at - previous) / interval) - 1)
            if lost:
                self._gap(link, previous + interval, lost, "the agent restarted")
        elif link.last_seq is not None:
            if seq <= link.last_seq:
                return  # already have it
            if seq > link.last_seq + 1:
                self._gap(link, (link.last_time or at) + interval, seq - link.last_seq - 1,
                          "the agent's ring buffer no longer held them")
        link.instance, link.last_seq, link.last_time, link.interval = sample["instance"], seq, at, interval
        link.host = sample["host"]
        link.samples += 1
        self._write(sample_rows(sample))
        self._remember(sample)
        try:
            self._events.resource_sample.fire(sample=sample)
        except Exception:
            self._listener_errors += 1
            if self._listener_errors <= 3:
                log.exception("a resource_sample listener failed")

    def _remember(self, sample: dict[str, Any]) -> None:
        host, at, system = sample["host"], float(sample["time"]), sample["system"]
        self.history.add(host, "system", "system", at, system.get("cpu_percent"), system.get("memory_percent"),
                         system.get("memory_used"))
        for proc in sample["processes"]:
            self.history.add(host, "process", f"{proc.get('name', '')} [{proc['pid']}]", at,
                             proc.get("cpu_percent"), proc.get("memory_percent"), proc.get("rss_bytes"))
        browsers = sample["browsers"]
        if browsers.get("count"):
            total = system.get("memory_total") or 0
            rss = browsers.get("rss_bytes") or 0
            self.history.add(host, "browsers", "browsers", at, None,
                             round(rss / total * 100.0, 3) if total else None, rss)
        for metric in AlertTracker.METRICS:
            alert = self.alerts.update(host, metric, system.get(metric), at)
            if alert is not None:
                self._alert(alert)

    def _alert(self, alert: dict[str, Any]) -> None:
        log.warning("ALERT host %s %s %.1f%% above %.0f%% for %.0fs (since %s)", alert["host"], alert["metric"],
                    alert["value"], alert["threshold"], alert["time"] - alert["since"],
                    time.strftime("%H:%M:%S", time.localtime(alert["since"])))
        self.alert_log.append(alert)
        run_state_of(self.environment).alerts.append(dict(alert))
        try:
            self._events.resource_alert.fire(host=alert["host"], metric=alert["metric"], value=alert["value"],
                                             threshold=alert["threshold"], since=alert["since"])
        except Exception:
            log.exception("a resource_alert listener failed")

    def _gap(self, link: _Link, start: float, lost: int, reason: str) -> None:
        link.gaps += 1
        link.lost += lost
        log.warning("agent %s (%s): %d sample(s) lost from %s: %s", link.url, link.host, lost,
                    time.strftime("%H:%M:%S", time.localtime(start)), reason)
        self.gap_log.append({"host": link.host, "url": link.url, "start": start, "lost": lost, "reason": reason})
        self._write([gap_row(link.host, start, lost)])

    # -- load generators ---------------------------------------------------------------------------

    def _probe_loop(self) -> None:
        while not self._stop.wait(self.generator_interval):
            self.add_generator(self.generator_name, self._probe.read())

    def add_generator(self, worker: str, figures: dict[str, Any] | None) -> None:
        """Record one load generator's own figures (a worker's arrive with its report)."""
        if not self.running or not isinstance(figures, dict) or "time" not in figures:
            return
        self._write([generator_row(worker, figures)])
        self.history.add(worker, "generator", worker, float(figures["time"]), figures.get("cpu_percent"),
                         figures.get("memory_percent"), figures.get("rss_bytes"))

    # -- output ------------------------------------------------------------------------------------

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if self.csv_path is None or self._write_failed:
            return
        try:
            self._write_rows(rows)
        except OSError as exc:  # disk full: say so once, keep collecting (web UI, alerts), name the file
            from stresskit.run.lifecycle import discard, note_write_error

            self._write_failed = True
            discard(self._file)
            self._file = self._writer = None
            note_write_error(self.environment, str(self.csv_path), exc)

    def _write_rows(self, rows: list[dict[str, Any]]) -> None:
        path = self.csv_path
        assert path is not None  # _write checked it
        if self._writer is None or self._file is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", newline="")  # noqa: SIM115  (closed in close())
            self._writer = csv.DictWriter(self._file, fieldnames=RESOURCE_COLUMNS)
            self._writer.writeheader()
        self._writer.writerows(rows)
        self._file.flush()
        self.rows_written += len(rows)
        self._side_file(rows)

    def _side_file(self, rows: list[dict[str, Any]]) -> None:
        """The columnar copy the report reads instead of parsing the CSV (stresskit.report.columnar);
        it can never cost the CSV: on any error it stops, and the report then parses the CSV."""
        if self._columnar is False or self._file is None:
            return
        try:
            if self._columnar is None:
                # numpy is loaded only once there are rows to write
                from stresskit.report.columnar import ColumnarWriter

                assert self.csv_path is not None  # a CSV is written, so it has a path
                self._columnar = ColumnarWriter(self.csv_path)
            self._columnar.append(rows, os.fstat(self._file.fileno()).st_size)
        except (OSError, ValueError, TypeError) as exc:
            log.warning("resources: the columnar side file of %s stopped (%s); the report will parse the CSV",
                        self.csv_path, exc)
            if self._columnar:
                self._columnar.close()
            self._columnar = False

    def snapshot(self, after: int = 0) -> dict[str, Any]:
        """JSON-ready state for the web UI: agents, points added after revision ``after``, alerts, gaps."""
        now = time.time()
        self.history.prune(now)
        return {
            "now": now,
            "revision": self.history.revision,
            "running": self.running,
            "thresholds": {"cpu_percent": self.policy.cpu, "memory_percent": self.policy.memory,
                           "sustain": self.policy.sustain},
            "agents": [link.status() for link in self.links] or [
                {"host": urlsplit(url).netloc, "url": url, "connected": False, "down_since": None,
                 "error": "not subscribed (no test running)", "samples": 0, "gaps": 0, "lost": 0}
                for url in self.agents],
            "series": self.history.export(after),
            "alerts": {"active": self.alerts.active(), "history": self.alert_log[-50:]},
            "gaps": list(self.gap_log),
        }

    def summary(self) -> dict[str, Any]:
        """Per-agent totals for criteria and reports."""
        return {"agents": [link.status() for link in self.links], "alerts": list(self.alert_log),
                "gaps": list(self.gap_log), "rows_written": self.rows_written}


# -- wiring ----------------------------------------------------------------------------------------

def collector_of(environment: RunEnvironment) -> Collector | None:
    """The environment's collector (master or local runner with ``use_collector``), else ``None``."""
    return _SLOT.get(environment)


def _policy(environment: RunEnvironment) -> AlertPolicy:
    return AlertPolicy(cpu=float(option(environment, "alert_cpu", 90.0)),
                       memory=float(option(environment, "alert_memory", 90.0)),
                       sustain=float(option(environment, "alert_sustain", 60.0)))


def _csv_path(environment: RunEnvironment) -> Path | None:
    prefix = option(environment, "csv_prefix", None)
    return Path(f"{prefix}{RESOURCES_SUFFIX}") if prefix else None


def _on_init(environment: RunEnvironment, want_web_ui: bool, runner: Any = None, web_ui: Any = None) -> None:
    from locust.runners import LocalRunner, MasterRunner, WorkerRunner

    runner = runner or environment.runner
    events = environment.events
    if isinstance(runner, WorkerRunner):
        probe = GeneratorProbe()

        def attach_figures(client_id: str, data: dict[str, Any], **_: Any) -> None:
            data[GENERATOR_KEY] = probe.read()

        events.report_to_master.add_listener(attach_figures)
        return
    if not isinstance(runner, (MasterRunner, LocalRunner)):
        return
    collector = Collector(environment, _split(option(environment, "agent", None)),
                          option(environment, "agent_token", None), _csv_path(environment), _policy(environment),
                          generator_name="master" if isinstance(runner, MasterRunner) else "local")
    _SLOT.set(environment, collector)

    def on_test_start(**_: Any) -> None:
        collector.set_policy(_policy(environment))  # the web UI may have changed the thresholds
        collector.start()

    events.test_start.add_listener(on_test_start)
    events.test_stop.add_listener(lambda **_: collector.stop())
    events.quitting.add_listener(lambda **_: collector.close())
    events.worker_report.add_listener(
        lambda client_id, data, **_: collector.add_generator(client_id, data.get(GENERATOR_KEY)))
    if want_web_ui and (web_ui or getattr(environment, "web_ui", None)) is not None:
        from stresskit.observe.webui import install_resources_view

        install_resources_view(environment, collector)


_wired = Once()


def use_collector(events: Any, *, web_ui: bool = True) -> None:
    """Opt a locustfile into resource collection: registers the options and the listeners on ``events``.

    Call it once at import time of the locustfile (``from locust import events``). On the master
    or a local runner it builds the :class:`Collector` at ``init``; on a worker it only adds the
    worker's own CPU and memory to its reports. With ``web_ui`` (default) the Resources tab is
    added when Locust's web UI runs. Calling it again is harmless.
    """
    register_options(events, add_arguments)
    if not _wired.first(events):
        return

    def on_init(environment: RunEnvironment, runner: Any = None, web_ui: Any = None, **_: Any) -> None:
        _on_init(environment, want_web_ui, runner=runner, web_ui=web_ui)

    want_web_ui = web_ui
    events.init.add_listener(on_init)
