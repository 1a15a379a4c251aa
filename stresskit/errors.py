"""The one exception tree of stresskit.

Every error stresskit raises on purpose derives from :class:`StressKitError`, so callers can
catch the whole family in one place; :class:`ConfigError` and its children are raised before
any load is sent, and the CLI maps them to the "bad configuration" exit code.
"""

from __future__ import annotations

__all__ = [
    "AgentAuthError",
    "AgentError",
    "BrowserError",
    "ConfigError",
    "DependencyMissing",
    "FaultError",
    "FaultUnavailable",
    "HarnessError",
    "ReportError",
    "ScenarioError",
    "StressKitError",
    "TargetError",
    "TargetUnreachable",
    "ThresholdError",
]


class StressKitError(Exception):
    """Root of every error stresskit raises on purpose."""


class ConfigError(StressKitError):
    """Bad configuration or input, detected before any load is sent."""


class ScenarioError(ConfigError):
    """A scenario file or scenario name is invalid; the message names file, scenario and field."""


class ThresholdError(ConfigError):
    """A ``--threshold`` expression cannot be parsed."""


class DependencyMissing(ConfigError):
    """A required program (chromium, chromedriver, redis-server) is not installed or not found."""


class TargetError(StressKitError):
    """The system under test misbehaved in a way the harness cannot turn into a stats entry."""


class TargetUnreachable(TargetError):
    """The target (or one of its dependencies such as Redis) cannot be reached."""


class AgentError(StressKitError):
    """The resource agent or its collector failed."""


class AgentAuthError(AgentError):
    """The agent rejected the bearer token."""


class FaultError(StressKitError):
    """A fault could not be injected or released."""


class HarnessError(FaultError):
    """The harness's own fault machinery failed (the fault proxy's API, an agent's actuator):
    the run ends with exit code 1, never as a critical failure of the target."""


class FaultUnavailable(FaultError):
    """This fault cannot be produced against this backend (e.g. a burst finds no rate limiter):
    reported once, then not drawn again in the run."""


class BrowserError(StressKitError):
    """A browser session could not be started or recovered."""


class ReportError(StressKitError):
    """A run's files cannot be turned into a report."""
