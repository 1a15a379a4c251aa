"""The reference target, exercised over real sockets: API, cache, WebSocket, pages, limiter, admin."""

import json
import time

import pytest
import redis
import requests
import websocket

from stresskit.target import WS_CLOSE_IDLE, WS_CLOSE_LIMIT
from tests.conftest import ADMIN_TOKEN


def ws_url(server):
    return f"ws://{server.host}:{server.port}/ws"


def auth(token=ADMIN_TOKEN):
    return {"Authorization": f"Bearer {token}"}


# -- REST API -------------------------------------------------------------------------------------

def test_list_get_create_items(target):
    listing = requests.get(target.url + "/api/items", params={"limit": 5, "offset": 10}, timeout=5).json()
    assert [item["id"] for item in listing["items"]] == [11, 12, 13, 14, 15]
    one = requests.get(target.url + "/api/items/11", timeout=5).json()
    assert one == listing["items"][0]
    created = requests.post(target.url + "/api/items", json={"name": "widget", "price": 9.5}, timeout=5)
    assert created.status_code == 201
    new_id = created.json()["id"]
    assert requests.get(f"{target.url}/api/items/{new_id}", timeout=5).json()["name"] == "widget"


def test_search_ranks_matching_items(target):
    found = requests.get(target.url + "/api/search", params={"q": "item 7 hotel"}, timeout=5).json()
    assert found["matches"] > 0
    assert found["items"][0]["name"] == "item 7 hotel"


@pytest.mark.parametrize(
    "method,path,body,status",
    [
        ("get", "/api/items/999999", None, 404),
        ("get", "/api/items/abc", None, 404),
        ("get", "/api/items?limit=0", None, 400),
        ("get", "/api/items?limit=x", None, 400),
        ("get", "/api/search", None, 400),
        ("get", "/api/search?q=" + "x" * 101, None, 400),
        ("post", "/api/items", "not json", 400),
        ("post", "/api/items", "[1, 2]", 400),
        ("post", "/api/items", json.dumps({"name": "", "price": 1}), 400),
        ("post", "/api/items", json.dumps({"name": "a", "price": -1}), 400),
        ("post", "/api/items", json.dumps({"name": "a", "price": 1, "extra": 1}), 400),
        ("post", "/api/items", "x" * 70_000, 413),
        ("get", "/pages/0", None, 404),
        ("get", "/pages/41", None, 404),
        ("get", "/nowhere", None, 404),
        ("put", "/api/items", None, 405),
    ],
)
def test_malformed_requests_get_4xx_and_the_target_lives_on(target, method, path, body, status):
    response = requests.request(method, target.url + path, data=body, timeout=5,
                                headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert "error" in response.json()
    assert requests.get(target.url + "/healthz", timeout=5).status_code == 200


# -- cache read-through ------------------------------------------------------------------------------

def test_cache_reads_through_real_redis(target, redis_server):
    key = f"k-{time.monotonic_ns()}"
    first = requests.get(f"{target.url}/api/cache/{key}", timeout=5)
    second = requests.get(f"{target.url}/api/cache/{key}", timeout=5)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert first.json()["value"] == second.json()["value"]
    stored = redis.Redis.from_url(redis_server.url).get("stresskit:cache:" + key)
    assert stored.decode() == first.json()["value"]


def test_cache_answers_503_when_redis_goes_away(target_factory, redis_factory):
    own_redis = redis_factory()
    server = target_factory(redis_url=own_redis.url)
    assert requests.get(server.url + "/api/cache/a", timeout=5).status_code == 200
    own_redis.stop()
    response = requests.get(server.url + "/api/cache/a", timeout=10)
    assert response.status_code == 503
    assert server.health()["redis"] == "down"


# -- rate limiter ----------------------------------------------------------------------------------

def test_rate_limiter_answers_429_with_retry_after(target_factory):
    server = target_factory(extra_args=["--rate-limit", "1", "--rate-burst", "3", "--latency-ms", "0"])
    session = requests.Session()
    codes = [session.get(server.url + "/api/items", headers={"X-Client-Id": "burst"}, timeout=5) for _ in range(6)]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200]
    limited = [r for r in codes if r.status_code == 429]
    assert limited, "a burst over the limit must be throttled"
    assert int(limited[0].headers["Retry-After"]) >= 1
    # another client is not affected by the first one's burst
    assert session.get(server.url + "/api/items", headers={"X-Client-Id": "other"}, timeout=5).status_code == 200


# -- WebSocket ---------------------------------------------------------------------------------------

def test_ws_echo_carries_server_timestamp(target):
    ws = websocket.create_connection(ws_url(target), timeout=5)
    try:
        before = time.time()
        ws.send(json.dumps({"op": "echo", "id": 7, "payload": "hi"}))
        reply = json.loads(ws.recv())
        assert reply["op"] == "echo" and reply["id"] == 7 and reply["payload"] == "hi"
        assert before - 1 <= reply["server_ts"] <= time.time() + 1
        ws.send("not json")
        assert json.loads(ws.recv())["op"] == "error"
    finally:
        ws.close()


def test_ws_broadcast_fans_out_to_every_subscriber(target):
    subscribers = [websocket.create_connection(ws_url(target), timeout=5) for _ in range(3)]
    sender = websocket.create_connection(ws_url(target), timeout=5)
    try:
        for sub in subscribers:
            sub.send(json.dumps({"op": "subscribe"}))
            assert json.loads(sub.recv())["op"] == "subscribed"
        sender.send(json.dumps({"op": "broadcast", "id": "b1", "payload": {"n": 1}}))
        ack = json.loads(sender.recv())
        assert ack["op"] == "broadcast_ack" and ack["delivered"] >= 3
        for sub in subscribers:
            message = json.loads(sub.recv())
            assert message["op"] == "broadcast" and message["id"] == "b1" and "server_ts" in message
    finally:
        for ws in (*subscribers, sender):
            ws.close()


def test_ws_limit_close_code_is_reported(target_factory):
    server = target_factory(extra_args=["--ws-max-connections", "1"])
    held = websocket.create_connection(ws_url(server), timeout=5)
    held.send(json.dumps({"op": "echo", "id": 1}))
    held.recv()
    try:
        refused = websocket.create_connection(ws_url(server), timeout=5)
        opcode, frame = refused.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame.data[:2], "big") == WS_CLOSE_LIMIT
        refused.close()
        assert server.health()["ws_refused"] == 1
        held.send(json.dumps({"op": "echo", "id": 2}))  # the connection under the limit is untouched
        assert json.loads(held.recv())["id"] == 2
    finally:
        held.close()


def test_ws_idle_connections_are_closed_with_4000(target_factory):
    server = target_factory(extra_args=["--ws-idle-timeout", "0.3"])
    ws = websocket.create_connection(ws_url(server), timeout=5)
    opcode, frame = ws.recv_data_frame(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame.data[:2], "big") == WS_CLOSE_IDLE
    ws.close()
    assert server.health()["ws_idle_closed"] == 1


# -- pages in a real browser ---------------------------------------------------------------------------

@pytest.mark.browser
def test_pages_render_rows_by_javascript_in_chromium(target, chrome):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    raw = requests.get(target.url + "/pages/3", timeout=5).text
    assert 'class="row"' not in raw.split("<script>")[0], "rows must not be in the served HTML"
    driver = chrome.driver
    driver.get(target.url + "/pages/3")
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    rows = driver.find_elements(By.CSS_SELECTOR, "#rows tr.row")
    assert len(rows) == 20
    assert rows[0].get_attribute("data-id") == "3000"
    driver.find_element(By.ID, "next").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-page") == "4")
    driver.get(target.url + "/pages/40")
    assert driver.find_elements(By.ID, "next") == []


# -- admin fault knobs --------------------------------------------------------------------------------

def test_admin_requires_the_token(target):
    assert requests.get(target.url + "/admin/faults", timeout=5).status_code == 401
    assert requests.get(target.url + "/admin/faults", headers=auth("wrong"), timeout=5).status_code == 401
    assert requests.post(target.url + "/admin/exit", headers=auth("wrong"), timeout=5).status_code == 401
    assert target.alive()
    assert requests.get(target.url + "/admin/faults", headers=auth(), timeout=5).json()["error_ratio"] == 0


def test_admin_disabled_without_a_token(target_factory):
    server = target_factory(admin_token=None)
    assert requests.get(server.url + "/admin/faults", headers=auth(), timeout=5).status_code == 403


def test_admin_faults_change_behaviour(target_factory):
    server = target_factory(extra_args=["--latency-ms", "0"])
    url = server.url
    bad = requests.post(url + "/admin/faults", json={"error_ratio": 2}, headers=auth(), timeout=5)
    assert bad.status_code == 400
    assert requests.post(url + "/admin/faults", json={"nope": 1}, headers=auth(), timeout=5).status_code == 400

    requests.post(url + "/admin/faults", json={"error_ratio": 1.0}, headers=auth(), timeout=5).raise_for_status()
    assert requests.get(url + "/api/items", timeout=5).status_code == 500

    requests.post(url + "/admin/faults", json={"error_ratio": 0, "force_429_ratio": 1.0}, headers=auth(),
                  timeout=5).raise_for_status()
    throttled = requests.get(url + "/api/items", timeout=5)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"

    requests.post(url + "/admin/faults", json={"force_429_ratio": 0, "latency_ms": 300}, headers=auth(),
                  timeout=5).raise_for_status()
    started = time.monotonic()
    assert requests.get(url + "/api/items", timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3

    requests.delete(url + "/admin/faults", headers=auth(), timeout=5).raise_for_status()
    started = time.monotonic()
    requests.get(url + "/api/items", timeout=5).raise_for_status()
    assert time.monotonic() - started < 0.3


def test_admin_exit_ends_the_process_with_the_code(target_factory):
    server = target_factory()
    response = requests.post(server.url + "/admin/exit", json={"code": 3}, headers=auth(), timeout=5)
    assert response.status_code == 202
    assert server.process.wait(10) == 3


def test_admin_ws_drop_cuts_connections_without_close_frame(target):
    ws = websocket.create_connection(ws_url(target), timeout=5)
    ws.send(json.dumps({"op": "echo", "id": 1}))
    ws.recv()
    dropped = requests.post(target.url + "/admin/ws/drop", headers=auth(), timeout=5).json()["dropped"]
    assert dropped >= 1
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
        ws.recv()
