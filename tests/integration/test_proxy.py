"""The TCP fault proxy (``stresskit proxy``) as a real process between a real client and real servers:
every toxic's effect on the wire, the down switch, the Toxiproxy-compatible API and its errors.

Upstreams are the reference target and a small byte server of this test (for sizes and rates)."""

import locust  # noqa: F401,I001  (gevent patching first)

import http.client
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from stresskit.errors import FaultError
from stresskit.faults.proxy import start_fault_proxy
from stresskit.faults.toxiproxy import ToxiproxyClient
from stresskit.target.launcher import free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def shared_proxy(target, tmp_path_factory):
    server = start_fault_proxy(f"127.0.0.1:{target.port}", workdir=tmp_path_factory.mktemp("proxy"))
    yield server
    server.stop()


@pytest.fixture
def proxy(shared_proxy):
    """The module's proxy process, reset (no toxics, enabled) before and after each test."""
    shared_proxy.client().reset()
    yield shared_proxy
    shared_proxy.client().reset()


def get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def timed_get(url: str, timeout: float = 5.0) -> float:
    start = time.perf_counter()
    get(url, timeout)
    return time.perf_counter() - start


class ByteServer:
    """Sends ``size`` bytes to every connection, then closes it (a real TCP peer of the proxy)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.sendall(b"x" * self.size)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self.sock.close()


def read_all(port: int, timeout: float = 10.0) -> tuple[int, float]:
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        total = 0
        while chunk := conn.recv(65536):
            total += len(chunk)
    return total, time.perf_counter() - start


# -- plain forwarding and the API ---------------------------------------------------------------


def test_forwards_http_unchanged_and_serves_the_toxiproxy_api(proxy, target):
    assert get(proxy.url + "/api/items?limit=3") == get(target.url + "/api/items?limit=3")
    client = proxy.client()
    assert "stresskit-proxy" in client.version()
    info = client.proxies()["target"]
    assert info["upstream"] == f"127.0.0.1:{target.port}" and info["enabled"] is True
    assert info["listen"].endswith(f":{proxy.listen_port}")


def test_api_errors_are_clear(proxy):
    client = proxy.client()
    with pytest.raises(FaultError, match="404.*proxy 'nope' not found"):
        client.proxy("nope")
    with pytest.raises(FaultError, match="400.*unknown toxic type 'gremlin'"):
        client.add_toxic("target", "gremlin")
    with pytest.raises(FaultError, match="400.*unknown attribute"):
        client.add_toxic("target", "latency", {"latncy": 5})
    with pytest.raises(FaultError, match="400.*toxicity"):
        client.add_toxic("target", "latency", {"latency": 5}, toxicity=1.5)
    client.add_toxic("target", "latency", {"latency": 1}, name="dup")
    with pytest.raises(FaultError, match="409.*already exists"):
        client.add_toxic("target", "latency", {"latency": 1}, name="dup")
    client.remove_toxic("target", "dup")
    with pytest.raises(FaultError, match="404.*toxic 'ghost' not found"):
        client.remove_toxic("target", "ghost")
    with pytest.raises(FaultError, match="unreachable"):
        ToxiproxyClient(f"http://127.0.0.1:{free_port()}", timeout=1).version()


# -- toxics ------------------------------------------------------------------------------------


def test_latency_with_jitter_delays_each_response(proxy):
    baseline = min(timed_get(proxy.url + "/healthz") for _ in range(3))
    client = proxy.client()
    client.add_toxic("target", "latency", {"latency": 300, "jitter": 50})
    delayed = [timed_get(proxy.url + "/healthz") for _ in range(3)]
    client.remove_toxic("target", "latency_downstream")
    assert all(d >= 0.25 for d in delayed), delayed          # 300 ± 50 ms on the response
    assert all(d < baseline + 1.0 for d in delayed), delayed
    assert timed_get(proxy.url + "/healthz") < baseline + 0.2  # gone once removed


def test_bandwidth_limits_the_rate(tmp_path):
    server = ByteServer(100 * 1024)
    proxy = start_fault_proxy(f"127.0.0.1:{server.port}", workdir=tmp_path)
    try:
        size, fast = read_all(proxy.listen_port)
        assert size == 100 * 1024
        proxy.client().add_toxic("target", "bandwidth", {"rate": 100})  # 100 KB/s
        size, slow = read_all(proxy.listen_port)
        assert size == 100 * 1024
        assert 0.8 <= slow <= 2.5, slow   # 100 KiB at 100 KiB/s ≈ 1 s
        assert fast < 0.5
    finally:
        proxy.stop()
        server.close()


def test_limit_data_closes_after_n_bytes(tmp_path):
    server = ByteServer(50_000)
    proxy = start_fault_proxy(f"127.0.0.1:{server.port}", workdir=tmp_path)
    try:
        proxy.client().add_toxic("target", "limit_data", {"bytes": 1000})
        size, _ = read_all(proxy.listen_port)
        assert size == 1000
    finally:
        proxy.stop()
        server.close()


def test_reset_peer_resets_the_connection(proxy):
    proxy.client().add_toxic("target", "reset_peer", {"timeout": 0})
    with pytest.raises(ConnectionResetError):  # the reset may already hit the connect or the send
        with socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=5) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            while conn.recv(65536):
                pass


def test_timeout_toxic_is_a_blackhole_then_closes(proxy):
    client = proxy.client()
    client.add_toxic("target", "timeout", {"timeout": 0}, name="hole")
    with pytest.raises(TimeoutError):
        get(proxy.url + "/healthz", timeout=0.7)  # data dropped: a real client timeout
    client.remove_toxic("target", "hole")
    client.add_toxic("target", "timeout", {"timeout": 500}, name="closer")
    conn = socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=5)
    start = time.monotonic()
    try:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.recv(65536) == b""  # nothing came through, then the proxy closed it
    finally:
        conn.close()
    assert 0.4 <= time.monotonic() - start < 3
    client.remove_toxic("target", "closer")
    assert get(proxy.url + "/healthz")


def test_removing_a_timeout_toxic_closes_the_connections_it_held_and_no_other(proxy):
    """Toxiproxy's timeout toxic closes its connections when it is removed (the bytes it dropped are
    gone, the stream is broken); one kept open would leave a request waiting for its client timeout."""
    client = proxy.client()
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    # a toxic that held no connection (toxicity 0) closes none when it goes
    client.add_toxic("target", "timeout", {"timeout": 0}, name="spares", toxicity=0.0)
    bystander = http.client.HTTPConnection("127.0.0.1", proxy.listen_port, timeout=5)
    try:
        bystander.request("GET", "/healthz")
        assert bystander.getresponse().read()
        client.remove_toxic("target", "spares")
        bystander.request("GET", "/healthz")  # the same keep-alive connection still serves
        assert bystander.getresponse().read()
    finally:
        bystander.close()
    client.add_toxic("target", "timeout", {"timeout": 0}, name="hole", stream="upstream")
    with socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=5) as held:
        held.sendall(request)  # dropped
        held.settimeout(0.3)
        with pytest.raises(TimeoutError):
            held.recv(65536)
        held.settimeout(5)
        started = time.monotonic()
        client.remove_toxic("target", "hole")
        assert held.recv(65536) == b""  # closed by the removal, nothing answered
        assert time.monotonic() - started < 2
    assert get(proxy.url + "/healthz")


def test_toxicity_zero_affects_no_connection(proxy):
    proxy.client().add_toxic("target", "timeout", {"timeout": 0}, toxicity=0.0)
    assert get(proxy.url + "/healthz", timeout=2)


def test_slow_close_delays_the_close(tmp_path):
    server = ByteServer(10)
    proxy = start_fault_proxy(f"127.0.0.1:{server.port}", workdir=tmp_path)
    try:
        proxy.client().add_toxic("target", "slow_close", {"delay": 600})
        size, elapsed = read_all(proxy.listen_port)
        assert size == 10 and elapsed >= 0.55
    finally:
        proxy.stop()
        server.close()


def test_toxics_apply_to_connections_already_open(proxy):
    conn = socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=5)
    try:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in conn.recv(65536)
        proxy.client().add_toxic("target", "reset_peer", {"timeout": 100})
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 5.0  # the toxic resets 100 ms after it is added
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            while time.monotonic() < deadline:
                if not conn.recv(65536):
                    break
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        conn.close()


# -- down / up (partition) -----------------------------------------------------------------------


def test_down_cuts_open_connections_and_refuses_new_ones_until_up(proxy):
    client = proxy.client()
    conn = socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=5)
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in conn.recv(65536)
    client.set_enabled("target", False)
    try:
        assert conn.recv(65536) == b""  # cut
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=2)
    finally:
        conn.close()
        client.set_enabled("target", True)
    assert get(proxy.url + "/healthz")
    client.add_toxic("target", "latency", {"latency": 1})
    client.reset()
    assert client.toxics("target") == []


# -- command line ---------------------------------------------------------------------------------


def test_cli_refuses_a_non_loopback_api_without_token():
    result = subprocess.run([sys.executable, "-m", "stresskit", "proxy", "--api", "198.18.0.1:0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "not a loopback address: pass --token" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_rejects_a_malformed_proxy_spec():
    result = subprocess.run([sys.executable, "-m", "stresskit", "proxy", "--proxy", "just-a-name"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "NAME=LISTEN_HOST:PORT=UPSTREAM_HOST:PORT" in result.stderr


def test_api_token_is_required_when_set(target, tmp_path):
    ready = tmp_path / "ready.json"
    argv = [sys.executable, "-m", "stresskit", "proxy", "--api", "127.0.0.1:0", "--token", "s3cret",
            "--ready-file", str(ready), "--proxy", f"t=127.0.0.1:0=127.0.0.1:{target.port}"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        import json

        api = json.loads(ready.read_text())["api"]
        with pytest.raises(FaultError, match="401"):
            ToxiproxyClient(api).proxies()
        assert "t" in ToxiproxyClient(api, token="s3cret").proxies()
    finally:
        process.terminate()
        process.wait(10)
