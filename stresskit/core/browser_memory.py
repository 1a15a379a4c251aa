"""Finding and measuring the processes of one browser session, and only that session's.

A Selenium session is a chromedriver process that starts Chromium, which starts its zygotes,
renderers and utility processes. Two facts make "the processes of my browser" precise:

* while chromedriver lives, every Chromium process of the session descends from it;
* every Chromium process of the session carries the session's own ``--user-data-dir`` (a fresh
  temporary directory per session) on its command line, also after chromedriver died and the
  processes were re-parented.

So the tree under the chromedriver pid, plus the processes naming the session's profile
directory, is exactly the session — never a browser somebody else started. ``psutil.Process``
objects remember their creation time, so a recycled pid is never mistaken for one of ours.
"""

from __future__ import annotations

import time

import psutil

__all__ = ["kill_processes", "session_processes", "tree_rss_bytes"]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def session_processes(driver: psutil.Process | None, profile_dir: str | None,
                      scan_all: bool = False) -> list[psutil.Process]:
    """The live processes of one session: ``driver`` and its descendants, and with ``scan_all``
    also every process whose command line names ``profile_dir`` (orphans of a dead chromedriver).

    ``scan_all`` reads every process's command line, so it is meant for kills and clean-up,
    not for periodic sampling.
    """
    found: dict[int, psutil.Process] = {}
    if driver is not None and _alive(driver):
        found[driver.pid] = driver
        try:
            for child in driver.children(recursive=True):
                found.setdefault(child.pid, child)
        except psutil.Error:
            pass
    if scan_all and profile_dir:
        marker = f"--user-data-dir={profile_dir}"
        for proc in psutil.process_iter():  # no attrs: psutil would keep every process's command line cached
            if proc.pid in found:
                continue
            try:
                cmdline = proc.cmdline()
            except psutil.Error:
                continue
            if any(arg == marker for arg in cmdline):
                found[proc.pid] = proc
    return [proc for proc in found.values() if _alive(proc)]


def tree_rss_bytes(processes: list[psutil.Process]) -> int:
    """Resident memory of ``processes`` summed, skipping ones that vanished meanwhile.

    RSS double-counts pages shared between Chromium's processes; it is the figure ``ps`` and
    the OOM killer's badness start from, and a runaway renderer shows in it at once.
    """
    total = 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def kill_processes(processes: list[psutil.Process], timeout: float = 5.0) -> list[int]:
    """SIGKILL ``processes`` that are still running and wait for them; return the pids killed."""
    killed = []
    for proc in processes:
        try:
            proc.kill()  # psutil refuses if the pid now belongs to a different process
            killed.append(proc.pid)
        except psutil.Error:
            continue
    deadline = time.monotonic() + timeout
    pending = [p for p in processes if p.pid in killed]
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if _alive(p)]  # a zombie counts as gone: it holds no memory
        if pending:
            time.sleep(0.02)
    return killed
