"""A client for the agent's HTTP API (standard library only), for the collector and the fault injector.

    client = AgentClient("http://127.0.0.1:9105", token)
    client.health()                          # {"status": "ok", "instance": ..., "seq": ...}
    for sample in client.samples(since=1):   # streaming; resumes from any seq still in the ring
        ...
    client.hold_memory(256, 60)              # real memory held on the agent's host
    client.burn_cpu(1, 30)
    client.release()                         # every held fault

A rejected token raises :class:`~stresskit.errors.AgentAuthError`; any other failure — an HTTP
error, a refused connection, a stream that stops — raises :class:`~stresskit.errors.AgentError`
whose ``status`` is the HTTP status (``None`` when there was no answer). Proxies from the
environment are ignored: an agent is reached directly.

Under Locust the sockets are gevent's, so a blocked read yields to other greenlets.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

from stresskit.errors import AgentAuthError, AgentError, ConfigError

__all__ = ["MAX_LINE", "AgentClient", "SampleStream"]

MAX_LINE = 8 * 1024 * 1024
"""The longest sample line accepted from an agent (one tracking 500 processes sends ~60 KB)."""

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _error(message: str, status: int | None = None, auth: bool = False) -> AgentError:
    exc = (AgentAuthError if auth else AgentError)(message)
    exc.status = status  # type: ignore[attr-defined]
    return exc


class SampleStream:
    """An open ``/v1/samples`` stream: iterate for sample dicts (heartbeats are skipped), ``close()`` to stop.

    Iteration ends when the agent closes the stream; a read timeout, a reset connection or a
    line that is not JSON raises :class:`AgentError`.
    """

    def __init__(self, response: Any, url: str) -> None:
        self._response = response
        self.url = url
        self.instance: str | None = response.headers.get("X-Stresskit-Instance")
        self.last_heartbeat: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            while True:
                try:
                    raw = self._response.readline(MAX_LINE + 1)
                except TimeoutError:
                    raise _error(f"agent {self.url}: no data within the read timeout") from None
                except (OSError, ValueError, AttributeError) as exc:  # reset, or closed by close()
                    raise _error(f"agent {self.url}: stream broken ({exc or type(exc).__name__})") from None
                if not raw:
                    return
                if len(raw) > MAX_LINE:
                    raise _error(f"agent {self.url}: a line longer than {MAX_LINE} bytes")
                raw = raw.strip()
                if not raw:
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError:
                    raise _error(f"agent {self.url}: a line that is not JSON: {raw[:80]!r}") from None
                if isinstance(obj, dict) and obj.get("type") == "heartbeat":
                    self.last_heartbeat = obj
                    continue
                yield obj
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection; an iteration in progress ends with :class:`AgentError`."""
        try:
            self._response.close()
        except (OSError, RuntimeError, ValueError):  # broken, or being read by another thread right now
            return

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AgentClient:
    """The agent at ``url`` (``http://host:port``), authenticated with ``token`` if given."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"agent URL {url!r} is not http(s)://host:port")
        try:
            _ = parts.port
        except ValueError:
            raise ConfigError(f"agent URL {url!r} has an invalid port") from None
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.token = token or None
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AgentClient({self.url!r})"

    def _open(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            return _opener.open(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read() or b"{}").get("error", "")
            except (ValueError, AttributeError, OSError):
                detail = ""
            finally:
                exc.close()
            if exc.code == 401:
                raise _error(f"agent {self.url} rejected the token (401); check --agent-token / "
                             "STRESSKIT_AGENT_TOKEN", 401, auth=True) from None
            raise _error(f"agent {self.url}{path}: {exc.code} {detail or exc.reason}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _error(f"agent {self.url} unreachable: {reason}") from None

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        response = self._open(method, path, body)
        try:
            with response:
                return json.loads(response.read())
        except ValueError:
            raise _error(f"agent {self.url}{path}: the answer is not JSON") from None
        except OSError as exc:
            raise _error(f"agent {self.url}{path}: {exc}") from None

    def health(self) -> dict[str, Any]:
        """``/v1/health`` (needs no token): status, instance, latest and oldest seq, interval."""
        return self._json("GET", "/v1/health")

    def latest(self) -> dict[str, Any] | None:
        """The latest sample."""
        return self._json("GET", "/v1/latest")

    def metrics(self) -> str:
        """The Prometheus text."""
        with self._open("GET", "/metrics") as response:
            return response.read().decode()

    def samples(self, since: int | None = None, instance: str | None = None,
                read_timeout: float = 15.0) -> SampleStream:
        """Open the sample stream from ``since`` (default: the next sample); pass the ``instance``
        the previous samples carried so a restarted agent is recognised and streams from its start."""
        query = {}
        if since is not None:
            query["since"] = str(int(since))
        if instance:
            query["instance"] = instance
        path = "/v1/samples" + (f"?{urlencode(query)}" if query else "")
        return SampleStream(self._open("GET", path, timeout=read_timeout), self.url)

    def faults(self) -> dict[str, Any]:
        """``{"enabled": bool, "faults": [...]}`` — the faults active now."""
        return self._json("GET", "/v1/faults")

    def hold_memory(self, mb: float, seconds: float) -> dict[str, Any]:
        """Hold ``mb`` MiB resident on the agent's host for ``seconds``; returns once it is held."""
        return self._json("POST", "/v1/faults/memory", {"mb": mb, "seconds": seconds})

    def burn_cpu(self, cores: float, seconds: float) -> dict[str, Any]:
        """Keep ``cores`` cores busy on the agent's host for ``seconds``."""
        return self._json("POST", "/v1/faults/cpu", {"cores": cores, "seconds": seconds})

    def release(self) -> dict[str, Any]:
        """Release every active fault now: ``{"released": n}``."""
        return self._json("DELETE", "/v1/faults")
