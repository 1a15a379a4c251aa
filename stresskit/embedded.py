"""The embedded demo default: a local run with no ``--host`` starts the reference target.

``locust -f locustfiles/production.py --headless`` with no host starts the demo target (and a
redis-server on a free port when one is installed) on loopback for the length of the run, says
so in one log line and stops them when Locust quits. Distributed runs and runs with ``--host``
are left alone. Nothing happens on import; a locustfile opts in with :func:`use_embedded_target`.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from stresskit.errors import DependencyMissing
from stresskit.redact import redact_url

log = logging.getLogger("stresskit.embedded")

_REGISTERED: set[int] = set()


def use_embedded_target(events: Any, pages: int | None = None) -> None:
    """Opt a locustfile into the embedded demo target (idempotent per ``events`` object)."""
    if id(events) in _REGISTERED:
        return
    _REGISTERED.add(id(events))
    events.init.add_listener(lambda environment, **_: _maybe_start(environment, pages))


def _maybe_start(environment: Any, pages: int | None) -> None:
    from locust.runners import LocalRunner

    if not isinstance(environment.runner, LocalRunner) or environment.host:
        return
    if any(getattr(cls, "host", None) for cls in environment.user_classes):
        return
    from stresskit.target.launcher import start_redis, start_target

    started = []
    options = environment.parsed_options
    redis_url = getattr(options, "redis_url", None)
    if not redis_url:
        try:
            redis = start_redis()
            started.append(redis)
            redis_url = redis.url
            if options is not None and hasattr(options, "redis_url"):
                options.redis_url = redis_url
        except DependencyMissing as exc:
            log.warning("no Redis for the demo target (%s); cache users will record failures", exc)
    token = getattr(options, "target_admin_token", None) or secrets.token_urlsafe(16)
    if options is not None and hasattr(options, "target_admin_token"):
        options.target_admin_token = token
    args = ["--pages", str(pages)] if pages else []
    target = start_target(redis_url=redis_url, admin_token=token, extra_args=args)
    started.append(target)
    environment.host = target.url
    log.info(
        "no --host given: started the demo target at %s%s for this run (pass --host to test your own backend)",
        target.url, f" with Redis at {redact_url(redis_url)}" if redis_url else "",
    )

    def stop(**_: Any) -> None:
        for server in reversed(started):
            server.stop()

    environment.events.quitting.add_listener(stop)
