"""Checks and records for master/worker runs across machines, opted into per locustfile.

What Locust 2.47 does on its own, and what this module adds:

* **A worker with a different locustfile** is accepted silently; the master hands it users of
  classes it may not have, or that behave differently. Here every worker announces a SHA-256 of
  its locustfile(s) in a ``stresskit_hello`` message; the master compares it with its own and
  rejects a differing worker with one clear line on both sides (the worker exits with code 2,
  the master's run ends with exit code 2). The master's digest also rides along in every spawn
  order (as ``parsed_options.stresskit_locustfile_sha256``), and a worker checks it *before*
  any user starts, so a differing worker never runs a user, even if the spawn order beats the
  verdict. A worker that never says hello (its locustfile lacks these checks, so it differs)
  is dropped after ``hello_timeout`` seconds (default 30).
* **A master a worker cannot reach**: Locust logs nothing for 30 s, then one "Failed to connect"
  line every 5 s, and gives up after 5 minutes with an empty error. Here the worker probes the
  master's port after ``--master-wait`` seconds (default 60, env ``STRESSKIT_MASTER_WAIT``),
  logs *why* (name does not resolve, connection refused, no answer, no route, port open but no
  Locust master) and what to do, and exits with code 2.
* **Workers leaving and joining mid-run** appear only as INFO log lines. Here the master keeps
  a membership record (joined, missing, returned, quit, removed, rejected), logs a WARNING
  when a worker goes missing, appends each event to ``<--csv prefix>_workers.csv`` as it
  happens, and ends a headless run with exit code 1 when the last worker is lost (Locust stops
  the test but leaves the master idling until ``--run-time``).

Importing this module does nothing; a locustfile opts in with :func:`use_distributed_checks`.
Local (single-process) runs are left alone.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import logging
import os
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.exitcodes import ExitCode
from stresskit.core.options import register_options
from stresskit.core.perrun import Once, PerRun

__all__ = [
    "EXIT_ALL_WORKERS_LOST",
    "EXIT_LOCUSTFILE_MISMATCH",
    "EXIT_MASTER_UNREACHABLE",
    "WORKERS_SUFFIX",
    "WORKER_COLUMNS",
    "add_arguments",
    "explain_unreachable",
    "locustfile_digest",
    "use_distributed_checks",
    "worker_events",
]

log = logging.getLogger("stresskit.cluster.distributed")
_WIRED = Once()

EXIT_LOCUSTFILE_MISMATCH = int(ExitCode.BAD_CONFIG)
"""A worker whose locustfile differs exits with this; so does the master's run that saw one."""
EXIT_MASTER_UNREACHABLE = int(ExitCode.BAD_CONFIG)
"""A worker that cannot reach its master after ``--master-wait`` exits with this."""
EXIT_ALL_WORKERS_LOST = int(ExitCode.ERROR)
"""A headless master whose last worker went missing ends the run with this (no verdict possible)."""

HELLO = "stresskit_hello"
REJECT = "stresskit_reject"
DIGEST_OPTION = "stresskit_locustfile_sha256"

WORKERS_SUFFIX = "_workers.csv"
WORKER_COLUMNS = ("timestamp", "elapsed", "worker", "event", "workers_active", "detail")
"""Columns of ``<prefix>_workers.csv``: one row per membership event, appended as it happens.
``event`` is joined | missing | returned | quit | removed | rejected; ``workers_active`` counts
workers ready, spawning or running after the event; ``elapsed`` is seconds since the master
started."""

DEFAULT_MASTER_WAIT = 60.0
POLL_INTERVAL = 0.5
_STATE_SLOT: PerRun[Any] = PerRun("distributed")


# -- options -----------------------------------------------------------------------------------

def add_arguments(parser: Any) -> None:
    """Add ``--master-wait`` to Locust's parser (a worker-side option)."""
    parser.add_argument(
        "--master-wait", type=float, default=DEFAULT_MASTER_WAIT, env_var="STRESSKIT_MASTER_WAIT",
        metavar="SECONDS", include_in_web_ui=False,
        help="a worker that has not reached the master after this many seconds says why and exits with "
             "code 2 (default %(default)s; 0 keeps Locust's own 5-minute retry)",
    )


# -- locustfile identity -----------------------------------------------------------------------

def _expand(paths: Iterable[str]) -> list[str]:
    files: list[str] = []
    for entry in paths:
        entry = str(entry).strip()
        if os.path.isdir(entry):
            files.extend(sorted(str(p) for p in Path(entry).rglob("*.py")))
        else:
            files.append(entry)
    return files


def locustfile_digest(paths: Sequence[str]) -> tuple[str, list[str]]:
    """SHA-256 over the base names and contents of the locustfiles, and the base names.

    Paths differ between machines (``/opt/stresskit/locustfiles/x.py`` on one, a checkout on
    another), so only base names and bytes count. URLs count as their text.
    """
    digest = hashlib.sha256()
    names: list[str] = []
    for path in _expand(paths):
        if "://" in path:
            name, data = path, path.encode()
        else:
            name = os.path.basename(path)
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                data = f"<unreadable: {exc.strerror}>".encode()
        names.append(name)
        digest.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest(), names


def _describe(digest: str | None, names: Sequence[str]) -> str:
    files = ", ".join(names) if names else "?"
    return f"{files} (sha256 {digest[:12]})" if digest else f"{files} (no digest)"


# -- master reachability -----------------------------------------------------------------------

def explain_unreachable(host: str, port: int, timeout: float = 3.0) -> str:
    """Probe ``host:port`` over TCP and say in words why a worker gets no answer from a master there."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return (f"the name {host!r} does not resolve ({exc.strerror}); check --master-host "
                f"(LOCUST_MASTER_NODE_HOST)")
    family, stype, proto, _, address = infos[0]
    sock = socket.socket(family, stype, proto)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except ConnectionRefusedError:
        return (f"connection refused: nothing listens on {host}:{port}; is the master running with --master, "
                f"and does --master-port match its --master-bind-port (default 5557)?")
    except TimeoutError:
        return (f"no answer from {host}:{port} within {timeout:g}s: the host is down or a firewall drops the "
                f"traffic; open TCP {port} from the workers to the master")
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return (f"no route to {host}:{port} ({exc.strerror}): the host is down or not on this network; "
                    f"check --master-host and the network between the machines")
        return f"cannot connect to {host}:{port}: {exc.strerror or exc}"
    finally:
        sock.close()
    return (f"{host}:{port} accepts TCP connections but no Locust master answers: wrong port (the master "
            f"listens on --master-bind-port, default 5557; 8089 is the web UI) or a master of another Locust version")


def _is_locust_cli() -> bool:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return os.path.basename(sys.argv[0] or "").startswith("locust") or (
        spec is not None and spec.name in ("locust", "locust.__main__"))


def _watch_master(parser: Any, main_greenlet: Any, state: _ProcessState) -> None:
    """In a worker, if the runner has not connected after ``--master-wait`` seconds, explain and exit."""
    try:
        options, _ = parser.parse_known_args()
    except BaseException:  # noqa: BLE001 - main() parsed the same arguments already; never crash here
        return
    if not getattr(options, "worker", False):
        return
    wait = float(getattr(options, "master_wait", DEFAULT_MASTER_WAIT) or 0)
    if wait <= 0 or state.connected.wait(timeout=wait):
        return
    host, port = options.master_host, int(options.master_port)
    reason = explain_unreachable(host, port)
    if state.connected.is_set():
        return
    log.error("this worker cannot reach the Locust master at %s:%s after %gs: %s", host, port, wait, reason)
    main_greenlet.throw(SystemExit(EXIT_MASTER_UNREACHABLE))


# -- per-process and master-side state ---------------------------------------------------------

@dataclass
class _ProcessState:
    connected: Any
    watch_started: bool = False


_process_state: _ProcessState | None = None


def _state_for_process() -> _ProcessState:
    global _process_state
    if _process_state is None:
        from gevent.event import Event

        _process_state = _ProcessState(connected=Event())
    return _process_state


@dataclass
class _Membership:
    """The master's record of its workers."""

    digest: str
    names: list[str]
    started: float = field(default_factory=time.time)
    events: list[dict[str, Any]] = field(default_factory=list)
    hello: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)
    seen: dict[str, str] = field(default_factory=dict)
    csv_path: Path | None = None


def worker_events(environment: RunEnvironment) -> list[dict[str, Any]]:
    """The master's membership events so far (a copy; empty outside a master with checks)."""
    membership = _STATE_SLOT.get(environment)
    return [dict(e) for e in membership.events] if isinstance(membership, _Membership) else []


def _active(runner: Any) -> int:
    return len(runner.clients.ready) + len(runner.clients.spawning) + len(runner.clients.running)


def _record(environment: RunEnvironment, membership: _Membership, worker: str, event: str, detail: str = "") -> None:
    now = time.time()
    row = {"timestamp": round(now, 3), "elapsed": round(now - membership.started, 3), "worker": worker,
           "event": event, "workers_active": _active(environment.runner), "detail": detail}
    membership.events.append(row)
    if membership.csv_path is not None:
        try:
            with membership.csv_path.open("a", newline="") as fh:
                csv.DictWriter(fh, WORKER_COLUMNS).writerow(row)
        except OSError as exc:
            log.warning("cannot append to %s: %s", membership.csv_path, exc)


# -- the opt-in --------------------------------------------------------------------------------

def use_distributed_checks(events: Any, hello_timeout: float = 30.0) -> None:
    """Opt a locustfile into the distributed checks and records described in the module docstring.

    Call it at module level in the locustfile (``use_distributed_checks(events)``), on every
    machine. ``hello_timeout`` is how long the master waits for a new worker's locustfile digest
    before treating it as a worker without these checks (and so with a different locustfile); a
    worker with the checks sends it as soon as it is connected, or with its first spawn order,
    so the timeout only has to cover a CPU-starved worker's start-up.
    """
    register_options(events, add_arguments, _start_master_watch)
    if not _WIRED.first(events):
        return
    events.init.add_listener(lambda environment, runner=None, **_: _on_init(environment, runner, hello_timeout))
    events.test_start.add_listener(_on_test_start)


def _start_master_watch(parser: Any) -> None:
    """An options adder in name only: the parser hook is the last moment before a worker's runner
    blocks while connecting, so the reachability watch starts here (once, in a Locust CLI process)."""
    state = _state_for_process()
    if state.watch_started or not _is_locust_cli():
        return
    state.watch_started = True
    import gevent

    gevent.spawn(_watch_master, parser, gevent.getcurrent(), state)


def _on_init(environment: RunEnvironment, runner: Any, hello_timeout: float) -> None:
    from locust.runners import MasterRunner, WorkerRunner

    runner = runner or environment.runner
    if isinstance(runner, WorkerRunner):
        _state_for_process().connected.set()
        _init_worker(environment, runner)
    elif isinstance(runner, MasterRunner):
        _init_master(environment, runner, hello_timeout)


# -- worker side -------------------------------------------------------------------------------

class _WorkerChecks:
    """The worker's side: its digest, the hello it owes the master, and refusing to run users.

    Created on first need — at ``init``, or at the first spawn order when that beats ``init``
    on a CPU-starved machine — so the check before the first user never depends on ordering.
    """

    def __init__(self, environment: RunEnvironment) -> None:
        self.environment = environment
        self.digest, self.names = locustfile_digest(environment.parsed_locustfiles or [])
        self.hello_sent = False
        self.rejected = False

    def hello(self) -> None:
        if self.hello_sent:
            return
        self.hello_sent = True
        from stresskit import __version__

        self.environment.runner.send_message(HELLO, {"digest": self.digest, "files": self.names,
                                                     "stresskit": __version__})

    def reject_self(self, reason: str) -> None:
        if self.rejected:
            return
        self.rejected = True
        log.error("this worker's locustfile differs from the master's: %s", reason)
        self.environment.process_exit_code = EXIT_LOCUSTFILE_MISMATCH
        import gevent

        gevent.spawn(_quit_worker, self.environment.runner)

    def check_spawn_order(self) -> None:
        """Compare the master's digest (sent with the spawn order) with ours, before any user starts."""
        theirs = getattr(self.environment.parsed_options, DIGEST_OPTION, None)
        advice = "Run the same locustfile everywhere, or start workers with '-f -' to fetch the master's"
        if theirs is None:
            self.reject_self(f"the master announces no locustfile digest (its locustfile does not call "
                             f"stresskit.cluster.distributed.use_distributed_checks); this worker runs "
                             f"{_describe(self.digest, self.names)}. {advice}")
        elif theirs != self.digest:
            self.reject_self(f"this worker runs {_describe(self.digest, self.names)}, the master sha256 "
                             f"{theirs[:12]}. {advice}")
        else:
            self.hello()


def _worker_checks(environment: RunEnvironment) -> _WorkerChecks:
    checks = _STATE_SLOT.get(environment)
    if not isinstance(checks, _WorkerChecks):
        checks = _WorkerChecks(environment)
        _STATE_SLOT.set(environment, checks)
    return checks


def _on_test_start(environment: RunEnvironment, **_: Any) -> None:
    """On a worker this runs in the spawn handler before the spawning greenlet starts: no user has run."""
    from locust.runners import WorkerRunner

    if isinstance(environment.runner, WorkerRunner):
        _state_for_process().connected.set()  # a spawn order came: connected, even if init is late
        _worker_checks(environment).check_spawn_order()


def _init_worker(environment: RunEnvironment, runner: Any) -> None:
    checks = _worker_checks(environment)

    def on_reject(environment: RunEnvironment, msg: Any, **_: Any) -> None:
        checks.reject_self(msg.data.get("reason", "rejected by the master"))

    runner.register_message(REJECT, on_reject)
    checks.hello()


def _quit_worker(runner: Any) -> None:
    spawning = getattr(runner, "spawning_greenlet", None)
    if spawning is not None:
        spawning.kill(block=False)
    runner.quit()


# -- master side -------------------------------------------------------------------------------

def _init_master(environment: RunEnvironment, runner: Any, hello_timeout: float) -> None:
    import gevent

    digest, names = locustfile_digest(environment.parsed_locustfiles or [])
    membership = _Membership(digest=digest, names=names)
    _STATE_SLOT.set(environment, membership)
    options = environment.parsed_options
    if options is not None:
        setattr(options, DIGEST_OPTION, digest)
        prefix = getattr(options, "csv_prefix", None)
        if prefix:
            membership.csv_path = Path(prefix + WORKERS_SUFFIX)
            try:
                membership.csv_path.parent.mkdir(parents=True, exist_ok=True)
                with membership.csv_path.open("w", newline="") as fh:
                    csv.DictWriter(fh, WORKER_COLUMNS).writeheader()
            except OSError as exc:
                log.warning("cannot write %s: %s", membership.csv_path, exc)
                membership.csv_path = None

    from stresskit import __version__

    def reject(client_id: str, reason: str, tell_worker: bool) -> None:
        if client_id in membership.rejected:
            return
        membership.rejected.add(client_id)
        log.error("rejected worker %s: %s", client_id, reason)
        environment.process_exit_code = EXIT_LOCUSTFILE_MISMATCH
        if tell_worker:
            # It quits by itself (exit code 2) and says goodbye; Locust then drops it.
            runner.send_message(REJECT, {"reason": reason}, client_id=client_id)
        else:
            _drop_worker(runner, client_id)
        _record(environment, membership, client_id, "rejected", reason)

    def on_hello(environment: RunEnvironment, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        membership.hello[msg.node_id] = data
        if data.get("digest") != digest:
            reject(msg.node_id, f"it runs {_describe(data.get('digest'), data.get('files', []))}, the master runs "
                                f"{_describe(digest, names)}. Run the same locustfile everywhere, or start workers "
                                f"with '-f -' to fetch the master's", tell_worker=True)
        elif data.get("stresskit") != __version__:
            log.warning("worker %s runs stresskit %s, the master %s", msg.node_id, data.get("stresskit"), __version__)

    def await_hello(client_id: str) -> None:
        if client_id in membership.hello or client_id in membership.rejected:
            return
        if client_id in runner.clients and runner.clients[client_id].state != "missing":
            reject(client_id, f"it sent no locustfile digest within {hello_timeout:g}s: its locustfile does not call "
                              f"stresskit.cluster.distributed.use_distributed_checks, so it differs from the master's "
                              f"{_describe(digest, names)}", tell_worker=False)

    def on_worker_connect(client_id: str, **_: Any) -> None:
        gevent.spawn_later(hello_timeout, await_hello, client_id)

    runner.register_message(HELLO, on_hello)
    environment.events.worker_connect.add_listener(on_worker_connect)
    gevent.spawn(_track_membership, environment, runner, membership)

    def on_quitting(environment: RunEnvironment, **_: Any) -> None:
        _track_once(environment, runner, membership)
        joined = sum(1 for e in membership.events if e["event"] == "joined")
        lost = [e for e in membership.events if e["event"] == "missing"]
        if joined:
            lost_text = ", ".join(f"{e['worker']} at {e['elapsed']:.0f}s" for e in lost) or "none"
            log.info("workers: %d joined, %d went missing (%s), %d rejected", joined, len(lost), lost_text,
                     len(membership.rejected))

    environment.events.quitting.add_listener(on_quitting)


def _drop_worker(runner: Any, client_id: str) -> None:
    """Forget a worker that has no stresskit code to quit by itself, as Locust forgets one that quits,
    then send it Locust's own ``quit`` so it stops its users.

    Dropping it first moves its users to the other workers at once, and its last messages are
    discarded as from an unknown worker. (Locust 2.47's worker stops its users on ``quit`` but may
    stay up, idle, when the master is still running; stop that process yourself.)
    """
    from locust.rpc import Message

    node = runner.clients.get(client_id) if hasattr(runner.clients, "get") else None
    if node is not None:
        del runner.clients[client_id]
        dispatcher = getattr(runner, "_users_dispatcher", None)
        if dispatcher is not None:
            dispatcher.remove_worker(node)
            if not dispatcher.dispatch_in_progress and runner.state == "running" and _active(runner):
                runner.start(runner.target_user_count, runner.spawn_rate)
    runner.server.send_to_client(Message("quit", None, client_id))


def _track_membership(environment: RunEnvironment, runner: Any, membership: _Membership) -> None:
    import gevent

    while True:
        _track_once(environment, runner, membership)
        gevent.sleep(POLL_INTERVAL)


def _track_once(environment: RunEnvironment, runner: Any, membership: _Membership) -> None:
    now = {client_id: runner.clients[client_id].state for client_id in list(runner.clients)}
    lost_one = False
    for client_id, state in now.items():
        before = membership.seen.get(client_id)
        if before is None:
            _record(environment, membership, client_id, "joined")
        elif state == "missing" and before != "missing":
            lost_one = True
            _record(environment, membership, client_id, "missing", "no heartbeat for 3s")
            from stresskit.core.runstate import note_lost_worker

            note_lost_worker(environment, client_id)  # _run.json's lost_workers (pages: the quota adds them)
            log.warning("worker %s went missing (no heartbeat): the run continues on %d worker(s)%s", client_id,
                        _active(runner), "; its users move to the others" if runner.rebalancing_enabled()
                        else "; its users are not replaced until the next spawn (use --enable-rebalancing)")
        elif before == "missing" and state != "missing":
            _record(environment, membership, client_id, "returned")
    for client_id, before in membership.seen.items():
        if client_id not in now:
            gone = before == "missing" or client_id in membership.rejected
            _record(environment, membership, client_id, "removed" if gone else "quit")
    membership.seen = now
    options = environment.parsed_options
    if lost_one and _active(runner) == 0 and options is not None and getattr(options, "headless", False):
        log.error("all workers are lost; ending the run (exit code %d)", EXIT_ALL_WORKERS_LOST)
        environment.process_exit_code = EXIT_ALL_WORKERS_LOST
        import gevent

        gevent.spawn(runner.quit)

