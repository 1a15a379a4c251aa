"""Browsers die with the process that started them, however that process ends.

Every chromedriver is started as the leader of a process group of its own (and with
``PR_SET_PDEATHSIG``: it dies with the process that started it); Chromium and all its helpers
stay in that group. Two things kill the groups a process still holds:

* :func:`kill_all` — called when the run quits (normally, on a signal, on a forced exit) and at
  interpreter exit: a browser a user could not quit (a restart cut short, a stop timeout) is
  killed by its group.
* a **guard** process (this file, run by path with the standard library only): one per process
  that starts browsers, fed ``+PGID START PROFILE`` / ``-PGID`` lines on its stdin. When that
  stdin reaches end of file — the process that started the browsers died, even by SIGKILL — the
  guard kills the groups still registered and removes their profiles.

A group is killed only when it still belongs to the session that registered it: its leader (the
chromedriver) runs with the start time recorded at registration, or a member's command line names
the session's own profile directory. A reused group id is never touched. Nothing is killed by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

__all__ = ["ensure_started", "held", "kill_all", "register", "start_time", "unregister"]

_lock = threading.Lock()
_groups: dict[int, tuple[int, str]] = {}
_guard: subprocess.Popen | None = None
_guard_owner: int | None = None


def start_time(pid: int) -> int:
    """The start time of ``pid`` in clock ticks since boot (``/proc/PID/stat`` field 22), 0 if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[19])


def _members(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _names_profile(pid: int, profile: str) -> bool:
    try:
        return profile.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def kill_group(pgid: int, leader_start: int, profile: str) -> bool:
    """SIGKILL the browser group ``pgid`` if it is still the registered session's; remove its profile."""
    members = _members(pgid)
    ours = bool(members) and (
        (leader_start and start_time(pgid) == leader_start)
        or any(_names_profile(pid, profile) for pid in members if profile)
    )
    if ours:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            ours = False
    if profile:
        shutil.rmtree(profile, ignore_errors=True)
    return ours


def ensure_started() -> None:
    """Start this process's guard now (before a browser exists), so no browser outlives a process
    that dies while its first browser is starting."""
    with _lock:
        _send("")


def register(pgid: int, profile: str) -> None:
    """Record a new browser group (``pgid`` = the chromedriver pid) for this process and its guard."""
    leader_start = start_time(pgid)
    with _lock:
        _groups[pgid] = (leader_start, profile)
        _send(f"+{pgid} {leader_start} {profile}\n")


def unregister(pgid: int) -> None:
    """Forget a group whose session was quit (or killed) by its owner."""
    with _lock:
        if _groups.pop(pgid, None) is not None:
            _send(f"-{pgid}\n")


def held() -> set[int]:
    """The browser groups this process holds now."""
    with _lock:
        return set(_groups)


def kill_all(keep: set[int] | frozenset[int] = frozenset()) -> int:
    """Kill every browser group this process still holds but those in ``keep`` (held before a run
    began); returns how many were killed."""
    with _lock:
        groups = [(pgid, entry) for pgid, entry in _groups.items() if pgid not in keep]
        for pgid, _ in groups:
            del _groups[pgid]
            _send(f"-{pgid}\n")
    return sum(kill_group(pgid, start, profile) for pgid, (start, profile) in groups)


def _send(line: str) -> None:
    """Write to this process's guard, starting it first (also after a fork: one guard per process)."""
    global _guard, _guard_owner
    if _guard is None or _guard_owner != os.getpid() or _guard.poll() is not None:
        _guard_owner = os.getpid()
        _guard = subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).resolve())], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
    if not line:
        return
    try:
        stdin = _guard.stdin
        assert stdin is not None  # started with stdin=PIPE
        stdin.write(line.encode())
        stdin.flush()
    except OSError:
        _guard = None


def _serve() -> None:
    """The guard: read registrations until end of file, then kill what is still registered."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the terminal is for the run, not for us
    groups: dict[int, tuple[int, str]] = {}
    for raw in sys.stdin.buffer:
        line = raw.decode(errors="replace").rstrip("\n")
        if line.startswith("+"):
            pgid, leader_start, profile = (line[1:].split(" ", 2) + ["", ""])[:3]
            groups[int(pgid)] = (int(leader_start or 0), profile)
        elif line.startswith("-"):
            groups.pop(int(line[1:]), None)
    for pgid, (leader_start, profile) in groups.items():
        kill_group(pgid, leader_start, profile)


if __name__ == "__main__":
    _serve()
