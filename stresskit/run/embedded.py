"""The embedded demo default: a local run with no ``--host`` starts the reference target.

``locust -f locustfiles/production.py --headless`` with no host starts the demo target (and a
redis-server on a free port when one is installed) on loopback for the length of the run, with
the fault proxy (``stresskit proxy``) in front of it — the users talk to the proxy, so
``network_timeout`` and the ``network_instability`` condition really happen — and, when the
scenario's conditions or the fault kinds need one, a resource agent that allows faults on
loopback (``memory_pressure``, ``resource_exhaustion``). It says so in one log line and stops
them all when Locust quits. Distributed runs and runs with ``--host`` are left alone. Nothing
happens on import; a locustfile opts in with :func:`use_embedded_target`.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.perrun import Once, PerRun
from stresskit.core.redact import redact_url, register_secret
from stresskit.errors import DependencyMissing
from stresskit.target.managed import ManagedSystem

log = logging.getLogger("stresskit.run.embedded")

_REGISTERED = Once()


def use_embedded_target(events: Any, pages: int | None = None) -> None:
    """Opt a locustfile into the embedded demo target (idempotent per ``events`` object)."""
    if not _REGISTERED.first(events):
        return
    events.init.add_listener(lambda environment, **_: _maybe_start(environment, pages))


def will_start(environment: RunEnvironment) -> bool:
    """Whether this run gets the embedded demo system: a local run, no ``--host``, no user class with a host,
    and a locustfile that opted in. Parts that check their means at ``init`` (the scenario conditions) ask
    this, since the system itself is started after them."""
    from locust.runners import LocalRunner

    if not _REGISTERED.done(getattr(environment, "events", None)) or \
            not isinstance(getattr(environment, "runner", None), LocalRunner):
        return False
    if environment.host or getattr(getattr(environment, "parsed_options", None), "host", None):
        return False
    return not any(getattr(cls, "host", None) for cls in environment.user_classes)


def _wants_agent(environment: RunEnvironment) -> bool:
    """An agent with faults allowed is started when the scenario's conditions or ``--faults`` need one,
    and in a web-UI run (its form may pick any scenario)."""
    from stresskit.core.options import option

    if not option(environment, "headless", False):
        return True
    kinds = str(option(environment, "faults", "") or "")
    if "memory_pressure" in kinds or kinds.strip() == "all":
        return True
    from stresskit.run.shape import scenario_of

    scenario = scenario_of(environment)
    return scenario is not None and bool({"memory_pressure", "resource_exhaustion"} & set(scenario.conditions))


def _maybe_start(environment: RunEnvironment, pages: int | None) -> None:
    if not will_start(environment):
        return
    from stresskit.target.launcher import start_redis, start_target

    started: list[Any] = []

    def stop(**_: Any) -> None:
        for server in reversed(started):
            server.stop()
        started.clear()

    environment.events.quitting.add_listener(stop)
    options = environment.parsed_options
    redis_url = getattr(options, "redis_url", None)
    if not redis_url:
        try:
            redis = start_redis()
            started.append(redis)
            redis_url = redis.url
            if options is not None and hasattr(options, "redis_url"):
                options.redis_url = redis_url
        except DependencyMissing as exc:
            log.warning("no Redis for the demo target (%s); cache users will record failures", exc)
    token = getattr(options, "target_admin_token", None) or secrets.token_urlsafe(16)
    register_secret(token)
    if options is not None and hasattr(options, "target_admin_token"):
        options.target_admin_token = token
    args = ["--pages", str(pages)] if pages else []
    try:
        target = start_target(redis_url=redis_url, admin_token=token, extra_args=args)
        started.append(target)
        proxy = _start_proxy(target, started, options)
        agent = _start_agent(environment, started, options)
    except Exception:
        stop()
        raise
    environment.host = proxy.url
    log.info(
        "no --host given: started the demo target at %s behind the fault proxy %s%s%s for this run "
        "(pass --host to test your own backend)",
        target.url, proxy.url, f", Redis at {redact_url(redis_url)}" if redis_url else "",
        f", a fault-enabled agent at {agent.url}" if agent is not None else "",
    )


def _start_proxy(target: Any, started: list[Any], options: Any) -> Any:
    """``stresskit proxy`` in front of the target; ``--fault-proxy`` points at its API."""
    from stresskit.faults.proxy import start_fault_proxy

    proxy = start_fault_proxy(f"127.0.0.1:{target.port}")
    started.append(proxy)
    if options is not None and hasattr(options, "target_admin_url"):
        options.target_admin_url = target.url  # admin faults go straight to the target, never through the proxy
    if options is not None and hasattr(options, "fault_proxy"):
        options.fault_proxy = proxy.api
        if hasattr(options, "fault_proxy_name"):
            options.fault_proxy_name = proxy.name
    return proxy


EMBEDDED_AGENT_MAX_MB = 512
"""The most memory the embedded agent holds for a memory_pressure condition (``--fault-memory-mb``, capped)."""


def _start_agent(environment: RunEnvironment, started: list[Any], options: Any) -> Any | None:
    """A loopback agent with ``--allow-faults`` for the host conditions; ``--agent`` / ``--agent-token`` point at it.

    It is not given to the resource collector (which was set up before it): the demo machine's own
    CPU and memory are not the verdict's business unless the user passes ``--agent`` themselves.
    """
    if options is None or not hasattr(options, "agent") or getattr(options, "agent", None) or \
            not _wants_agent(environment):
        return None
    from stresskit.agent.launcher import start_agent

    token = secrets.token_urlsafe(24)
    register_secret(token)  # never in a log line, a file or the web UI
    agent = start_agent(["--allow-faults", "--max-memory-mb", str(EMBEDDED_AGENT_MAX_MB), "--max-cpu-cores", "1",
                         "--log-level", "WARNING"], token=token)
    started.append(agent)
    options.agent = [agent.url]
    options.agent_token = token
    return agent


# -- the restartable system of the recovery runs ------------------------------------------------------

_SYSTEM_SLOT: PerRun[ManagedSystem] = PerRun("managed_system")


def managed_system_of(environment: RunEnvironment) -> ManagedSystem | None:
    """The system :func:`use_managed_target` started for this run, if any."""
    return _SYSTEM_SLOT.get(environment)


def use_managed_target(events: Any, pages: int | None = None, with_proxy: bool = False,
                       target_args: tuple[str, ...] = ()) -> None:
    """In a local run without ``--host``, start a restartable target (+ Redis, + fault proxy) for the run.

    Sets ``--host`` (the proxy when there is one), ``--redis-url``, ``--target-admin-token`` and
    ``--fault-proxy`` for the run. Call it before :func:`stresskit.faults.use_faults`.
    """
    def on_init(environment: RunEnvironment, **_: Any) -> None:
        from locust.runners import LocalRunner

        if not isinstance(environment.runner, LocalRunner) or environment.host:
            return
        system = ManagedSystem(pages=pages, with_proxy=with_proxy, target_args=target_args)
        _SYSTEM_SLOT.set(environment, system)
        environment.host = system.url
        options = environment.parsed_options
        if options is not None:
            for name, value in (("redis_url", system.redis_url), ("target_admin_token", system.admin_token),
                                ("fault_proxy", system.proxy.api if system.proxy else None),
                                ("host", system.url)):
                if value and hasattr(options, name):
                    setattr(options, name, value)
        log.info("recovery run: started the target at %s%s%s (restartable; pass --host to test your own)",
                 system.target_url, f" behind the fault proxy {system.url}" if system.proxy else "",
                 f", Redis at {redact_url(system.redis_url)}" if system.redis_url else "")
        environment.events.quitting.add_listener(lambda **_: system.stop())

    events.init.add_listener(on_init)
