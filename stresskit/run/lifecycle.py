"""Nothing is lost when a run is stopped, nothing it started is left running.

One part, opted into by :func:`use_lifecycle` (``use_stresskit`` calls it first):

* **Signals.** Locust 2.47 installs its SIGTERM handler only after a headless run's shape has
  finished, so a run with a shape died at once on SIGTERM. Here SIGTERM (and, headless, SIGINT)
  are handled from ``init`` on the master or local runner: the run's ``stop_reason`` becomes
  ``"interrupted by SIGTERM"``, the runner quits through Locust's normal path (final CSVs,
  ``_run.json``, latency sketches, faults log, resources are written; the embedded target, Redis,
  proxy and browsers are stopped) and the exit code is :attr:`ExitCode.INTERRUPTED` (10). If the
  shutdown takes longer than ``--shutdown-grace`` seconds, or a second signal arrives, the
  process stops what it started by pid and exits at once with the same code.
* **Init errors.** A :class:`~stresskit.errors.ConfigError` raised by any ``init`` listener
  (``--pages -1``, a binary scenario file, a Redis URL with a bad scheme, an unwritable ``--csv``
  directory, a distributed run with no ``--host``) ends the process with one error line and exit
  code 2 before later listeners start anything; ``quitting`` stops what earlier ones started. Any
  other exception in ``init`` still stops what was started (exit 1, Locust's traceback).
* **Write errors.** :func:`note_write_error` says once per file that it stopped being written;
  the run goes on and ``_run.json`` lists the file in ``truncated_files``.
* **Lost workers.** :func:`note_lost_worker` records a worker that went missing and the pages
  reclaimed from it, for ``_run.json``'s ``lost_workers``.

The checks before any load are a table (:data:`INIT_CHECKS`): a new check joins it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust.event import EventHook

from stresskit.core import browser_guard, process
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.exitcodes import ExitCode, quit_bad_configuration, worst
from stresskit.core.options import option, register_options
from stresskit.core.perrun import Once, PerRun
from stresskit.core.runstate import note_lost_worker, run_state_of
from stresskit.errors import ConfigError

__all__ = [
    "DEFAULT_GRACE",
    "INIT_CHECKS",
    "Lifecycle",
    "add_arguments",
    "discard",
    "exit_codes",
    "lifecycle_of",
    "note_lost_worker",
    "note_write_error",
    "release_reserve",
    "run_fields",
    "use_lifecycle",
    "write_or_note",
]

log = logging.getLogger("stresskit.run.lifecycle")

DEFAULT_GRACE = 30.0
"""Seconds a signalled run may take to write its files and stop what it started before it is forced."""
_SLOT: PerRun[Any] = PerRun("lifecycle")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
RESERVE_BYTES = 16 * 1024
"""Space the ``--csv`` directory must take before load; held until the run stops, then given back
so ``_run.json`` and the final CSVs still fit when the run filled the disk."""


@dataclass
class Lifecycle:
    """How one environment's run ended: the signal that stopped it, files cut short, workers lost."""

    interrupted: str | None = None
    signals: int = 0
    truncated_files: list[dict[str, Any]] = field(default_factory=list)
    reserve: str | None = None
    kept_processes: set[int] = field(default_factory=set)
    kept_browsers: set[int] = field(default_factory=set)
    run_document: dict[str, Any] | None = None
    """The ``_run.json`` document the criteria wrote last (amended when a file fails after it)."""

    def fields(self) -> dict[str, Any]:
        """The ``_run.json`` keys of the shared contract this part owns (``lost_workers``: :func:`run_fields`)."""
        return {"interrupted": self.interrupted, "truncated_files": list(self.truncated_files)}


def lifecycle_of(environment: RunEnvironment) -> Lifecycle:
    """The :class:`Lifecycle` of an environment, created on first use."""
    state = _SLOT.get_or_create(environment, Lifecycle)
    return state


def run_fields(environment: RunEnvironment) -> dict[str, Any]:
    """``interrupted``, ``truncated_files`` and ``lost_workers`` for ``<prefix>_run.json``."""
    lost = [dict(w, pages_reclaimed=sorted(w["pages_reclaimed"])) for w in run_state_of(environment).lost_workers]
    return {**lifecycle_of(environment).fields(), "lost_workers": lost}


def exit_codes(environment: RunEnvironment) -> list[int]:
    """Exit codes this part adds to the verdict: :attr:`ExitCode.INTERRUPTED` after a signal."""
    return [int(ExitCode.INTERRUPTED)] if lifecycle_of(environment).interrupted else []


def note_write_error(environment: RunEnvironment, path: str | os.PathLike, error: BaseException) -> None:
    """Record that ``path`` stopped being written (once per file) and say so in one line."""
    state = lifecycle_of(environment)
    name = str(path)
    if any(entry["file"] == name for entry in state.truncated_files):
        return
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    state.truncated_files.append({"file": name, "error": text, "at": time.time()})
    log.error("stopped writing %s: %s; the run goes on, the file ends here (listed in truncated_files)", name, text)
    _amend_run_json(environment)


def write_or_note(environment: RunEnvironment, path: str, write: Callable[[str, Any], None], document: Any) -> bool:
    """``write(path, document)``; on an OSError note the file as truncated (once) and return False."""
    try:
        write(path, document)
    except OSError as exc:
        note_write_error(environment, path, exc)
        return False
    return True


def _amend_run_json(environment: RunEnvironment) -> None:
    """A file that failed after ``_run.json`` was written (the final CSVs are written last): add it."""
    document = lifecycle_of(environment).run_document
    prefix = option(environment, "csv_prefix", None)
    if document is None or not prefix:
        return
    document.update(run_fields(environment))
    try:
        with open(f"{prefix}_run.json", "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, default=str)
    except OSError:
        pass  # the disk is full: the log line above is all that can be said


def discard(handle: Any) -> None:
    """Close a file whose writes failed, dropping what its buffer still holds (no second error)."""
    if handle is None:
        return
    try:
        handle.close()
    except OSError:
        try:
            os.close(handle.fileno())
        except (OSError, ValueError):
            pass


# -- options and checks before any load ---------------------------------------------------------


def add_arguments(parser: Any) -> None:
    """``--shutdown-grace SECONDS`` on Locust's parser."""
    parser.add_argument(
        "--shutdown-grace", type=float, default=DEFAULT_GRACE, env_var="STRESSKIT_SHUTDOWN_GRACE",
        include_in_web_ui=False,
        help=f"stresskit: seconds a run stopped by SIGTERM/SIGINT may take to write its files and stop what it "
             f"started before it is forced to exit (default {DEFAULT_GRACE:g}); a second signal forces it at once",
    )


def check_output_directory(environment: RunEnvironment) -> None:
    """The ``--csv`` directory exists (or can be made) and takes a write, before any load is sent."""
    prefix = option(environment, "csv_prefix", None)
    if not prefix or _is_worker(environment):
        return
    directory = os.path.dirname(os.path.abspath(prefix))
    reserve = os.path.join(directory, f".stresskit-reserve-{os.getpid()}")
    try:
        os.makedirs(directory, exist_ok=True)
        with open(reserve, "wb") as handle:
            handle.write(b"\0" * RESERVE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        _remove(reserve)
        raise ConfigError(f"the --csv directory {directory} is not writable ({exc.strerror or exc}): "
                          "free some space or pass --csv with a writable directory") from None
    lifecycle_of(environment).reserve = reserve
    environment.events.quitting.add_listener(lambda **_: release_reserve(environment))
    atexit.register(_remove, reserve)


def release_reserve(environment: RunEnvironment) -> None:
    """Give back the space held since start, so the final files fit on a disk the run filled."""
    state = lifecycle_of(environment)
    if state.reserve:
        _remove(state.reserve)
        state.reserve = None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def check_redis_url(environment: RunEnvironment) -> None:
    """``--redis-url`` has a scheme redis-py understands (the URL itself is never printed: it may hold a password)."""
    url = option(environment, "redis_url", None)
    if not url:
        return
    scheme = urllib.parse.urlsplit(str(url)).scheme
    if scheme not in _REDIS_SCHEMES:
        raise ConfigError(f"--redis-url must start with redis://, rediss:// or unix:// (got scheme {scheme or 'none'!r})")


def check_distributed_host(environment: RunEnvironment) -> None:
    """A headless distributed run needs ``--host``: the demo target is started only in a local run."""
    from locust.runners import MasterRunner

    if not isinstance(environment.runner, MasterRunner) or not option(environment, "headless", False):
        return
    if environment.host or any(getattr(cls, "host", None) for cls in environment.user_classes):
        return
    raise ConfigError("a distributed run (--processes, --master) needs --host URL: the demo target is started "
                      "only in a local run")


INIT_CHECKS: tuple[Callable[[Any], None], ...] = (check_output_directory, check_redis_url, check_distributed_host)
"""Checks run in ``init`` before anything is started; each raises ConfigError (exit 2, one line)."""


# -- wiring ---------------------------------------------------------------------------------------


class _GuardedInitHook(EventHook):
    """Locust's ``init`` hook, except that a ConfigError in a listener ends the process (exit 2,
    one line) before later listeners run, and any other error stops what earlier ones started."""

    def fire(self, *, reverse: bool = False, **kwargs: Any) -> None:
        environment = kwargs.get("environment")
        original = self._handlers
        self._handlers = [_guarded(handler, environment) for handler in original]
        try:
            super().fire(reverse=reverse, **kwargs)
        finally:
            self._handlers = original
        from locust import log as locust_log

        if environment is not None and locust_log.unhandled_greenlet_exception:
            # Locust exits 1 next without `quitting`: stop what the init listeners started first
            _stop_started(environment)


def _guarded(handler: Callable[..., Any], environment: RunEnvironment | None) -> Callable[..., Any]:
    def call(**kwargs: Any) -> Any:
        try:
            return handler(**kwargs)
        except ConfigError as exc:
            if environment is None:
                raise
            quit_bad_configuration(environment, str(exc))

    return call


def _stop_started(environment: RunEnvironment) -> None:
    try:
        environment.events.quitting.fire(environment=environment, reverse=True)
    finally:
        _clean_up(environment)


_REGISTERED = Once()


def use_lifecycle(events: Any) -> None:
    """Opt a locustfile into signal handling, init guarding and the checks before load (idempotent)."""
    register_options(events, add_arguments)
    if not _REGISTERED.first(events):
        return
    if type(events.init) is EventHook:
        events.init.__class__ = _GuardedInitHook
    _guard_locust_csv_writer()
    events.init.add_listener(_on_init)


def _guard_locust_csv_writer() -> None:
    """Locust's per-second CSV writer dies with a traceback on a full disk: say it once instead
    (its ``_stats_history.csv`` ends there; the final ``_stats.csv`` is rewritten at quit)."""
    from locust.stats import StatsCSVFileWriter

    if getattr(StatsCSVFileWriter, "_stresskit_guarded", False):
        return
    writer, closer = StatsCSVFileWriter.stats_writer, StatsCSVFileWriter.close_files

    def stats_writer(self: Any) -> None:
        try:
            writer(self)
        except OSError as exc:
            self._stresskit_failed = True
            note_write_error(self.environment, self.stats_history_file_name(), exc)

    def close_files(self: Any) -> None:
        if not getattr(self, "_stresskit_failed", False):
            try:
                closer(self)
                return
            except OSError as exc:
                note_write_error(self.environment, self.stats_history_file_name(), exc)
        for handle in (self.requests_csv_filehandle, self.stats_history_csv_filehandle,
                       self.failures_csv_filehandle, self.exceptions_csv_filehandle):
            discard(handle)

    writer_class: Any = StatsCSVFileWriter  # patched in place: Locust offers no hook for its CSV writer
    writer_class.stats_writer = stats_writer
    writer_class.close_files = close_files
    writer_class._stresskit_guarded = True


def _is_worker(environment: RunEnvironment) -> bool:
    from locust.runners import WorkerRunner

    return isinstance(environment.runner, WorkerRunner)


def _on_init(environment: RunEnvironment, **_: Any) -> None:
    for check in INIT_CHECKS:
        check(environment)
    environment.events.quitting.add_listener(lambda **__: _interrupted_code(environment))
    state = lifecycle_of(environment)
    state.kept_processes = {proc.pid for proc in process.running_processes()}
    state.kept_browsers = browser_guard.held()
    environment.events.quit.add_listener(lambda **__: _clean_up(environment))
    atexit.register(_clean_up, environment)
    if environment.runner is not None and not _is_worker(environment):
        _install_signal_handlers(environment)
    elif _is_worker(environment) and option(environment, "processes", None) \
            and not process.die_with_parent(signal.SIGKILL):
        # a worker forked by `--processes` goes at once when its parent goes, even when the parent
        # was SIGKILLed or exited in init: it has no master to report to; the browser guard then
        # kills its browsers
        log.error("the process that forked this worker is gone; exiting")
        os._exit(int(ExitCode.ERROR))


def _interrupted_code(environment: RunEnvironment) -> None:
    """Registered before every other part's ``quitting`` listener, so (fired in reverse) it runs
    last: an interrupted run exits with INTERRUPTED whatever the criteria decided."""
    if lifecycle_of(environment).interrupted:
        current = getattr(environment, "process_exit_code", None)
        environment.process_exit_code = int(worst(current if current is not None else 0, ExitCode.INTERRUPTED))


def _clean_up(environment: RunEnvironment) -> None:
    """After the runner quit (users stopped, sessions quit): kill any browser group still held and
    stop any child process still registered — those this run started, not what ran before it."""
    state = lifecycle_of(environment)
    killed = browser_guard.kill_all(keep=state.kept_browsers)
    if killed:
        log.warning("killed %d browser(s) whose session was not quit", killed)
    process.stop_all(keep=state.kept_processes)


def _install_signal_handlers(environment: RunEnvironment) -> None:
    signals = [signal.SIGTERM]
    if option(environment, "headless", False):
        signals.append(signal.SIGINT)  # with the web UI, Locust's own Ctrl-C path stays
    for signum in signals:
        gevent.signal_handler(signum, _on_signal, environment, signum)


_IDLE_STATES = ("ready", "stopped")
"""Locust runner states in which no test runs (the web UI waits for the next one)."""


def _on_signal(environment: RunEnvironment, signum: int) -> None:
    """First signal: stop the run through Locust's quit path; a second one (or the grace
    period running out) forces the exit."""
    state = lifecycle_of(environment)
    name = signal.Signals(signum).name
    state.signals += 1
    if state.signals > 1:
        _force_exit(environment, f"second signal ({name})")
        return
    runner = environment.runner
    if not option(environment, "headless", False) and runner is not None \
            and getattr(runner, "state", None) in _IDLE_STATES:
        # web UI between tests: nothing is running, so nothing is interrupted; Locust's own SIGTERM
        # handler quits, and the last test's verdict stays the process's exit code
        log.info("%s received while no test runs: quitting with the last test's verdict", name)
        return
    state.interrupted = name
    reason = f"interrupted by {name}"
    run_state_of(environment).stop_reason = reason
    grace = float(option(environment, "shutdown_grace", DEFAULT_GRACE))
    log.warning("%s received: stopping the run and writing its files (at most %gs; send it again to force the "
                "exit)", name, grace)
    gevent.spawn_later(grace, _force_exit, environment, f"shutdown took longer than --shutdown-grace {grace:g}s")
    if option(environment, "headless", False) and environment.runner is not None:
        runner = environment.runner
        gevent.spawn(runner.quit)
        # a signal before the test started (during init, or while a master waits for its workers):
        # Locust starts the shape afterwards anyway, so quit again as soon as it does
        def quit_on_start(**_: Any) -> None:
            run_state_of(environment).stop_reason = reason  # the run state is reset at test start
            gevent.spawn(runner.quit)

        environment.events.test_start.add_listener(quit_on_start)


def _force_exit(environment: RunEnvironment, why: str) -> None:
    log.error("forcing the exit: %s; stopping what this run started", why)
    try:
        state = lifecycle_of(environment)
        browser_guard.kill_all(keep=state.kept_browsers)
        process.stop_all(timeout=2.0, keep=state.kept_processes)
    finally:
        logging.shutdown()
        os._exit(int(ExitCode.INTERRUPTED))
