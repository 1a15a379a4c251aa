"""A client of the Toxiproxy HTTP API, for a real Toxiproxy server or for ``stresskit proxy``.

``stresskit proxy`` serves the same API (the subset below), so the injector drives either one
the same way: ``--fault-proxy http://127.0.0.1:8474``. Standard library only (``urllib``), which
gevent makes cooperative inside Locust.

Endpoints used (Toxiproxy 2.x): ``GET /version``, ``GET|POST /proxies``, ``GET|POST|DELETE
/proxies/{name}``, ``GET|POST /proxies/{name}/toxics``, ``GET|POST|DELETE
/proxies/{name}/toxics/{toxic}``, ``POST /reset``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from stresskit.errors import HarnessError
from stresskit.faults.jsonhttp import call_json

__all__ = ["TOXIC_TYPES", "ToxiproxyClient"]

TOXIC_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data")


class ToxiproxyClient:
    """Drive one Toxiproxy(-compatible) server at ``api`` (e.g. ``http://127.0.0.1:8474``).

    Every failure of the server's API raises :class:`~stresskit.errors.HarnessError` (a
    :class:`~stresskit.errors.FaultError`): the proxy is the harness's, so its errors end a run
    with exit code 1 and never count against the target."""

    def __init__(self, api: str, token: str | None = None, timeout: float = 5.0) -> None:
        self.api = api.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            return call_json(method, self.api + path, body, self.token, self.timeout)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            try:
                detail = json.loads(detail).get("error", detail)
            except (ValueError, AttributeError):
                pass
            raise HarnessError(f"fault proxy {self.api}: {method} {path} → HTTP {exc.code}: {detail}") from None
        except (OSError, ValueError) as exc:
            raise HarnessError(f"fault proxy {self.api} unreachable ({method} {path}): {exc}") from None

    # -- server ------------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version string (also a reachability check)."""
        request = urllib.request.Request(self.api + "/version", headers={"User-Agent": "stresskit"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode().strip()
        except urllib.error.HTTPError as exc:
            raise HarnessError(f"fault proxy {self.api}: GET /version → HTTP {exc.code}") from None
        except OSError as exc:
            raise HarnessError(f"fault proxy {self.api} unreachable: {exc}") from None
        try:
            value = json.loads(text)
            return value.get("version", text) if isinstance(value, dict) else str(value)
        except ValueError:
            return text

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")

    # -- proxies -------------------------------------------------------------------------------

    def proxies(self) -> dict[str, dict[str, Any]]:
        return self._call("GET", "/proxies") or {}

    def proxy(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/proxies/{name}")

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> dict[str, Any]:
        return self._call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream,
                                                "enabled": enabled})

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        """``False`` is Toxiproxy's *down*: connections are cut and refused until re-enabled."""
        return self._call("POST", f"/proxies/{name}", {"enabled": enabled})

    def only_proxy(self) -> str:
        """The name of the server's only proxy; raises when there are none or several."""
        names = sorted(self.proxies())
        if len(names) != 1:
            raise HarnessError(f"fault proxy {self.api} has {len(names)} proxies ({', '.join(names) or 'none'}); "
                             "name one with --fault-proxy-name")
        return names[0]

    # -- toxics ----------------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/proxies/{proxy}/toxics") or []

    def add_toxic(self, proxy: str, type: str, attributes: dict[str, Any] | None = None, *,
                  name: str | None = None, stream: str = "downstream", toxicity: float = 1.0) -> dict[str, Any]:
        """Add a toxic (``type`` one of :data:`TOXIC_TYPES`); ``name`` defaults to ``<type>_<stream>``."""
        body = {"name": name or f"{type}_{stream}", "type": type, "stream": stream, "toxicity": toxicity,
                "attributes": attributes or {}}
        return self._call("POST", f"/proxies/{proxy}/toxics", body)

    def update_toxic(self, proxy: str, name: str, attributes: dict[str, Any], toxicity: float | None = None
                     ) -> dict[str, Any]:
        body: dict[str, Any] = {"attributes": attributes}
        if toxicity is not None:
            body["toxicity"] = toxicity
        return self._call("POST", f"/proxies/{proxy}/toxics/{name}", body)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
