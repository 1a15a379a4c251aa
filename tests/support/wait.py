"""Polling with a deadline, for tests that run in the gevent-patched test process.

``gevent.sleep`` between polls lets the greenlets under test (Locust users, runners, fault
drivers) run while a test waits; the deadline turns a hang into a clear failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import gevent

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 10.0, what: str = "condition",
             interval: float = 0.02) -> T:
    """Poll ``condition`` every ``interval`` seconds until it returns something truthy and return it.

    The condition is checked at least once, and once more at the deadline; when it is still
    falsy then, the test fails with ``timed out after {timeout}s waiting for {what}``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        gevent.sleep(interval)
