"""Run-wide faults on a timeline: error-recovery runs and the scenario conditions.

A :class:`~stresskit.faults.effects.RunFault` (built from the catalogue,
:data:`stresskit.faults.kinds.KINDS`) breaks the whole system under test for real (``begin``),
puts it back (``end``) and says when it is healthy again. A :class:`RecoveryDriver` runs one on
a timeline on the master (or local runner): at ``--recovery-at`` seconds into the test it begins
the fault, logs an ``injected`` row, and tells every worker
(:data:`~stresskit.faults.log.RUN_FAULT_MESSAGE`) so that each running user owes a recovery,
timed to its next success (``RECOVERY`` / ``<kind>`` stats entries); after ``--recovery-down``
seconds it ends the fault and logs a run-level ``recovered`` row with the time until the target
answered again. A fault still on when the test stops is always ended.

The restartable target of a recovery run is :func:`stresskit.run.embedded.use_managed_target`. The
scenario conditions (memory pressure, network instability, resource exhaustion) run here too,
as periodic episodes (:func:`start_conditions`).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import gevent
from locust.runners import MasterRunner, WorkerRunner

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import option, register_options
from stresskit.core.perrun import Listeners, PerRun
from stresskit.errors import ConfigError, DependencyMissing, FaultError
from stresskit.faults.config import FaultConfig
from stresskit.faults.effects import RunFault
from stresskit.faults.effects.host import HostPressure
from stresskit.faults.log import RUN_FAULT_MESSAGE, report
from stresskit.run.embedded import managed_system_of

__all__ = [
    "HostPressure",
    "RecoveryDriver",
    "RunFault",
    "add_recovery_arguments",
    "announce_recovery",
    "begin_run_fault",
    "start_conditions",
    "use_recovery",
]

log = logging.getLogger("stresskit.faults")

# -- announcing and driving ----------------------------------------------------------------------

def begin_run_fault(environment: RunEnvironment, kind: str, detail: str, since: float | None = None) -> float:
    """Log a run-wide fault and tell every worker's injector that its users owe a recovery."""
    since = since or time.time()
    report(environment, "injected", kind, user="", detail=detail, timestamp=since)
    announce_recovery(environment, kind, since, detail)
    return since


def announce_recovery(environment: RunEnvironment, kind: str, since: float, detail: str = "",
                      affected_since: float | None = None) -> None:
    """Tell every injector that its running users owe a recovery from ``since``; with ``affected_since``
    only the users that failed since then (a condition announced at its lift)."""
    runner = environment.runner
    # a master tells every worker; a local runner tells its own injector, if it has one
    if runner is not None and (isinstance(runner, MasterRunner) or RUN_FAULT_MESSAGE in runner.custom_messages):
        data: dict[str, Any] = {"kind": kind, "since": since, "detail": detail}
        if affected_since is not None:
            data["affected_since"] = affected_since
        runner.send_message(RUN_FAULT_MESSAGE, data)


@dataclass
class _Episode:
    fault: RunFault
    since: float
    ended: bool = False


class RecoveryDriver:
    """Runs one :class:`RunFault` on a timeline on the master (or local runner): begin at ``at``
    seconds after test start, end ``down`` seconds later, again every ``every`` seconds (0 = once).

    ``track_health`` logs a run-level ``recovered`` row once ``fault.healthy()`` is true again
    (or a ``critical`` one after ``limit`` seconds). ``at_lift`` (the scenario conditions): the
    users owe their recovery from the moment the fault is lifted, and only those that failed
    while it was on. A fault the harness cannot begin or end is a harness error (exit code 1).
    """

    def __init__(self, environment: RunEnvironment, fault: RunFault, at: float, down: float, every: float = 0.0,
                 limit: float = 30.0, track_health: bool = True, at_lift: bool = False) -> None:
        self.environment = environment
        self.fault = fault
        self.at, self.down, self.every, self.limit = at, down, every, limit
        self.track_health = track_health
        self.at_lift = at_lift
        self.episodes: list[_Episode] = []
        self._greenlet: gevent.Greenlet | None = None
        self._current: _Episode | None = None
        events = environment.events
        self._listeners = Listeners((events.test_start, self._on_test_start), (events.test_stop, self._on_test_stop),
                                    (events.quitting, self._on_test_stop))

    def remove(self) -> None:
        self._on_test_stop()
        self._listeners.remove()

    def _on_test_start(self, **_: Any) -> None:
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)

    def _on_test_stop(self, **_: Any) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=5)
            self._greenlet = None
        episode = self._current
        if episode is not None and not episode.ended:
            self._end(episode)

    def _run(self) -> None:
        start = time.monotonic()
        next_at = self.at
        while True:
            gevent.sleep(max(0.0, start + next_at - time.monotonic()))
            self.run_once()
            if self.every <= 0:
                return
            next_at += self.every

    def run_once(self) -> _Episode | None:
        """Begin the fault now, keep it for ``down`` seconds, end it, then wait for health."""
        kind = self.fault.kind
        since = time.time()
        try:
            detail = self.fault.begin()
        except (FaultError, ConfigError, OSError) as exc:
            from stresskit.faults.log import harness_error

            harness_error(self.environment, f"could not begin {kind}: {exc}")
            return None
        episode = _Episode(self.fault, since)
        self._current = episode
        self.episodes.append(episode)
        if self.at_lift:
            report(self.environment, "injected", kind, user="", detail=detail, timestamp=since)
        else:
            begin_run_fault(self.environment, kind, detail, since)
        log.warning("run-wide fault %s: %s", kind, detail)
        gevent.sleep(self.down)
        repair_started = time.time()
        restored = self._end(episode)
        if self.at_lift:
            # the condition is over: one run-level row (it ends the run-wide episode for the report and the
            # availability excuses), then the users it hit owe their recovery from now
            report(self.environment, "recovered", kind, user="", timestamp=repair_started,
                   detail=f"condition lifted after {repair_started - since:.3f}s")
            announce_recovery(self.environment, kind, repair_started, f"{detail}; lifted", affected_since=since)
        if self.track_health:
            self._await_health(episode, restored, repair_started)
        return episode

    def _end(self, episode: _Episode) -> str:
        episode.ended = True
        self._current = None
        try:
            restored = self.fault.end()
        except (FaultError, DependencyMissing, OSError) as exc:
            from stresskit.faults.log import harness_error

            harness_error(self.environment, f"could not end {self.fault.kind}: {exc}")
            return ""
        if restored:
            log.warning("run-wide fault %s ended: %s", self.fault.kind, restored)
        return restored

    def _await_health(self, episode: _Episode, restored: str, repair_started: float) -> None:
        deadline = time.monotonic() + self.limit
        while time.monotonic() < deadline:
            if self.fault.healthy():
                now = time.time()
                report(self.environment, "recovered", self.fault.kind, user="",
                       detail=f"system healthy again {now - repair_started:.3f}s after the repair began"
                              + (f" ({restored})" if restored else ""),
                       recovery_time=now - episode.since, timestamp=now)
                return
            gevent.sleep(0.05)
        report(self.environment, "critical", self.fault.kind,
               detail=f"system not healthy {self.limit:g}s after the fault ended")


_DRIVER_SLOT: PerRun[RecoveryDriver] = PerRun("recovery_driver")


# -- the recovery options and driver wiring ----------------------------------------------------------

def add_recovery_arguments(parser: Any) -> None:
    """Options of the ready recovery runs (``locustfiles/recovery_*.py``)."""
    group = parser.add_argument_group("stresskit recovery runs")
    group.add_argument("--recovery-at", type=float, default=5.0, env_var="STRESSKIT_RECOVERY_AT",
                       help="seconds after the test starts when the run-wide fault begins (default 5)")
    group.add_argument("--recovery-down", type=float, default=2.0, env_var="STRESSKIT_RECOVERY_DOWN",
                       help="seconds the run-wide fault lasts before it is repaired (default 2)")
    group.add_argument("--recovery-every", type=float, default=0.0, env_var="STRESSKIT_RECOVERY_EVERY",
                       help="repeat the fault every this many seconds (default 0: once)")
    group.add_argument("--recovery-restart-redis", action="store_true", default=False,
                       help="cache_disconnect: SIGKILL and restart the managed redis-server instead of CLIENT KILL")
    group.add_argument("--partition-link", default="", env_var="STRESSKIT_PARTITION_LINK",
                       help="network_partition: NETNS:DEV, a link to set down and up "
                            "(ip -n NETNS link set DEV down); default: the fault proxy goes down")


def use_recovery(events: Any, kind: str) -> None:
    """Run the run-wide fault ``kind`` on the options' timeline (master or local runner)."""
    from stresskit.faults.kinds import RUN_KINDS

    if kind not in RUN_KINDS:
        raise ValueError(f"unknown run-wide fault {kind!r}; known: {', '.join(RUN_KINDS)}")
    register_options(events, add_recovery_arguments)

    def on_init(environment: RunEnvironment, **_: Any) -> None:
        if isinstance(environment.runner, WorkerRunner):
            return
        try:
            fault = _build_fault(environment, kind)
            at = _positive(option(environment, "recovery_at", 5.0), "--recovery-at", zero_ok=True)
            down = _positive(option(environment, "recovery_down", 2.0), "--recovery-down", zero_ok=True)
            every = _positive(option(environment, "recovery_every", 0.0), "--recovery-every", zero_ok=True)
            if every and every <= down:
                raise ConfigError(f"--recovery-every ({every:g}s) must be longer than --recovery-down ({down:g}s)")
        except ConfigError as exc:
            from stresskit.core.exitcodes import quit_bad_configuration

            quit_bad_configuration(environment, f"recovery: {exc}")
        limit = float(option(environment, "fault_recovery_limit", 30.0))
        driver = RecoveryDriver(environment, fault, at, down, every, limit=limit)
        _DRIVER_SLOT.set(environment, driver)
        log.info("recovery run: %s at %gs for %gs%s", kind, at, down, f", every {every:g}s" if every else "")

    events.init.add_listener(on_init)


def _positive(value: Any, name: str, zero_ok: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if number < 0 or (number == 0 and not zero_ok):
        raise ConfigError(f"{name} must be {'>= 0' if zero_ok else '> 0'}, got {value!r}")
    return number


class _RunContext:
    """What a run-wide builder gets (:class:`stresskit.faults.effects.RunFaultContext`)."""

    def __init__(self, environment: RunEnvironment, kind: str) -> None:
        self.environment = environment
        self.kind = kind
        self.system = managed_system_of(environment)
        self.host = environment.host or option(environment, "host")

    def option(self, name: str, default: Any = None) -> Any:
        return option(self.environment, name, default)

    def config(self) -> FaultConfig:
        from stresskit.faults.config import load_config

        return load_config(self.environment)


def _build_fault(environment: RunEnvironment, kind: str) -> RunFault:
    """The catalogue's builder for the run-wide ``kind`` (:data:`stresskit.faults.kinds.KINDS`)."""
    from stresskit.faults.kinds import KINDS

    fault = KINDS.get(kind)
    if fault is None or fault.build is None:
        raise ConfigError(f"no recovery run for {kind}")
    return fault.build(_RunContext(environment, kind))


# -- scenario conditions -------------------------------------------------------------------------------

_CONDITIONS_SLOT: PerRun[Any] = PerRun("conditions")


def start_conditions(environment: RunEnvironment, config: FaultConfig, period: float | None = None) -> list[RecoveryDriver]:
    """Start the scenario's conditions for this test (master or local runner); returns the drivers.

    * ``memory_pressure``: ``--fault-memory-mb`` held on the target host through the agents, half
      of every period;
    * ``resource_exhaustion``: one CPU core burnt on the target host, a quarter of every period;
    * ``network_instability``: latency 50 ± 25 ms on the fault proxy for the whole test, plus a
      ``--fault-duration`` blackhole once every period (needs ``--fault-proxy``).

    The period is a tenth of the scenario's (scaled) duration, at least 10 s, unless ``period``
    is given. Only conditions that can be produced reach here (``use_faults`` refuses the run, or the
    user skipped them); one whose means are missing anyway is left out with one warning line.
    """
    for driver in (_CONDITIONS_SLOT.get(environment) or []):
        driver.remove()
    drivers: list[RecoveryDriver] = []
    if period is None:
        period = max(10.0, _scenario_duration(environment) / 10.0)
    limit = config.recovery_limit
    for condition in config.conditions:
        if condition in ("memory_pressure", "resource_exhaustion"):
            if not config.agents:
                log.warning("scenario condition %s left out: no --agent configured", condition)
                continue
            kind, share, amount = (("memory_pressure", 0.5, config.memory_mb) if condition == "memory_pressure"
                                   else ("cpu_exhaustion", 0.25, 1.0))
            seconds = min(period * share, 240.0)
            fault = HostPressure(kind, config, seconds=seconds, amount=amount)
            drivers.append(RecoveryDriver(environment, fault, at=period / 2, down=seconds, every=period,
                                          limit=limit, track_health=False, at_lift=True))
        elif condition == "network_instability":
            if not config.proxy_api:
                log.warning("scenario condition network_instability left out: no --fault-proxy configured")
                continue
            drivers.append(_network_instability(environment, config, period))
    _CONDITIONS_SLOT.set(environment, drivers)
    for driver in drivers:
        driver._on_test_start()
    return drivers


class _Instability(RunFault):
    kind = "network_instability"

    def __init__(self, client: Any, proxy: str, duration: float) -> None:
        self.client, self.proxy, self.duration = client, proxy, duration

    def begin(self) -> str:
        from stresskit.faults.effects.network import timeout_via_proxy

        self._timeout = timeout_via_proxy(self.client, self.proxy, self.duration, fault="network_instability")
        return self._timeout.detail

    def end(self) -> str:
        if self._timeout.release is not None:
            self._timeout.release()
        return ""


def _network_instability(environment: RunEnvironment, config: FaultConfig, period: float) -> RecoveryDriver:
    from stresskit.faults.effects.network import toxic_name
    from stresskit.faults.toxiproxy import ToxiproxyClient

    client = ToxiproxyClient(config.proxy_api)
    proxy = config.proxy_name or client.only_proxy()
    latency = toxic_name("network_instability", "latency")
    client.add_toxic(proxy, "latency", {"latency": 50, "jitter": 25}, name=latency)  # a HarnessError ends the run
    report(environment, "injected", "network_instability",
           detail=f"proxy {proxy}: latency 50 ± 25 ms for the whole test")

    removed: list[bool] = []

    def remove_latency(**_: Any) -> None:
        if removed:
            return
        removed.append(True)
        try:
            client.remove_toxic(proxy, latency)
        except FaultError as exc:
            log.warning("network instability: could not remove the latency toxic: %s", exc)

    environment.events.test_stop.add_listener(remove_latency)
    return RecoveryDriver(environment, _Instability(client, proxy, config.duration), at=period / 2,
                          down=config.duration, every=period, limit=config.recovery_limit, track_health=False,
                          at_lift=True)


def _scenario_duration(environment: RunEnvironment) -> float:
    from stresskit.run.shape import scenario_of

    scenario = scenario_of(environment)
    return float(scenario.duration) if scenario is not None else 600.0
