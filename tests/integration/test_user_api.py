"""ApiUser against real servers: the reference target, Python's static `http.server` in a
subprocess, and gevent's WSGI server recording headers. Users run in a real LocalRunner."""

import locust  # noqa: F401,I001  (gevent patching first)

import itertools
import json
import logging
import subprocess
import sys
import time
import urllib.request

import gevent
import pytest
from gevent.pywsgi import WSGIServer
from locust import constant, task
from locust.env import Environment

from stresskit.clients.endpoints import check_shape, parse_retry_after, shape_checker
from stresskit.errors import ConfigError
from stresskit.target.launcher import free_port
from stresskit.users.api import REFERENCE_ENDPOINTS, ApiUser, Endpoint
from tests.support.wait import wait_for

pytestmark = pytest.mark.timeout(120)


def start(user_class, host: str, users: int = 1):
    env = Environment(user_classes=[user_class], host=host)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=100)
    return env, runner


def entry(env, name, method="GET"):
    return env.stats.entries.get((name, method))


def errors(env, name):
    return [str(e.error) for e in env.stats.errors.values() if e.name == name]


# -- the reference target ----------------------------------------------------------------------


def test_reference_mix_is_grouped_validated_and_weighted(target):
    class Mix(ApiUser):
        wait_time = constant(0.005)
        endpoints = REFERENCE_ENDPOINTS

    env, runner = start(Mix, target.url, users=4)
    try:
        wait_for(lambda: env.stats.total.num_requests >= 600, timeout=20, what="600 requests")
    finally:
        runner.quit()
    names = {name for name, _ in env.stats.entries}
    assert {"/api/items", "/api/items/[id]", "/api/search", "/api/cache/[key]"} <= names
    assert not any(n.startswith("/api/items/") and n[len("/api/items/"):].isdigit() for n in names)
    assert env.stats.total.num_failures == 0, env.stats.serialize_errors()
    assert entry(env, "/api/items", "POST").num_requests > 0  # the 201 of a create passes validation
    # weights 10 (get item) vs 5 (list): the single-item reads clearly dominate
    assert entry(env, "/api/items/[id]").num_requests > 1.4 * entry(env, "/api/items").num_requests


def test_status_and_json_shape_failures_are_reported(target):
    class Checks(ApiUser):
        wait_time = constant(0.01)
        endpoints = (
            Endpoint("GET", "/api/items/999999", name="missing item"),  # 404, expected 200
            Endpoint("GET", "/api/items/999999", name="expected 404", expect=(404,)),
            Endpoint("GET", "/api/items/{id}", name="wrong shape", params=lambda u: {"id": 1},
                     shape={"id": int, "sku": str}),
            Endpoint("GET", "/api/items?limit=3", name="nested shape", shape={"items": [{"price": str}]}),
        )

    env, runner = start(Checks, target.url, users=2)
    try:
        wait_for(lambda: all(entry(env, n) and entry(env, n).num_requests >= 5 for n in
                             ("missing item", "expected 404", "wrong shape", "nested shape")), what="each endpoint")
    finally:
        runner.quit()
    assert entry(env, "missing item").num_failures == entry(env, "missing item").num_requests
    assert errors(env, "missing item") == ["status 404, expected 200"]
    assert entry(env, "expected 404").num_failures == 0
    assert errors(env, "wrong shape") == ["$: missing key 'sku'"]
    assert errors(env, "nested shape") == ["$.items[0].price: expected str, got float"]


def test_validate_status_mode_skips_the_body_and_bad_modes_are_rejected(target):
    class StatusOnly(ApiUser):
        wait_time = constant(0.01)
        validate = "status"
        endpoints = (Endpoint("GET", "/api/items/{id}", name="wrong shape", params=lambda u: {"id": 1},
                              shape={"sku": str}),
                     Endpoint("GET", "/api/items/999999", name="missing item"))

    env, runner = start(StatusOnly, target.url)
    try:
        wait_for(lambda: all(entry(env, n) is not None and entry(env, n).num_requests >= 3
                             for n in ("wrong shape", "missing item")), what="both endpoints")
    finally:
        runner.quit()
    assert entry(env, "wrong shape").num_failures == 0  # the shape is not checked
    assert entry(env, "missing item").num_failures == entry(env, "missing item").num_requests  # the status is

    class Typo(StatusOnly):
        validate = "strict"

    with pytest.raises(ConfigError, match="validate must be one of shape, status, off"):
        Typo(Environment(host=target.url))


def test_429_is_counted_apart_and_retry_after_is_honoured(target_factory):
    server = target_factory(extra_args=["--rate-limit", "1", "--rate-burst", "1", "--latency-ms", "0"])
    starts: dict[str, list[tuple[float, str]]] = {}

    class Eager(ApiUser):
        wait_time = constant(0)
        throttle_retries = 1
        endpoints = (Endpoint("GET", "/api/items/{id}", params=lambda u: {"id": 1}),)

    env, runner = start(Eager, server.url, users=2)
    env.events.request.add_listener(
        lambda name, start_time, context, **kw: starts.setdefault(context["client_id"], []).append((start_time, name))
    )
    try:
        throttled_row = "/api/items/[id] (throttled)"
        wait_for(lambda: entry(env, throttled_row) is not None and entry(env, throttled_row).num_requests >= 4,
                 timeout=15, what="4 throttled requests")
    finally:
        runner.quit()
    throttled = entry(env, "/api/items/[id] (throttled)")
    assert throttled.num_failures == 0 and env.stats.total.num_failures == 0  # not failures
    assert len(starts) == 2  # each user its own X-Client-Id, so its own bucket
    for events in starts.values():
        for (t0, name), (t1, _) in itertools.pairwise(events):
            if name.endswith("(throttled)"):
                assert t1 - t0 >= 0.95, "the next request came before Retry-After (1 s) had passed"
    # without honouring Retry-After two users with no wait time would send thousands
    assert env.stats.total.num_requests < 40


# -- a server the project did not write: Python's static http.server ----------------------------


@pytest.fixture
def static_server(tmp_path):
    (tmp_path / "items.json").write_text(json.dumps({"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}))
    (tmp_path / "notes.txt").write_text("plain text, not JSON\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(url + "/items.json", timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "http.server did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_static_http_server(static_server):
    class Static(ApiUser):
        wait_time = constant(0.01)
        endpoints = (
            Endpoint("GET", "/items.json", weight=3, shape={"items": [{"id": int, "name": str}]}),
            Endpoint("GET", "/nope/{n}.json", params=lambda u: {"n": u.random.randint(1, 9)}, expect=(404,)),
            Endpoint("GET", "/notes.txt", name="not json", shape={"items": list}),
        )

    env, runner = start(Static, static_server, users=2)
    try:
        wait_for(lambda: all(entry(env, n) is not None and entry(env, n).num_requests >= 3
                             for n in ("/items.json", "/nope/[n].json", "not json")), what="each endpoint")
    finally:
        runner.quit()
    assert entry(env, "/items.json").num_failures == 0 and entry(env, "/items.json").num_requests > 0
    grouped = entry(env, "/nope/[n].json")
    assert grouped.num_requests > 0 and grouped.num_failures == 0
    assert errors(env, "not json") == ["body is not JSON"]


def test_every_user_sends_its_own_client_id_and_the_token():
    seen: list[tuple[str, str]] = []

    def app(environ, start_response):
        seen.append((environ.get("HTTP_X_CLIENT_ID", ""), environ.get("HTTP_AUTHORIZATION", "")))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()

    class Tagged(ApiUser):
        wait_time = constant(0.01)
        api_token = "t0ken"
        endpoints = (Endpoint("GET", "/x", shape={"ok": bool}),)

    try:
        env, runner = start(Tagged, f"http://127.0.0.1:{server.server_port}", users=3)
        try:
            wait_for(lambda: len(seen) >= 30, what="30 requests")
        finally:
            runner.quit()
    finally:
        server.stop()
    ids = {client_id for client_id, _ in seen}
    assert len(ids) == 3 and all(i.startswith("stresskit-") for i in ids)
    assert {auth for _, auth in seen} == {"Bearer t0ken"}
    assert env.stats.total.num_failures == 0


def test_the_direct_http_path_decodes_prefixes_and_does_not_follow_redirects():
    """ApiUser sends on geventhttpclient's HTTPClient, not Locust's UserAgent: what that layer did
    for it (decompression, the --host path prefix, the JSON body headers) still happens, a
    redirect is an answer to check, and a body cut short is a failed request."""
    import gzip
    import zlib

    import brotli

    seen: list[dict] = []
    item = json.dumps({"id": 1, "name": "x", "price": 2.5}).encode()
    encoders = {"gzip": gzip.compress, "deflate": lambda b: zlib.compress(b)[2:-4], "br": brotli.compress}

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        seen.append({"path": path, "type": environ.get("CONTENT_TYPE", ""), "body": body,
                     "encodings": environ.get("HTTP_ACCEPT_ENCODING", ""), "tag": environ.get("HTTP_X_TAG")})
        if path.startswith("/base/enc/"):
            encoding = path.rsplit("/", 1)[1]
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Encoding", encoding)])
            return [encoders[encoding](item)]
        if path == "/base/moved":
            start_response("302 Found", [("Location", "/base/enc/gzip"), ("Content-Length", "0")])
            return [b""]
        if path == "/base/short":
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "500")])
            return [item]  # 53 of the 500 bytes promised: the client waits for the rest until its timeout
        start_response("201 Created", [("Content-Type", "application/json")])
        return [item]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    shape = {"id": int, "name": str, "price": float}

    class Direct(ApiUser):
        wait_time = constant(0.01)
        network_timeout = 1.0
        endpoints = (
            *(Endpoint("GET", f"/enc/{e}", shape=shape) for e in encoders),
            Endpoint("GET", "/moved", shape=shape),
            Endpoint("GET", "/short", shape=shape),
            Endpoint("POST", "/items", body=lambda u: {"name": "x"}, expect=(201,), shape=shape),
        )

        @task
        def ad_hoc(self):  # an endpoint made per call: its own headers, never another's
            self.call(Endpoint("PUT", "/adhoc", body=lambda u: [1], headers={"X-Tag": "t"}, expect=(201,)))

    try:
        env, runner = start(Direct, f"http://127.0.0.1:{server.server_port}/base")
        try:
            wait_for(lambda: all(entry(env, n, m) is not None and entry(env, n, m).num_requests >= 2
                                 for n, m in (("/enc/gzip", "GET"), ("/enc/deflate", "GET"), ("/enc/br", "GET"),
                                              ("/moved", "GET"), ("/short", "GET"), ("/items", "POST"),
                                              ("/adhoc", "PUT"))),
                     timeout=30, what="each endpoint twice")
        finally:
            runner.quit()
    finally:
        server.stop()
    assert all(entry(env, f"/enc/{e}").num_failures == 0 for e in encoders), env.stats.serialize_errors()
    assert {r["path"] for r in seen if r["path"].startswith("/base/enc/")} == {f"/base/enc/{e}" for e in encoders}
    assert {r["encodings"] for r in seen} == {"gzip, deflate, br"}
    assert errors(env, "/moved") == ["status 302, expected 200"]
    assert entry(env, "/moved").num_failures == entry(env, "/moved").num_requests
    assert entry(env, "/short").num_failures == entry(env, "/short").num_requests
    assert "timed out" in errors(env, "/short")[0]  # the connection's error, not a status or a shape
    posts = [r for r in seen if r["path"] == "/base/items"]
    assert posts and all(r["type"] == "application/json" and json.loads(r["body"]) == {"name": "x"} and r["tag"] is None
                         for r in posts)
    puts = [r for r in seen if r["path"] == "/base/adhoc"]
    assert puts and all(r["type"] == "application/json" and r["body"] == b"[1]" and r["tag"] == "t" for r in puts)
    assert entry(env, "/items", "POST").num_failures == 0 and entry(env, "/adhoc", "PUT").num_failures == 0


# -- bad input ---------------------------------------------------------------------------------


def test_unreachable_host_is_one_row_one_line_and_backs_off(caplog):
    class Nowhere(ApiUser):
        wait_time = constant(0)
        backoff_base = 0.2
        endpoints = (Endpoint("GET", "/api/items"),)

    with caplog.at_level(logging.ERROR):
        env, runner = start(Nowhere, f"http://127.0.0.1:{free_port()}", users=2)
        gevent.sleep(1.5)
        t0 = time.monotonic()
        runner.quit()
        assert time.monotonic() - t0 < 5  # no hung user
    row = entry(env, "/api/items")
    assert row.num_failures == row.num_requests and 2 <= row.num_requests <= 10  # backoff, not a busy loop
    lines = [r for r in caplog.records if r.name == "stresskit.users.api"]
    assert len(lines) == 1 and "Connection refused" in lines[0].getMessage()
    assert "Traceback" not in caplog.text


def test_endpoint_data_is_checked_before_any_load():
    with pytest.raises(ConfigError, match="weight"):
        Endpoint("GET", "/x", weight=0)
    with pytest.raises(ConfigError, match="no params factory"):
        Endpoint("GET", "/items/{id}")
    with pytest.raises(ConfigError, match="method"):
        Endpoint("FETCH", "/x")
    assert Endpoint("get", "/a/{b}/c/{d}", params=lambda u: {}).name == "/a/[b]/c/[d]"


@pytest.mark.parametrize("value, shape, problem", [
    ({"a": 1}, {"a": int}, None),
    ({"a": 1}, {"a": float}, None),
    ({"a": True}, {"a": int}, "$.a: expected int, got a boolean"),
    ([{"a": 1}, {"b": 2}], [{"a": int}], "$[1]: missing key 'a'"),
    ("x", {"a": int}, "$: expected an object, got a string"),
    (5, lambda v: v > 3 or "too small", None),
    (2, lambda v: v > 3 or "too small", "$: too small"),
    ({"a": None}, {"a": (int, type(None))}, None),
    ({"a": [1, "x"]}, {"a": [int]}, "$.a[1]: expected int, got a string"),
    ({"a": {"b": 1.5}}, {"a": {"b": int}}, "$.a.b: expected int, got float"),
])
def test_check_shape(value, shape, problem):
    assert check_shape(value, shape) == problem
    assert shape_checker(shape)(value) == problem  # the compiled fast path agrees


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None, default=1.5) == 1.5
    assert parse_retry_after("soon", default=2.0) == 2.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
