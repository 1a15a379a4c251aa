"""The request feed: stresskit's per-request parts share one listener on Locust's request event."""

import pytest
from locust.env import Environment

from stresskit.core.perrun import Listeners
from stresskit.core.requestfeed import request_feed


def fire(env, **overrides):
    kwargs = {"request_type": "GET", "name": "/a", "response_time": 12.5, "response_length": 3,
              "exception": None, "context": {}, "url": "http://127.0.0.1/a", "start_time": 1.0}
    kwargs.update(overrides)
    env.events.request.fire(**kwargs)


def test_parts_share_one_listener_get_the_fields_and_unsubscribe():
    env = Environment()
    before = len(env.events.request._handlers)
    seen_a, seen_b = [], []
    a = Listeners((request_feed(env), lambda *args: seen_a.append(args)))
    b = Listeners((request_feed(env), lambda *args: seen_b.append(args)))
    assert len(env.events.request._handlers) == before + 1  # one listener for both parts
    error = RuntimeError("503")
    fire(env, exception=error)
    (rtype, name, rt, exc, now), = seen_a
    assert (rtype, name, rt, exc) == ("GET", "/a", 12.5, error) and now > 1e9
    assert seen_b == seen_a
    a.remove()
    fire(env)
    assert len(seen_a) == 1 and len(seen_b) == 2
    b.remove()
    assert len(env.events.request._handlers) == before  # the feed leaves when its last part does
    with pytest.raises(ValueError):
        request_feed(env).remove_listener(print)


def test_one_parts_error_reaches_locust_and_the_others_still_see_the_request():
    env = Environment()
    seen = []

    def broken(*args):
        raise KeyError("bug")

    parts = Listeners((request_feed(env), broken), (request_feed(env), lambda *args: seen.append(args)))
    with pytest.raises(KeyError):  # what Locust's own hook catches, logs and flags the run with
        request_feed(env)._on_request(request_type="GET", name="/a", response_time=1.0)
    assert len(seen) == 1
    parts.remove()
