"""``network_timeout``: requests that really time out, for ``duration`` seconds.

With a fault proxy (``--fault-proxy``), a Toxiproxy ``timeout`` toxic on both streams drops
every byte and closes each connection after ``duration``; without one, the target's admin knob
delays every API response by ``duration`` — longer than any sensible client timeout. Either way
the effect is lifted after ``duration`` seconds.
"""

from __future__ import annotations

import secrets

from stresskit.errors import FaultError
from stresskit.faults.admin import TargetAdmin
from stresskit.faults.effects import Injected
from stresskit.faults.toxiproxy import ToxiproxyClient

__all__ = ["timeout_via_admin", "timeout_via_proxy", "toxic_name"]


def toxic_name(fault: str, what: str) -> str:
    """A toxic name no other fault, injection or worker uses: ``stresskit_<fault>_<what>_<random>``.

    Toxiproxy refuses a second toxic of the same name on a proxy (409), so two faults that are
    on at once (a user's network_timeout during the run-wide instability, or the same fault from
    two workers) must never share one.
    """
    return f"stresskit_{fault}_{what}_{secrets.token_hex(4)}"


def timeout_via_proxy(client: ToxiproxyClient, proxy: str, duration: float, fault: str = "network_timeout") -> Injected:
    """Blackhole the proxy for ``duration`` seconds (Toxiproxy ``timeout`` toxic, both streams).

    The toxics are named after ``fault`` and made unique (:func:`toxic_name`); when the second
    cannot be added the first is removed again.
    """
    ms = int(duration * 1000)
    added: list[str] = []
    try:
        for stream in ("upstream", "downstream"):
            name = toxic_name(fault, f"timeout_{stream}")
            client.add_toxic(proxy, "timeout", {"timeout": ms}, name=name, stream=stream)
            added.append(name)
    except FaultError:
        _remove(client, proxy, added)
        raise

    def release() -> None:
        _remove(client, proxy, added)

    return Injected(f"proxy {proxy}: timeout toxic ({ms} ms, data dropped, then closed) for {duration:g}s",
                    release=release, release_after=duration)


def timeout_via_admin(admin: TargetAdmin, duration: float) -> Injected:
    """Delay every API response of the target by ``duration`` seconds, for ``duration`` seconds."""
    previous = float(admin.check().get("latency_ms", 0.0))
    ms = duration * 1000.0
    admin.set_faults(latency_ms=ms)

    def release() -> None:
        admin.set_faults(latency_ms=previous)

    return Injected(f"target {admin.base_url}: responses delayed {ms:.0f} ms for {duration:g}s",
                    release=release, release_after=duration)


def _remove(client: ToxiproxyClient, proxy: str, names: list[str]) -> None:
    """Remove ``names``; every one is tried, the first error is raised after."""
    error: FaultError | None = None
    for name in names:
        try:
            client.remove_toxic(proxy, name)
        except FaultError as exc:
            error = error or exc
    if error is not None:
        raise error
