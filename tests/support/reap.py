"""Teardown for drills that kill runs: stop the run, then whatever of its process tree is still up, by pid."""

from __future__ import annotations

import subprocess

import psutil


def reap(process: subprocess.Popen, pids: dict[int, tuple[float, str]]) -> None:
    """Kill ``process`` if it still runs, then each pid of ``pids`` (pid -> (create time, name)) that is
    still the same process (its create time matches), so a reused pid is never touched."""
    if process.poll() is None:
        process.kill()
        process.wait(10)
    for pid, (created, _) in pids.items():
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created:
                proc.kill()
        except psutil.Error:
            continue
