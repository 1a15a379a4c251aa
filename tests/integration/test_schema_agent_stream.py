"""Lines of a real agent's sample stream validate against the shipped agent-sample schema."""

import json
import os

import pytest
import requests

from stresskit.agent.launcher import start_agent
from stresskit.schemas import validate

pytestmark = pytest.mark.timeout(60)
TOKEN = "schema-test-token-0123456789"


def test_real_agent_stream_lines_validate(tmp_path):
    proc = start_agent(["--interval", "0.2", "--pid", str(os.getpid())], token=TOKEN, workdir=tmp_path)
    try:
        lines = []
        with requests.get(f"{proc.url}/v1/samples?since=1", headers={"Authorization": f"Bearer {TOKEN}"},
                          stream=True, timeout=(5, 10)) as response:
            response.raise_for_status()
            for raw in response.iter_lines():
                if raw:
                    lines.append(json.loads(raw))
                if sum(1 for line in lines if line.get("type") == "sample") >= 4:
                    break
    finally:
        assert proc.stop() == 0
    samples = [line for line in lines if line.get("type") == "sample"]
    assert samples and samples[-1]["processes"], lines[-1]  # our own process is tracked
    for line in lines:
        validate(line, "agent-sample")
    with pytest.raises(Exception, match="pid"):
        validate({**samples[-1], "processes": [{"name": "no pid"}]}, "agent-sample")
