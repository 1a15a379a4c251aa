"""Taking one resource sample of the host: system figures, tracked processes, the browser group.

psutil's advice is followed throughout: the first ``cpu_percent`` reading of the system and of
each process is thrown away (reported as ``null``), I/O counters are read wrap-safe
(``nowrap=True``) and reported as rates, a counter that goes backwards yields ``null`` instead
of a negative rate, and a process that vanishes or denies access is dropped or reported with
``null`` fields instead of failing the sample.

Choosing processes is expensive (it reads every process on the host), so it is redone every
``rescan_seconds``; in between the sampler reads only the processes it already tracks. Counting
connections needs a scan of every socket on the host, and counting a process's open files a
listing of its descriptors; both are refreshed every ``detail_seconds`` and repeated in the
samples in between. On Linux the per-process figures come from one ``pread`` of
``/proc/<pid>/stat`` (see :mod:`stresskit.agent.procfs`); elsewhere from psutil.

The agent never tracks itself by pattern (its own command line would match ``--cmdline``
patterns); its figures travel in every sample's ``agent`` field instead. An explicit ``--pid``
of the agent is honoured.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psutil

from stresskit.agent import procfs

__all__ = ["DEFAULT_BROWSER_PATTERN", "Sampler", "Selection"]

log = logging.getLogger("stresskit.agent")

DEFAULT_BROWSER_PATTERN = r"(?i)chrom|firefox|gecko|headless_shell|msedge"
"""Process names counted in the ``browsers`` group (browsers and their drivers)."""


@dataclass
class Selection:
    """Which processes to track: any name pattern, pid or command-line pattern matches, plus
    (with ``children``) every descendant of a match. Patterns are regular expressions searched
    anywhere in the process name or the space-joined command line."""

    names: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    cmdlines: list[str] = field(default_factory=list)
    children: bool = True
    browser_pattern: str = DEFAULT_BROWSER_PATTERN
    max_processes: int = 500

    def __post_init__(self) -> None:
        self._names = [(p, re.compile(p)) for p in self.names]
        self._cmdlines = [(p, re.compile(p)) for p in self.cmdlines]
        self._browsers = re.compile(self.browser_pattern) if self.browser_pattern else None

    def match(self, pid: int, name: str, cmdline: str | None) -> str | None:
        """The selector that picks this process (``"pid:12"``, ``"name:nginx"``, ``"cmdline:app.py"``)."""
        if pid in self.pids:
            return f"pid:{pid}"
        for text, pattern in self._names:
            if pattern.search(name):
                return f"name:{text}"
        return self.match_cmdline(cmdline) if cmdline is not None else None

    def match_cmdline(self, cmdline: str) -> str | None:
        """The ``cmdline:`` selector matching ``cmdline``, if any."""
        for text, pattern in self._cmdlines:
            if pattern.search(cmdline):
                return f"cmdline:{text}"
        return None

    def is_browser(self, name: str) -> bool:
        return bool(self._browsers and self._browsers.search(name))


@dataclass
class _Tracked:
    pid: int
    name: str
    selector: str
    start: Any                       # procfs start ticks, or the psutil.Process itself
    cpu_seconds: float | None = None
    mono: float | None = None


class _Rate:
    """Per-second rate of a monotonically increasing counter; ``None`` on the first reading or a reset."""

    def __init__(self) -> None:
        self._last: float | None = None
        self._mono: float | None = None

    def update(self, value: float | None, mono: float) -> float | None:
        last, last_mono = self._last, self._mono
        self._last, self._mono = value, mono
        if value is None or last is None or last_mono is None or mono <= last_mono or value < last:
            return None
        return (value - last) / (mono - last_mono)


class Sampler:
    """Takes samples of one host. Not thread-safe: one thread calls :meth:`sample`."""

    def __init__(self, selection: Selection | None = None, *, rescan_seconds: float = 5.0,
                 detail_seconds: float = 10.0, use_procfs: bool | None = None) -> None:
        self.selection = selection or Selection()
        self.rescan_seconds = rescan_seconds
        self.detail_seconds = detail_seconds
        self.use_procfs = procfs.AVAILABLE if use_procfs is None else use_procfs and procfs.AVAILABLE
        self._stat = procfs.StatReader() if self.use_procfs else None
        self._fds: dict[int, int | None] = {}
        self._cmdlines: dict[tuple[int, int], tuple[str, str | None]] = {}
        self.total_memory = psutil.virtual_memory().total
        self._tracked: dict[int, _Tracked] = {}
        self._browsers: dict[int, Any] = {}
        self._last_scan = -1e18
        self._last_detail = -1e18
        self._conn_by_pid: Counter[int] = Counter()
        self._conn_total: int | None = None
        self._rates = {name: _Rate() for name in ("disk_read", "disk_write", "net_sent", "net_recv")}
        self._self = _Tracked(os.getpid(), "agent", "self", None)
        self._warned_limit = False
        self._warned_conn = False
        psutil.cpu_percent(None)  # the first reading is meaningless: throw it away
        self._system_cpu_primed = False

    # -- choosing processes ------------------------------------------------------------------------

    def rescan(self) -> None:
        """Re-read every process on the host and choose the tracked ones and the browser group."""
        sel = self.selection
        want_cmdline = bool(sel.cmdlines)
        names: dict[int, str] = {}
        parents: dict[int, list[int]] = {}
        starts: dict[int, Any] = {}
        roots: dict[int, str] = {}
        browsers: dict[int, Any] = {}
        me = self._self.pid
        for pid, name, ppid, start, by_cmdline in self._iter_processes(want_cmdline):
            names[pid] = name
            starts[pid] = start
            parents.setdefault(ppid, []).append(pid)
            selector = sel.match(pid, name, None) or by_cmdline
            if selector and (pid != me or pid in sel.pids):
                roots[pid] = selector
            if sel.is_browser(name):
                browsers[pid] = start
        chosen: dict[int, str] = dict(roots)
        if sel.children:
            stack = list(roots)
            while stack:
                parent = stack.pop()
                for child in parents.get(parent, ()):
                    if child not in chosen and (child != me or child in sel.pids):
                        chosen[child] = roots.get(parent) or chosen[parent]
                        stack.append(child)
        if len(chosen) > sel.max_processes:
            if not self._warned_limit:
                log.warning("%d processes match the selection; tracking the first %d by pid (--max-processes)",
                            len(chosen), sel.max_processes)
                self._warned_limit = True
            chosen = dict(sorted(chosen.items())[: sel.max_processes])
        tracked: dict[int, _Tracked] = {}
        for pid, selector in chosen.items():
            old = self._tracked.get(pid)
            if old is not None and self._same(old.start, starts[pid]):
                old.selector = selector
                tracked[pid] = old
            else:
                tracked[pid] = _Tracked(pid, names[pid], selector, starts[pid])
        self._tracked = tracked
        self._browsers = browsers
        if self._stat is not None:
            self._stat.keep_only(set(tracked) | set(browsers) | {me})

    @staticmethod
    def _same(old: Any, new: Any) -> bool:
        if isinstance(old, psutil.Process) and isinstance(new, psutil.Process):
            return old.create_time() == new.create_time()
        return old == new

    def _iter_processes(self, want_cmdline: bool):
        """(pid, name, ppid, identity, cmdline selector or None) of every process that can be read.

        On Linux the command line of a process is read once: what it yields (the full name when
        ``comm`` is cut at 15 characters, the ``cmdline:`` selector) is kept per (pid, start
        time) until the process is gone, so a rescan mostly reads ``/proc/<pid>/stat``.
        """
        sel = self.selection
        if self.use_procfs:
            seen: dict[tuple[int, int], tuple[str, str | None]] = {}
            for pid in procfs.list_pids():
                stat = procfs.read_stat(pid)
                if stat is None:
                    continue
                key = (pid, stat.start_ticks)
                known = self._cmdlines.get(key)
                if known is None:
                    name, by_cmdline = stat.comm, None
                    if want_cmdline or len(name) >= 15:
                        cmdline = procfs.read_cmdline(pid)
                        if len(name) >= 15 and cmdline:
                            # comm is cut at 15 characters: take the full name from argv[0] as psutil does
                            exe = os.path.basename(cmdline.split(" ", 1)[0])
                            if exe.startswith(name):
                                name = exe
                        by_cmdline = sel.match_cmdline(cmdline) if want_cmdline else None
                    known = (name, by_cmdline)
                seen[key] = known
                yield pid, known[0], stat.ppid, stat.start_ticks, known[1]
            self._cmdlines = seen
            return
        attrs = ["pid", "name", "ppid"] + (["cmdline"] if want_cmdline else [])
        for proc in psutil.process_iter(attrs):
            info = proc.info
            by_cmdline = sel.match_cmdline(" ".join(info.get("cmdline") or [])) if want_cmdline else None
            yield info["pid"], info.get("name") or "", info.get("ppid") or 0, proc, by_cmdline

    # -- sampling ----------------------------------------------------------------------------------

    def sample(self) -> dict[str, Any]:
        """One sample without its envelope (seq, instance, host are added by the server)."""
        mono = time.monotonic()
        wall = time.time()
        if mono - self._last_scan >= self.rescan_seconds:
            self.rescan()
            self._last_scan = mono
        if mono - self._last_detail >= self.detail_seconds:
            self._refresh_details()
            self._last_detail = mono
        processes = [entry for entry in (self._read(t, mono) for t in list(self._tracked.values())) if entry]
        return {
            "time": wall,
            "mono": mono,
            "system": self._system(mono),
            "processes": processes,
            "browsers": self._browser_group(),
            "agent": self._agent_self(mono),
        }

    def _system(self, mono: float) -> dict[str, Any]:
        cpu: float | None = psutil.cpu_percent(None)
        if not self._system_cpu_primed:
            self._system_cpu_primed = True
            cpu = None
        memory = psutil.virtual_memory()
        try:
            swap_percent: float | None = psutil.swap_memory().percent
        except (OSError, RuntimeError):
            swap_percent = None
        try:
            load1, load5, load15 = psutil.getloadavg()
        except (OSError, AttributeError):
            load1 = load5 = load15 = None
        disk = _safe(lambda: psutil.disk_io_counters(nowrap=True))
        net = _safe(lambda: psutil.net_io_counters(nowrap=True))
        return {
            "cpu_percent": cpu,
            "memory_percent": memory.percent,
            "memory_used": memory.total - memory.available,
            "memory_available": memory.available,
            "memory_total": memory.total,
            "swap_percent": swap_percent,
            "load1": load1,
            "load5": load5,
            "load15": load15,
            "disk_read_bps": self._rates["disk_read"].update(disk.read_bytes if disk else None, mono),
            "disk_write_bps": self._rates["disk_write"].update(disk.write_bytes if disk else None, mono),
            "net_sent_bps": self._rates["net_sent"].update(net.bytes_sent if net else None, mono),
            "net_recv_bps": self._rates["net_recv"].update(net.bytes_recv if net else None, mono),
            "connections": self._conn_total,
        }

    def _refresh_details(self) -> None:
        """Count open files and connections (host-wide and per tracked process)."""
        if not self.use_procfs:
            self._scan_connections()
            self._fds = {pid: self._count_fds(tracked) for pid, tracked in self._tracked.items()}
            return
        try:
            total, inet = procfs.inet_sockets()
        except (OSError, ValueError):
            total, inet = None, set()
        self._conn_total = total
        self._conn_by_pid = Counter()
        self._fds = {}
        for pid in self._tracked:
            info = procfs.fd_info(pid)
            if info is None:
                self._fds[pid] = None
                continue
            self._fds[pid] = info[0]
            self._conn_by_pid[pid] = len(info[1] & inet)

    def _scan_connections(self) -> None:
        try:
            conns = psutil.net_connections(kind="inet")
        except (psutil.AccessDenied, OSError) as exc:
            if not self._warned_conn:
                log.warning("cannot count connections (%s); run the agent as a user that may read them", exc)
                self._warned_conn = True
            self._conn_total = None
            self._conn_by_pid = Counter()
            return
        self._conn_total = len(conns)
        self._conn_by_pid = Counter(c.pid for c in conns if c.pid)

    def _cpu(self, tracked: _Tracked, cpu_seconds: float, mono: float) -> float | None:
        last, last_mono = tracked.cpu_seconds, tracked.mono
        tracked.cpu_seconds, tracked.mono = cpu_seconds, mono
        if last is None or last_mono is None or mono <= last_mono or cpu_seconds < last:
            return None  # first reading of this process: thrown away
        return round((cpu_seconds - last) / (mono - last_mono) * 100.0, 2)

    def _count_fds(self, tracked: _Tracked) -> int | None:
        if self.use_procfs:
            info = procfs.fd_info(tracked.pid)
            return info[0] if info is not None else None
        proc: psutil.Process = tracked.start
        return _safe(proc.num_fds) if hasattr(proc, "num_fds") else _safe(proc.num_handles)

    def _read(self, tracked: _Tracked, mono: float) -> dict[str, Any] | None:
        pid = tracked.pid
        if pid not in self._fds:  # new since the last detail refresh
            self._fds[pid] = self._count_fds(tracked)
        fds = self._fds[pid]
        if self._stat is not None:
            stat = self._stat.read(pid)
            if stat is None or stat.start_ticks != tracked.start:
                self._drop(pid)  # vanished (or the pid was reused)
                return None
            cpu = self._cpu(tracked, stat.cpu_seconds, mono)
            rss, threads = stat.rss_bytes, stat.threads
        else:
            proc: psutil.Process = tracked.start
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu = self._cpu(tracked, times.user + times.system, mono)
                    rss = proc.memory_info().rss
                    threads = proc.num_threads()
            except psutil.NoSuchProcess:
                self._drop(pid)
                return None
            except psutil.AccessDenied:
                cpu, rss, threads = None, None, None
        return {
            "pid": pid,
            "name": tracked.name,
            "selector": tracked.selector,
            "cpu_percent": cpu,
            "memory_percent": round(rss / self.total_memory * 100.0, 3) if rss is not None else None,
            "rss_bytes": rss,
            "threads": threads,
            "open_files": fds,
            "connections": self._conn_by_pid.get(pid, 0) if self._conn_total is not None else None,
        }

    def _drop(self, pid: int) -> None:
        self._tracked.pop(pid, None)
        self._fds.pop(pid, None)
        if self._stat is not None and pid not in self._browsers:
            self._stat.forget(pid)

    def _browser_group(self) -> dict[str, Any]:
        count = 0
        rss_total = 0
        for pid, start in list(self._browsers.items()):
            if self._stat is not None:
                stat = self._stat.read(pid)
                if stat is None or stat.start_ticks != start:
                    del self._browsers[pid]
                    if pid not in self._tracked:
                        self._stat.forget(pid)
                    continue
                rss = stat.rss_bytes
            else:
                try:
                    rss = start.memory_info().rss
                except psutil.NoSuchProcess:
                    del self._browsers[pid]
                    continue
                except psutil.AccessDenied:
                    rss = 0
            count += 1
            rss_total += rss
        return {"count": count, "rss_bytes": rss_total}

    def _agent_self(self, mono: float) -> dict[str, Any]:
        me = self._self
        if self._stat is not None:
            stat = self._stat.read(me.pid)
            if stat is None:
                return {}
            return {"cpu_percent": self._cpu(me, stat.cpu_seconds, mono), "rss_bytes": stat.rss_bytes}
        proc = psutil.Process(me.pid)
        times = proc.cpu_times()
        return {"cpu_percent": self._cpu(me, times.user + times.system, mono), "rss_bytes": proc.memory_info().rss}


    def close(self) -> None:
        """Close the ``/proc`` files kept open."""
        if self._stat is not None:
            self._stat.close()


def _safe(call):
    try:
        return call()
    except (psutil.Error, OSError, RuntimeError, AttributeError):
        return None


def default_host_name() -> str:
    """The host name samples carry unless ``--host-name`` overrides it."""
    return socket.gethostname()
