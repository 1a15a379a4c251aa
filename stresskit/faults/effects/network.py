"""``network_timeout``: requests that really time out, for ``duration`` seconds.

With a fault proxy (``--fault-proxy``), a Toxiproxy ``timeout`` toxic on both streams drops
every byte and closes each connection after ``duration``; without one, the target's admin knob
delays every API response by ``duration`` — longer than any sensible client timeout. Either way
the effect is lifted after ``duration`` seconds.
"""

from __future__ import annotations

from stresskit.faults.admin import TargetAdmin
from stresskit.faults.effects import Injected
from stresskit.faults.toxiproxy import ToxiproxyClient

__all__ = ["TOXIC_NAMES", "timeout_via_admin", "timeout_via_proxy"]

TOXIC_NAMES = ("stresskit_timeout_upstream", "stresskit_timeout_downstream")


def timeout_via_proxy(client: ToxiproxyClient, proxy: str, duration: float) -> Injected:
    """Blackhole the proxy for ``duration`` seconds (Toxiproxy ``timeout`` toxic, both streams)."""
    ms = int(duration * 1000)
    added = []
    for name, stream in zip(TOXIC_NAMES, ("upstream", "downstream")):
        client.add_toxic(proxy, "timeout", {"timeout": ms}, name=name, stream=stream)
        added.append(name)

    def release() -> None:
        for name in added:
            client.remove_toxic(proxy, name)

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
