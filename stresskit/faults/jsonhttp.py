"""One JSON-over-HTTP call with a bearer token, shared by the target-admin and Toxiproxy clients.

Standard library only (``urllib``, cooperative under gevent). HTTP and network errors pass
through unchanged: each client turns them into its own one-line message.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def call_json(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 5.0) -> Any:
    """Send ``body`` as JSON to ``url``; return the decoded JSON answer (None for an empty one)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "stresskit")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip() else None
