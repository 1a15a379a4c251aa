"""``network_timeout``: requests that really time out, for ``duration`` seconds.

With a fault proxy (``--fault-proxy``), a Toxiproxy ``timeout`` toxic on both streams drops
every byte for ``duration`` and closes every connection it held when it ends; without one, the
target's admin knob delays every API response by ``duration`` — longer than any sensible client
timeout. Either way the effect is lifted after ``duration`` seconds.
"""

from __future__ import annotations

import secrets
import subprocess
from typing import Any

from stresskit.errors import ConfigError, FaultError
from stresskit.faults.admin import TargetAdmin
from stresskit.faults.effects import Injected, RunFault, RunFaultContext, UserFaultContext
from stresskit.faults.toxiproxy import ToxiproxyClient

__all__ = [
    "LinkPartition",
    "ProxyPartition",
    "network_partition",
    "network_timeout",
    "timeout_via_admin",
    "timeout_via_proxy",
    "toxic_name",
]


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
        _remove(client, proxy, added)  # the toxic closes every connection it held as it goes

    return Injected(f"proxy {proxy}: timeout toxic ({ms} ms, data dropped, then every connection it held "
                    f"closed) for {duration:g}s", release=release, release_after=duration)


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


# -- the catalogue's effects (stresskit.faults.kinds) -----------------------------------------------

def network_timeout(ctx: UserFaultContext) -> Injected:
    """``network_timeout``: the target's own admin knob (API responses only: the kind hits API users)
    when it can be reached without the proxy; else a blackhole on the proxy (every connection through it)."""
    config = ctx.config
    if config.proxy_api and not (config.admin_url and config.admin_token):
        client, proxy = ctx.proxy()
        return timeout_via_proxy(client, proxy, config.duration)
    return timeout_via_admin(ctx.admin(), config.duration)


class ProxyPartition(RunFault):
    """The fault proxy goes *down*: every connection through it is cut and new ones are refused."""

    kind = "network_partition"

    def __init__(self, client: Any, proxy: str) -> None:
        self.client = client
        self.proxy = proxy

    def begin(self) -> str:
        self.client.set_enabled(self.proxy, False)
        return f"fault proxy {self.proxy} down (connections cut and refused)"

    def end(self) -> str:
        self.client.set_enabled(self.proxy, True)
        return f"fault proxy {self.proxy} up"

    def healthy(self) -> bool:
        try:
            return bool(self.client.proxy(self.proxy).get("enabled"))
        except FaultError:
            return False


class LinkPartition(RunFault):
    """A network link goes down (``ip -n NETNS link set DEV down``): a real partition between
    hosts in network namespaces. Only the one link named by ``--partition-link`` is touched."""

    kind = "network_partition"

    def __init__(self, netns: str, dev: str) -> None:
        self.netns = netns
        self.dev = dev

    def _ip(self, state: str) -> None:
        result = subprocess.run(["ip", "-n", self.netns, "link", "set", self.dev, state], check=False,
                                capture_output=True, text=True, timeout=10)
        if result.returncode != 0:
            raise FaultError(f"ip -n {self.netns} link set {self.dev} {state}: {result.stderr.strip()}")

    def begin(self) -> str:
        self._ip("down")
        return f"link {self.dev} in netns {self.netns} down"

    def end(self) -> str:
        self._ip("up")
        return f"link {self.dev} in netns {self.netns} up"


def network_partition(ctx: RunFaultContext) -> RunFault:
    """The catalogue's builder for ``network_partition``: ``--partition-link NETNS:DEV``, else the
    fault proxy (``--fault-proxy``) goes down."""
    link = ctx.option("partition_link", "")
    if link:
        netns, sep, dev = link.partition(":")
        if not sep or not netns or not dev:
            raise ConfigError(f"--partition-link must be NETNS:DEV, got {link!r}")
        return LinkPartition(netns, dev)
    api = ctx.option("fault_proxy", "")
    if not api:
        raise ConfigError("network_partition needs --fault-proxy URL (or --partition-link NETNS:DEV)")
    client = ToxiproxyClient(api)
    try:
        name = ctx.option("fault_proxy_name", "") or client.only_proxy()
    except FaultError as exc:
        raise ConfigError(str(exc)) from None
    return ProxyPartition(client, name)
