"""Starting headless Chromium under Selenium with the paths stresskit found, never downloaded.

The flags keep Chromium quiet on a closed network (no background networking, component
updates or sync) and make it run as root in containers (``--no-sandbox``). Each session gets a
fresh profile directory that is removed when the session is quit. Crashpad is switched off:
its handler processes detach from the browser (re-parented to init) and would outlive every
restarted session.

A :class:`BrowserSession` knows its own processes (see :mod:`stresskit.core.browser_memory`): the
pids to kill for a crash test, their memory, whether the session is still alive, and on
:meth:`BrowserSession.quit` it kills whatever of its own tree survived ``driver.quit()``.

Each chromedriver leads a process group of its own, registered with :mod:`stresskit.core.browser_guard`
from the moment it starts: a browser whose session was never quit (a restart cut short, a stop
timeout, a signal, a SIGKILL of the process) is killed by that group when the run quits, or by
the guard when the process that started it dies.
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from typing import Any

import psutil

from stresskit.core import browser_guard
from stresskit.core.binaries import find_chrome, find_chromedriver
from stresskit.core.browser_memory import kill_processes, session_processes, tree_rss_bytes
from stresskit.core.process import pdeathsig_preexec
from stresskit.errors import BrowserError

log = logging.getLogger("stresskit.browser")

CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,900",
)


@dataclass
class BrowserSession:
    """A Selenium WebDriver with the chromedriver pid and profile directory it owns."""

    driver: Any
    driver_pid: int
    profile_dir: str
    extra: dict = field(default_factory=dict)
    driver_process: psutil.Process | None = None
    """The chromedriver process as psutil saw it at start (guards against pid reuse)."""

    def __post_init__(self) -> None:
        if self.driver_process is None:
            try:
                self.driver_process = psutil.Process(self.driver_pid)
            except psutil.Error:
                self.driver_process = None

    def processes(self, scan_all: bool = True) -> list[psutil.Process]:
        """This session's live processes: chromedriver and every Chromium process it started."""
        return session_processes(self.driver_process, self.profile_dir, scan_all=scan_all)

    def browser_pids(self) -> list[int]:
        """The chromedriver pid (while alive) and the pid of every Chromium process of this
        session, for fault injection (kill them to crash the browser); never another browser's."""
        return sorted(proc.pid for proc in self.processes(scan_all=True))

    def rss_bytes(self) -> int:
        """Resident memory of chromedriver and its Chromium tree (cheap: no full process scan)."""
        return tree_rss_bytes(self.processes(scan_all=False))

    def driver_alive(self) -> bool:
        """True while chromedriver runs (reaps it when it died, so no zombie is left)."""
        service = getattr(self.driver, "service", None)
        process = getattr(service, "process", None)
        if process is not None:
            return process.poll() is None
        proc = self.driver_process
        try:
            return proc is not None and proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def alive(self) -> bool:
        """True while chromedriver and its Chromium browser process both run.

        A cheap local check (no WebDriver round trip): it catches a killed browser before the
        next command would fail on it.
        """
        if not self.driver_alive() or self.driver_process is None:
            return False
        browser = self.extra.get("browser_process")
        if browser is None:
            try:
                children = [c for c in self.driver_process.children() if _running(c)]
            except psutil.Error:
                return False
            if not children:
                return False
            browser = self.extra["browser_process"] = children[0]
        return _running(browser)

    def quit(self) -> None:
        """Quit the browser; always removes the profile, also when the browser is already dead.

        Processes of this session that survive ``driver.quit()`` (a hung browser, orphans of a
        killed chromedriver) are killed by pid; nothing else is touched.
        """
        try:
            own = self.processes(scan_all=True)
        except psutil.Error:
            own = []
        try:
            self.driver.quit()
        except Exception:  # noqa: BLE001  a crashed browser cannot be quit politely
            _stop_service(getattr(self.driver, "service", None))
        finally:
            survivors = [proc for proc in own if _running(proc)]
            if survivors:
                kill_processes(survivors)
            service = getattr(self.driver, "service", None)
            process = getattr(service, "process", None)
            if process is not None:
                process.poll()  # reap chromedriver
            browser_guard.unregister(self.driver_pid)
            shutil.rmtree(self.profile_dir, ignore_errors=True)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def start_chrome(page_load_timeout: float = 30.0, extra_flags: tuple[str, ...] = ()) -> BrowserSession:
    """Start one headless Chromium session with browser console logging enabled.

    Raises :class:`~stresskit.errors.DependencyMissing` when chromium or chromedriver cannot be
    found, and :class:`~stresskit.errors.BrowserError` (one line, the driver's first message
    line) when they are found but the session cannot be created.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chrome = find_chrome()
    chromedriver = find_chromedriver()
    profile = tempfile.mkdtemp(prefix="stresskit-chrome-")
    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in (*CHROME_FLAGS, *extra_flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = _guarded_service(Service, chromedriver, profile)
    try:
        driver = webdriver.Chrome(options=options, service=service)
    except BaseException as exc:  # also GreenletExit: a user stopped while its browser was starting
        _abandon(service, profile)
        if not isinstance(exc, Exception):
            raise
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BrowserError(f"could not start Chromium ({chrome}) with {chromedriver}: {first_line}") from exc
    driver.set_page_load_timeout(page_load_timeout)
    return BrowserSession(driver=driver, driver_pid=service.process.pid, profile_dir=profile)


def _abandon(service: Any, profile: str) -> None:
    """Clean up a session that failed to start: its chromedriver, any Chromium it launched
    (found by the session's own profile directory) and the profile."""
    process = getattr(service, "process", None)
    driver_proc = None
    if process is not None:
        try:
            driver_proc = psutil.Process(process.pid)
        except psutil.Error:
            driver_proc = None
    own = session_processes(driver_proc, profile, scan_all=True)
    _stop_service(service)
    survivors = [proc for proc in own if _running(proc)]
    if survivors:
        kill_processes(survivors)
    if process is not None:
        process.poll()
        browser_guard.unregister(process.pid)
    shutil.rmtree(profile, ignore_errors=True)


def _guarded_service(service_class: type, chromedriver: str, profile: str) -> Any:
    """A chromedriver Service whose process leads its own process group, registered with the
    browser guard as soon as it is started (before Chromium exists)."""

    class GuardedService(service_class):
        def _start_process(self, path: str) -> None:
            browser_guard.ensure_started()  # the guard exists before the browser does
            super()._start_process(path)  # Popen only: registered before Selenium waits for the port
            browser_guard.register(self.process.pid, profile)

    popen_kw: dict[str, Any] = {"start_new_session": True}
    preexec = pdeathsig_preexec(signal.SIGKILL)  # chromedriver dies with us (before Chromium exists too)
    if preexec is not None:
        popen_kw["preexec_fn"] = preexec
    return GuardedService(executable_path=chromedriver, popen_kw=popen_kw)


def _stop_service(service: Any) -> None:
    process = getattr(service, "process", None)
    if process is None:
        return
    try:
        service.stop()
    except Exception as exc:  # noqa: BLE001  best effort: the pids are killed next
        log.debug("chromedriver service did not stop cleanly: %s", exc)
