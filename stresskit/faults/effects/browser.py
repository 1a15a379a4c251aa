"""Browser faults with real effects, on the injecting user's own browser only.

* :func:`crash_browser` SIGKILLs the user's chromedriver and Chromium processes (the pids the
  user reports through ``browser_pids()``, plus their descendants), after checking that each
  descends from this Python process or runs with the user's own profile directory: a fault never
  touches a browser it did not start.
* :func:`arm_page_fault` arms a one-shot change of the *next* page the user processes, made in
  the live page through ``execute_script`` at the exact point the page processor offers
  (:class:`stresskit.clients.page.PageProcessor` hooks):

  - ``element_not_found``: after the page is ready, its rows are removed before they are
    located, so the processor finds too few and takes its missing-element path (refresh, retry);
  - ``stale_element``: after the rows are located, each is replaced by a copy before it is read,
    so reading them raises a real ``StaleElementReferenceException``;
  - ``javascript_error``: after the page is ready, a real uncaught ``Error`` is thrown in the
    page; Chromium writes it to the console log, where the processor must find it.

  A page user without those hooks gets the same strikes from a one-shot script registered with
  Chromium (DevTools ``Page.addScriptToEvaluateOnNewDocument``) that fires when the rows render.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import time
from typing import Any

import psutil

from stresskit.errors import FaultError
from stresskit.faults.effects import Injected, UserFaultContext

log = logging.getLogger("stresskit.faults")

__all__ = [
    "DEFAULT_ELEMENT_SELECTOR",
    "PAGE_FAULTS",
    "arm_page_fault",
    "browser_crash",
    "browser_processes",
    "crash_browser",
    "disarm_page_fault",
    "driver_of",
    "page_fault",
]

PAGE_FAULTS = ("element_not_found", "stale_element", "javascript_error")
DEFAULT_ELEMENT_SELECTOR = "#rows tr.row"
"""The rows of the reference target's pages; a user class may set ``fault_selector`` instead."""

STALE_WINDOW_MS = 3000
"""How long ``stale_element`` keeps replacing the elements (every few milliseconds)."""

_SCRIPT = r"""
(function () {
  var KEY = %(key)s, KIND = %(kind)s, SELECTOR = %(selector)s, WINDOW = %(window)d;
  try { if (window.sessionStorage.getItem(KEY)) { return; } } catch (e) { return; }
  function found() { return document.querySelectorAll(SELECTOR); }
  function strike() {
    window.sessionStorage.setItem(KEY, String(Date.now()));
    if (KIND === "javascript_error") {
      setTimeout(function () { throw new Error("stresskit injected fault " + KEY); }, 0);
      return;
    }
    if (KIND === "element_not_found") {
      found().forEach(function (el) { el.remove(); });
      return;
    }
    var end = Date.now() + WINDOW;
    var timer = setInterval(function () {
      found().forEach(function (el) { el.replaceWith(el.cloneNode(true)); });
      if (Date.now() > end) { clearInterval(timer); }
    }, 1);
    found().forEach(function (el) { el.replaceWith(el.cloneNode(true)); });
  }
  if (KIND === "javascript_error") {
    window.addEventListener("DOMContentLoaded", strike);
    return;
  }
  var observer = new MutationObserver(function () {
    if (found().length) { observer.disconnect(); strike(); }
  });
  observer.observe(document, {childList: true, subtree: true});
})();
"""


def driver_of(user: Any) -> Any | None:
    """The Selenium driver of a page-processing user, or ``None`` when it has none right now."""
    for path in (("processor", "session", "driver"), ("driver",), ("session", "driver"), ("browser", "driver")):
        obj = user
        for name in path:
            obj = getattr(obj, name, None)
            if obj is None:
                break
        if obj is not None and hasattr(obj, "execute_script"):
            return obj
    return None


def _profile_of(user: Any) -> str | None:
    for path in (("processor", "session", "profile_dir"), ("session", "profile_dir")):
        obj = user
        for name in path:
            obj = getattr(obj, name, None)
            if obj is None:
                break
        if isinstance(obj, str) and obj:
            return obj
    return None


def browser_processes(user: Any) -> list[psutil.Process]:
    """The user's own browser processes (reported pids and their descendants), each checked to
    descend from this process; raises :class:`FaultError` if a pid is foreign."""
    pids_of = getattr(user, "browser_pids", None)
    if pids_of is None:
        raise FaultError(f"{type(user).__name__} has no browser_pids(); cannot find its browser")
    me = os.getpid()
    profile = _profile_of(user)
    found: dict[int, psutil.Process] = {}
    for pid in pids_of():
        try:
            proc = psutil.Process(pid)
            ours = me in {p.pid for p in proc.parents()}
            if not ours and profile:
                ours = any(profile in arg for arg in proc.cmdline())
            if not ours:
                raise FaultError(f"pid {pid} is not this user's browser; refusing to kill it")
            found[pid] = proc
            for child in proc.children(recursive=True):
                found.setdefault(child.pid, child)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return list(found.values())


def crash_browser(user: Any) -> str:
    """SIGKILL the user's browser process tree; return what was killed."""
    procs = browser_processes(user)
    if not procs:
        raise FaultError("the user has no live browser processes to kill")
    names = []
    for proc in procs:
        try:
            names.append(f"{proc.name()}:{proc.pid}")
            proc.send_signal(signal.SIGKILL)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    _gone, alive = psutil.wait_procs(procs, timeout=5)
    if alive:
        raise FaultError(f"browser processes survived SIGKILL: {[p.pid for p in alive]}")
    return f"SIGKILL {len(procs)} browser processes ({', '.join(sorted(names)[:6])}{' ...' if len(names) > 6 else ''})"


_STALE_JS = "arguments[0].forEach(function (el) { el.replaceWith(el.cloneNode(true)); }); return arguments[0].length;"
_REMOVE_JS = ("var found = document.querySelectorAll(arguments[0]); "
              "found.forEach(function (el) { el.remove(); }); return found.length;")
_THROW_JS = "setTimeout(function () { throw new Error(arguments[0]); }.bind(null, arguments[0]), 0);"


class _OneShot:
    """A page-processor hook that strikes once, removes itself and remembers what it did."""

    def __init__(self, hooks: list, kind: str, selector: str, key: str) -> None:
        self.hooks, self.kind, self.selector, self.key = hooks, kind, selector, key
        self.struck: str | None = None
        self.struck_at: float | None = None

    def __call__(self, driver: Any, page: int, elements: Any = None) -> None:
        if self in self.hooks:
            self.hooks.remove(self)
        self.struck_at = time.time()
        if self.kind == "element_not_found":
            count = driver.execute_script(_REMOVE_JS, self.selector)
            self.struck = f"page {page}: removed {count} element(s) {self.selector!r} before they were located"
        elif self.kind == "stale_element":
            count = driver.execute_script(_STALE_JS, elements)
            self.struck = f"page {page}: replaced {count} located element(s) by copies before they were read"
        else:
            driver.execute_script(_THROW_JS, f"stresskit injected fault {self.key}")
            self.struck = f"page {page}: uncaught Error thrown in the page"
        log.info("%s struck: %s", self.kind, self.struck)

    def disarm(self) -> None:
        if self in self.hooks:
            self.hooks.remove(self)


def arm_page_fault(user: Any, kind: str) -> tuple[Any, str]:
    """Arm the one-shot ``kind`` strike for the next page this user processes.

    Returns ``(handle, detail)``; pass ``handle`` to :func:`disarm_page_fault` once the user has
    recovered (a strike that has not happened by then is withdrawn).
    """
    if kind not in PAGE_FAULTS:
        raise ValueError(f"not a page fault: {kind}")
    key = f"stresskit-fault-{secrets.token_hex(6)}"
    processor = getattr(user, "processor", None)
    hooks = getattr(processor, "before_use_hooks" if kind == "stale_element" else "after_ready_hooks", None)
    if isinstance(hooks, list):
        if getattr(processor, "session", None) is None:
            raise FaultError("the user has no live browser session")
        selector = getattr(processor, "row_selector", None) or DEFAULT_ELEMENT_SELECTOR
        shot = _OneShot(hooks, kind, selector, key)
        hooks.append(shot)
        where = "after its rows are located" if kind == "stale_element" else "once it is ready"
        return shot, f"armed for the next page, {where} ({key})"
    driver = driver_of(user)
    if driver is None or not hasattr(driver, "execute_cdp_cmd"):
        raise FaultError("the user has no live Chromium session")
    selector = getattr(user, "row_selector", None) or DEFAULT_ELEMENT_SELECTOR
    source = _SCRIPT % {"key": json.dumps(key), "kind": json.dumps(kind), "selector": json.dumps(selector),
                        "window": STALE_WINDOW_MS}
    try:
        result = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
    except Exception as exc:
        raise FaultError(f"cannot arm {kind} in the browser: {type(exc).__name__}") from exc
    return (driver, str(result.get("identifier", ""))), f"armed in the next document ({key})"


def disarm_page_fault(user: Any, handle: Any) -> str | None:
    """Withdraw an armed strike; return what it did if it struck (hook form), else ``None``."""
    if isinstance(handle, _OneShot):
        handle.disarm()
        return handle.struck
    driver, script_id = handle
    try:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script_id})
    except Exception as exc:  # noqa: BLE001 - the session may be gone; nothing left to undo then
        log.debug("could not remove the armed script: %s", exc)
    return None


# -- the catalogue's per-user effects (stresskit.faults.kinds) -------------------------------------

def browser_crash(ctx: UserFaultContext) -> Injected:
    """``browser_crash``: SIGKILL the user's own browser tree."""
    return Injected(crash_browser(ctx.user))


def page_fault(ctx: UserFaultContext) -> Injected:
    """``element_not_found`` / ``stale_element`` / ``javascript_error``: armed for the next page,
    the recovery timed from the strike."""
    user = ctx.user
    handle, detail = arm_page_fault(user, ctx.kind)
    gate = (lambda: handle.struck_at) if hasattr(handle, "struck_at") else None
    return Injected(detail, on_recovered=lambda: disarm_page_fault(user, handle), gate=gate)
