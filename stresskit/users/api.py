"""``ApiUser``: an abstract FastHttpUser that calls a weighted endpoint mix defined as data.

    class ShopUser(ApiUser):
        wait_time = between(0.1, 0.5)
        endpoints = (
            Endpoint("GET", "/api/items/{id}", weight=5, params=lambda u: {"id": u.random.randint(1, 1000)},
                     shape={"id": int, "name": str}),
            Endpoint("POST", "/api/items", body=lambda u: {"name": "x", "price": 1}, expect=(201,)),
        )

- Stats names are the grouped templates (``/api/items/[id]``); HTTP keeps its method as the
  request type.
- A response fails when its status is not in ``expect`` or its JSON lacks the ``shape``.
- Every user sends its own ``X-Client-Id`` header (the target rate-limits per client id) and,
  with ``--api-token``, ``Authorization: Bearer …``.
- A 429 is not a failure: it is recorded as a success under ``<name> (throttled)``, the user
  waits what ``Retry-After`` asks (capped by ``max_retry_after``) and retries up to
  ``throttle_retries`` times. ``self.throttled`` counts them per user.
- A connection error (nothing answering) is a failure; the user then backs off exponentially
  (capped) so an unreachable host gives one stats row and one log line, not a busy loop.
- The mix goes out on the HTTPClient the session holds for the host, not through Locust's
  session (:mod:`stresskit.clients.http` says why): no cookies kept, no redirects followed.
  ``self.client`` stays Locust's session for anything else.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.url import URL
from locust import FastHttpUser, task

from stresskit.clients.endpoints import Endpoint, EndpointMix, ResponseInvalid, parse_retry_after
from stresskit.clients.http import ACCEPT_ENCODING, ApiResponse, send
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import non_negative_float, non_negative_int, setting
from stresskit.core.perrun import log_once
from stresskit.errors import ConfigError

__all__ = ["REFERENCE_ENDPOINTS", "ApiUser", "Endpoint", "add_arguments"]

log = logging.getLogger("stresskit.users.api")

VALIDATION_MODES = ("shape", "status", "off")


def add_arguments(parser: Any) -> None:
    """Add the API user options to Locust's parser (each with a ``STRESSKIT_*`` variable)."""
    parser.add_argument("--api-token", env_var="STRESSKIT_API_TOKEN", default=None, is_secret=True,
                        help="bearer token sent by API users as 'Authorization: Bearer TOKEN'")
    parser.add_argument("--api-max-retry-after", env_var="STRESSKIT_API_MAX_RETRY_AFTER", type=non_negative_float,
                        default=None, help="cap in seconds on a Retry-After wait after a 429 (default 30)")
    parser.add_argument("--api-validate", env_var="STRESSKIT_API_VALIDATE", choices=VALIDATION_MODES, default=None,
                        help="what makes an API response a failure: 'shape' (status and JSON shape, default), "
                             "'status' (status only) or 'off'")
    parser.add_argument("--api-throttle-retries", env_var="STRESSKIT_API_THROTTLE_RETRIES", type=non_negative_int,
                        default=None, help="retries of a throttled (429) request after its wait (default 1)")


_MIXES: dict[tuple[type, int], EndpointMix] = {}


def _mix_for(cls: Any) -> EndpointMix:
    """The class's weighted mix, built once per class (immutable, shared read-only)."""
    key = (cls, id(cls.endpoints))
    mix = _MIXES.get(key)
    if mix is None:
        mix = _MIXES[key] = EndpointMix(cls.endpoints)
    return mix


class ApiUser(FastHttpUser):
    """A FastHttpUser whose one task calls an endpoint picked from ``endpoints`` by weight."""

    abstract = True
    kind = "api"

    endpoints: Sequence[Endpoint] = ()
    """The weighted mix; subclasses set it."""
    client_id_prefix: str = "stresskit"
    api_token: str | None = None
    validate: str = "shape"
    """``"shape"``: status in ``expect`` and the JSON ``shape``; ``"status"``: the status only;
    ``"off"``: every answered request is a success. (``True``/``False`` mean shape/off.)"""
    max_retry_after: float = 30.0
    default_retry_after: float = 1.0
    """Wait after a 429 without a readable Retry-After."""
    throttle_retries: int = 1
    backoff_base: float = 0.5
    backoff_max: float = 10.0

    def __init__(self, environment: RunEnvironment) -> None:
        self.client_id = f"{self.client_id_prefix}-{uuid.uuid4().hex[:16]}"
        headers = dict(type(self).default_headers or {})
        headers["X-Client-Id"] = self.client_id
        token = setting(environment, "api_token", self.api_token or "")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.default_headers = headers
        super().__init__(environment)
        base_url = self.client.base_url or ""  # FastHttpUser refuses to start without a host
        base = URL(base_url)
        self._http = self.client.client.clientpool.get_client(base)
        self._base_url = base_url.rstrip("/")
        self._base_path = base.path.rstrip("/")
        self.random = random.Random()
        self.throttled = 0
        self._errors_in_row = 0
        self._mix = _mix_for(type(self)) if self.endpoints else None
        # the mix's endpoints live as long as the class, so their ids stay theirs
        self._mix_headers = {id(e): self._headers_for(e) for e in (self._mix.endpoints if self._mix else ())}
        self._max_retry_after = setting(environment, "api_max_retry_after", float(self.max_retry_after))
        self._throttle_retries = setting(environment, "api_throttle_retries", int(self.throttle_retries))
        mode = {True: "shape", False: "off"}.get(self.validate, self.validate)  # type: ignore[call-overload]
        self._validate = setting(environment, "api_validate", mode)
        if self._validate not in VALIDATION_MODES:
            raise ConfigError(f"{type(self).__name__}.validate must be one of {', '.join(VALIDATION_MODES)}, "
                              f"not {self._validate!r}")

    def context(self) -> dict:
        """Request-event context: the client id, so listeners can tell users apart.

        Built once: the mix's requests pass this same dict to every request event (listeners
        must not change it); Locust's session merges it into a new one per request."""
        context = self.__dict__.get("_context")
        if context is None or context["client_id"] is not self.client_id:
            context = self._context = {"client_id": self.client_id}
        return context

    @task
    def endpoint_mix(self) -> None:
        """Call one endpoint of the mix, chosen by weight."""
        if self._mix is None:
            log_once(self.environment, log, f"{type(self).__name__} has no endpoints: set its 'endpoints' attribute")
            self.stop()
            return
        self.call(self._mix.pick(self.random))

    def call(self, endpoint: Endpoint) -> ApiResponse | None:
        """Send ``endpoint`` (honouring 429 + Retry-After); the response, or None if throttled.

        Sent on the session's HTTPClient for the host (see :mod:`stresskit.clients.http`: no
        cookies, no redirects followed); each attempt fires one request event with its verdict."""
        path = endpoint.url(self) if endpoint.params is not None else endpoint.path
        data = None if endpoint.body is None else _dumps(endpoint.body(self))
        headers = self._mix_headers.get(id(endpoint)) or self._headers_for(endpoint)
        check_shape = self._validate == "shape" and endpoint.shape is not None
        fire = self.environment.events.request.fire
        http, uri, url = self._route(path)
        for _ in range(self._throttle_retries + 1):
            start_time = time.time()
            start = time.perf_counter()
            resp = send(http, endpoint.method, uri, data, headers, url)
            response_time = (time.perf_counter() - start) * 1000
            status = resp.status_code
            name = endpoint.name
            exception: BaseException | None = None
            if status in endpoint.expect:  # the common case first
                problem = _check_json(resp.content, endpoint) if check_shape else None
                if problem:
                    exception = ResponseInvalid(problem)
            elif status == 429:
                name = f"{endpoint.name} (throttled)"
            elif not status:
                exception = resp.error  # nothing usable answered
            elif self._validate != "off":
                exception = ResponseInvalid(f"status {status}, expected {_statuses(endpoint.expect)}")
            fire(request_type=endpoint.method, name=name, context=self.context(), response=resp,
                 exception=exception, start_time=start_time, url=url, response_time=response_time,
                 response_length=len(resp.content) if resp.content else 0)
            if status != 429:
                if status:
                    self._errors_in_row = 0
                else:
                    self._connection_failed(exception)
                return resp
            self.throttled += 1
            wait = parse_retry_after(resp.headers.get("Retry-After"), self.default_retry_after)  # type: ignore[arg-type]
            gevent.sleep(min(wait, self._max_retry_after))
        return None

    def _route(self, path: str) -> tuple[HTTPClient, str, str]:
        """(client, request URI, full URL) for ``path``: under the host, or an absolute URL."""
        if path[:1] == "/":
            return self._http, self._base_path + path, self._base_url + path
        url = URL(path)
        return self.client.client.clientpool.get_client(url), url.request_uri, path

    def _headers_for(self, endpoint: Endpoint) -> dict[str, str]:
        """The headers of ``endpoint``'s requests from this user (built once for the mix's endpoints)."""
        headers = {**(self.default_headers or {}), "Accept-Encoding": ACCEPT_ENCODING}
        if self.client.auth_header:  # user:password in --host
            headers["Authorization"] = self.client.auth_header
        if endpoint.body is not None:
            headers |= {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(endpoint.headers)
        return headers

    def _connection_failed(self, error: BaseException | None) -> None:
        """Back off after a connection error (capped exponential), logging the first one."""
        log_once(self.environment, log, f"API requests to {self.host} fail: {error!r} (is --host right and the server up?)")
        delay = min(self.backoff_max, self.backoff_base * (2 ** self._errors_in_row))
        self._errors_in_row += 1
        gevent.sleep(delay * self.random.uniform(0.8, 1.2))


_dumps = json.JSONEncoder().encode  # what Locust's session sends for json=...


try:  # orjson decodes about 3x faster, and decoding is most of what validation costs
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency, but the stdlib does the same job
    _decode = json.JSONDecoder().decode

    def _loads(content: bytes) -> Any:  # type: ignore[misc]  # orjson's signature is wider
        return _decode(content.decode("utf-8"))


def _check_json(content: bytes | None, endpoint: Endpoint) -> str | None:
    if content is None:
        return "body is not JSON"
    try:
        data = _loads(content)
    except (ValueError, TypeError, AttributeError):
        return "body is not JSON"
    return None if endpoint._fast_check(data) else endpoint.check(data)  # the passing case: one call


def _statuses(expect: tuple[int, ...]) -> str:
    return " or ".join(str(s) for s in expect)




# -- the reference target's API, as data ------------------------------------------------------

ITEM = {"id": int, "name": str, "price": float}
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "item", "kilo", "lima")

REFERENCE_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/items?limit={limit}&offset={offset}", weight=5, name="/api/items",
             params=lambda u: {"limit": u.random.choice((10, 20, 50)), "offset": u.random.randrange(0, 900)},
             shape={"items": [ITEM], "total": int}),
    Endpoint("GET", "/api/items/{id}", weight=10, params=lambda u: {"id": u.random.randint(1, 1000)}, shape=ITEM),
    Endpoint("GET", "/api/search?q={q}", weight=2, name="/api/search",
             params=lambda u: {"q": u.random.choice(_WORDS)}, shape={"query": str, "matches": int, "items": [ITEM]}),
    Endpoint("POST", "/api/items", weight=1, expect=(201,), shape=ITEM,
             body=lambda u: {"name": f"load {u.random.choice(_WORDS)}", "price": round(u.random.uniform(1, 99), 2)}),
    Endpoint("GET", "/api/cache/{key}", weight=2, params=lambda u: {"key": f"k{u.random.randrange(200)}"},
             shape={"key": str, "value": str, "cached": bool}),
)
"""A mix for the reference target: reads dominate, some searches (CPU on the target), few writes,
and cache-backed reads (503 when the target runs without Redis)."""
