"""``PageProcessorUser``: an abstract Locust user that walks JavaScript-rendered pages in Chromium.

Subclass it like Locust's ``HttpUser``::

    class Pages(PageProcessorUser):
        restart_every_pages = 25

        def on_page(self, page, rows):
            assert all(row["id"] for row in rows)

Each user owns one headless Chromium session (a
:class:`~stresskit.clients.page.PageProcessor`), started in ``on_start`` and always quit in
``on_stop``. Its task takes the next page from the run's shared quota
(:func:`stresskit.cluster.quota.page_quota_of`), processes it (navigate, wait for the rendered rows,
extract them), reports it, fires ``stresskit_events_of(env).page_completed(page=, rows=)`` and
goes on. With the quota exhausted the user waits ``quota_poll_interval`` and asks again while
pages are still held elsewhere; once every page is finished it stops itself.

Recovery is the processor's (stale/missing elements → refresh and retry, dead session →
restart); on top of it the user restarts the browser proactively every
``restart_every_pages`` pages and when its processes exceed ``memory_limit_mb``, sampling
their memory every ``memory_sample_interval`` seconds. A browser that cannot be restarted
gives its page back, fires ``critical_failure`` and stops the user. A missing chromium or
chromedriver is one ``session start`` failure and one log line; the user stops, nothing hangs.

Every knob is a class attribute; the options in :func:`add_arguments` override them for all
page users of a run.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from locust import User, constant, task
from locust.exception import StopUser

from stresskit.clients.page import PageProcessor, PageResult
from stresskit.cluster.quota import PageGrant, PageQuota, page_quota_of
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.idle import idle
from stresskit.core.options import non_negative_int, positive_float, setting
from stresskit.core.perrun import log_once
from stresskit.errors import ConfigError, StressKitError
from stresskit.events import stresskit_events_of

__all__ = ["PageProcessorUser", "add_arguments"]

log = logging.getLogger("stresskit.users.page")


def add_arguments(parser: Any) -> None:
    """Add the page-processor options to Locust's parser (each with a ``STRESSKIT_*`` variable)."""
    group = parser.add_argument_group("stresskit page processors (browser)")
    group.add_argument("--page-path", env_var="STRESSKIT_PAGE_PATH", default=None,
                       help="path template of a page on --host, {page} is the number (default /pages/{page})")
    group.add_argument("--page-timeout", env_var="STRESSKIT_PAGE_TIMEOUT", type=positive_float, default=None,
                       help="seconds to wait for a page to load and render its rows (default 15)")
    group.add_argument("--page-max-retries", env_var="STRESSKIT_PAGE_MAX_RETRIES", type=non_negative_int,
                       default=None, help="extra attempts per page after a failed one (default 2)")
    group.add_argument("--browser-restart-every", env_var="STRESSKIT_BROWSER_RESTART_EVERY",
                       type=non_negative_int, default=None,
                       help="restart each browser after this many pages, 0 = never (default 50)")
    group.add_argument("--browser-memory-limit-mb", env_var="STRESSKIT_BROWSER_MEMORY_LIMIT_MB",
                       type=non_negative_int, default=None,
                       help="restart a browser whose processes hold more resident memory, 0 = no limit "
                            "(default 0)")




class PageProcessorUser(User):
    """A Locust user processing the run's pages in its own headless Chromium (see the module doc)."""

    abstract = True
    kind = "browser"
    wait_time = constant(0)

    page_path: str = "/pages/{page}"
    """Path template of a page on ``host``; ``{page}`` is the page number."""
    page_name: str | None = None
    """Stats name of the page entry; default: ``page_path`` with ``{page}`` shown as ``[page]``."""
    ready_selector: str = 'body[data-ready="1"]'
    """CSS selector that matches once the page's rows are rendered."""
    error_selector: str | None = 'body[data-ready="error"]'
    """CSS selector that matches when the page reports a rendering error (retry at once)."""
    row_selector: str = "#rows tr.row"
    """CSS selector of the row elements to extract (each with ``data-id``)."""
    next_selector: str | None = "#next"
    """Link to the next page, read along with the rows (``PageResult.next_url``)."""
    min_rows: int = 1
    """Fewer matching rows than this is a ``missing element`` problem."""
    page_timeout: float = 15.0
    """Seconds for a page to load and to render its rows."""
    max_retries: int = 2
    """Extra attempts per page (refresh, or restart for a dead session) after a failed one."""
    restart_every_pages: int = 50
    """Proactive browser restart after this many pages (0 = never)."""
    memory_sample_interval: float = 15.0
    """Seconds between samples of the browser's memory (0 = never). A sample scans /proc
    (tens of milliseconds on a busy host), so it is taken between pages, not per page."""
    memory_limit_mb: int = 0
    """Restart a browser whose processes hold more resident memory than this (0 = no limit)."""
    quota_poll_interval: float = 0.5
    """Seconds to wait before asking again when every remaining page is held by another user."""
    quota_request_timeout: float = 10.0
    """Seconds a worker waits for the master's answer to a page request."""
    processor_class: type[PageProcessor] = PageProcessor
    """The :class:`~stresskit.clients.page.PageProcessor` (sub)class this user builds."""

    def __init__(self, environment: RunEnvironment) -> None:
        super().__init__(environment)
        self.processor: PageProcessor | None = None
        self.quota: PageQuota = page_quota_of(environment)
        self._held: PageGrant | None = None
        self._start_error: BaseException | None = None
        self._next_memory_sample = 0.0
        self.pages_processed = 0

    # -- overridable --------------------------------------------------------------------------

    def page_url(self, page: int) -> str:
        """The URL of ``page``: ``host`` + ``page_path``."""
        host = (self.host or self.environment.host or "").rstrip("/")
        path = setting(self.environment, "page_path", self.page_path)
        return host + path.format(page=page)

    def on_page(self, page: int, result: PageResult) -> None:
        """Called with each processed page (override to validate or store the rows)."""

    def new_processor(self) -> PageProcessor:
        """Build (not start) this user's processor from the class attributes and options."""
        env = self.environment
        limit_mb = setting(env, "browser_memory_limit_mb", int(self.memory_limit_mb))
        path = setting(env, "page_path", self.page_path)
        return self.processor_class(
            env,
            page_timeout=setting(env, "page_timeout", float(self.page_timeout)),
            max_retries=setting(env, "page_max_retries", int(self.max_retries)),
            page_name=self.page_name or path.replace("{page}", "[page]"),
            ready_selector=self.ready_selector,
            error_selector=self.error_selector,
            row_selector=self.row_selector,
            next_selector=self.next_selector,
            min_rows=self.min_rows,
            memory_limit_bytes=limit_mb * 2**20,
            on_restart=lambda reason: self.quota.report_restarts(1),
        )

    # -- life cycle --------------------------------------------------------------------------

    def on_start(self) -> None:
        """Start this user's browser. A failure is reported once and stops the user (no traceback)."""
        self.processor = self.new_processor()
        first = self.page_url(1)
        if not first.startswith(("http://", "https://")):
            self._start_error = ConfigError(f"page URL {first!r} is not http(s): give the target with --host "
                                            "(or set host on the user class)")
            log_once(self.environment, log, f"page processor cannot start: {self._start_error}")
            return
        try:
            self.processor.start()
        except Exception as exc:  # noqa: BLE001  start_chrome raises one-line DependencyMissing / BrowserError
            self._start_error = exc
            log_once(self.environment, log, f"page processor cannot start a browser: {exc}")
        self._next_memory_sample = 0.0  # a baseline right after the first page, then every interval

    def on_stop(self) -> None:
        """Give back a page still held and quit the browser (also after a crash)."""
        held, self._held = self._held, None
        if held is not None:
            try:
                self.quota.release(held)
            except Exception as exc:  # noqa: BLE001  stopping must go on
                log.debug("could not release page %s: %s", held.page, exc)
        if self.processor is not None:
            self.processor.close()

    def browser_pids(self) -> list[int]:
        """Chromedriver's pid and every Chromium process of this user's own browser (for fault
        injection: kill them to crash it). Never lists a browser this user did not start."""
        return self.processor.browser_pids() if self.processor is not None else []

    # -- the task ----------------------------------------------------------------------------

    @task
    def process_next_page(self) -> None:
        """Take the next page from the quota and process it; stop when every page is finished."""
        if self._start_error is not None or self.processor is None:
            raise StopUser()
        with idle(self):  # waiting for a page to fall due is not time to recover in
            grant = self.quota.acquire(timeout=float(self.quota_request_timeout))
            if grant.status == "done":
                raise StopUser()
            if grant.status != "page" or grant.page is None:
                gevent.sleep(float(self.quota_poll_interval))
                return
        self._held = grant
        try:
            result = self.processor.process(grant.page, self.page_url(grant.page))
        except StressKitError as exc:  # the browser is dead and cannot be restarted
            self._held = None
            self.quota.release(grant)
            stresskit_events_of(self.environment).critical_failure.fire(
                kind="browser_restart", detail=f"page {grant.page}: {exc}")
            log_once(self.environment, log, f"page processor stopped: {exc}")
            raise StopUser() from None
        self._held = None
        if result.ok:
            self.quota.complete(grant)
            self.pages_processed += 1
            stresskit_events_of(self.environment).page_completed.fire(page=grant.page, rows=len(result.rows))
        else:
            self.quota.fail(grant)
        self.on_page(grant.page, result)
        self._maintain()

    def _maintain(self) -> None:
        """Memory sampling and proactive restarts, between pages."""
        processor = self.processor
        assert processor is not None
        interval = float(self.memory_sample_interval)
        if interval > 0 and time.monotonic() >= self._next_memory_sample:
            self._next_memory_sample = time.monotonic() + interval
            processor.sample_memory()
            if processor.over_memory_limit():
                self._restart("memory")
                return
        every = setting(self.environment, "browser_restart_every", int(self.restart_every_pages))
        if every and processor.pages_since_restart >= every:
            self._restart("proactive")

    def _restart(self, reason: str) -> None:
        assert self.processor is not None
        try:
            self.processor.restart(reason)
        except StressKitError as exc:
            stresskit_events_of(self.environment).critical_failure.fire(kind="browser_restart", detail=str(exc))
            log_once(self.environment, log, f"page processor stopped: {exc}")
            raise StopUser() from None
