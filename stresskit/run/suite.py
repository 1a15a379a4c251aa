"""``stresskit suite``: run scenarios in order (light → medium → heavy) and decide go / no-go.

    stresskit suite --host http://backend:8080 light medium heavy
    stresskit suite --host URL --time-scale 0.01 light medium heavy -- --processes 4   # 4 local workers

Each scenario is one ``locust --headless`` process (the locustfile of ``-f``, default
``locustfiles/production.py``) with ``--scenario NAME --csv OUT/NAME``; anything after ``--`` goes
to every Locust process unchanged (``--processes N``, ``--master --expect-workers N``, ...).
While a scenario runs, one progress line every few seconds comes from its
``OUT/NAME_live.json``; at its end its ``OUT/NAME_run.json`` gives the figures.

The suite stops at the first scenario that fails critically — stopped early (error ratio > 50%
or an abort-on-fail threshold), critical failures, bad configuration, a harness error or an
interruption (exit codes 5, 6, 2, 1, 10) — since a heavier scenario cannot pass where a lighter one broke.
A scenario that only misses a criterion or threshold (3, 4) makes the verdict NO-GO but the
suite goes on, so the table shows how far the system gets.

The summary (printed, and written to ``OUT/suite_summary.md`` and ``OUT/suite_summary.json``)
has, per scenario: verdict, duration, pages processed of total, success rate (requests that did
not fail), pages per hour, session restarts and critical failures. The suite exits with the
most severe exit code of its scenarios (table in :mod:`stresskit.core.exitcodes`). SIGTERM or Ctrl-C
goes to the running scenario, which ends cleanly and writes its files; the suite then writes its
summary (later scenarios "not run: interrupted by SIGTERM") and exits 10.

Imports neither Locust nor gevent: the scenarios run in child processes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stresskit.core.exitcodes import ExitCode, describe, worst
from stresskit.core.process import die_with_parent
from stresskit.core.redact import redact_argv
from stresskit.core.schema import LIVE_SUFFIX, RUN_SUFFIX
from stresskit.errors import ConfigError
from stresskit.run.scenarios import format_duration, load_scenarios

__all__ = ["CRITICAL_CODES", "ScenarioRun", "configure", "run", "summary_table"]

DEFAULT_SCENARIOS = ("light", "medium", "heavy")
CRITICAL_CODES = frozenset({ExitCode.ERROR, ExitCode.BAD_CONFIG, ExitCode.STOPPED_EARLY, ExitCode.CRITICAL_FAILURE,
                            ExitCode.INTERRUPTED})
"""Exit codes after which the suite does not start the next scenario."""
_ROOT = Path(__file__).resolve().parents[2]
"""The checkout (or site-packages) that holds the ``stresskit`` package."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``stresskit suite``."""
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO [-- LOCUST_ARGS]",
                        help=f"scenarios to run, in order (default: {' '.join(DEFAULT_SCENARIOS)}); after '--', "
                             "arguments for every locust process, e.g. -- --processes 4")
    parser.add_argument("--host", default=None,
                        help="base URL of the system under test; without it a local run starts the demo target")
    parser.add_argument("-f", "--locustfile", default=None,
                        help="locustfile to run (default locustfiles/production.py here, else the packaged one)")
    parser.add_argument("--time-scale", type=float, default=float(os.environ.get("STRESSKIT_TIME_SCALE", "1")),
                        help="multiply every scenario duration by this factor, e.g. 0.01 (default 1)")
    parser.add_argument("--scenario-file", default=None,
                        help="TOML file with the scenarios (default: the built-in stresskit/data/scenarios.toml)")
    parser.add_argument("--threshold", action="append", default=[], metavar="EXPR",
                        help="threshold for every scenario (repeatable), e.g. 'p95:/api/items<500'")
    parser.add_argument("--out", default=None,
                        help="directory for each scenario's files and the summary (default stresskit-suite/<time>)")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every scenario even after one failed critically")
    parser.add_argument("--grace", type=float, default=120.0,
                        help="seconds a scenario may run past its scaled duration before the suite stops it "
                             "(default 120)")
    parser.add_argument("--progress-interval", type=float, default=5.0,
                        help="seconds between progress lines (default 5)")


@dataclass
class ScenarioRun:
    """One scenario of the suite: how it was run and what its ``_run.json`` says."""

    name: str
    prefix: str
    exit_code: int | None = None
    wall_seconds: float = 0.0
    result: dict[str, Any] | None = None
    note: str = ""
    log_path: str = ""
    command: list[str] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return self.exit_code is not None

    @property
    def critical(self) -> bool:
        return self.exit_code is not None and self.exit_code in CRITICAL_CODES

    def figures(self) -> dict[str, Any]:
        """The summary row's numbers (``None`` where the run left no data)."""
        r = self.result or {}
        started, ended = r.get("started"), r.get("ended")
        duration = (ended - started) if started and ended else (self.wall_seconds or None)
        pages_total, pages_done = r.get("pages_total"), r.get("pages_completed")
        requests, failures = r.get("requests"), r.get("failures")
        success = (1 - failures / requests) if requests else None
        per_hour = (pages_done / (duration / 3600)) if duration and pages_done is not None else None
        return {
            "scenario": self.name,
            "exit_code": self.exit_code,
            "verdict": _verdict(self),
            "time_scale": r.get("time_scale"),
            "duration_s": round(duration, 1) if duration else None,
            "pages_completed": pages_done,
            "pages_total": pages_total,
            "success_rate": success,
            "pages_per_hour": round(per_hour, 1) if per_hour is not None else None,
            "session_restarts": r.get("session_restarts"),
            "critical_failures": r.get("critical_failures"),
            "stop_reason": r.get("stop_reason", ""),
            "failed": [c["name"] for c in r.get("criteria", []) if not c.get("passed")]
            + [t["expression"] for t in r.get("thresholds", []) if not t.get("passed")],
            "note": self.note,
        }


def _verdict(run: ScenarioRun) -> str:
    if not run.ran:
        return "not run"
    return "GO" if run.exit_code == 0 else f"NO-GO ({run.exit_code})"


def run(args: argparse.Namespace) -> int:
    """Run the suite; returns the most severe scenario exit code (0 = go)."""
    names, extra = _split_locust_args(list(args.scenarios))
    names = names or list(DEFAULT_SCENARIOS)
    if not (args.time_scale > 0):
        raise ConfigError(f"--time-scale must be a number > 0 (e.g. 0.01), got {args.time_scale:g}")
    scenarios = load_scenarios(args.scenario_file)
    for name in names:
        scenarios.get(name)  # unknown name: one line listing the known ones, nothing started
    locustfile = Path(args.locustfile) if args.locustfile else _default_locustfile()
    if not locustfile.is_file():
        raise ConfigError(f"locustfile {locustfile} not found (pass -f PATH)")
    out = Path(args.out) if args.out else Path("stresskit-suite") / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)

    runs = [ScenarioRun(name=n, prefix=str(out / n)) for n in names]
    _say(f"stresskit suite: {' → '.join(names)} at time scale {args.time_scale:g}, "
         f"files in {out}{' (distributed: ' + ' '.join(extra) + ')' if extra else ''}")
    stopped_after: str | None = None
    previous = _INTERRUPT.install()
    try:
        for index, item in enumerate(runs, start=1):
            if _INTERRUPT.signal:
                break
            scenario = scenarios.get(item.name).scaled(args.time_scale)
            command = _command(item, locustfile, args, extra)
            _say(f"[{index}/{len(runs)} {item.name}] starting: {format_duration(scenario.duration)} "
                 f"(scaled), {scenario.pages} pages")
            _run_one(item, command, scenario.duration, args, f"{index}/{len(runs)} {item.name}")
            row = item.figures()
            _say(f"[{index}/{len(runs)} {item.name}] {row['verdict']}: {describe(item.exit_code or 0)}"
                 f"{' — ' + row['stop_reason'] if row['stop_reason'] else ''}")
            if _INTERRUPT.signal:
                break
            if item.critical and not args.keep_going:
                stopped_after = item.name
                for later in runs[index:]:
                    later.note = f"not run: {item.name} failed critically"
                break
    finally:
        _INTERRUPT.restore(previous)
    if _INTERRUPT.signal:
        during = next((r.name for r in reversed(runs) if r.ran), None)
        stopped_after = f"interrupted by {_INTERRUPT.signal}" + (f" during {during}" if during else "")
        for later in runs:
            if not later.ran:
                later.note = f"not run: interrupted by {_INTERRUPT.signal}"
    table = summary_table(runs)
    codes = [r.exit_code for r in runs if r.ran and r.exit_code is not None]
    code = worst(*codes) if codes else ExitCode.ERROR
    if _INTERRUPT.signal:
        code = worst(code, ExitCode.INTERRUPTED)
    go = code == ExitCode.PASS and all(r.ran for r in runs)
    verdict = "GO" if go else "NO-GO"
    reason = "every scenario passed" if go else describe(code) + (
        f"; stopped after {stopped_after}" if stopped_after and not _INTERRUPT.signal else
        f"; {stopped_after}" if stopped_after else "")
    print(table, flush=True)
    _say(f"verdict: {verdict} — {reason}")
    _write_summary(out, runs, table, verdict, reason, int(code), args.time_scale)
    _say(f"summary written to {out / 'suite_summary.md'} and {out / 'suite_summary.json'}")
    return int(code)


def _split_locust_args(words: list[str]) -> tuple[list[str], list[str]]:
    """Scenario names, then (argparse has dropped the ``--``) Locust's arguments from the first
    word that starts with ``-``."""
    for index, word in enumerate(words):
        if word.startswith("-"):
            return words[:index], words[index:]
    return words, []


def _default_locustfile() -> Path:
    """``locustfiles/production.py`` in the working directory if there is one, else the packaged one."""
    local = Path("locustfiles") / "production.py"
    if local.is_file():
        return local
    from stresskit.locustfiles import path

    return path("production")


def _command(item: ScenarioRun, locustfile: Path, args: argparse.Namespace, extra: list[str]) -> list[str]:
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary",
               "--scenario", item.name, "--time-scale", repr(args.time_scale), "--csv", item.prefix]
    if args.host:
        command += ["--host", args.host]
    if args.scenario_file:
        command += ["--scenario-file", str(args.scenario_file)]
    for expression in args.threshold:
        command += ["--threshold", expression]
    return command + extra


def _run_one(item: ScenarioRun, command: list[str], duration: float, args: argparse.Namespace, label: str) -> None:
    """Run one Locust process to its end (or past its deadline: stopped by pid); fill ``item``."""
    item.command = command
    item.log_path = f"{item.prefix}.log"
    for suffix in (RUN_SUFFIX, LIVE_SUFFIX):
        Path(f"{item.prefix}{suffix}").unlink(missing_ok=True)
    env = dict(os.environ)
    if (_ROOT / "shapes").is_dir():  # so a locustfile anywhere can `import shapes`
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
    started = time.monotonic()
    deadline = started + duration + args.grace + 30.0
    with open(item.log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True,
                                   preexec_fn=_die_with_suite)  # noqa: PLW1509  (the suite runs no threads)
        _INTERRUPT.child = process
        try:
            while True:
                try:
                    process.wait(timeout=max(0.1, args.progress_interval))
                    break
                except subprocess.TimeoutExpired:
                    pass
                if _INTERRUPT.signal:  # the scenario got the signal: give it its shutdown grace, no more
                    deadline = min(deadline, _INTERRUPT.at + SHUTDOWN_WAIT)
                if time.monotonic() > deadline:
                    item.note = f"stopped by the suite after {time.monotonic() - started:.0f}s (past duration + grace)"
                    _stop(process)
                    break
                _say(f"[{label}] {_progress(item.prefix, time.monotonic() - started)}")
        finally:
            _INTERRUPT.child = None
            if process.poll() is None:  # an exception in the suite itself: never leave the scenario running
                _stop(process)
    item.wall_seconds = time.monotonic() - started
    item.exit_code = process.returncode if process.returncode is not None else int(ExitCode.ERROR)
    if item.exit_code < 0:  # killed by a signal
        item.exit_code = int(ExitCode.ERROR)
    try:
        item.result = json.loads(Path(f"{item.prefix}{RUN_SUFFIX}").read_text())
    except (OSError, ValueError):
        item.result = None
        if item.exit_code == 0:
            item.exit_code = int(ExitCode.ERROR)
        item.note = item.note or f"no {Path(item.prefix).name}{RUN_SUFFIX}: see {item.log_path}"
        _say(f"[{label}] no run results; last lines of {item.log_path}:\n{_tail(item.log_path)}")


def _die_with_suite() -> None:
    """In the scenario's process, before exec: SIGTERM when the suite dies (even by SIGKILL), so a
    killed suite leaves no run behind; the run then ends as interrupted and writes its files."""
    die_with_parent(signal.SIGTERM)


SHUTDOWN_WAIT = 60.0
"""Seconds the suite waits for a signalled scenario (its --shutdown-grace is 30 s) before SIGKILL."""


class _Interrupt:
    """SIGTERM / SIGINT to the suite: forwarded as SIGTERM to the running scenario, which writes its
    files and stops what it started; the suite waits for it, runs nothing more and exits 10. The
    scenario runs in a session of its own, so a Ctrl-C in the terminal reaches it only this way. A
    second signal is forwarded too (the scenario then forces its exit)."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self.at = 0.0
        self.child: subprocess.Popen | None = None

    def install(self) -> dict[int, Any]:
        self.signal, self.at = None, 0.0
        return {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}

    @staticmethod
    def restore(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        first = self.signal is None
        if first:
            self.signal, self.at = name, time.monotonic()
        child = self.child
        running = child is not None and child.poll() is None
        _say(f"{name} received: " + ("stopping the running scenario (it writes its files); send it again to force"
                                      if first and running else "forcing the scenario to exit" if running
                                      else "no scenario is running; stopping the suite"))
        if running and child is not None:
            child.send_signal(signal.SIGTERM)


_INTERRUPT = _Interrupt()


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the Locust process we started (Locust shuts down and writes its files), SIGKILL later."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _progress(prefix: str, wall: float) -> str:
    try:
        live = json.loads(Path(f"{prefix}{LIVE_SUFFIX}").read_text())
    except (OSError, ValueError):
        return f"{_clock(wall)} starting"
    duration = live.get("scenario_duration")
    of = f" of {_clock(duration)}" if duration else ""
    requests, failures = live.get("requests", 0), live.get("failures", 0)
    failed = f"{failures / requests:.1%} failed" if requests else "no requests yet"
    pages = f"pages {live.get('pages_completed', 0)}/{live.get('pages_total', 0)} · " if live.get("pages_total") else ""
    critical = f" · {live['critical_failures']} critical" if live.get("critical_failures") else ""
    return (f"{_clock(live.get('elapsed', wall))}{of} {live.get('stage', '')} · {pages}{live.get('users', 0)} users · "
            f"{requests} requests, {failed}{critical}")


def _clock(seconds: float) -> str:
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _tail(path: str, lines: int = 8) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "  (no log)"
    return "\n".join("  " + line for line in text[-lines:])


COLUMNS = ("scenario", "verdict", "duration", "pages", "success rate", "pages/hour", "session restarts",
           "critical failures")


def summary_table(runs: list[ScenarioRun]) -> str:
    """The go / no-go table as Markdown (readable in a terminal, renders in CI summaries)."""
    rows = []
    for item in runs:
        f = item.figures()
        if not item.ran:
            rows.append([item.name, "not run", "–", "–", "–", "–", "–", "–"])
            continue
        pages = "–" if f["pages_total"] in (None, 0) and not f["pages_completed"] else \
            f"{f['pages_completed']} of {f['pages_total']}"
        rows.append([
            item.name,
            f["verdict"],
            format_duration(f["duration_s"]) if f["duration_s"] else "–",
            pages,
            f"{f['success_rate']:.2%}" if f["success_rate"] is not None else "–",
            f"{f['pages_per_hour']:,.0f}" if f["pages_per_hour"] is not None else "–",
            str(f["session_restarts"]) if f["session_restarts"] is not None else "–",
            str(f["critical_failures"]) if f["critical_failures"] is not None else "–",
        ])
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _write_summary(out: Path, runs: list[ScenarioRun], table: str, verdict: str, reason: str, code: int,
                   scale: float) -> None:
    notes = []
    for item in runs:
        f = item.figures()
        detail = []
        if f["failed"]:
            detail.append("failed: " + ", ".join(f["failed"]))
        if f["stop_reason"]:
            detail.append("stopped: " + f["stop_reason"])
        if item.note:
            detail.append(item.note)
        if detail:
            notes.append(f"- **{item.name}**: " + "; ".join(detail))
    scale_note = f" Durations ran at time scale {scale:g}; pages per hour are per hour of real time." \
        if scale != 1 else ""
    text = (f"# stresskit suite: {verdict}\n\n{reason}.{scale_note} Success rate: share of requests that did not "
            f"fail.\n\n{table}\n" + ("\n" + "\n".join(notes) + "\n" if notes else ""))
    (out / "suite_summary.md").write_text(text)
    document = {"verdict": verdict, "reason": reason, "exit_code": code, "time_scale": scale,
                "scenarios": [dict(item.figures(), command=redact_argv(item.command), log=item.log_path) for item in runs]}
    (out / "suite_summary.json").write_text(json.dumps(document, indent=2))


def _say(text: str) -> None:
    print(text, flush=True)
