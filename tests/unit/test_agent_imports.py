"""The agent runs beside a production backend: importing it must not pull in Locust or gevent."""

import subprocess
import sys

AGENT_MODULES = [
    "stresskit.agent", "stresskit.agent.schema", "stresskit.agent.procfs", "stresskit.agent.sampler",
    "stresskit.agent.ring", "stresskit.agent.prometheus", "stresskit.agent.actuator", "stresskit.agent.server",
    "stresskit.agent.client", "stresskit.agent.cli", "stresskit.agent.launcher",
]

PROBE = """
import importlib, json, sys
for name in {modules!r}:
    importlib.import_module(name)
from stresskit.cli import build_parser
build_parser(only="agent").parse_args(["agent", "--interval", "2"])
third_party = sorted({{m.split(".")[0] for m in sys.modules}} & {{"locust", "gevent", "greenlet", "flask", "zmq",
                                                               "requests", "urllib3", "selenium", "pandas"}})
print(json.dumps(third_party))
"""


def test_agent_imports_neither_locust_nor_gevent():
    out = subprocess.run([sys.executable, "-c", PROBE.format(modules=AGENT_MODULES)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]", f"the agent dragged in {out.strip()}"


def test_agent_help_runs_without_locust():
    result = subprocess.run([sys.executable, "-m", "stresskit", "agent", "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0
    for option in ("--allow-faults", "--max-memory-mb", "--max-cpu-cores", "--max-fault-seconds", "--token-file",
                   "--process-name", "--cmdline", "--pid", "--ring-seconds"):
        assert option in result.stdout
