"""Pages on a schedule: a scenario's page quota spread over its duration, and the run's page progress.

A soak answers "does it survive 20 hours?" only if it runs 20 hours. So a scenario does not end
when its pages are done: its page quota becomes a *pace*. Pages are spread over the stages in
proportion to each stage's load × duration — production's 724 pages over 20 h come out at about
36 an hour at load 1.0, 54 an hour in the peak — and the quota hands a page out only once it is
due (:meth:`PageQuota.set_pace <stresskit.cluster.quota.PageQuota.set_pace>`). Like vegeta's pacer,
:class:`PagePace` is a pure function of elapsed run time: tests are table-driven, never sleep.

Page *k* of *N* (1-based) is due at the start of its slot: when the share of the run's load
already delivered reaches (k − 1) / N. So page 1 is due at once and every page is due before the
duration is over; a run stopped early (SIGTERM, error ratio) is judged against the pages due by
then. The 80% completion criterion is judged against ``pages_due``; ``pages_behind`` are pages
due but not finished yet.

``--end-on-quota`` (``STRESSKIT_END_ON_QUOTA``) keeps the old behaviour for quick runs and demos:
pages go out as fast as users take them and the run ends once every page is finished.

:func:`page_progress` is the one place the figures are computed (log line, run state, live file,
``_run.json``); :func:`report_progress` mirrors them into :func:`stresskit.core.runstate.run_state_of` and
logs a progress line every :data:`PROGRESS_LOG_INTERVAL` seconds.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from stresskit.cluster.quota import page_quota_of
from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import option
from stresskit.core.perrun import PerRun
from stresskit.core.runstate import run_state_of
from stresskit.run.scenarios import Scenario

__all__ = [
    "PROGRESS_LOG_INTERVAL",
    "PagePace",
    "PageProgress",
    "add_arguments",
    "apply_pace",
    "end_on_quota",
    "freeze_pace",
    "page_progress",
    "report_progress",
    "stage_weight",
]

log = logging.getLogger("stresskit.run.pacing")

PROGRESS_LOG_INTERVAL = 30.0
"""Wall-clock seconds between the master's page progress log lines."""

_LAST_LOG_SLOT: PerRun[Any] = PerRun("pace_logged")


def add_arguments(parser: Any) -> None:
    """``--end-on-quota``: end a scenario run once its pages are done (quick runs, the demo)."""
    parser.add_argument(
        "--end-on-quota", action="store_true", default=False, env_var="STRESSKIT_END_ON_QUOTA",
        help="stresskit: hand pages out as fast as users take them and end the run once every page is "
             "finished (quick runs, demos). Default: pages are paced over the scenario and the run "
             "lasts its duration")


def end_on_quota(environment: RunEnvironment) -> bool:
    """Whether ``--end-on-quota`` was given."""
    value = option(environment, "end_on_quota", False)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def stage_weight(scenario: Scenario, index: int) -> float:
    """A stage's load: its ``load`` factor, or for a stage with its own ``users`` table, its users
    relative to the scenario's mix (4 users where the mix has 8 → 0.5)."""
    stage = scenario.stages[index]
    if stage.users is None:
        return max(float(stage.load), 0.0)
    mix = sum(scenario.users.values())
    return sum(stage.users.values()) / mix if mix else 0.0


@dataclass(frozen=True)
class PagePace:
    """The share of a run's pages due at each moment: piecewise linear over the stages. Pure.

    ``ends`` are the stages' end times (seconds, already time-scaled), ``cumulative`` the load
    delivered by each stage's end as a share of the whole (the last is 1.0).
    """

    ends: tuple[float, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> PagePace:
        """The pace of a (time-scaled) scenario: stage shares ∝ load × duration; all-zero loads
        spread pages by duration alone."""
        durations = [s.duration for s in scenario.stages]
        work = [stage_weight(scenario, i) * d for i, d in enumerate(durations)]
        if not sum(work) > 0:
            work = list(durations)
        total = sum(work)
        ends, cumulative, t, w = [], [], 0.0, 0.0
        for duration, part in zip(durations, work, strict=True):
            t += duration
            w += part
            ends.append(t)
            cumulative.append(w / total)
        cumulative[-1] = 1.0
        return cls(ends=tuple(ends), cumulative=tuple(cumulative))

    @property
    def duration(self) -> float:
        return self.ends[-1] if self.ends else 0.0

    def share_at(self, elapsed: float) -> float:
        """Share of the run's load delivered after ``elapsed`` seconds, in [0, 1]."""
        if elapsed <= 0 or not self.ends:
            return 0.0
        if elapsed >= self.ends[-1]:
            return 1.0
        i = bisect.bisect_right(self.ends, elapsed)
        start_t = self.ends[i - 1] if i else 0.0
        start_w = self.cumulative[i - 1] if i else 0.0
        span = self.ends[i] - start_t
        return start_w + (self.cumulative[i] - start_w) * (elapsed - start_t) / span

    def due_at(self, elapsed: float, total: int) -> int:
        """Pages of ``total`` due after ``elapsed`` seconds: page k is due once the share reaches (k − 1)/total."""
        if total <= 0:
            return 0
        if elapsed >= self.duration:
            return total
        return min(total, math.floor(total * self.share_at(elapsed) + 1e-9) + 1)

    def due_time(self, page: int, total: int) -> float:
        """Seconds into the run at which ``page`` (1-based) of ``total`` becomes due (inverse of :meth:`due_at`)."""
        if page <= 1 or total <= 0:
            return 0.0
        share = min((page - 1) / total, 1.0)
        i = bisect.bisect_left(self.cumulative, share - 1e-12)
        i = min(i, len(self.ends) - 1)
        start_t = self.ends[i - 1] if i else 0.0
        start_w = self.cumulative[i - 1] if i else 0.0
        rise = self.cumulative[i] - start_w
        if rise <= 0:
            return start_t
        return start_t + (self.ends[i] - start_t) * (share - start_w) / rise

    def per_hour(self, elapsed: float, total: int, time_scale: float = 1.0) -> float:
        """Pages per hour of *scenario* time the pace asks for at ``elapsed`` (0 once over)."""
        if not self.ends or elapsed >= self.duration or total <= 0:
            return 0.0
        i = bisect.bisect_right(self.ends, max(elapsed, 0.0))
        start_t = self.ends[i - 1] if i else 0.0
        start_w = self.cumulative[i - 1] if i else 0.0
        rate = total * (self.cumulative[i] - start_w) / (self.ends[i] - start_t)  # pages per run second
        return rate * 3600 * time_scale


@dataclass(frozen=True)
class PageProgress:
    """Pages of the quota, due by now, finished and behind schedule (due but not finished)."""

    total: int
    due: int
    completed: int
    failed: int
    paced: bool

    @property
    def finished(self) -> int:
        return self.completed + self.failed

    @property
    def behind(self) -> int:
        return max(0, self.due - self.finished)

    def line(self) -> str:
        """One log line: ``pages: 120 due, 118 done (2 failed), 2 behind, of 724``."""
        failed = f" ({self.failed} failed)" if self.failed else ""
        mode = "" if self.paced else " (not paced)"
        return (f"pages: {self.due} due, {self.finished} done{failed}, {self.behind} behind schedule, "
                f"of {self.total}{mode}")


def page_progress(environment: RunEnvironment) -> PageProgress:
    """The page figures now, from the master's (or local runner's) quota."""
    quota = page_quota_of(environment)
    return PageProgress(total=quota.total, due=quota.pages_due, completed=quota.completed,
                        failed=quota.failed, paced=quota.pace is not None)


def report_progress(environment: RunEnvironment, *, force_log: bool = False, now: float | None = None) -> PageProgress:
    """Mirror ``pages_due`` / ``pages_behind`` into the run state; log a progress line every
    :data:`PROGRESS_LOG_INTERVAL` seconds (or now, with ``force_log``). Master / local runner only."""
    progress = page_progress(environment)
    state = run_state_of(environment)
    state.pages_due = progress.due
    state.pages_behind = progress.behind
    now = time.monotonic() if now is None else now
    last = _LAST_LOG_SLOT.get(environment)
    if progress.total > 0 and (force_log or last is None or now - last >= PROGRESS_LOG_INTERVAL):
        _LAST_LOG_SLOT.set(environment, now)
        log.info(progress.line())
    return progress


def apply_pace(environment: RunEnvironment, scenario: Scenario, has_pages: bool, clock: Any) -> str:
    """At test start: pace the quota over ``scenario`` (clock: the shape's run time), or leave it
    unpaced with ``--end-on-quota`` or without page processors. Returns a few words for the log."""
    if not has_pages:
        return "none"  # no page processors: the quota is not created (nor its default total mirrored)
    quota = page_quota_of(environment)
    if end_on_quota(environment):
        quota.set_pace(None)
        return f"{quota.total}, handed out as fast as they are taken; the run ends when they are done (--end-on-quota)"
    pace = PagePace.for_scenario(scenario)
    quota.set_pace(pace, clock)
    if "browser" in scenario.rated_kinds() and quota.total > 0:
        log.warning("scenario %s gives the browser kind a rate and has %d paced pages: the page pace hands "
                    "the pages out, and a browser iteration that arrives before its page is due waits for it "
                    "(or is dropped when no user is free); set pages = 0, or run with --end-on-quota, to let "
                    "the rate govern", scenario.name, quota.total)
    load_hours = sum(stage_weight(scenario, i) * s.duration for i, s in enumerate(scenario.stages))
    load_hours /= 3600 * scenario.time_scale
    rate = f", about {quota.total / load_hours:.3g} an hour at load 1.0" if load_hours > 0 else ""
    return f"{quota.total}, paced over the scenario's duration{rate}"


def freeze_pace(environment: RunEnvironment, elapsed: float) -> None:
    """At test stop: the pages due stay those due when the run stopped (the verdict comes later)."""
    quota = page_quota_of(environment)
    if quota.pace is not None:
        quota.set_pace(quota.pace, lambda: elapsed)
    report_progress(environment, force_log=quota.total > 0)
