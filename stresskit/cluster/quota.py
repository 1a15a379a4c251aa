"""The shared page quota: a run of N pages hands every page out and counts each one once.

One :class:`PageQuota` per Locust environment (:func:`page_quota_of`). Its role follows the runner:

* **local runner** and **master** hold the truth, a :class:`PageLedger`. The total comes from
  :meth:`PageQuota.set_total` (a scenario shape calls it before or at test start), else the
  ``--pages`` option / ``STRESSKIT_PAGES``, else 10. The figures are mirrored into
  :func:`stresskit.core.runstate.run_state_of`: ``pages_total``, ``pages_completed``, ``pages_failed``
  and ``session_restarts``.
* **workers** ask the master for pages with Locust custom messages and report back. Every
  master handler is a few dict operations and one non-blocking send, so heartbeats never wait.

Messages (``data`` dicts)::

    worker -> master  stresskit_page_request    {"req": int}
    master -> worker  stresskit_page_grant      {"req", "status": "page"|"wait"|"done", "page",
                                                 "epoch", "total", "completed", "failed"}
    worker -> master  stresskit_page_finish     {"page", "ok", "epoch"}
    worker -> master  stresskit_page_release    {"page", "epoch"}
    worker -> master  stresskit_session_restart {"count"}

The rules:

* Pages are handed out in order 1..total; released or reclaimed pages go out again first.
* **Exactly once**: a page is counted at its first finish report (completed or failed); any
  later report for it is a duplicate, counted in :attr:`PageLedger.duplicates` and ignored.
* **A worker that dies** (its heartbeat goes missing, or it quits) loses the pages it held but
  had not finished: the master reclaims them within about a second of Locust marking the worker
  missing (~3 s without heartbeat) and hands them out again. If that worker was only slow and
  reports one of them later, the first report still wins.
* A user that stops while holding a page releases it (``on_stop``); it is handed out again.
* A failed page (its processing failed after the user's retries) is finished: it is not
  handed out again.
* **Exhausted**: when nothing is left to hand out but pages are still held elsewhere the answer
  is ``"wait"`` (a reclaimed page may still come); the user waits and asks again. Once every
  page is finished the answer is ``"done"`` and :attr:`PageQuota.done` is true; page
  processors then stop themselves. :func:`install` can also stop the whole run at that point.
* A new test start (``test_start`` on the master/local runner) starts a new *epoch*: counts
  are reset (the total is kept) and reports from the previous epoch are ignored.
* **Paced** (:meth:`PageQuota.set_pace`, set by a scenario shape): a new page goes out only once
  it is due by the pace (:class:`stresskit.run.pacing.PagePace`, a function of the shape's run time);
  until then the answer is ``"wait"``. Released and reclaimed pages were due already and go out
  at once. Without a pace every page is due from the start.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.event import AsyncResult

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import option
from stresskit.core.perrun import Once, PerRun
from stresskit.core.runstate import run_state_of
from stresskit.errors import ConfigError

__all__ = [
    "DEFAULT_PAGES",
    "PageGrant",
    "PageLedger",
    "PageQuota",
    "add_arguments",
    "use_page_quota",
    "page_quota_of",
]

log = logging.getLogger("stresskit.cluster.quota")

DEFAULT_PAGES = 10
MSG_REQUEST = "stresskit_page_request"
MSG_GRANT = "stresskit_page_grant"
MSG_FINISH = "stresskit_page_finish"
MSG_RELEASE = "stresskit_page_release"
MSG_RESTART = "stresskit_session_restart"
LOCAL_HOLDER = "local"
REAP_INTERVAL = 1.0

_SLOT: PerRun[Any] = PerRun("page_quota")


@dataclass(frozen=True)
class PageGrant:
    """The answer to "which page next": ``status`` is ``"page"`` (with ``page``), ``"wait"`` or
    ``"done"``; ``epoch`` ties the page to the test run it was handed out in."""

    status: str
    page: int | None = None
    epoch: int = 0


class PageLedger:
    """The truth about one run's pages: which are handed out, held by whom, finished how.

    Pure bookkeeping (no Locust, no I/O); :class:`PageQuota` drives it on the master or the
    local runner.
    """

    def __init__(self, total: int = 0) -> None:
        self._total = total
        self.epoch = 0
        self._reset_progress()

    def _reset_progress(self) -> None:
        self._next = 1
        self._requeued: deque[int] = deque()
        self._holders: dict[int, str] = {}
        self._finished: dict[int, bool] = {}
        self._completed = 0
        self._failed = 0
        self.duplicates = 0
        self.reclaimed = 0

    def reset(self) -> None:
        """Start a new epoch: nothing handed out, nothing finished; the total is kept."""
        self.epoch += 1
        self._reset_progress()

    @property
    def total(self) -> int:
        return self._total

    def set_total(self, total: int) -> None:
        """Set the number of pages; pages above a lowered total that were not handed out yet
        are dropped, ones already handed out still count when they finish."""
        if total < 0:
            raise ConfigError(f"page total must be >= 0, got {total}")
        self._total = total
        self._requeued = deque(p for p in self._requeued if p <= total)

    @property
    def completed(self) -> int:
        return self._completed

    @property
    def failed(self) -> int:
        return self._failed

    @property
    def in_flight(self) -> int:
        return len(self._holders)

    @property
    def finished_pages(self) -> dict[int, bool]:
        """Page number → True (completed) / False (failed), for every finished page."""
        return dict(self._finished)

    @property
    def done(self) -> bool:
        """Every page 1..total finished (completed or failed) and none held."""
        return not self._holders and self._remaining() == 0 and len(self._finished) >= self._total

    def _remaining(self) -> int:
        return len(self._requeued) + max(0, self._total - self._next + 1)

    @property
    def handed_out(self) -> int:
        """Fresh pages handed out so far (1..n); released or reclaimed pages do not count again."""
        return self._next - 1

    def grant(self, holder: str, limit: int | None = None) -> PageGrant:
        """Hand the next page to ``holder``, or say ``wait`` / ``done``.

        ``limit`` (the pace): no fresh page above this number goes out yet; pages given back go
        out regardless.
        """
        while self._requeued:
            page = self._requeued.popleft()
            if page not in self._finished and page not in self._holders:
                self._holders[page] = holder
                return PageGrant("page", page, self.epoch)
        while self._next <= self._total and (limit is None or self._next <= limit):
            page = self._next
            self._next += 1
            if page not in self._finished and page not in self._holders:
                self._holders[page] = holder
                return PageGrant("page", page, self.epoch)
        return PageGrant("done" if self.done else "wait", None, self.epoch)

    def finish(self, page: int, ok: bool, epoch: int | None = None) -> bool:
        """Record that ``page`` finished; True if this report counted (its first one)."""
        if epoch is not None and epoch != self.epoch:
            return False
        self._holders.pop(page, None)
        if page in self._finished:
            self.duplicates += 1
            return False
        self._finished[page] = ok
        if ok:
            self._completed += 1
        else:
            self._failed += 1
        try:
            self._requeued.remove(page)
        except ValueError:
            pass
        return True

    def release(self, page: int, holder: str, epoch: int | None = None) -> bool:
        """``holder`` gives ``page`` back unfinished; it is handed out again first."""
        if epoch is not None and epoch != self.epoch:
            return False
        if self._holders.get(page) != holder:
            return False
        del self._holders[page]
        self._requeued.appendleft(page)
        return True

    def holders(self) -> set[str]:
        return set(self._holders.values())

    def reclaim(self, holder: str) -> list[int]:
        """Take back every page ``holder`` holds (it died); they are handed out again first."""
        pages = sorted(p for p, h in self._holders.items() if h == holder)
        for page in pages:
            del self._holders[page]
        self._requeued.extendleft(reversed(pages))
        self.reclaimed += len(pages)
        return pages


class PageQuota:
    """An environment's page quota; the same calls work on the local runner, master and workers.

    Users call :meth:`acquire`, then :meth:`complete`, :meth:`fail` or :meth:`release` with the
    grant, and :meth:`report_restarts` after a browser session restart. Shapes and criteria on
    the master read :attr:`total`, :attr:`completed`, :attr:`failed` and :attr:`done`.
    """

    def __init__(self, environment: RunEnvironment) -> None:
        self.environment = environment
        self.ledger = PageLedger(0)
        self._explicit_total: int | None = None
        self._registered_runner: Any = None
        self._reaper: Any = None
        self._done_callbacks: list[Any] = []
        self._done_fired_epoch: int | None = None
        self._pace: Any = None
        self._pace_clock: Any = None
        # worker side
        self._req = 0
        self._waiting: dict[Any, AsyncResult] = {}  # request number -> its waiter
        self._last: dict[str, Any] = {}
        self._warned_no_master = False
        self.restarts_reported = 0
        self._ensure_registered()

    # -- role ------------------------------------------------------------------------------

    @property
    def role(self) -> str:
        """``"master"``, ``"worker"`` or ``"local"`` (also when no runner exists yet)."""
        from locust.runners import MasterRunner, WorkerRunner

        runner = getattr(self.environment, "runner", None)
        if isinstance(runner, MasterRunner):
            return "master"
        if isinstance(runner, WorkerRunner):
            return "worker"
        return "local"

    def _ensure_registered(self) -> None:
        runner = getattr(self.environment, "runner", None)
        if runner is None or runner is self._registered_runner:
            return
        self._registered_runner = runner
        role = self.role
        if role == "master":
            runner.register_message(MSG_REQUEST, self._on_request)
            runner.register_message(MSG_FINISH, self._on_finish)
            runner.register_message(MSG_RELEASE, self._on_release)
            runner.register_message(MSG_RESTART, self._on_restart)
            self._reaper = gevent.spawn(self._reap_loop, runner)
        elif role == "worker":
            runner.register_message(MSG_GRANT, self._on_grant)
        self._resolve_total()

    # -- truth side (master / local) ----------------------------------------------------------

    def _resolve_total(self) -> None:
        if self._explicit_total is not None:
            total = self._explicit_total
        else:
            value = option(self.environment, "pages", None)
            if value is None:
                value = os.environ.get("STRESSKIT_PAGES") or DEFAULT_PAGES
            try:
                total = int(value)
            except (TypeError, ValueError):
                raise ConfigError(f"--pages / STRESSKIT_PAGES must be a whole number, got {value!r}") from None
        if total != self.ledger.total:
            self.ledger.set_total(total)
        self._mirror()

    def set_total(self, total: int) -> None:
        """Set the number of pages of the run (master or local runner; shapes call this)."""
        if self.role == "worker":
            raise ConfigError("set_total() belongs on the master (or a local run), not on a worker")
        self._explicit_total = int(total)
        self.ledger.set_total(int(total))
        self._mirror()
        self._check_done()

    @property
    def total(self) -> int:
        if self.role == "worker":
            return int(self._last.get("total", 0))
        self._resolve_total()
        return self.ledger.total

    @property
    def completed(self) -> int:
        return int(self._last.get("completed", 0)) if self.role == "worker" else self.ledger.completed

    @property
    def failed(self) -> int:
        return int(self._last.get("failed", 0)) if self.role == "worker" else self.ledger.failed

    @property
    def done(self) -> bool:
        """Every page handed out and finished (on a worker: as last heard from the master)."""
        if self.role == "worker":
            return self._last.get("status") == "done"
        self._resolve_total()
        return self.ledger.done

    # -- pace (master / local) ---------------------------------------------------------------

    def set_pace(self, pace: Any, clock: Any = None) -> None:
        """Pace the quota: ``pace`` is a :class:`stresskit.run.pacing.PagePace` (``None``: unpaced) and
        ``clock()`` the run's elapsed seconds (a shape's ``get_run_time``)."""
        if pace is not None and clock is None:
            raise ConfigError("a paced page quota needs a clock (seconds since the run started)")
        self._pace, self._pace_clock = pace, clock
        self._mirror()

    @property
    def pace(self) -> Any:
        """The :class:`stresskit.run.pacing.PagePace` in force, or ``None`` (every page due at once)."""
        return self._pace

    @property
    def pages_due(self) -> int:
        """Pages due by now: by the pace, else the whole quota (master/local; on a worker 0)."""
        if self.role == "worker":
            return 0
        total = self.ledger.total
        if self._pace is None:
            return total
        return self._pace.due_at(float(self._pace_clock()), total)

    def _limit(self) -> int | None:
        return self.pages_due if self._pace is not None else None

    def reset(self) -> None:
        """A new test run: new epoch, progress cleared, total kept (master/local)."""
        self.ledger.reset()
        self._done_fired_epoch = None
        state = run_state_of(self.environment)
        state.session_restarts = 0
        self._resolve_total()

    def on_done(self, callback: Any) -> None:
        """Call ``callback(quota)`` once per epoch when every page is finished (master/local)."""
        self._done_callbacks.append(callback)

    def _mirror(self) -> None:
        state = run_state_of(self.environment)
        state.pages_total = self.ledger.total
        state.pages_completed = self.ledger.completed
        state.pages_failed = self.ledger.failed
        due = self.pages_due
        state.pages_due = due
        state.pages_behind = max(0, due - self.ledger.completed - self.ledger.failed)

    def _check_done(self) -> None:
        if self.ledger.done and self.ledger.total > 0 and self._done_fired_epoch != self.ledger.epoch:
            self._done_fired_epoch = self.ledger.epoch
            for callback in self._done_callbacks:
                try:
                    callback(self)
                except Exception:  # one bad callback must not stop the others
                    log.exception("page quota done-callback failed")

    def _finish_local(self, page: int, ok: bool, epoch: int | None) -> None:
        if self.ledger.finish(page, ok, epoch):
            self._mirror()
            self._check_done()

    # master message handlers: constant work and one non-blocking send each
    def _on_request(self, environment: RunEnvironment, msg: Any, **_: Any) -> None:
        self._resolve_total()
        grant = self.ledger.grant(msg.node_id, self._limit())
        data = {"req": (msg.data or {}).get("req"), "status": grant.status, "page": grant.page,
                "epoch": grant.epoch, "total": self.ledger.total, "completed": self.ledger.completed,
                "failed": self.ledger.failed}
        environment.runner.send_message(MSG_GRANT, data, client_id=msg.node_id)

    def _on_finish(self, environment: RunEnvironment, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        self._finish_local(int(data["page"]), bool(data.get("ok", True)), data.get("epoch"))

    def _on_release(self, environment: RunEnvironment, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        self.ledger.release(int(data["page"]), msg.node_id, data.get("epoch"))

    def _on_restart(self, environment: RunEnvironment, msg: Any, **_: Any) -> None:
        count = int((msg.data or {}).get("count", 1))
        run_state_of(environment).add(session_restarts=count)

    def _reap_loop(self, runner: Any) -> None:
        """Reclaim the pages of workers that went missing or left (master only)."""
        from locust.runners import STATE_MISSING, STATE_RUNNING, STATE_SPAWNING

        while True:
            gevent.sleep(REAP_INTERVAL)
            for holder in self.ledger.holders():
                worker = runner.clients.get(holder)
                if worker is None or worker.state == STATE_MISSING:
                    pages = self.ledger.reclaim(holder)
                    if pages:
                        log.warning("worker %s is gone: pages %s go out again", holder, pages)
                        if worker is not None or runner.state in (STATE_RUNNING, STATE_SPAWNING):
                            from stresskit.core.runstate import note_lost_worker

                            note_lost_worker(self.environment, holder, pages=pages)  # _run.json lost_workers

    # -- user side (all roles) -------------------------------------------------------------

    def acquire(self, timeout: float = 10.0) -> PageGrant:
        """The next page for this user, or ``wait`` / ``done``.

        On a worker this asks the master and waits up to ``timeout`` seconds for the answer; no
        answer is reported as ``wait`` (and logged once, since it means the master does not run
        :func:`install`).
        """
        self._ensure_registered()
        if self.role != "worker":
            self._resolve_total()
            grant = self.ledger.grant(LOCAL_HOLDER, self._limit())
            self._check_done()
            return grant
        self._req += 1
        req = self._req
        result: AsyncResult = AsyncResult()
        self._waiting[req] = result
        try:
            self.environment.runner.send_message(MSG_REQUEST, {"req": req})
            data = result.get(timeout=timeout)
        except gevent.Timeout:
            if not self._warned_no_master:
                self._warned_no_master = True
                log.error("the master did not answer a page request within %.0fs; does the master's "
                          "locustfile call stresskit.cluster.quota.use_page_quota(events)?", timeout)
            return PageGrant("wait", None, int(self._last.get("epoch", 0)))
        finally:
            self._waiting.pop(req, None)
        return PageGrant(data["status"], data.get("page"), int(data.get("epoch", 0)))

    def _on_grant(self, environment: RunEnvironment, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        self._last = data
        waiter = self._waiting.get(data.get("req"))
        if waiter is not None:
            waiter.set(data)
        elif data.get("status") == "page":  # its requester gave up waiting: give the page back
            environment.runner.send_message(MSG_RELEASE, {"page": data["page"], "epoch": data.get("epoch")})

    def complete(self, grant: PageGrant) -> None:
        """The page of ``grant`` was processed."""
        self._finish(grant, True)

    def fail(self, grant: PageGrant) -> None:
        """The page of ``grant`` failed for good (after the user's retries); it is not retried."""
        self._finish(grant, False)

    def _finish(self, grant: PageGrant, ok: bool) -> None:
        if grant.page is None:
            return
        if self.role == "worker":
            self.environment.runner.send_message(MSG_FINISH, {"page": grant.page, "ok": ok, "epoch": grant.epoch})
        else:
            self._finish_local(grant.page, ok, grant.epoch)

    def release(self, grant: PageGrant) -> None:
        """Give the page of ``grant`` back unfinished (the user stops); it goes out again."""
        if grant.page is None:
            return
        if self.role == "worker":
            runner = self.environment.runner
            try:
                runner.send_message(MSG_RELEASE, {"page": grant.page, "epoch": grant.epoch})
            except Exception as exc:  # noqa: BLE001  the master is gone: it reclaims by itself if it comes back
                log.debug("could not release page %s: %s", grant.page, exc)
        else:
            self.ledger.release(grant.page, LOCAL_HOLDER, grant.epoch)

    def report_restarts(self, count: int = 1) -> None:
        """Count browser session restarts into the master's ``run_state.session_restarts``."""
        self.restarts_reported += count
        if self.role == "worker":
            self.environment.runner.send_message(MSG_RESTART, {"count": count})
        else:
            run_state_of(self.environment).add(session_restarts=count)


def page_quota_of(environment: RunEnvironment) -> PageQuota:
    """The :class:`PageQuota` of ``environment``, created (and its messages registered) on first use."""
    quota = _SLOT.get(environment)
    if quota is None:
        return _SLOT.set(environment, PageQuota(environment))
    quota._ensure_registered()
    return quota


def add_arguments(parser: Any) -> None:
    """The ``--pages`` option (``STRESSKIT_PAGES``): pages in the run when no shape sets them."""
    group = parser.add_argument_group("stresskit page quota")
    group.add_argument(
        "--pages", type=int, default=None, env_var="STRESSKIT_PAGES",
        help=f"Pages to process in the run, each exactly once across all workers (default {DEFAULT_PAGES}; "
             "a scenario shape sets its own)",
    )


_INSTALLED = Once()


def use_page_quota(events: Any, stop_when_done: bool = False) -> None:
    """Opt a locustfile into the page quota (idempotent per ``events``).

    At ``init`` the quota is created on every process, which registers its messages — the
    master needs this, since no user runs there. At ``test_start`` a new epoch begins. With
    ``stop_when_done`` the master (or local runner) stops the run once every page is finished:
    ``quit()`` when headless, ``stop()`` with a web UI.
    """
    if not _INSTALLED.first(events):
        return

    def on_init(environment: RunEnvironment, **_: Any) -> None:
        quota = page_quota_of(environment)
        if stop_when_done and quota.role != "worker":
            quota.on_done(lambda q: gevent.spawn(_stop_run, environment))

    def on_test_start(environment: RunEnvironment, **_: Any) -> None:
        quota = page_quota_of(environment)
        if quota.role != "worker":
            quota.reset()

    def on_quitting(environment: RunEnvironment, **_: Any) -> None:
        quota = _SLOT.get(environment)
        if quota is not None and quota._reaper is not None:
            quota._reaper.kill(block=False)

    events.init.add_listener(on_init)
    events.test_start.add_listener(on_test_start)
    events.quitting.add_listener(on_quitting)


def _stop_run(environment: RunEnvironment) -> None:
    runner = environment.runner
    log.info("all %d pages finished: stopping the run", page_quota_of(environment).total)
    headless = bool(getattr(environment.parsed_options, "headless", False))
    runner.stop()  # on a master this waits for the workers' users to stop (browsers quit)
    if headless:
        runner.quit()
