"""One listener on Locust's ``request`` event for every stresskit part that looks at each request.

Locust calls each ``events.request`` listener with the request's nine keyword arguments, and a
handler that gathers the ones it does not name into ``**kwargs`` pays for a new dict per call.
Availability, the latency sketches and the fault injector all run on every request of a run, so
they share one listener instead: it names every argument, reads the clock once, and calls each
part positionally as ``fn(request_type, name, response_time, exception, now)``.

:func:`request_feed` returns an environment's feed. It has ``add_listener`` / ``remove_listener``
like a Locust event hook, so :class:`stresskit.core.perrun.Listeners` subscribes to it as to any
other event. The feed is on ``events.request`` only while a part listens. Lowest layer:
standard library only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.perrun import PerRun

__all__ = ["RequestFeed", "RequestListener", "request_feed"]

RequestListener = Callable[[str, str, "float | None", Any, float], None]
"""``fn(request_type, name, response_time, exception, now)``; ``now`` is ``time.time()``."""

_SLOT: PerRun[RequestFeed] = PerRun("request_feed")


class RequestFeed:
    """The one ``events.request`` listener of an environment's stresskit parts."""

    def __init__(self, environment: RunEnvironment) -> None:
        self._hook = environment.events.request
        self._listeners: tuple[RequestListener, ...] = ()

    def add_listener(self, listener: RequestListener) -> None:
        if not self._listeners:
            self._hook.add_listener(self._on_request)
        self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: RequestListener) -> None:
        """Unsubscribe ``listener``; ValueError when it is not subscribed (as Locust's hooks do)."""
        listeners = list(self._listeners)
        listeners.remove(listener)
        self._listeners = tuple(listeners)
        if not listeners:
            self._hook.remove_listener(self._on_request)

    def _on_request(self, request_type: str = "", name: str = "", response_time: float | None = None,
                    response_length: int = 0, exception: Any = None, context: Any = None, response: Any = None,
                    start_time: float | None = None, url: str | None = None, **_: Any) -> None:
        # Every argument Locust passes is named, so no dict of the rest is built per request (half
        # of this call's cost).
        now = time.time()
        error: Exception | None = None
        for listener in self._listeners:
            try:
                listener(request_type, name, response_time, exception, now)
            except Exception as exc:  # one part's error must not keep the request from the others
                error = error or exc
        if error is not None:  # Locust logs it and flags the run, as for any listener's error
            raise error


def request_feed(environment: RunEnvironment) -> RequestFeed:
    """The environment's :class:`RequestFeed` (made on first use)."""
    return _SLOT.get_or_create(environment, lambda: RequestFeed(environment))
