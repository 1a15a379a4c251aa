"""CacheUser against a real redis-server: key space, value sizes, pipelining, the hit rate
(aggregated from in-process workers over Locust's real ZeroMQ transport), the web UI tab, the
threshold's exit code, disconnections and bad input."""

import locust  # noqa: I001  (gevent patching first)

import argparse
import json
import logging
import random
import sys
import urllib.request
import uuid
from collections import Counter

import locust.runners
import pytest
import redis
from locust import constant
from locust.env import Environment

from stresskit.clients.cache import KeySpace, redact_url
from stresskit.core.runstate import run_state_of
from stresskit.target.launcher import free_port
from stresskit.users.cache import EXIT_CACHE_HIT_RATE, CacheHitRate, CacheUser, init_cache_hit_rate
from tests.support.wait import wait_for

pytestmark = pytest.mark.timeout(120)


def entry(env, name):
    return env.stats.entries.get((name, "REDIS"))


def count(env, name) -> int:
    e = entry(env, name)
    return e.num_requests if e else 0


def user_class(url: str, **attrs):
    """A CacheUser subclass on ``url`` with its own key prefix (tests share one redis-server)."""
    base = {"wait_time": constant(0.002), "redis_url": url, "key_prefix": f"test:{uuid.uuid4().hex[:8]}:"}
    return type("Cache", (CacheUser,), {**base, **attrs})


def start(cls, users: int = 2, options: dict | None = None):
    env = Environment(user_classes=[cls], parsed_options=argparse.Namespace(**options) if options else None)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=100)
    return env, runner


def test_key_space_value_sizes_and_ttl(redis_server):
    cls = user_class(redis_server.url, read_ratio=0.0, key_space=30, value_size=(10, 20), ttl=300)
    env, runner = start(cls)
    try:
        wait_for(lambda: count(env, "SET") >= 400, what="400 writes")
    finally:
        runner.quit()
    assert entry(env, "SET").num_failures == 0 and count(env, "GET hit") == count(env, "GET miss") == 0
    client = redis.Redis.from_url(redis_server.url)
    keys = list(client.scan_iter(match=cls.key_prefix + "*", count=1000))
    assert len(keys) == 30  # every key of the space, none outside it
    assert all(10 <= client.strlen(k) <= 20 for k in keys)
    assert all(0 < client.ttl(k) <= 300 for k in keys)


def test_reads_count_hits_and_misses_in_stats_and_run_state(redis_server):
    cls = user_class(redis_server.url, read_ratio=0.5, key_space=20)
    env, runner = start(cls)
    try:
        wait_for(lambda: count(env, "GET hit") >= 200, what="200 hits")
    finally:
        runner.quit()
    state = run_state_of(env)
    # a local runner adds directly: the run state is exactly the stats rows
    assert (state.cache_hits, state.cache_misses) == (count(env, "GET hit"), count(env, "GET miss"))
    assert 0 < count(env, "GET miss") < count(env, "GET hit")  # 20 keys fill quickly
    tracker = CacheHitRate.attach(env)
    assert tracker.intervals and sum(b[1] for b in tracker.intervals) == state.cache_hits


def test_pipelining_sends_batches_and_counts_their_reads(redis_server):
    cls = user_class(redis_server.url, read_ratio=1.0, pipeline=5)
    env, runner = start(cls)
    try:
        wait_for(lambda: count(env, "PIPELINE") >= 50, what="50 pipelines")
    finally:
        runner.quit()
    state = run_state_of(env)
    assert entry(env, "PIPELINE").num_failures == 0 and count(env, "GET hit") + count(env, "GET miss") == 0
    assert state.cache_hits + state.cache_misses == 5 * count(env, "PIPELINE")


def test_zipf_skew_concentrates_on_hot_keys():
    rng = random.Random(7)
    uniform = Counter(KeySpace(100, "k", 0.0).pick(rng) for _ in range(20000))
    skewed = Counter(KeySpace(100, "k", 1.2).pick(rng) for _ in range(20000))
    assert set(uniform) <= {f"k{i}" for i in range(100)} and len(uniform) == 100
    assert skewed["k0"] > 10 * skewed["k50"] and skewed.most_common(1)[0][0] == "k0"
    assert max(uniform.values()) < 2.5 * min(uniform.values())


def test_hit_rate_is_aggregated_from_workers_on_the_master(redis_server, monkeypatch):
    monkeypatch.setattr(locust.runners, "WORKER_REPORT_INTERVAL", 0.3)
    cls = user_class(redis_server.url, read_ratio=0.7, key_space=40)
    port = free_port()
    master_env = Environment(user_classes=[cls])
    master = master_env.create_master_runner("127.0.0.1", port)
    init_cache_hit_rate(master_env)
    workers = []
    for _ in range(2):
        env = Environment(user_classes=[cls])
        workers.append((env, env.create_worker_runner("127.0.0.1", port)))
        init_cache_hit_rate(env)
    try:
        wait_for(lambda: master.worker_count == 2, what="2 workers")
        master.start(4, spawn_rate=100)
        state = run_state_of(master_env)
        wait_for(lambda: state.cache_hits + state.cache_misses >= 300, what="hits on the master")
        master.stop()
        # after the workers' final reports the master's figures equal its aggregated stats rows
        wait_for(lambda: (state.cache_hits, state.cache_misses)
                 == (count(master_env, "GET hit"), count(master_env, "GET miss")) and master.user_count == 0,
                 what="the final reports")
    finally:
        master.quit()
        for _, worker in workers:
            worker.quit()
    tracker = CacheHitRate.attach(master_env)
    assert len(tracker.worker_totals) == 2 and all(sum(t) > 0 for t in tracker.worker_totals.values())
    assert sum(t[0] for t in tracker.worker_totals.values()) == state.cache_hits
    assert all(run_state_of(env).cache_hits == 0 for env, _ in workers)  # workers only forward
    assert 0 < state.cache_hit_rate < 1


def test_web_ui_shows_a_cache_tab(redis_server, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["locust"])  # the web UI parses the command line for its options
    cls = user_class(redis_server.url, key_space=10)
    env = Environment(user_classes=[cls])
    runner = env.create_local_runner()
    port = free_port()
    web_ui = env.create_web_ui("127.0.0.1", port)
    init_cache_hit_rate(env)
    try:
        runner.start(1, spawn_rate=10)
        wait_for(lambda: run_state_of(env).cache_hits > 0, what="a hit")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=5) as resp:
            body = json.loads(resp.read())
        table = next(t for t in body["extended_stats"] if t["key"] == "stresskit-cache")
        assert table["data"][0]["interval"] == "whole run" and table["data"][0]["hits"] > 0
        assert table["data"][0]["hit_rate"].endswith("%")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            page = resp.read().decode()
        assert '"stresskit-cache"' in page and '"Hit rate"' in page  # the tab and its columns
    finally:
        runner.quit()
        web_ui.stop()


@pytest.mark.parametrize("read_ratio, key_space, threshold, code", [
    (1.0, 1_000_000, 0.5, EXIT_CACHE_HIT_RATE),  # reads of keys never written: ~0% hits
    (0.5, 1, 0.5, None),  # one key, written at once: nearly every read hits
])
def test_min_hit_rate_sets_the_exit_code(redis_server, read_ratio, key_space, threshold, code):
    cls = user_class(redis_server.url, read_ratio=read_ratio, key_space=key_space)
    env, runner = start(cls, options={"cache_min_hit_rate": threshold})
    try:
        wait_for(lambda: run_state_of(env).cache_hits + run_state_of(env).cache_misses >= 100, what="100 reads")
    finally:
        runner.quit()
    env.events.quitting.fire(environment=env)
    assert env.process_exit_code == code


def test_users_ride_out_a_connection_kill(redis_factory):
    server = redis_factory()  # its own server: CLIENT KILL must not hit the shared target's connections
    cls = user_class(server.url, key_space=10, backoff_base=0.05)
    env, runner = start(cls, users=3)
    admin = redis.Redis.from_url(server.url)
    try:
        wait_for(lambda: count(env, "GET hit") >= 20, what="hits")
        connections = admin.info("stats")["total_connections_received"]
        assert admin.client_kill_filter(_type="normal", skipme=True) >= 3
        before = count(env, "GET hit") + count(env, "SET")
        wait_for(lambda: count(env, "GET hit") + count(env, "SET") >= before + 50, what="traffic after the kill")
        assert admin.info("stats")["total_connections_received"] >= connections + 3  # each user reconnected
    finally:
        runner.quit()
        admin.close()
    # a killed idle connection is replaced when it is next checked out; a command caught mid-flight
    # is one failure for its user, never a storm
    assert env.stats.total.num_failures <= 3


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["wrong", None])
def test_wrong_or_missing_password_is_one_failure_per_user_and_they_stop(redis_factory, caplog, password):
    server = redis_factory(password="s3cret")
    cls = user_class(f"redis://127.0.0.1:{server.port}/0", redis_password=password)
    with caplog.at_level(logging.WARNING):
        env, runner = start(cls, users=3)
        try:
            wait_for(lambda: entry(env, "connect") is not None and entry(env, "connect").num_failures == 3
                     and runner.user_count == 0, what="the users to stop")
        finally:
            runner.quit()
    assert env.stats.total.num_requests == 3  # nothing but the three failed connects
    lines = [r.getMessage() for r in caplog.records if r.name == "stresskit.users.cache"]
    assert len(lines) == 1 and "rejected the credentials" in lines[0] and "--redis-password" in lines[0]
    assert "s3cret" not in caplog.text and "Traceback" not in caplog.text


def test_unreachable_redis_retries_with_backoff_then_stops(caplog):
    cls = user_class(f"redis://127.0.0.1:{free_port()}/0", connect_attempts=3, backoff_base=0.05)
    with caplog.at_level(logging.WARNING):
        env, runner = start(cls, users=2)
        try:
            wait_for(lambda: count(env, "connect") == 6 and runner.user_count == 0, what="the users to stop")
        finally:
            runner.quit()
    assert entry(env, "connect").num_failures == 6
    errors = [r.getMessage() for r in caplog.records if r.name == "stresskit.users.cache" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "unreachable after 3 attempts" in errors[0]
    assert "Traceback" not in caplog.text


def test_missing_redis_url_is_an_error_at_start(caplog):
    cls = user_class("")
    with caplog.at_level(logging.ERROR):
        env, runner = start(cls, users=2)
        try:
            wait_for(lambda: runner.user_count == 0 and "--redis-url" in caplog.text, what="the users to stop")
        finally:
            runner.quit()
    assert env.stats.total.num_requests == 0
    assert len([r for r in caplog.records if r.name == "stresskit.users.cache"]) == 1


def test_passwords_are_redacted_in_messages():
    assert redact_url("redis://:hunter2@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
