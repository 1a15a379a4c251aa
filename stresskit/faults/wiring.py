"""Wiring the fault parts into a Locust run: :func:`use_faults`.

``use_faults(events)`` registers the fault options and, at ``init``:

* on the master or a local runner: validates the options against the scenario (a bad kind, a
  rate outside [0, 1], a fault that needs a missing agent / admin token / proxy, an agent that
  does not allow faults, an admin token the target refuses, a scenario condition that cannot be
  produced and was not skipped with ``--skip-condition``: one error line and exit code 2,
  before any load; see :mod:`stresskit.faults.conditions`), creates the :class:`~stresskit.faults.log.FaultLog` and, at
  each test
  start, sends the resolved config to the workers (:data:`CONFIG_MESSAGE`) and starts the
  scenario's conditions;
* where users run (a worker or a local runner): the :class:`FaultInjector`.

Call it before ``use_embedded_target(events)`` so a bad option stops the run before the demo
target is started (``quit_bad_configuration`` also stops it if it was).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from locust.runners import MasterRunner, WorkerRunner

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import option, register_options
from stresskit.core.perrun import Once, PerRun
from stresskit.errors import ConfigError, FaultError
from stresskit.faults import conditions as conditions_part
from stresskit.faults.config import FaultConfig, add_arguments, load_config
from stresskit.faults.injector import FaultInjector
from stresskit.faults.kinds import KINDS
from stresskit.faults.log import attach_log, harness_error
from stresskit.run.shape import scenario_of

__all__ = ["CONFIG_MESSAGE", "fault_injector_of", "preflight", "use_faults"]

log = logging.getLogger("stresskit.faults")

CONFIG_MESSAGE = "stresskit_fault_config"
"""master → workers: the resolved :class:`FaultConfig` of the test that is starting."""

_INJECTOR_SLOT: PerRun[Any] = PerRun("fault_injector")
_REGISTERED = Once()


def use_faults(events: Any, conditions: bool = True) -> None:
    """Opt a locustfile into failure injection (idempotent per ``events`` object).

    ``conditions=False`` leaves the scenario's conditions (memory pressure, network
    instability, resource exhaustion) off and only draws per-user faults.
    """
    register_options(events, add_arguments, conditions_part.add_arguments)
    if not _REGISTERED.first(events):
        return
    if conditions:
        from stresskit.run.criteria import extend_criteria

        extend_criteria(conditions_part.criteria_results, conditions_part.run_keys)  # the verdict shows them
    events.init.add_listener(lambda environment, **_: _on_init(environment, conditions))


def fault_injector_of(environment: RunEnvironment) -> FaultInjector | None:
    """The environment's injector (on a worker or local runner), if faults are in use."""
    return _INJECTOR_SLOT.get(environment)


def _on_init(environment: RunEnvironment, conditions: bool) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        injector = FaultInjector(environment)
        _INJECTOR_SLOT.set(environment, injector)

        def on_config(environment: RunEnvironment, msg: Any, **_: Any) -> None:
            injector.config = _config_from_dict(msg.data)
            injector.config_from_master = True

        runner.register_message(CONFIG_MESSAGE, on_config)
        return
    try:
        config = load_config(environment, scenario_of(environment))
        if conditions:
            _assess_conditions(environment, config, refuse=True)
        preflight(environment, config)
    except ConfigError as exc:
        from stresskit.core.exitcodes import quit_bad_configuration

        quit_bad_configuration(environment, f"faults: {exc}")
    sink = attach_log(environment)
    if getattr(environment, "web_ui", None) is not None:
        from stresskit.faults.webui import extend_web_ui

        extend_web_ui(environment.web_ui, sink)
    log.info(config.summary())
    for note in config.notes:
        log.info("fault kind %s", note)
    if not isinstance(runner, MasterRunner):
        _INJECTOR_SLOT.set(environment, FaultInjector(environment, config))
    state = {"config": config}

    def on_test_start(**_: Any) -> None:
        try:
            state["config"] = load_config(environment, scenario_of(environment))
        except ConfigError as exc:  # changed in the web UI's form: no restart possible, so turn faults off
            log.error("fault injection off for this test: %s", exc)
            state["config"] = FaultConfig()
        injector = fault_injector_of(environment)
        if injector is not None:
            injector.config = state["config"]
        if isinstance(runner, MasterRunner):
            runner.send_message(CONFIG_MESSAGE, dataclasses.asdict(state["config"]))
        if conditions and state["config"].conditions:
            from stresskit.faults.recovery import start_conditions

            statuses = _assess_conditions(environment, state["config"], refuse=False)
            produced = tuple(s.name for s in statuses if s.status == "produced")
            try:
                start_conditions(environment, dataclasses.replace(state["config"], conditions=produced))
            except FaultError as exc:  # the proxy or an agent failed as the conditions began
                harness_error(environment, f"could not start the scenario's conditions: {exc}")

    environment.events.test_start.add_listener(on_test_start)


def _embedded(environment: RunEnvironment) -> bool:
    try:
        from stresskit.run.embedded import will_start
    except ImportError:
        return False
    return will_start(environment)


def _assess_conditions(environment: RunEnvironment, config: FaultConfig, refuse: bool) -> list[Any]:
    """Decide, for each condition the scenario names, produced / not evaluated / not produced; keep it for the
    verdict. ``refuse``: raise :class:`ConfigError` (exit 2 before any load) for one that cannot be produced."""
    embedded = _embedded(environment)
    have = {"agent": bool(config.agents) or embedded, "proxy": bool(config.proxy_api) or embedded}
    statuses = conditions_part.assess(config.conditions, have, conditions_part.skipped_conditions(environment))
    conditions_part.conditions_of(environment).statuses = statuses
    problem = conditions_part.refusal(statuses, _scenario_name(environment))
    if problem:
        if refuse:
            raise ConfigError(problem)
        log.error("%s; this test runs without it and cannot pass", problem)
    for status in statuses:
        if status.status == "not evaluated":
            log.warning("scenario condition %s NOT EVALUATED (--skip-condition): the verdict will say so",
                        status.name)
    return statuses


def _scenario_name(environment: RunEnvironment) -> str:
    scenario = scenario_of(environment)
    return getattr(scenario, "name", "") if scenario is not None else ""


def _config_from_dict(data: dict[str, Any]) -> FaultConfig:
    fields = {f.name for f in dataclasses.fields(FaultConfig)}
    values: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in (data or {}).items() if k in fields}
    return FaultConfig(**values)


def preflight(environment: RunEnvironment, config: FaultConfig) -> None:
    """Checks that need the network, done once at start: raise :class:`ConfigError` when

    * a kind needs the agent and an agent does not answer or does not allow faults;
    * the fault proxy's API does not answer;
    * a kind needs the admin API of an explicit ``--host`` and the target refuses the token.
    """
    kinds = set(config.kinds) if config.enabled else set()
    needs = {need for kind in kinds for need in KINDS[kind].needs}
    if "agent" in needs or (config.conditions and config.agents and
                            {"memory_pressure", "resource_exhaustion"} & set(config.conditions)):
        _check_agents(config)
    if config.proxy_api:
        from stresskit.faults.toxiproxy import ToxiproxyClient

        try:
            client = ToxiproxyClient(config.proxy_api)
            client.version()
            if config.proxy_name:
                client.proxy(config.proxy_name)
            elif config.enabled and "network_timeout" in kinds:
                client.only_proxy()
        except FaultError as exc:
            raise ConfigError(f"--fault-proxy: {exc}") from None
    host = environment.host or option(environment, "host")
    if host and config.admin_token and needs & {"admin", "admin|proxy"} and not config.proxy_api:
        from stresskit.faults.admin import TargetAdmin

        try:
            TargetAdmin(host, config.admin_token).check()
        except FaultError as exc:
            log.warning("the target's admin API did not answer at start (%s); admin faults will be tried anyway",
                        exc)


def _check_agents(config: FaultConfig) -> None:
    from stresskit.faults.effects.host import agent_clients

    try:
        clients = agent_clients(config.agents, config.agent_token)
    except FaultError as exc:
        raise ConfigError(str(exc)) from None
    from stresskit.errors import AgentError

    for client in clients:
        try:
            allowed = bool(client.faults().get("enabled"))
        except AgentError as exc:
            raise ConfigError(f"agent {client.url}: {exc}") from None
        if not allowed:
            raise ConfigError(f"agent {client.url} does not allow faults: restart it with "
                              "`stresskit agent --allow-faults`, or leave memory_pressure out of --faults")
