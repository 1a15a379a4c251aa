"""A real ``locust`` process with its web UI on 127.0.0.1, for tests that read the page in Chromium.

:func:`start_locust_ui` starts tests/e2e/locustfiles/webui_mix.py (API, WebSocket and cache users,
everything ``use_stresskit`` adds, the demo target started by the run) and waits until the UI
answers; :meth:`LocustUI.stop` ends it by its pid and returns everything it printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from stresskit.target.launcher import free_port

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "tests" / "e2e" / "locustfiles" / "webui_mix.py"


class LocustUI:
    """One locust process with its web UI; ``base`` is its URL, ``out`` the file it prints to."""

    def __init__(self, proc: subprocess.Popen, base: str, out: Path) -> None:
        self.proc, self.base, self.out = proc, base, out

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.output()


def start_locust_ui(workdir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> LocustUI:
    """Start locust with the web UI on a free loopback port; temp files of the run go under ``workdir``."""
    port = free_port()
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    out = workdir / "locust.out"
    child_env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=str(ROOT), **(env or {}))
    with open(out, "w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--web-host", "127.0.0.1",
             "--web-port", str(port), *args],
            cwd=workdir, env=child_env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ui = LocustUI(proc, f"http://127.0.0.1:{port}", out)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"locust exited with {proc.returncode}:\n{ui.output()[-3000:]}")
        try:
            if requests.get(ui.base + "/", timeout=2).status_code == 200:
                return ui
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            ui.stop()
            raise AssertionError(f"locust's web UI did not answer within {timeout}s:\n{ui.output()[-3000:]}")
        time.sleep(0.2)


def wait_until(predicate, timeout: float = 30.0, what: str = "condition", interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy (a deadline, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value {last!r})")
