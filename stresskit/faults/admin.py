"""A client of the reference target's admin endpoints (bearer token), for run-wide faults.

``POST /admin/faults`` sets server-side knobs (``latency_ms``, ``error_ratio``,
``force_429_ratio``), ``POST /admin/ws/drop`` cuts every WebSocket without a close frame,
``POST /admin/exit`` makes the process exit. Any backend that implements the same three
endpoints can be driven the same way. Standard library only (cooperative under gevent).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from stresskit.errors import ConfigError, FaultError
from stresskit.faults.jsonhttp import call_json

__all__ = ["TargetAdmin"]


class TargetAdmin:
    """The admin API of the target at ``base_url`` (``http://host:port``)."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            return call_json(method, self.base_url + path, body, self.token, self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise ConfigError(f"the target at {self.base_url} refused the admin token (HTTP {exc.code}): "
                                  "check --target-admin-token / STRESSKIT_ADMIN_TOKEN") from None
            raise FaultError(f"{method} {self.base_url}{path} → HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise FaultError(f"{method} {self.base_url}{path} failed: {exc}") from None

    def check(self) -> dict[str, float]:
        """Read the fault knobs: proves the endpoint exists and the token is accepted."""
        return self._call("GET", "/admin/faults")

    def set_faults(self, **knobs: float) -> dict[str, float]:
        return self._call("POST", "/admin/faults", knobs)

    def clear_faults(self) -> dict[str, float]:
        return self._call("DELETE", "/admin/faults")

    def drop_websockets(self) -> int:
        """Cut every WebSocket the target holds without a close frame; how many were cut."""
        return int(self._call("POST", "/admin/ws/drop", {}).get("dropped", 0))

    def exit(self, code: int = 1) -> None:
        """Ask the target process to exit with ``code`` (a crash, as far as clients can tell)."""
        self._call("POST", "/admin/exit", {"code": code})

    def health(self) -> dict[str, Any] | None:
        """``/healthz`` as a dict, or ``None`` when the target does not answer."""
        try:
            with urllib.request.urlopen(self.base_url + "/healthz", timeout=min(self.timeout, 2.0)) as response:
                return json.loads(response.read())
        except (OSError, ValueError):
            return None
