"""Fault options: the Locust command-line options and the validated :class:`FaultConfig`.

``add_arguments(parser)`` adds the options (through ``stresskit.core.options.register_options``);
:func:`load_config` turns ``environment.parsed_options`` plus the loaded scenario into a
:class:`FaultConfig`, raising :class:`~stresskit.errors.ConfigError` with one line for any
bad value, so a wrong kind, a rate outside [0, 1] or a fault that needs a missing agent stops
the run before any load is sent.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import option
from stresskit.errors import ConfigError
from stresskit.faults.kinds import KINDS, USER_KINDS, parse_kinds

__all__ = ["FaultConfig", "add_arguments", "check_needs", "load_config", "missing_need"]

DEFAULT_RECOVERY_LIMIT = 30.0
DEFAULT_DURATION = 3.0
DEFAULT_MEMORY_MB = 256


def add_arguments(parser: Any) -> None:
    """Add the fault options to Locust's parser (each with a ``STRESSKIT_*`` variable)."""
    group = parser.add_argument_group("stresskit faults", "failure injection with real effects (docs/faults.md)")
    group.add_argument("--failure-rate", type=float, default=None, env_var="STRESSKIT_FAILURE_RATE",
                       help="share of user actions that get a fault injected, in [0, 1] "
                            "(default: the scenario's rate, else 0 = no faults)")
    group.add_argument("--fault-seed", type=int, default=None, env_var="STRESSKIT_FAULT_SEED",
                       help="seed of the fault schedule; the same seed gives the same schedule "
                            "(default: random, printed at start)")
    group.add_argument("--faults", default="", env_var="STRESSKIT_FAULTS",
                       help="comma-separated fault kinds to draw from: " + ", ".join(USER_KINDS)
                            + ", or all / none (default: every kind that needs no agent)")
    group.add_argument("--fault-recovery-limit", type=float, default=DEFAULT_RECOVERY_LIMIT,
                       env_var="STRESSKIT_FAULT_RECOVERY_LIMIT",
                       help="seconds a user may take to recover before the fault counts as a critical failure")
    group.add_argument("--fault-duration", type=float, default=DEFAULT_DURATION, env_var="STRESSKIT_FAULT_DURATION",
                       help="seconds a timed fault lasts (network timeout window, memory hold)")
    group.add_argument("--fault-memory-mb", type=int, default=DEFAULT_MEMORY_MB, env_var="STRESSKIT_FAULT_MEMORY_MB",
                       help="megabytes held on the target host by a memory_pressure fault")
    group.add_argument("--fault-proxy", default="", env_var="STRESSKIT_FAULT_PROXY",
                       help="control API of the fault proxy (stresskit proxy or a Toxiproxy server), "
                            "e.g. http://127.0.0.1:8474; the users' --host must point at the proxy")
    group.add_argument("--fault-proxy-name", default="", env_var="STRESSKIT_FAULT_PROXY_NAME",
                       help="name of the proxy on that server (default: the only one)")
    group.add_argument("--target-admin-url", default="", env_var="STRESSKIT_TARGET_ADMIN_URL",
                       help="the target's own base URL when --host is a proxy in front of it: admin faults and "
                            "the rate_limiting burst go there, never through the fault proxy (default: --host; "
                            "the demo sets it)")
    # is_secret works on Locust's parser itself, not on argument groups
    parser.add_argument("--target-admin-token", default=None, env_var="STRESSKIT_ADMIN_TOKEN", is_secret=True,
                         help="bearer token of the target's /admin endpoints (needed by backend_crash, "
                             "websocket_drop_all and network_timeout without a proxy)")


@dataclass(frozen=True)
class FaultConfig:
    """Validated fault settings of one run."""

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = ()
    recovery_limit: float = DEFAULT_RECOVERY_LIMIT
    duration: float = DEFAULT_DURATION
    memory_mb: int = DEFAULT_MEMORY_MB
    admin_token: str | None = None
    admin_url: str = ""
    proxy_api: str = ""
    proxy_name: str = ""
    agents: tuple[str, ...] = ()
    agent_token: str | None = None
    redis_url: str | None = None
    conditions: tuple[str, ...] = ()
    rate_source: str = "default"
    notes: tuple[str, ...] = field(default=())

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and bool(self.kinds)

    def summary(self) -> str:
        """One log line: rate and where it came from, seed, kinds, limit."""
        if not self.enabled:
            return "fault injection off (failure rate 0 or no kinds)"
        return (f"fault injection: rate {self.rate:g} ({self.rate_source}), seed {self.seed}, "
                f"kinds {', '.join(self.kinds)}, recovery limit {self.recovery_limit:g}s")


def _urls(value: Any) -> tuple[str, ...]:
    """``--agent`` values (repeatable, each possibly comma separated) as a flat tuple of URLs."""
    items = [value] if isinstance(value, str) else list(value)
    urls: list[str] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            urls.extend(_urls(item))
        else:
            urls.extend(u.strip() for u in str(item).split(",") if u.strip())
    return tuple(dict.fromkeys(urls))


def _number(value: Any, name: str, low: float, high: float | None = None, low_open: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    bad_low = number <= low if low_open else number < low
    if not math.isfinite(number) or bad_low or (high is not None and number > high):
        span = f"within [{low:g}, {high:g}]" if high is not None else f"{'>' if low_open else '>='} {low:g}"
        raise ConfigError(f"{name} must be {span}, got {value!r}")
    return number


def load_config(environment: RunEnvironment, scenario: Any | None = None) -> FaultConfig:
    """Build and validate the run's :class:`FaultConfig` from its options and scenario.

    Precedence of the rate: an explicit ``--failure-rate``, else the scenario's ``failure_rate``,
    else 0 (off). Kinds named in ``--faults`` must have what they need (agent, admin token,
    proxy) or this raises; with the default kinds, those that cannot work are left out and
    ``notes`` says why. Raises :class:`ConfigError` for bad input.
    """
    if scenario is None:
        from stresskit.run.shape import scenario_of

        scenario = scenario_of(environment)
    explicit = option(environment, "failure_rate")
    if explicit is not None:
        rate, source = _number(explicit, "--failure-rate", 0.0, 1.0), "--failure-rate"
    elif scenario is not None:
        rate, source = float(scenario.failure_rate), f"scenario {scenario.name}"
    else:
        rate, source = 0.0, "default"
    requested = option(environment, "faults", "") or None
    kinds = parse_kinds(requested)
    seed = option(environment, "fault_seed")
    seed = int(seed) if seed is not None else secrets.randbelow(2**31)
    limit = _number(option(environment, "fault_recovery_limit", DEFAULT_RECOVERY_LIMIT),
                    "--fault-recovery-limit", 0.0, low_open=True)
    duration = _number(option(environment, "fault_duration", DEFAULT_DURATION), "--fault-duration", 0.0,
                       low_open=True)
    memory_mb = int(_number(option(environment, "fault_memory_mb", DEFAULT_MEMORY_MB), "--fault-memory-mb",
                            1.0))
    agents = _urls(option(environment, "agent", ()) or ())
    config = FaultConfig(
        rate=rate, seed=seed, kinds=kinds, recovery_limit=limit, duration=duration, memory_mb=memory_mb,
        admin_token=option(environment, "target_admin_token") or None,
        admin_url=(option(environment, "target_admin_url", "") or "").rstrip("/"),
        proxy_api=(option(environment, "fault_proxy", "") or "").rstrip("/"),
        proxy_name=option(environment, "fault_proxy_name", "") or "",
        agents=tuple(agents), agent_token=option(environment, "agent_token") or None,
        redis_url=option(environment, "redis_url") or None,
        conditions=tuple(scenario.conditions) if scenario is not None else (),
        rate_source=source,
    )
    embedded = _embedded(environment)
    if requested:
        if config.enabled:
            check_needs(config, config.kinds, embedded)
        return config
    usable, notes = [], []
    for kind in config.kinds:
        missing = missing_need(config, kind, embedded)
        if missing:
            notes.append(f"{kind} left out (needs {missing})")
        else:
            usable.append(kind)
    return replace(config, kinds=tuple(usable), notes=tuple(notes))


def _embedded(environment: RunEnvironment) -> bool:
    """Whether stresskit starts the demo system for this run (a local run without ``--host``)."""
    try:
        from stresskit.run.embedded import will_start
    except ImportError:
        return False
    return will_start(environment)


_NEEDS = {
    "agent": ("a resource agent on the target host", ("start `stresskit agent --allow-faults ...` there and pass "
              "--agent URL --agent-token TOKEN")),
    "admin": ("the target's admin token", "pass --target-admin-token (or STRESSKIT_ADMIN_TOKEN)"),
    "proxy": ("the fault proxy", "start `stresskit proxy` in front of the target and pass --fault-proxy URL"),
    "redis": ("the target's Redis", "pass --redis-url"),
    "admin|proxy": ("the fault proxy or the target's admin token",
                    "pass --fault-proxy URL, or --target-admin-token for a delayed response"),
}


def missing_need(config: FaultConfig, kind: str, embedded: bool = False) -> str | None:
    """What ``kind`` needs that is not configured, as ``"<what>: <how to fix>"``; ``None`` when all is there.

    ``embedded`` is true when stresskit starts the demo system itself (it then knows the admin token and
    starts the fault proxy, and an agent when the kinds or conditions need one).
    """
    have = {
        "agent": bool(config.agents) or embedded,
        "admin": bool(config.admin_token) or embedded,
        "proxy": bool(config.proxy_api) or embedded,
        "redis": bool(config.redis_url),
    }
    have["admin|proxy"] = have["admin"] or have["proxy"]
    for need in KINDS[kind].needs:
        if not have[need]:
            what, fix = _NEEDS[need]
            return f"{what}: {fix}"
    return None


def check_needs(config: FaultConfig, kinds: tuple[str, ...] | list[str], embedded: bool = False) -> None:
    """Raise :class:`ConfigError` when one of ``kinds`` needs something that is not configured."""
    for kind in kinds:
        missing = missing_need(config, kind, embedded)
        if missing:
            what, fix = missing.split(": ", 1)
            raise ConfigError(f"fault kind {kind!r} needs {what}: {fix}, or leave {kind} out of --faults")
