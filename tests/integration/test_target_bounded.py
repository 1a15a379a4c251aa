"""The reference target stays bounded under a soak's traffic, and its deliberate leak knob leaks.

A real target process on loopback is hammered with bounded loops: many created items, many
distinct client ids through the rate limiter, many WebSocket connections that subscribe and go.
Its own bookkeeping (``/healthz``) must stay within the configured bounds. The
``leak_kb_per_request`` admin knob (off by default) must make the process's RSS grow — it is
what demonstrates the leak detector — and clearing the faults frees it.
"""

import psutil
import pytest
import requests
import websocket

from stresskit.target.ratelimit import TokenBucketLimiter
from tests.conftest import ADMIN_TOKEN
from tests.support.wait import wait_for

BASE_ITEMS = 1000
MAX_CREATED = 200
MAX_CLIENTS = 300
ARGS = ["--latency-ms", "0", "--rate-limit", "100000", "--rate-burst", "100000",
        "--max-created-items", str(MAX_CREATED), "--max-rate-clients", str(MAX_CLIENTS), "--ws-idle-timeout", "30"]


def auth():
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def bounded_target(target_factory):
    return target_factory(extra_args=ARGS)


def test_created_items_and_limiter_clients_stay_bounded(bounded_target):
    url = bounded_target.url
    with requests.Session() as http:
        ids = []
        for i in range(1500):  # bounded: 1500 creates, each from a client id never seen before
            response = http.post(f"{url}/api/items", json={"name": f"soak {i}", "price": 1},
                                 headers={"X-Client-Id": f"client-{i}"}, timeout=5)
            assert response.status_code == 201
            ids.append(response.json()["id"])
        health = http.get(f"{url}/healthz", timeout=5).json()
        assert health["created_items_kept"] == MAX_CREATED
        assert health["items"] == BASE_ITEMS + MAX_CREATED
        assert health["rate_limiter_clients"] <= MAX_CLIENTS
        assert http.get(f"{url}/api/items/{ids[-1]}", timeout=5).status_code == 200, "the newest are kept"
        assert http.get(f"{url}/api/items/{ids[0]}", timeout=5).status_code == 404, "the oldest created went"
        assert http.get(f"{url}/api/items/1", timeout=5).status_code == 200, "the seed items stay"
        assert http.get(f"{url}/api/items", params={"limit": 1}, timeout=5).json()["total"] == BASE_ITEMS + MAX_CREATED


def test_websocket_bookkeeping_is_released_when_clients_go(bounded_target):
    url = f"ws://{bounded_target.host}:{bounded_target.port}/ws"
    for i in range(150):  # bounded: 150 clients that subscribe, talk and leave (half without a close frame)
        ws = websocket.create_connection(url, timeout=5)
        ws.send('{"op": "subscribe"}')
        assert '"subscribed"' in ws.recv()
        if i % 2:
            ws.close()
        else:
            ws.sock.close()  # gone without a close frame, as a crashed client
    health = wait_for(lambda: (h := bounded_target.health()) and h["ws_connections"] == 0 and h, 20,
                      "the target to forget closed WebSocket connections")
    assert health["ws_subscribers"] == 0


def test_the_leak_knob_makes_memory_grow_and_clearing_frees_it(bounded_target):
    url = bounded_target.url
    process = psutil.Process(bounded_target.pid)
    assert requests.get(f"{url}/admin/faults", headers=auth(), timeout=5).json()["leak_kb_per_request"] == 0
    with requests.Session() as http:
        for _ in range(50):  # warm up the same path first, so the difference below is the leak
            http.get(f"{url}/api/items/1", timeout=5)
        before = process.memory_info().rss
        response = http.post(f"{url}/admin/faults", json={"leak_kb_per_request": 512}, headers=auth(), timeout=5)
        assert response.status_code == 200
        for _ in range(120):  # bounded: 120 requests x 512 KiB = 60 MiB kept
            assert http.get(f"{url}/api/items/1", timeout=5).status_code == 200
        health = http.get(f"{url}/healthz", timeout=5).json()
        assert health["leaked_bytes"] == 120 * 512 * 1024
        grown = process.memory_info().rss - before
        assert grown >= 50 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB only"
        assert http.delete(f"{url}/admin/faults", headers=auth(), timeout=5).status_code == 200
        assert http.get(f"{url}/healthz", timeout=5).json()["leaked_bytes"] == 0


def test_a_bad_leak_value_is_refused(bounded_target):
    response = requests.post(f"{bounded_target.url}/admin/faults", json={"leak_kb_per_request": 5000},
                             headers=auth(), timeout=5)
    assert response.status_code == 400
    assert "leak_kb_per_request must be within [0, 1024]" in response.json()["error"]


def test_limiter_forgets_the_least_recent_clients_past_its_bound():
    now = [0.0]
    limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=lambda: now[0], max_clients=3)
    for key in ("a", "b", "c"):
        assert limiter.acquire(key) == 0
    assert limiter.acquire("a") == 0  # a is now the most recent
    assert limiter.acquire("a") > 0  # and out of tokens
    limiter.acquire("d")  # over the bound: b, the least recent, is forgotten
    assert len(limiter) == 3
    assert limiter.acquire("a") > 0, "a recent client keeps its (empty) bucket"
    for i in range(1000):
        limiter.acquire(f"x{i}")
    assert len(limiter) == 3
