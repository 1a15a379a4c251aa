"""The :class:`FaultInjector`: draws faults per user action and measures each user's recovery.

It is an opt-in listener object (``FaultInjector(environment)``, undone by :meth:`remove`)
that lives where the users run (a worker, or a local runner):

* **Opportunities.** Every successful, timed request a user makes from its own greenlet is one
  *action*. For each action the user's seeded :class:`~stresskit.faults.schedule.UserSchedule`
  says "no fault" or names a kind; the effect is then produced for real, synchronously, in the
  user's greenlet — before the user goes on, so e.g. a browser is dead before its next command.
* **Recovery.** The fault is pending until that user's next success that *started* after the
  injection (a ``… (throttled)`` answer does not count). The time from injection to that
  success is fired as a Locust request ``RECOVERY`` / ``<kind>``, so it gets percentiles and
  is aggregated across workers like any request.
* **Critical.** A fault still pending after ``--fault-recovery-limit`` seconds is a failed
  ``RECOVERY`` entry and a ``critical`` event (``run_state.record_critical`` on the master) —
  unless the user made no attempt at all since the fault (a page user with no page left, say):
  a user with nothing to do owes nothing.
* **Run-wide faults** (backend crash, Redis cut, every WebSocket dropped, partition) are begun
  elsewhere (:mod:`stresskit.faults.recovery`); :meth:`begin_run_fault` then makes every
  running user of the affected kinds owe a recovery from that moment. A scenario *condition*
  (memory pressure, CPU burn, a blackhole window) is announced when it is lifted instead: only
  the users that failed while it was on owe a recovery, timed from the lift.
* **Harness errors.** A fault the harness's own machinery cannot produce (the fault proxy's
  API, an agent refusing: :class:`~stresskit.errors.HarnessError`) stops the run with exit
  code 1 (:func:`stresskit.faults.log.harness_error`); a fault this backend cannot
  produce (:class:`~stresskit.errors.FaultUnavailable`, e.g. a burst that finds no limiter) is
  reported once and not drawn again in this process.

Timed effects (a timeout toxic, a latency knob, held memory) are single-flight: while one is
on, a draw of the same kind is counted as ``skipped``. Everything is lifted by
:meth:`remove`, at ``test_stop`` and at ``quitting``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import gevent
from locust import User
from locust.contrib.fasthttp import FastHttpUser
from locust.runners import WorkerRunner

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.idle import idle_seconds
from stresskit.core.kinds import KIND_NAMES
from stresskit.core.perrun import Listeners
from stresskit.core.requestfeed import request_feed
from stresskit.errors import ConfigError, FaultError, FaultUnavailable, HarnessError
from stresskit.faults.admin import TargetAdmin
from stresskit.faults.config import FaultConfig, load_config
from stresskit.faults.effects import Injected
from stresskit.faults.kinds import KINDS, RECOVERY_REQUEST_TYPE, kinds_for_user
from stresskit.faults.log import RUN_FAULT_MESSAGE, report, worker_id
from stresskit.faults.schedule import UserSchedule, slot_name
from stresskit.faults.toxiproxy import ToxiproxyClient

__all__ = ["FaultInjector", "current_user", "user_kind"]

log = logging.getLogger("stresskit.faults")

THROTTLED_SUFFIX = "(throttled)"


def user_kind(user: Any) -> str | None:
    """``websocket``/``api``/``cache``/``browser`` from ``User.kind``; plain Locust HTTP users are ``api``."""
    kind = getattr(user, "kind", None)
    if kind in KIND_NAMES:
        return kind
    from locust import HttpUser

    if isinstance(user, (HttpUser, FastHttpUser)):
        return "api"
    return None


def current_user() -> User | None:
    """The Locust user whose own greenlet is running now (Locust spawns it with the user as args[0])."""
    args = getattr(gevent.getcurrent(), "args", None)
    if args and isinstance(args[0], User):
        return args[0]
    return None


@dataclass
class Pending:
    """A fault the user has not recovered from yet."""

    kind: str
    since: float
    detail: str = ""
    timer: gevent.Greenlet | None = None
    on_recovered: Callable[[], None] | None = None
    gate: Callable[[], float | None] | None = None
    idle_mark: float = 0.0
    """The user's idle seconds (:mod:`stresskit.core.idle`) already credited to this debt."""
    idle_credited: float = 0.0
    """Idle seconds added to the limit so far: time with nothing to do is not time to recover in."""


@dataclass
class UserState:
    slot: str
    kind: str
    schedule: UserSchedule
    pending: list[Pending] = field(default_factory=list)
    last_attempt: float = 0.0
    """Wall-clock time of the user's last own action, success or failure (0: none yet)."""
    last_failure: float = 0.0
    """Wall-clock time of the user's last failed action (0: none yet)."""


class FaultInjector:
    """Failure injection with real effects for the users of one Locust process (see module doc)."""

    def __init__(self, environment: RunEnvironment, config: FaultConfig | None = None) -> None:
        self.environment = environment
        self.config = config
        self.stats: Counter[str] = Counter()
        self._users: WeakKeyDictionary[User, UserState] = WeakKeyDictionary()
        self._ordinals: Counter[str] = Counter()
        self._busy: dict[str, float] = {}
        self._releases: dict[int, tuple[gevent.Greenlet | None, Callable[[], None]]] = {}
        self._removed = False
        self._proxy_name: str | None = None
        self.unavailable: dict[str, str] = {}
        """Kinds this backend cannot produce (kind → why), reported once and not drawn again."""
        self.config_from_master = False
        events = environment.events
        self._listeners = Listeners((request_feed(environment), self._on_request),
                                    (events.test_start, self._on_test_start),
                                    (events.test_stop, self._on_test_stop), (events.quitting, self._on_quitting))
        runner = environment.runner
        if runner is not None and RUN_FAULT_MESSAGE not in runner.custom_messages:
            runner.register_message(RUN_FAULT_MESSAGE, self._on_run_fault_message)

    # -- life cycle --------------------------------------------------------------------------

    def remove(self) -> None:
        """Unsubscribe, forget pending recoveries and lift every timed effect now."""
        if self._removed:
            return
        self._removed = True
        self._listeners.remove()
        runner = self.environment.runner
        if runner is not None and runner.custom_messages.get(RUN_FAULT_MESSAGE, (None,))[0] == \
                self._on_run_fault_message:
            del runner.custom_messages[RUN_FAULT_MESSAGE]
        self._forget_pending()
        self._release_all()

    def _on_test_start(self, **_: Any) -> None:
        if self.config is None or (isinstance(self.environment.runner, WorkerRunner)
                                   and not self.config_from_master):
            # a worker gets the resolved config from the master (setup.CONFIG_MESSAGE) before the
            # spawn message; failing that, it builds it from the options that came with the spawn
            try:
                self.config = load_config(self.environment)
            except ConfigError as exc:
                log.error("fault injection off on this worker: %s", exc)
                self.config = FaultConfig()
        # a new test numbers its users' slots afresh, so the same seed gives the same schedule again
        self._forget_pending()
        self._users = WeakKeyDictionary()
        self._ordinals.clear()
        self.stats.clear()
        self.unavailable.clear()

    def _on_test_stop(self, **_: Any) -> None:
        self._forget_pending()
        self._release_all()

    def _on_quitting(self, **_: Any) -> None:
        self._release_all()

    # -- the request listener --------------------------------------------------------------------

    def _on_request(self, request_type: str, name: str, response_time: float | None,
                    exception: BaseException | None, now: float) -> None:
        if request_type == RECOVERY_REQUEST_TYPE or self._removed:
            return
        user = current_user()
        if user is None:
            return
        try:
            self._handle(user, name, response_time, exception)
        except Exception:
            log.exception("fault injector error (ignored)")

    def _handle(self, user: User, name: str, response_time: float | None, exception: BaseException | None) -> None:
        config = self.config
        if config is None:
            return
        state = self._state(user)
        if state is None:
            return
        now = time.time()
        if _own_action(user, state, name):
            state.last_attempt = now
            if exception is not None:
                state.last_failure = now
        if exception is not None or str(name).endswith(THROTTLED_SUFFIX) or not _main_success(user, state, name):
            return
        if state.pending:
            started = now - (response_time or 0.0) / 1000.0
            still = []
            for pending in state.pending:
                if pending.gate is not None:
                    struck = pending.gate()
                    if struck is not None and now >= struck:
                        pending.since = struck  # an armed fault is timed from its strike
                        self._recovered(user, state, pending, now)
                    else:
                        still.append(pending)
                elif started + 0.001 >= pending.since:
                    self._recovered(user, state, pending, now)
                else:
                    still.append(pending)
            state.pending = still
            return
        if response_time is None or not config.enabled:
            return
        self.stats["actions"] += 1
        decision = state.schedule.next()
        if decision.kind is None:
            return
        if decision.kind in self.unavailable:
            self.stats[f"skipped:{decision.kind}"] += 1
            self.stats["skipped"] += 1
            return
        self.inject(user, decision.kind, action=decision.action)

    def _state(self, user: User) -> UserState | None:
        state = self._users.get(user)
        if state is not None:
            return state
        kind = user_kind(user)
        if kind is None:
            return None
        cls = type(user).__name__
        ordinal = self._ordinals[cls]
        self._ordinals[cls] += 1
        runner = self.environment.runner
        slot = slot_name(getattr(runner, "worker_index", 0) or 0, cls, ordinal)
        config = self.config or FaultConfig()
        schedule = UserSchedule(config.seed, slot, config.rate, kinds_for_user(kind, config.kinds))
        state = UserState(slot=slot, kind=kind, schedule=schedule)
        self._users[user] = state
        return state

    # -- injecting ---------------------------------------------------------------------------------

    def inject(self, user: User, kind: str, action: int = 0) -> bool:
        """Produce ``kind``'s real effect on ``user`` now; True when it was injected.

        Called by the schedule, and by tests or custom code that want a fault at a chosen moment.
        """
        state = self._state(user)
        if state is None:
            raise FaultError(f"{type(user).__name__} is not a user kind faults apply to")
        if _single_flight(kind) and self._busy.get(kind, 0.0) > time.monotonic():
            self.stats[f"skipped:{kind}"] += 1
            self.stats["skipped"] += 1
            return False
        if kind in self.unavailable:
            self.stats[f"skipped:{kind}"] += 1
            return False
        try:
            injected = self._effect(user, kind)
        except HarnessError as exc:
            self.stats["failed"] += 1
            self.stats[f"failed:{kind}"] += 1
            from stresskit.faults.log import harness_error

            harness_error(self.environment, f"could not inject {kind}: {exc}")
            return False
        except FaultUnavailable as exc:
            self.stats["failed"] += 1
            self.stats[f"failed:{kind}"] += 1
            if self.stats[f"injected:{kind}"]:
                # produced before in this run: the backend can, this attempt fell short (a slow burst on a
                # busy generator) — a missed injection, not a verdict on the backend; drawn again later
                if self.stats[f"failed:{kind}"] <= 3:
                    log.warning("could not inject %s into %s this time (it was produced before): %s",
                                kind, state.slot, exc)
                return False
            self.unavailable[kind] = str(exc)
            log.warning("fault %s cannot be produced against this backend, not drawn again in this run: %s", kind, exc)
            report(self.environment, "unavailable", kind, user=state.slot,
                   detail=f"cannot be produced against this backend; not drawn again: {exc}")
            return False
        except FaultError as exc:
            self.stats["failed"] += 1
            self.stats[f"failed:{kind}"] += 1
            if self.stats[f"failed:{kind}"] <= 3:
                log.warning("could not inject %s into %s: %s", kind, state.slot, exc)
            return False
        except ConfigError as exc:
            self.stats["failed"] += 1
            log.error("fault %s misconfigured: %s", kind, exc)
            return False
        since = time.time()  # the fault is in place from now (a burst took a moment to trip the limiter)
        self.stats["injected"] += 1
        self.stats[f"injected:{kind}"] += 1
        detail = injected.detail + (f" (action {action})" if action else "")
        if injected.release is not None:
            self._schedule_release(kind, injected)
        self._owe(user, state, kind, since, detail, injected.on_recovered, injected.gate)
        report(self.environment, "injected", kind, user=state.slot, detail=detail, timestamp=since)
        return True

    def _effect(self, user: User, kind: str) -> Injected:
        fault = KINDS.get(kind)
        if fault is None or fault.effect is None:
            raise FaultError(f"{kind} is not a per-user fault")
        return fault.effect(_UserContext(self, user, kind))

    def _base_url(self, user: User) -> str:
        # the target's own address when --host is a proxy: the limiter counts the client id, and a burst must
        # neither crawl through the proxy's latency nor be counted against the proxy
        base = (self.config.admin_url if self.config else "") or getattr(user, "host", None) or self.environment.host
        if not base:
            raise FaultError("no target host to burst against")
        return base

    def _admin(self, user: User | None = None) -> TargetAdmin:
        base = (self.config.admin_url if self.config else "") or \
            (getattr(user, "host", None) if user is not None else None) or self.environment.host
        token = (self.config.admin_token if self.config else None) or _option(self.environment, "target_admin_token")
        if not base:
            raise FaultError("no target host for the admin API")
        return TargetAdmin(base, token)

    def _proxy(self) -> tuple[ToxiproxyClient, str]:
        config = self.config or FaultConfig()
        client = ToxiproxyClient(config.proxy_api)
        if self._proxy_name is None:
            self._proxy_name = config.proxy_name or client.only_proxy()
        return client, self._proxy_name

    def _schedule_release(self, kind: str, injected: Injected) -> None:
        release = injected.release
        assert release is not None  # only timed effects are scheduled
        after = injected.release_after or 0.0
        if _single_flight(kind):
            self._busy[kind] = time.monotonic() + after
        key = id(injected)

        def lift() -> None:
            self._releases.pop(key, None)
            try:
                release()
            except Exception as exc:  # noqa: BLE001
                log.warning("could not lift %s: %s", kind, exc)

        greenlet = gevent.spawn_later(after, lift) if after > 0 else None
        self._releases[key] = (greenlet, release)
        if greenlet is None:
            lift()

    def _release_all(self) -> None:
        for greenlet, release in list(self._releases.values()):
            if greenlet is not None:
                greenlet.kill(block=False)
            try:
                release()
            except Exception as exc:  # noqa: BLE001
                log.warning("could not lift a timed fault: %s", exc)
        self._releases.clear()
        self._busy.clear()

    # -- recovery ----------------------------------------------------------------------------------

    def _owe(self, user: User, state: UserState, kind: str, since: float, detail: str,
             on_recovered: Callable[[], None] | None = None, gate: Callable[[], float | None] | None = None) -> None:
        pending = Pending(kind=kind, since=since, detail=detail, on_recovered=on_recovered, gate=gate,
                          idle_mark=idle_seconds(user))
        limit = (self.config or FaultConfig()).recovery_limit
        pending.timer = gevent.spawn_later(limit, self._give_up, user, state, pending, limit)
        state.pending.append(pending)

    def _recovered(self, user: User, state: UserState, pending: Pending, now: float) -> None:
        if pending.timer is not None:
            pending.timer.kill(block=False)
        struck = None
        if pending.on_recovered is not None:
            try:
                struck = pending.on_recovered()
            except Exception as exc:  # noqa: BLE001 - tidying up must not cost the recovery record
                log.debug("tidying up after %s failed: %s", pending.kind, exc)
        seconds = max(0.0, now - pending.since)
        self.stats["recovered"] += 1
        self.environment.events.request.fire(
            request_type=RECOVERY_REQUEST_TYPE, name=pending.kind, response_time=seconds * 1000.0,
            response_length=0, exception=None, context={"user": state.slot},
        )
        detail = f"first success {seconds:.3f}s after the fault"
        if pending.idle_credited:
            detail += f", {pending.idle_credited:.1f}s of it with nothing to do"
        if isinstance(struck, str):
            detail += f"; the fault: {struck}"
        report(self.environment, "recovered", pending.kind, user=state.slot, detail=detail,
               recovery_time=seconds, timestamp=now)

    def _give_up(self, user: User, state: UserState, pending: Pending, limit: float) -> None:
        if pending not in state.pending:
            return
        idle_now = idle_seconds(user)
        if idle_now - pending.idle_mark > 0.05:
            # the user had nothing to do for part of the time (a page not yet due, an arrival not yet
            # come): that part is added to the limit, and the debt is judged again after it
            credit = idle_now - pending.idle_mark
            pending.idle_mark, pending.idle_credited = idle_now, pending.idle_credited + credit
            pending.timer = gevent.spawn_later(credit, self._give_up, user, state, pending, limit)
            return
        state.pending.remove(pending)
        if state.last_attempt < pending.since:
            # no attempt at all since the fault: the user had nothing to do (a page user with no page
            # left, a stopped user), so it owes nothing: no success was possible, no failure was seen
            self.stats["excused"] += 1
            log.debug("%s made no attempt since %s: owes no recovery", state.slot, pending.kind)
            return
        self.stats["critical"] += 1
        idle_note = f" ({pending.idle_credited:.1f}s with nothing to do not counted)" if pending.idle_credited else ""
        error = FaultError(f"{state.slot} not recovered from {pending.kind} within {limit:g}s{idle_note}")
        self.environment.events.request.fire(
            request_type=RECOVERY_REQUEST_TYPE, name=pending.kind, response_time=limit * 1000.0,
            response_length=0, exception=error, context={"user": state.slot},
        )
        report(self.environment, "critical", pending.kind, user=state.slot,
               detail=f"not recovered within {limit:g}s{idle_note} ({pending.detail})")

    def _forget_pending(self) -> None:
        for state in list(self._users.values()):
            for pending in state.pending:
                if pending.timer is not None:
                    pending.timer.kill(block=False)
            state.pending = []

    # -- run-wide faults ---------------------------------------------------------------------------

    def begin_run_fault(self, kind: str, since: float, detail: str = "", affected_since: float | None = None) -> int:
        """Every running user of the kinds ``kind`` hits owes a recovery from ``since``; how many.

        With ``affected_since`` (a condition announced when it was lifted at ``since``) only the users
        that failed at or after ``affected_since`` owe one: a user the condition did not touch owes nothing.
        """
        targets = KINDS[kind].targets if kind in KINDS else KIND_NAMES
        count = 0
        for user in self._running_users():
            state = self._state(user)
            if state is None or state.kind not in targets:
                continue
            if affected_since is not None and state.last_failure < affected_since:
                continue
            self._owe(user, state, kind, since, detail)
            count += 1
        return count

    def _running_users(self) -> Iterable[User]:
        runner = self.environment.runner
        if runner is None:
            return []
        return [g.args[0] for g in list(runner.user_greenlets) if g.args and isinstance(g.args[0], User)]

    def _on_run_fault_message(self, environment: RunEnvironment, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        if self._removed or self.config is None:
            return
        affected = data.get("affected_since")
        count = self.begin_run_fault(data.get("kind", ""), float(data.get("since", time.time())),
                                     data.get("detail", ""), float(affected) if affected is not None else None)
        log.info("run-wide fault %s: %d user(s) on %s owe a recovery", data.get("kind"), count,
                 worker_id(self.environment))

    # -- introspection -----------------------------------------------------------------------------

    def pending_count(self) -> int:
        return sum(len(s.pending) for s in self._users.values())

    def slot_of(self, user: User) -> str | None:
        state = self._users.get(user)
        return state.slot if state is not None else None


def _single_flight(kind: str) -> bool:
    fault = KINDS.get(kind)
    return fault is not None and fault.single_flight


class _UserContext:
    """What a per-user effect gets (:class:`stresskit.faults.effects.UserFaultContext`)."""

    def __init__(self, injector: FaultInjector, user: User, kind: str) -> None:
        self._injector = injector
        self.user = user
        self.kind = kind
        self.config = injector.config or FaultConfig()

    def base_url(self) -> str:
        return self._injector._base_url(self.user)

    def admin(self) -> TargetAdmin:
        return self._injector._admin(self.user)

    def proxy(self) -> tuple[ToxiproxyClient, str]:
        return self._injector._proxy()

    def fire_request(self, **kwargs: Any) -> None:
        self._injector.environment.events.request.fire(**kwargs)


def _main_success(user: User, state: UserState, name: str) -> bool:
    """Whether a success is one of the user's real actions: for a page processor, a processed page
    (or its own ``recovered: …`` entry), not a memory sample or a session restart."""
    if state.kind != "browser":
        return True
    page_name = getattr(getattr(user, "processor", None), "page_name", None)
    return page_name is None or name == page_name or str(name).startswith("recovered: ")


def _own_action(user: User, state: UserState, name: str) -> bool:
    """Whether a request (success or failure) is the user trying to do its work: for a page processor a
    page, its errors and recoveries — not a memory sample or a session restart; any request otherwise."""
    if state.kind != "browser":
        return True
    page_name = getattr(getattr(user, "processor", None), "page_name", None)
    text = str(name)
    return page_name is None or text == page_name or text.startswith(("error: ", "recovered: "))


def _option(environment: RunEnvironment, name: str) -> Any:
    from stresskit.core.options import option

    return option(environment, name)
