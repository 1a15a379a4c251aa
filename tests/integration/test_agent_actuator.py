"""The fault actuator over real sockets: off by default, capped, really holding memory and burning
CPU on the host, and released on request, at expiry, on SIGTERM and when the agent is killed."""

import time

import psutil
import pytest
import requests

from stresskit.agent.client import AgentClient
from stresskit.agent.launcher import start_agent
from stresskit.errors import AgentError

TOKEN = "actuator-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMITS = ["--allow-faults", "--max-memory-mb", "128", "--max-cpu-cores", "1", "--max-fault-seconds", "30"]


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    proc = start_agent(LIMITS, token=TOKEN, workdir=tmp_path_factory.mktemp("actuator"))
    yield proc
    proc.stop()


@pytest.fixture
def client(agent):
    client = AgentClient(agent.url, TOKEN)
    yield client
    client.release()


def gone(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_faults_are_off_without_the_flag(tmp_path):
    with start_agent([], token=TOKEN, workdir=tmp_path) as agent:
        client = AgentClient(agent.url, TOKEN)
        with pytest.raises(AgentError, match="--allow-faults") as info:
            client.hold_memory(1, 1)
        assert info.value.status == 403
        with pytest.raises(AgentError, match="--allow-faults"):
            client.burn_cpu(1, 1)
        assert client.faults() == {"enabled": False, "faults": []}


def test_memory_is_really_held_and_released_on_request(client):
    fault = client.hold_memory(64, 20)
    (pid,) = fault["pids"]
    assert psutil.Process(pid).memory_info().rss >= 64 * 1024 * 1024  # resident, not just reserved
    assert [f["id"] for f in client.faults()["faults"]] == [fault["id"]]
    assert client.release() == {"released": 1}
    assert gone(pid)
    assert client.faults()["faults"] == []


def test_memory_fault_ends_by_itself_at_expiry(client):
    (pid,) = client.hold_memory(8, 0.5)["pids"]
    assert gone(pid, timeout=10)
    deadline = time.monotonic() + 5
    while client.faults()["faults"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.faults()["faults"] == []


def test_cpu_burn_is_real(client):
    (pid,) = client.burn_cpu(1, 20)["pids"]
    proc = psutil.Process(pid)
    proc.cpu_percent(None)
    time.sleep(1.0)  # CPU % is measured over an interval
    assert proc.cpu_percent(None) > 20.0  # a full core when the host is idle; shared on a loaded one
    assert client.release() == {"released": 1}
    assert gone(pid)


def test_caps_are_enforced_on_single_requests_and_on_the_total(client):
    with pytest.raises(AgentError, match="--max-memory-mb 128") as info:
        client.hold_memory(200, 5)
    assert info.value.status == 400
    with pytest.raises(AgentError, match="--max-fault-seconds 30"):
        client.hold_memory(8, 31)
    with pytest.raises(AgentError, match="--max-cpu-cores"):
        client.burn_cpu(2, 5)
    client.hold_memory(100, 20)
    with pytest.raises(AgentError, match="already held") as info:
        client.hold_memory(50, 5)
    assert info.value.status == 409
    assert client.release() == {"released": 1}


@pytest.mark.parametrize("path,body,status", [
    ("/v1/faults/memory", b"not json", 400),
    ("/v1/faults/memory", b"[1, 2]", 400),
    ("/v1/faults/memory", b'{"mb": 8}', 400),
    ("/v1/faults/memory", b'{"mb": 8, "seconds": 1, "extra": 1}', 400),
    ("/v1/faults/memory", b'{"mb": -8, "seconds": 1}', 400),
    ("/v1/faults/memory", b'{"mb": true, "seconds": 1}', 400),
    ("/v1/faults/memory", b'{"mb": "8", "seconds": 1}', 400),
    ("/v1/faults/cpu", b'{"cores": 1, "seconds": NaN}', 400),
    ("/v1/faults/cpu", b'{"cores": 0, "seconds": 1}', 400),
    ("/v1/faults/cpu?x=1", b'{"cores": 1, "seconds": 1}', 400),
])
def test_bad_fault_bodies_get_400(agent, client, path, body, status):
    response = requests.post(agent.url + path, data=body, headers=AUTH, timeout=10)
    assert response.status_code == status
    assert response.json()["error"]
    assert client.faults()["faults"] == []


def test_sigterm_releases_every_fault(tmp_path):
    agent = start_agent(LIMITS, token=TOKEN, workdir=tmp_path)
    client = AgentClient(agent.url, TOKEN)
    pids = client.hold_memory(16, 30)["pids"] + client.burn_cpu(0.5, 30)["pids"]
    assert agent.stop() == 0
    assert all(gone(pid) for pid in pids)
    assert "released 2 active fault(s) on exit" in agent.log_tail(50)


def test_faults_die_with_a_killed_agent(tmp_path):
    agent = start_agent(LIMITS, token=TOKEN, workdir=tmp_path)
    client = AgentClient(agent.url, TOKEN)
    pids = client.hold_memory(16, 30)["pids"] + client.burn_cpu(1, 30)["pids"]
    agent.kill()  # SIGKILL: no chance to clean up; the kernel's parent-death signal does it
    assert all(gone(pid) for pid in pids)
