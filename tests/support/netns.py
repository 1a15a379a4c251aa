"""Network namespaces as separate hosts on one switch, for distributed and network-fault tests.

A :class:`NetnsLab` builds a tiny network that looks like several machines:

* one *switch* namespace holding a Linux bridge (``br0``);
* one namespace per host, each with loopback up and an ``eth0`` whose veth peer is a port of the
  bridge in the switch namespace;
* addresses only from 198.18.0.0/15 (the benchmarking range; default subnet 198.18.0.0/24).

Nothing is added to the root namespace: the bridge and every veth pair are created directly
inside the lab's own namespaces, so deleting those namespaces deletes every link the lab made.
All names share a unique prefix (``skt<random>``); teardown touches only names the lab created
itself, and only processes the lab started.

Typical use (the ``netns_lab`` fixture in ``tests/distributed/conftest.py`` does the setup and
guaranteed teardown)::

    lab = NetnsLab(tmp_path)
    master = lab.add_host("master")          # 198.18.0.1
    worker = lab.add_host("worker")          # 198.18.0.2
    proc = lab.run(master, ["locust", ...])  # a launcher.ManagedProcess, stopped by pid
    lab.wait_for_port(worker, master.address, 5557, timeout=30, process=proc)
    lab.cut(worker); ...; lab.restore(worker)  # a real partition: the worker's link goes down
    lab.close()

The test process itself stays in the root namespace; :meth:`NetnsLab.socket` creates a socket
*inside* a host's namespace (``setns`` on the calling thread for the duration of one
``socket()`` call), so a test can talk to 198.18.x.y addresses as if it were that host.
"""

from __future__ import annotations

import atexit
import ctypes
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from stresskit.target.launcher import ManagedProcess

__all__ = ["BENCHMARK_NET", "Host", "NetnsLab", "unavailable_reason"]

#: The only range lab addresses may come from (RFC 2544 benchmarking range).
BENCHMARK_NET = ipaddress.ip_network("198.18.0.0/15")

_CLONE_NEWNET = 0x40000000
_NETNS_DIR = Path("/run/netns")
# sh -c SCRIPT netns-run HOSTNAME CWD ARGV...: set the host name, change directory, exec ARGV.
_LAUNCH_SCRIPT = ('if [ -n "$1" ]; then hostname "$1" || exit 126; fi; '
                  'if [ -n "$2" ]; then cd "$2" || exit 126; fi; shift 2; exec "$@"')


def unavailable_reason() -> str | None:
    """Why namespaces cannot be built here (``None`` when they can): not root, or no ``ip``."""
    if os.geteuid() != 0:
        return "network-namespace tests need root (ip netns add); run them as root"
    if shutil.which("ip") is None:
        return "network-namespace tests need iproute2's `ip` command (apt-get install iproute2)"
    return None


@dataclass(frozen=True)
class Host:
    """One simulated machine: its namespace, its address on the switch and its switch port."""

    name: str
    netns: str
    address: str
    switch_port: str
    ifname: str = "eth0"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], check=False, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed ({result.returncode}): {result.stderr.strip()}")
    return result


class NetnsLab:
    """A switch and any number of hosts in network namespaces, all torn down by :meth:`close`."""

    def __init__(self, workdir: Path, subnet: str = "198.18.0.0/24", prefix: str | None = None) -> None:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        net = ipaddress.ip_network(subnet)
        if not (net.version == 4 and net.subnet_of(BENCHMARK_NET)):
            raise ValueError(f"lab subnet {subnet} is outside 198.18.0.0/15; use an address range inside it")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.subnet = net
        self.prefix = prefix or f"skt{secrets.token_hex(3)}"
        self.hosts: dict[str, Host] = {}
        self._free_addresses = iter(net.hosts())
        self._namespaces: list[str] = []
        self._processes: list[ManagedProcess] = []
        self._closed = False
        self.switch = f"{self.prefix}-switch"
        self._add_namespace(self.switch)
        atexit.register(self.close)  # a last resort if a test runner dies before fixture teardown
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        # Bridged frames must not pass through netfilter (the switch namespace has no rules anyway).
        subprocess.run(["ip", "netns", "exec", self.switch, "sysctl", "-qw",
                        "net.bridge.bridge-nf-call-iptables=0"], check=False, capture_output=True, timeout=30)

    # -- building ---------------------------------------------------------------------------

    def _add_namespace(self, name: str) -> None:
        # `ip netns add` fails if the name exists, so the lab never adopts a namespace it did not create.
        _ip("netns", "add", name)
        self._namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def add_host(self, name: str, address: str | None = None) -> Host:
        """Create a host namespace plugged into the switch; ``address`` defaults to the next free one."""
        if name in self.hosts:
            raise ValueError(f"host {name!r} already exists in this lab")
        addr = ipaddress.ip_address(address) if address else next(self._free_addresses)
        if addr not in self.subnet:
            raise ValueError(f"address {addr} is outside the lab subnet {self.subnet}")
        if any(h.address == str(addr) for h in self.hosts.values()):
            raise ValueError(f"address {addr} is already used in this lab")
        netns = f"{self.prefix}-{name}"
        port = f"p{len(self.hosts)}"
        self._add_namespace(netns)
        # Both ends are created inside the lab's namespaces: nothing appears in the root namespace.
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("-n", self.switch, "link", "set", port, "master", "br0")
        _ip("-n", self.switch, "link", "set", port, "up")
        _ip("-n", netns, "addr", "add", f"{addr}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        host = Host(name=name, netns=netns, address=str(addr), switch_port=port)
        self.hosts[name] = host
        return host

    # -- running things inside a host -------------------------------------------------------

    def run(self, host: Host, argv: Sequence[str], env: Mapping[str, str] | None = None,
            name: str | None = None, own_hostname: bool = True, cwd: str | Path | None = None) -> ManagedProcess:
        """Start ``argv`` inside ``host``'s namespace; the handle is stopped by pid (also at close).

        With ``own_hostname`` (the default) the command also gets its own UTS namespace whose host
        name is the lab host's name, so e.g. Locust worker ids read ``worker1_<uuid>`` as on a real
        machine. ``cwd`` is the working directory. ``ip netns exec``, ``unshare`` (without
        ``--fork``) and ``sh -c '... exec "$@"'`` all exec in place, so the handle's pid *is* the
        command's pid. Output goes to ``<workdir>/<name>.log``.
        """
        label = name or f"{host.name}-{len(self._processes)}"
        prefix = ["ip", "netns", "exec", host.netns]
        if own_hostname:
            prefix += ["unshare", "--uts"]
        if own_hostname or cwd is not None:
            prefix += ["sh", "-c", _LAUNCH_SCRIPT, "netns-run", host.name if own_hostname else "", str(cwd or "")]
        proc = ManagedProcess(label, [*prefix, *argv], self.workdir / f"{label}.log",
                              env=dict(env) if env is not None else None)
        self._processes.append(proc)
        return proc

    def exec(self, host: Host, *argv: str, check: bool = True, timeout: float = 30,
             env: Mapping[str, str] | None = None, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
        """Run a short command (``tc``, ``ip``, ``ss`` ...) inside ``host`` to completion."""
        result = subprocess.run(["ip", "netns", "exec", host.netns, *argv], check=False, capture_output=True,
                                text=True, timeout=timeout, env=dict(env) if env is not None else None, cwd=cwd)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} in {host.name} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    # -- partitions -------------------------------------------------------------------------

    def cut(self, host: Host) -> None:
        """Partition ``host`` from the others: its switch port goes down (its eth0 loses carrier)."""
        _ip("-n", self.switch, "link", "set", host.switch_port, "down")

    def restore(self, host: Host) -> None:
        """Undo :meth:`cut`: the switch port comes back up."""
        _ip("-n", self.switch, "link", "set", host.switch_port, "up")

    def is_cut(self, host: Host) -> bool:
        """True while ``host``'s switch port is administratively down."""
        out = _ip("-n", self.switch, "-o", "link", "show", host.switch_port).stdout
        flags = out.split("<", 1)[1].split(">", 1)[0].split(",") if "<" in out else []
        return "UP" not in flags

    # -- talking to hosts from the test process ---------------------------------------------

    def socket(self, host: Host, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket created inside ``host``'s namespace (usable from the test process as that host)."""
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(_NETNS_DIR / host.netns, os.O_RDONLY)
        try:
            if libc.setns(target, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns into {host.netns}: {os.strerror(err)}")
            try:
                # Only the creation happens inside; nothing here may yield to another greenlet.
                sock = socket.socket(family, type)
            finally:
                if libc.setns(own, _CLONE_NEWNET) != 0:  # pragma: no cover - would leave the thread stranded
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns back to the test's namespace: {os.strerror(err)}")
        finally:
            os.close(own)
            os.close(target)
        return sock

    def connect(self, from_host: Host, address: str, port: int, timeout: float = 2.0) -> socket.socket:
        """A TCP connection from ``from_host`` to ``address:port``."""
        sock = self.socket(from_host)
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
        except BaseException:
            sock.close()
            raise
        return sock

    def wait_for_port(self, from_host: Host, address: str, port: int, timeout: float,
                      process: ManagedProcess | None = None) -> None:
        """Poll until ``address:port`` accepts a connection from ``from_host``; fail fast if ``process`` dies."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            if process is not None and not process.alive():
                raise RuntimeError(f"{process.name} exited with {process.process.returncode} before "
                                   f"{address}:{port} opened:\n{process.log_tail()}")
            try:
                self.connect(from_host, address, port, timeout=1.0).close()
                return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                tail = f":\n{process.log_tail()}" if process is not None else ""
                raise TimeoutError(f"{address}:{port} not reachable from {from_host.name} within {timeout:.0f}s{tail}")
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def http_get(self, from_host: Host, url: str, headers: Mapping[str, str] | None = None,
                 timeout: float = 5.0) -> tuple[int, bytes]:
        """GET ``url`` as ``from_host``; returns ``(status, body)``. Plain HTTP/1.1, one request."""
        parts = urlsplit(url)
        port = parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sock = self.connect(from_host, parts.hostname or "", port, timeout)
        try:
            lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        finally:
            sock.close()
        raw = b"".join(chunks)
        head, _, body = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if b"transfer-encoding: chunked" in head.lower():
            body = _dechunk(body)
        return status, body

    # -- teardown ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every process the lab started (by pid), then delete every namespace it created.

        Deleting the namespaces deletes the bridge and all veth pairs, which live only inside
        them. A process still inside a lab namespace after its launcher was stopped can only be
        a descendant of one the lab started (e.g. a browser a worker spawned); it is killed by
        its pid so the namespace can really go away.
        """
        if self._closed:
            return
        self._closed = True
        for proc in reversed(self._processes):
            try:
                proc.stop(timeout=5)
            except Exception:  # noqa: BLE001 - teardown must go on
                proc.kill()
        for netns in reversed(self._namespaces):
            pids = _ip("netns", "pids", netns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", netns, check=False)
        self._namespaces.clear()
        atexit.unregister(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dechunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)
