"""The target-host resource agent: sampling, streaming server, fault actuator and its client.

Runs beside a production backend, so it imports psutil and the standard library only — never
Locust or gevent (a test holds it to that). Importing this package starts nothing; the pieces
are :mod:`~stresskit.agent.sampler`, :mod:`~stresskit.agent.ring`, :mod:`~stresskit.agent.server`,
:mod:`~stresskit.agent.actuator`, :mod:`~stresskit.agent.client` and the sample format in
:mod:`~stresskit.agent.schema`. ``stresskit agent`` (:mod:`~stresskit.agent.cli`) runs it.
"""

from stresskit.agent.client import AgentClient
from stresskit.agent.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "AgentClient"]
