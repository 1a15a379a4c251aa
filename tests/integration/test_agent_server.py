"""The agent's HTTP server over real sockets: auth, validation, resumable streaming, metrics, and
requests that are too big or too slow being dropped while a subscriber keeps streaming."""

import os
import re
import socket
import threading
import time

import pytest
import requests

from stresskit.agent import prometheus
from stresskit.agent.client import AgentClient
from stresskit.agent.launcher import start_agent
from stresskit.errors import AgentAuthError, AgentError

TOKEN = "agent-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROTECTED = [("get", "/v1/samples"), ("get", "/v1/latest"), ("get", "/metrics"), ("get", "/v1/faults"),
             ("post", "/v1/faults/memory"), ("post", "/v1/faults/cpu"), ("delete", "/v1/faults"),
             ("get", "/nowhere")]


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    proc = start_agent(["--interval", "0.2", "--request-timeout", "1", "--pid", str(os.getpid())],
                       token=TOKEN, workdir=tmp_path_factory.mktemp("agent"))
    yield proc
    assert proc.stop() == 0


@pytest.fixture(scope="module")
def client(agent):
    return AgentClient(agent.url, TOKEN)


def wait_for_seq(client, seq, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = client.health()
        if (health["seq"] or 0) >= seq:
            return health
        time.sleep(0.05)
    raise AssertionError(f"agent did not reach seq {seq}")


def read(client, n, **kwargs):
    with client.samples(**kwargs) as stream:
        out = []
        for sample in stream:
            out.append(sample)
            if len(out) == n:
                return out
    raise AssertionError("stream ended early")


def test_health_needs_no_token(agent):
    body = requests.get(agent.url + "/v1/health", timeout=5).json()
    assert body["status"] == "ok" and body["schema"] == 1
    assert body["instance"] == agent.instance and body["seq"] >= 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN}])
@pytest.mark.parametrize("method,path", PROTECTED)
def test_wrong_or_missing_token_gets_401_and_nothing_else(agent, headers, method, path):
    response = requests.request(method, agent.url + path, headers=headers, timeout=5, json={"mb": 1, "seconds": 1})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"error": "missing or wrong bearer token"}


def test_client_raises_auth_error_on_401(agent):
    with pytest.raises(AgentAuthError, match="rejected the token"):
        AgentClient(agent.url, "wrong").samples()
    with pytest.raises(AgentAuthError):
        AgentClient(agent.url, None).latest()


@pytest.mark.parametrize("query", ["since=abc", "since=-1", "since=1.5", "since=", "since=1e3", "since=" + "9" * 19,
                                   "since=1&since=2", "sinse=1", "since=1&instance=XYZ!", "since=%00"])
def test_malformed_query_gets_400(agent, query):
    response = requests.get(f"{agent.url}/v1/samples?{query}", headers=AUTH, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]


def test_unknown_path_404_and_wrong_method_405(agent):
    assert requests.get(agent.url + "/v2/samples", headers=AUTH, timeout=5).status_code == 404
    response = requests.put(agent.url + "/v1/samples", headers=AUTH, timeout=5)
    assert response.status_code == 405 and response.headers["Allow"] == "GET"


def test_stream_is_versioned_contiguous_and_resumable(agent, client):
    wait_for_seq(client, 3)
    first = read(client, 4, since=1)
    assert [s["seq"] for s in first] == [1, 2, 3, 4]
    for sample in first:
        assert sample["v"] == 1 and sample["type"] == "sample"
        assert sample["instance"] == agent.instance and sample["host"] == socket.gethostname()
        assert abs(sample["time"] - time.time()) < 3600
    assert [s["mono"] for s in first] == sorted(s["mono"] for s in first)
    tracked = first[-1]["processes"]  # this process and its children (the suite's servers)
    assert {p["selector"] for p in tracked} == {f"pid:{os.getpid()}"}
    assert os.getpid() in {p["pid"] for p in tracked}
    # a subscriber that went away comes back later and loses nothing
    last = read(client, 2)[-1]["seq"]
    wait_for_seq(client, last + 5)
    resumed = read(client, 5, since=last + 1, instance=agent.instance)
    assert [s["seq"] for s in resumed] == list(range(last + 1, last + 6))


def test_since_from_another_lifetime_starts_at_the_oldest_kept(agent, client):
    oldest = client.health()["oldest"]
    assert read(client, 1, since=5, instance="0" * 16)[0]["seq"] == oldest
    assert read(client, 1, since=10**9)[0]["seq"] == client.health()["oldest"]


def test_latest_and_metrics(client):
    latest = client.latest()
    assert latest["type"] == "sample" and latest["seq"] >= 1
    text = client.metrics()
    families = set(re.findall(r"^# TYPE (\S+) (gauge|counter)$", text, re.MULTILINE))
    for name, kind in (("stresskit_system_memory_usage_ratio", "gauge"), ("stresskit_system_memory_used_bytes", "gauge"),
                       ("stresskit_process_resident_memory_bytes", "gauge"), ("stresskit_agent_samples_total", "counter"),
                       ("stresskit_system_network_received_bytes_total", "counter"),
                       ("stresskit_browser_processes", "gauge")):
        assert (name, kind) in families, name
    names = {f for f, _ in families}
    assert names <= set(prometheus.metric_names())
    # Prometheus conventions: counters end in _total, nothing in percent or per-second gauges, old names gone
    assert all(name.endswith("_total") == (kind == "counter") for name, kind in families), families
    assert not any(word in name for name in names for word in ("percent", "_bps", "stresskit_browsers_")), names
    assert "stresskit_system_memory_used " not in text and "stresskit_process_rss_bytes" not in text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r'[a-z_][a-z0-9_]*(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.]+(e[-+]?[0-9]+)?', line), line
    ratio = float(re.search(r"^stresskit_system_memory_usage_ratio\S* (\S+)$", text, re.MULTILINE).group(1))
    assert 0 < ratio < 1


def test_huge_and_slow_requests_are_dropped_while_a_subscriber_keeps_streaming(agent, client):
    got = []
    stop = threading.Event()

    def subscribe():
        with client.samples() as stream:
            for sample in stream:
                got.append(sample["seq"])
                if stop.is_set():
                    return

    reader = threading.Thread(target=subscribe, daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = len(got)

    def exchange(payload, wait=5.0):
        """Send ``payload``, return what came back before the agent closed the connection."""
        with socket.create_connection(("127.0.0.1", agent.port), timeout=wait) as sock:
            try:
                sock.sendall(payload)
            except OSError:
                pass
            data = b""
            try:
                while chunk := sock.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
            return data

    huge_head = b"GET /v1/health HTTP/1.1\r\nX-Pad: " + b"x" * 100_000 + b"\r\n\r\n"
    answer = exchange(huge_head)  # returns only once the agent closed the connection (else: timeout error)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431")  # a reset may beat the answer to us
    huge_body = (b"POST /v1/faults/memory HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode()
                 + b"\r\nContent-Length: 1000000\r\n\r\n" + b"{" * 200_000)
    answer = exchange(huge_body)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413")
    too_many = b"GET /v1/health HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(100)) + b"\r\n"
    assert exchange(too_many).startswith(b"HTTP/1.1 431")
    assert exchange(b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400")
    # slowloris: half a request, then silence -> closed after --request-timeout (1 s)
    began = time.monotonic()
    answer = exchange(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n", wait=10)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - began < 5
    # a dribbling client gets no longer than the whole-request deadline either
    with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as sock:
        began = time.monotonic()
        closed = False
        for _ in range(40):
            try:
                sock.sendall(b"X")
                time.sleep(0.1)
            except OSError:
                closed = True
                break
        if not closed:
            sock.settimeout(5)
            closed = sock.recv(65536).startswith(b"HTTP/1.1 4")
        assert closed and time.monotonic() - began < 5

    seen = len(got)
    stop.set()
    reader.join(10)
    assert requests.get(agent.url + "/v1/health", timeout=5).status_code == 200
    assert seen - started >= 5, "the subscriber stalled while bad requests were handled"
    assert got == list(range(got[0], got[0] + len(got))), "the subscriber lost samples"
    counters = client.metrics()
    assert re.search(r"^stresskit_agent_dropped_connections_total [1-9]", counters, re.MULTILINE)


def test_connection_limit_answers_503(tmp_path):
    with start_agent(["--max-connections", "2", "--request-timeout", "5"], token=TOKEN, workdir=tmp_path) as agent:
        idle = [socket.create_connection(("127.0.0.1", agent.port), timeout=5) for _ in range(2)]
        try:
            deadline = time.monotonic() + 5
            while True:  # the two idle connections are accepted asynchronously
                response = requests.get(agent.url + "/v1/health", timeout=5)
                if response.status_code == 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert response.status_code == 503
            assert "too many connections" in response.json()["error"]
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 5
        while requests.get(agent.url + "/v1/health", timeout=5).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_unreachable_agent_is_an_agent_error(tmp_path):
    agent = start_agent([], workdir=tmp_path)
    url = agent.url
    agent.stop()
    with pytest.raises(AgentError, match="unreachable") as info:
        AgentClient(url).health()
    assert not isinstance(info.value, AgentAuthError) and info.value.status is None
