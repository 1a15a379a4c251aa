"""Abstract Locust User classes for the four client kinds; subclass them in your locustfiles.

Names are loaded lazily so that ``from stresskit.users import ApiUser`` does not import Selenium.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "WebSocketUser": "stresskit.users.websocket",
    "ApiUser": "stresskit.users.api",
    "CacheUser": "stresskit.users.cache",
    "PageProcessorUser": "stresskit.users.page",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stresskit.users' has no attribute {name!r}")
