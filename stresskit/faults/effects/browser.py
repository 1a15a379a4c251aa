"""Browser faults with real effects, on the injecting user's own browser only.

* :func:`crash_browser` SIGKILLs the user's chromedriver and Chromium processes (the pids the
  user reports through ``browser_pids()``, plus their descendants), after checking that every
  one of them descends from this Python process: a fault never touches a browser it did not start.
* :func:`arm_page_fault` registers a one-shot script with Chromium (DevTools
  ``Page.addScriptToEvaluateOnNewDocument``) that strikes in the *next* page the user opens, the
  moment its rows have rendered and before the user reads them: ``element_not_found`` removes
  them, ``stale_element`` keeps replacing them with copies for a while (so references the user
  holds go stale), ``javascript_error`` throws a real uncaught error that Chromium writes to the
  console log. A ``sessionStorage`` flag makes each strike happen once, so the user's retry
  (refresh) meets a healthy page — that is its recovery.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
from typing import Any

import psutil

from stresskit.errors import FaultError

__all__ = [
    "DEFAULT_ELEMENT_SELECTOR",
    "PAGE_FAULTS",
    "arm_page_fault",
    "browser_processes",
    "crash_browser",
    "disarm_page_fault",
    "driver_of",
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
    for path in (("driver",), ("session", "driver"), ("browser", "driver")):
        obj = user
        for name in path:
            obj = getattr(obj, name, None)
            if obj is None:
                break
        if obj is not None and hasattr(obj, "execute_cdp_cmd"):
            return obj
    return None


def browser_processes(user: Any) -> list[psutil.Process]:
    """The user's own browser processes (reported pids and their descendants), each checked to
    descend from this process; raises :class:`FaultError` if a pid is foreign."""
    pids_of = getattr(user, "browser_pids", None)
    if pids_of is None:
        raise FaultError(f"{type(user).__name__} has no browser_pids(); cannot find its browser")
    me = os.getpid()
    found: dict[int, psutil.Process] = {}
    for pid in pids_of():
        try:
            proc = psutil.Process(pid)
            if me not in {p.pid for p in proc.parents()}:
                raise FaultError(f"pid {pid} does not descend from this process; refusing to kill it")
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


def arm_page_fault(user: Any, kind: str) -> tuple[str, str]:
    """Register the one-shot ``kind`` strike for the next page this user opens.

    Returns ``(script_id, detail)``; pass ``script_id`` to :func:`disarm_page_fault` once the
    user has recovered (the sessionStorage flag already keeps it from striking twice).
    """
    if kind not in PAGE_FAULTS:
        raise ValueError(f"not a page fault: {kind}")
    driver = driver_of(user)
    if driver is None:
        raise FaultError("the user has no live browser session")
    selector = getattr(user, "fault_selector", None) or DEFAULT_ELEMENT_SELECTOR
    key = f"stresskit-fault-{secrets.token_hex(6)}"
    source = _SCRIPT % {"key": json.dumps(key), "kind": json.dumps(kind), "selector": json.dumps(selector),
                        "window": STALE_WINDOW_MS}
    try:
        result = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
    except Exception as exc:  # a dead session is a fault of its own; report and skip
        raise FaultError(f"cannot arm {kind} in the browser: {type(exc).__name__}") from exc
    what = {
        "element_not_found": f"next page: elements {selector!r} removed as soon as they render",
        "stale_element": f"next page: elements {selector!r} replaced by copies every ms for {STALE_WINDOW_MS} ms",
        "javascript_error": "next page: uncaught Error thrown at DOMContentLoaded",
    }[kind]
    return str(result.get("identifier", "")), f"{what} ({key})"


def disarm_page_fault(user: Any, script_id: str) -> None:
    """Remove an armed script (best effort: a restarted browser has forgotten it anyway)."""
    driver = driver_of(user)
    if driver is None or not script_id:
        return
    try:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script_id})
    except Exception:  # noqa: BLE001 - the session may be gone; nothing left to undo then
        pass
