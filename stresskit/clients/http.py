"""One HTTP request on geventhttpclient's ``HTTPClient``: the path ApiUser sends its mix through.

Locust's ``FastHttpSession`` goes through geventhttpclient's urllib-compatible ``UserAgent``: a URL
parsed per request, a urllib ``Request`` object, a cookie jar, redirects and a response wrapper.
That layer is about half of a bare FastHttpUser's CPU per request (122 µs with it, 65 µs on
``HTTPClient`` directly, measured by ``benchmarks/profile_api_user.py``). An API mix needs none of
it: the path is known, the client authenticates per request, a redirect is an answer to check.
So ApiUser sends on the ``HTTPClient`` its session already holds for the host (same connection
pool, timeouts, TLS and proxy settings) and reads the answer into an :class:`ApiResponse`.

What is deliberately not done here: cookies are not kept and redirects are not followed (a 3xx is
the response). A user that needs either calls ``self.client`` (Locust's session) as usual.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

import brotli  # a geventhttpclient dependency
from geventhttpclient import HTTPClient
from geventhttpclient.header import Headers
from geventhttpclient.response import HTTPParseError

__all__ = ["CONNECTION_ERRORS", "ApiResponse", "send"]

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, HTTPParseError)
"""What a request that got no usable answer raises (refused, reset, timed out, TLS, a broken
response): recorded as a failed request with the exception, as Locust records them."""

_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "identity": lambda body: body,
    "gzip": lambda body: zlib.decompress(body, 16 + zlib.MAX_WBITS),
    "deflate": lambda body: zlib.decompress(body, -zlib.MAX_WBITS),
    "br": brotli.decompress,
}
ACCEPT_ENCODING = ", ".join(name for name in _DECODERS if name != "identity")
"""The Accept-Encoding ApiUser sends: what :func:`send` can decode (as Locust's session sends)."""


class ApiResponse:
    """The answer to one request: status, headers and the (decoded) body, read in full.

    ``status_code`` is 0 and ``error`` is set when nothing usable answered."""

    __slots__ = ("content", "error", "headers", "status_code", "url")

    def __init__(self, url: str, status_code: int = 0, headers: Headers | None = None, content: bytes | None = None,
                 error: BaseException | None = None) -> None:
        self.url = url
        self.status_code = status_code
        self.headers = headers if headers is not None else Headers()
        self.content = content
        self.error = error

    @property
    def ok(self) -> bool:
        """Answered with a status below 400."""
        return 0 < self.status_code < 400

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return (self.content or b"").decode("utf-8", "replace")

    def json(self) -> Any:
        """The body decoded as JSON (``ValueError`` when it is not JSON)."""
        return json.loads(self.content or b"")

    def __repr__(self) -> str:
        return f"<ApiResponse {self.status_code} {self.url}>"


def send(http: HTTPClient, method: str, uri: str, body: str | bytes | None, headers: dict[str, str],
         url: str) -> ApiResponse:
    """Send one request on ``http`` and read its whole answer (the connection goes back to the
    pool); a connection failure gives a response with ``status_code`` 0 and the ``error``."""
    try:
        raw = http.request(method, uri, body=body, headers=headers)
        try:
            content = raw.read()
        finally:
            raw.release()
        response_headers = raw.info()
        encoding = response_headers.get("content-encoding")
        if encoding and content:
            decode = _DECODERS.get(encoding.lower())  # type: ignore[union-attr]  # one value: a str
            if decode is None:
                raise HTTPParseError(f"unknown Content-Encoding {encoding!r}")
            content = decode(content)
    except CONNECTION_ERRORS as exc:
        return ApiResponse(url, error=exc)
    except (zlib.error, brotli.error) as exc:
        return ApiResponse(url, raw.status_code, response_headers, None, HTTPParseError(f"undecodable body: {exc}"))
    return ApiResponse(url, raw.status_code, response_headers, content)
