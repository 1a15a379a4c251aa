"""Fixtures that start real servers on free loopback ports and always tear them down.

``import locust`` comes first: it monkey-patches with gevent, which must happen before ssl,
urllib3 or selenium are imported anywhere in the test process.
"""

import locust  # noqa: F401,I001  (must be first)

from pathlib import Path

import pytest

from stresskit.target.launcher import start_redis, start_target

ADMIN_TOKEN = "test-admin-token"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server for the whole session (no persistence)."""
    server = start_redis(workdir=tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def target(redis_server, tmp_path_factory):
    """The reference target, backed by the session's redis-server, with a known admin token."""
    server = start_target(
        workdir=tmp_path_factory.mktemp("target"), redis_url=redis_server.url, admin_token=ADMIN_TOKEN,
        extra_args=["--pages", "40", "--latency-ms", "1", "--rate-limit", "2000", "--rate-burst", "4000"],
    )
    yield server
    server.stop()


@pytest.fixture
def redis_factory(tmp_path):
    """Start extra redis-servers for one test (e.g. with a password, or to kill)."""
    started = []

    def make(**kwargs):
        server = start_redis(workdir=tmp_path, **kwargs)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def target_factory(tmp_path):
    """Start targets with custom options for one test; each is stopped afterwards."""
    started = []

    def make(extra_args=(), redis_url=None, admin_token=ADMIN_TOKEN, **kwargs):
        server = start_target(workdir=tmp_path, redis_url=redis_url, admin_token=admin_token,
                              extra_args=list(extra_args), **kwargs)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def chrome():
    """One headless Chromium session, always quit."""
    from stresskit.clients.browser import start_chrome

    session = start_chrome()
    yield session
    session.quit()
