"""Which listen addresses are loopback: a server that binds anywhere else must have a token.

One helper for the agent, the fault proxy's API and the metrics endpoint. Lowest layer:
standard library only (the agent imports it).
"""

from __future__ import annotations

import ipaddress

__all__ = ["LOOPBACK_HOSTS", "is_loopback"]

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
"""Host names and addresses that only this machine can reach."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any address in 127.0.0.0/8 or ``::1``."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
