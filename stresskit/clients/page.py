"""Processing JavaScript-rendered pages in one headless Chromium session, with recovery.

:class:`PageProcessor` owns one :class:`~stresskit.clients.browser.BrowserSession` and processes
one page at a time: navigate, wait until the page's script marks it ready, locate the rows,
extract them, read the browser console. Everything it observes goes to Locust's ``request``
event with request type ``PAGE``, so stats, CSV files, the web UI and distributed aggregation
work unchanged. The entries (``name``):

==========================  ==============================================================
``<page name>``             one per page: time for the whole page including retries and
                            restarts; *size* = rows extracted. A failure when the page
                            failed after all attempts.
``error: <kind>``           a failure per problem seen: ``stale element``, ``missing
                            element``, ``render timeout``, ``render error``, ``load
                            timeout``, ``session dead``, ``webdriver``
``js error``                a failure per uncaught JavaScript error in the console log
``recovered: <kind>``       time from detecting a problem to the next extracted page
``restart: <reason>``       time to quit and start the browser (``crash``, ``proactive``,
                            ``memory``); a failure if the new session could not start
``session start``           time to start the first browser (a failure carries the reason)
``browser memory``          *size* = resident bytes of chromedriver and its Chromium tree
==========================  ==============================================================

Recovery: stale or missing elements and render problems → refresh and try again; a dead
session (killed or crashed browser, dead chromedriver) → restart the session and try again;
each page gets ``1 + max_retries`` attempts. Only the session's own processes are touched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stresskit.clients.browser import BrowserSession, start_chrome
from stresskit.core.envtypes import RunEnvironment
from stresskit.errors import BrowserError, StressKitError

__all__ = [
    "REQUEST_TYPE",
    "JavaScriptError",
    "PageError",
    "PageProcessor",
    "PageResult",
]

log = logging.getLogger("stresskit.page")

REQUEST_TYPE = "PAGE"

WAIT_READY_JS = """
var ready = arguments[0], failed = arguments[1], done = arguments[arguments.length - 1];
function check() {
  if (document.querySelector(ready)) { return "ready"; }
  if (failed && document.querySelector(failed)) { return "error"; }
  return null;
}
var state = check();
if (state) { done(state); return; }
var observer = new MutationObserver(function () {
  var s = check();
  if (s) { observer.disconnect(); done(s); }
});
observer.observe(document.documentElement, {attributes: true, childList: true, subtree: true});
"""
"""Resolves once ``ready`` (a CSS selector) matches, or ``failed`` does; one WebDriver round trip
instead of a polling loop, so waiting adds no polling delay."""

EXTRACT_JS = """
var rows = arguments[0], nextSel = arguments[1];
var out = rows.map(function (tr) {
  var cells = Array.prototype.map.call(tr.children, function (td) { return td.textContent; });
  return {id: tr.getAttribute("data-id"), cells: cells};
});
var next = nextSel ? document.querySelector(nextSel) : null;
return {rows: out, next: next ? next.href : null};
"""
"""Reads every located row element in one round trip. Elements are passed as WebElements, so a
row removed or replaced since it was located raises a real StaleElementReferenceException."""


class PageError(StressKitError):
    """A page could not be processed in one attempt; ``kind`` names the problem."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class JavaScriptError(StressKitError):
    """An uncaught JavaScript error read from the browser console (``goog:loggingPrefs``)."""


@dataclass
class PageResult:
    """What processing one page gave: rows (``{"id", "cells"}``), the next page's URL if linked,
    how many attempts it took and, when it failed, the last problem."""

    page: int
    ok: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_url: str | None = None
    attempts: int = 0
    error: str | None = None
    elapsed: float = 0.0
    js_errors: list[str] = field(default_factory=list)


Hook = Callable[..., None]

_DEAD_MARKERS = (
    "invalid session id", "no such session", "session deleted", "chrome not reachable",
    "disconnected", "not connected to devtools", "target crashed", "tab crashed",
    "cannot connect to chrome", "unable to receive message from renderer", "no such window",
    "target window already closed", "web view not found",
)


class PageProcessor:
    """One browser session that processes pages and reports every observation as a ``PAGE`` entry.

    Configure through the constructor (the :class:`~stresskit.users.page.PageProcessorUser`
    passes its class attributes). ``after_ready_hooks`` (``hook(driver, page)``) run after the
    page is ready and before rows are located; ``before_use_hooks`` (``hook(driver, page,
    elements)``) run after the rows are located and before they are read. Fault injection uses
    them to change the live page at exactly those points.
    """

    def __init__(
        self,
        environment: RunEnvironment,
        *,
        page_timeout: float = 15.0,
        max_retries: int = 2,
        page_name: str = "/pages/[page]",
        ready_selector: str = 'body[data-ready="1"]',
        error_selector: str | None = 'body[data-ready="error"]',
        row_selector: str = "#rows tr.row",
        next_selector: str | None = "#next",
        min_rows: int = 1,
        memory_limit_bytes: int = 0,
        session_factory: Callable[..., BrowserSession] = start_chrome,
        on_restart: Callable[[str], None] | None = None,
    ) -> None:
        self.environment = environment
        self.page_timeout = float(page_timeout)
        self.max_retries = int(max_retries)
        self.page_name = page_name
        self.ready_selector = ready_selector
        self.error_selector = error_selector
        self.row_selector = row_selector
        self.next_selector = next_selector
        self.min_rows = int(min_rows)
        self.memory_limit_bytes = int(memory_limit_bytes)
        self.session_factory = session_factory
        self.on_restart = on_restart
        self.after_ready_hooks: list[Hook] = []
        self.before_use_hooks: list[Hook] = []
        self.session: BrowserSession | None = None
        self.restarts = 0
        self.restart_reasons: dict[str, int] = {}
        self.pages_since_restart = 0
        self.pages_done = 0
        self.js_errors = 0
        self.last_rss = 0
        self.peak_rss = 0
        self._pending_recoveries: list[tuple[str, float]] = []

    # -- reporting ---------------------------------------------------------------------------

    def _fire(self, name: str, seconds: float, length: int = 0, exception: BaseException | None = None,
              context: dict[str, Any] | None = None) -> None:
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE, name=name, response_time=seconds * 1000.0, response_length=length,
            response=None, context=context or {}, exception=exception,
        )

    # -- session -----------------------------------------------------------------------------

    @property
    def driver(self) -> Any:
        """The live WebDriver (for hooks and subclasses); raises if no session runs."""
        if self.session is None:
            raise BrowserError("no browser session is running")
        return self.session.driver

    def _new_session(self) -> BrowserSession:
        session = self.session_factory(page_load_timeout=self.page_timeout)
        try:
            session.driver.set_script_timeout(self.page_timeout)
        except Exception:
            session.quit()
            raise
        return session

    def start(self) -> None:
        """Start the browser; reports ``session start``. Raises
        :class:`~stresskit.errors.DependencyMissing` / :class:`~stresskit.errors.BrowserError`."""
        t0 = time.monotonic()
        try:
            self.session = self._new_session()
        except Exception as exc:
            self._fire("session start", time.monotonic() - t0, exception=exc)
            raise
        self._fire("session start", time.monotonic() - t0)

    def close(self) -> None:
        """Quit the browser (always safe, also when it is dead or never started)."""
        session, self.session = self.session, None
        if session is not None:
            session.quit()

    def browser_pids(self) -> list[int]:
        """Chromedriver's pid and every Chromium process of this processor's session (empty when
        none runs). Kill them to crash the browser; nothing else is ever listed."""
        return self.session.browser_pids() if self.session is not None else []

    def restart(self, reason: str) -> float:
        """Quit the session and start a new one; report ``restart: <reason>`` and count it.

        Raises :class:`~stresskit.errors.BrowserError` (after reporting a failure entry) when
        the new session cannot start.
        """
        t0 = time.monotonic()
        self.close()
        try:
            self.session = self._new_session()
        except Exception as exc:
            self._fire(f"restart: {reason}", time.monotonic() - t0, exception=exc)
            if isinstance(exc, StressKitError):
                raise
            raise BrowserError(f"browser restart ({reason}) failed: {exc}") from exc
        elapsed = time.monotonic() - t0
        self.restarts += 1
        self.restart_reasons[reason] = self.restart_reasons.get(reason, 0) + 1
        self.pages_since_restart = 0
        self._fire(f"restart: {reason}", elapsed)
        if self.on_restart is not None:
            self.on_restart(reason)
        return elapsed

    def sample_memory(self) -> int:
        """Report ``browser memory`` (resident bytes of the session's processes) and return it.

        When ``memory_limit_bytes`` is set and exceeded, a ``browser memory limit`` failure is
        reported too; the caller decides to restart (see :meth:`over_memory_limit`).
        """
        if self.session is None:
            return 0
        t0 = time.monotonic()
        rss = self.session.rss_bytes()
        self.last_rss = rss
        self.peak_rss = max(self.peak_rss, rss)
        self._fire("browser memory", time.monotonic() - t0, length=rss)
        if self.over_memory_limit():
            self._fire("browser memory limit", 0.0, exception=BrowserError(
                f"browser processes use {rss / 2**20:.0f} MiB, over the limit of "
                f"{self.memory_limit_bytes / 2**20:.0f} MiB"))
        return rss

    def over_memory_limit(self) -> bool:
        return bool(self.memory_limit_bytes) and self.last_rss > self.memory_limit_bytes

    # -- one page ----------------------------------------------------------------------------

    def process(self, page: int, url: str) -> PageResult:
        """Process ``page`` at ``url`` with up to ``1 + max_retries`` attempts; report it.

        Raises :class:`~stresskit.errors.BrowserError` only when the browser is dead and cannot
        be restarted (the caller cannot go on); every other problem ends in the result.
        """
        t0 = time.monotonic()
        result = PageResult(page=page, ok=False)
        refresh = False
        last_error: PageError | None = None
        while result.attempts <= self.max_retries:
            result.attempts += 1
            if self.session is None or not self.session.alive():
                self._problem(PageError("session dead", "the browser session is not running"), t0)
                self.restart("crash")
                refresh = False
            try:
                rows, next_url = self._attempt(page, url, refresh)
            except PageError as exc:
                last_error = exc
                self._problem(exc, t0)
                self._read_console(result)
                if exc.kind == "session dead":
                    self.restart("crash")
                    refresh = False
                else:
                    refresh = True
                continue
            self._read_console(result)
            result.ok, result.rows, result.next_url = True, rows, next_url
            break
        result.elapsed = time.monotonic() - t0
        if result.ok:
            self.pages_done += 1
            self.pages_since_restart += 1
            now = time.monotonic()
            for kind, since in self._pending_recoveries:
                self._fire(f"recovered: {kind}", now - since)
            self._pending_recoveries.clear()
            self._fire(self.page_name, result.elapsed, length=len(result.rows), context={"page": page})
        else:
            result.error = f"{last_error.kind}: {last_error}" if last_error else "no attempt made"
            self._fire(self.page_name, result.elapsed, exception=PageError(
                last_error.kind if last_error else "failed",
                f"page {page} failed after {result.attempts} attempts: {result.error}"),
                context={"page": page})
        return result

    def _problem(self, exc: PageError, t0: float) -> None:
        now = time.monotonic()
        self._fire(f"error: {exc.kind}", now - t0, exception=exc)
        self._pending_recoveries.append((exc.kind, now))
        log.debug("page problem: %s: %s", exc.kind, exc)

    def _attempt(self, page: int, url: str, refresh: bool) -> tuple[list[dict[str, Any]], str | None]:
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
            TimeoutException,
            WebDriverException,
        )
        from selenium.webdriver.common.by import By

        driver = self.driver
        step = "load"
        try:
            if refresh:
                driver.refresh()
            else:
                driver.get(url)
            step = "wait"
            state = driver.execute_async_script(WAIT_READY_JS, self.ready_selector, self.error_selector)
            if state != "ready":
                raise PageError("render error", f"page {page} reported a rendering error ({self.error_selector})")
            for hook in self.after_ready_hooks:
                hook(driver, page)
            step = "locate"
            elements = driver.find_elements(By.CSS_SELECTOR, self.row_selector)
            if len(elements) < self.min_rows:
                raise PageError("missing element", f"page {page}: {len(elements)} elements match "
                                f"{self.row_selector!r}, expected at least {self.min_rows}")
            for hook in self.before_use_hooks:
                hook(driver, page, elements)
            step = "extract"
            data = driver.execute_script(EXTRACT_JS, elements, self.next_selector)
        except PageError:
            raise
        except StaleElementReferenceException as exc:
            raise PageError("stale element", f"page {page}: {_first_line(exc)}") from exc
        except NoSuchElementException as exc:
            raise PageError("missing element", f"page {page}: {_first_line(exc)}") from exc
        except TimeoutException as exc:  # page load timeout, or the async wait's script timeout
            if step == "wait":
                raise PageError("render timeout", f"page {page} not ready within {self.page_timeout:g}s "
                                f"({self.ready_selector})") from exc
            raise PageError("load timeout", f"page {page}: {_first_line(exc)}") from exc
        except WebDriverException as exc:
            raise self._classify(page, exc) from exc
        except (OSError, _urllib3_errors()) as exc:  # chromedriver gone: connection refused or reset
            raise PageError("session dead", f"page {page}: chromedriver unreachable ({exc!r})") from exc
        rows = data.get("rows") or []
        if any(not row.get("id") for row in rows):
            raise PageError("missing element", f"page {page}: a row has no data-id")
        return rows, data.get("next")

    def _classify(self, page: int, exc: Exception) -> PageError:
        text = _first_line(exc)
        lowered = text.lower()
        if any(marker in lowered for marker in _DEAD_MARKERS) or self.session is None or not self.session.alive():
            return PageError("session dead", f"page {page}: {text}")
        return PageError("webdriver", f"page {page}: {text}")

    def _read_console(self, result: PageResult) -> None:
        """Report each uncaught JavaScript error in the console log as a ``js error`` failure."""
        if self.session is None or not self.session.alive():
            return
        try:
            entries = self.session.driver.get_log("browser")
        except Exception as exc:  # noqa: BLE001  a dying session; the next attempt finds out
            log.debug("could not read the browser console: %s", exc)
            return
        for entry in entries:
            if entry.get("source") == "javascript" and entry.get("level") == "SEVERE":
                message = str(entry.get("message", ""))
                result.js_errors.append(message)
                self.js_errors += 1
                self._fire("js error", 0.0, exception=JavaScriptError(message), context={"page": result.page})


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "msg", None) or str(exc)
    lines = str(text).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _urllib3_errors() -> type[BaseException]:
    import urllib3.exceptions

    return urllib3.exceptions.HTTPError
