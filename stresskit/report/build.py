"""Building a :class:`Report` from a run's files: the one entry point the CLI and the suite call.

``build_report(prefix)`` reads what is there (each missing file is noted and skipped), runs the
analyses and judges the verdict. Rendering (HTML, JSON, JUnit) is kept apart, in its own modules,
and only imported when a document is written.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from stresskit.core.limits import MAX_ERROR_RATIO
from stresskit.core.schema import LATENCY_SUFFIX
from stresskit.errors import ReportError
from stresskit.report import load
from stresskit.report.baseline import DEFAULT_TOLERANCE, compare
from stresskit.report.jsonout import SCHEMA, report_dict
from stresskit.report.latency import LatencyResult, history_windows, latency_result, read_latency
from stresskit.report.leak import LEAK, LeakResult, LeakRule, import_statistics
from stresskit.report.plausible import time_bounds
from stresskit.report.progress import Progress
from stresskit.report.resources import ResourceOptions, ResourcesResult, analyze_resources
from stresskit.report.runinfo import extra_criteria, run_extras
from stresskit.report.throughput import Throughput, failure_categories, fault_summary, throughput
from stresskit.report.verdict import FAIL, PASS, Criterion, ReportExit, Verdict, judge, run_criteria
from stresskit.report.windows import window_for

__all__ = ["SCHEMA", "EmptyRunError", "NoRunFilesError", "Report", "build_report"]

PARALLEL_MIN_BYTES = 32 * 2**20
TARGET_KINDS = ("system", "process", "browsers")


class NoRunFilesError(ReportError):
    """None of the run's files exist for the prefix."""


class EmptyRunError(ReportError):
    """The files exist but hold nothing to report on (no requests, no samples)."""


@dataclass
class Report:
    """Everything the report knows about one run; ``to_json()`` is the CI document."""

    prefix: str
    inputs: list[load.InputNote]
    run: dict[str, Any] | None
    window_s: float
    duration_s: float | None
    started: float | None
    ended: float | None
    throughput: Throughput
    latency: LatencyResult | None
    failures_by_category: pd.DataFrame
    failures_top: pd.DataFrame
    exceptions: pd.DataFrame | None
    faults: dict[str, Any] | None
    resources: ResourcesResult | None
    verdict: Verdict
    summary: dict[str, Any]
    leak_rule: LeakRule
    resource_options: ResourceOptions
    baseline: dict[str, Any] | None = None
    # the traffic charts the helper draws ahead (build_report(charts=True)): a callable that waits for
    # them and returns (main, extras), or None when it could not (then they are drawn at write time)
    charts: Callable[[], tuple[list[Any], list[Any]] | None] | None = None
    generated: float = field(default_factory=time.time)
    extras: dict[str, Any] = field(default_factory=dict)  # shared-contract keys of _run.json (runinfo.py)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def leaks(self) -> list[LeakResult]:
        return self.resources.leaks if self.resources is not None else []

    def to_dict(self) -> dict[str, Any]:
        return report_dict(self)

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def summary_text(self) -> str:
        from stresskit.report.text import summary_text

        return summary_text(self)

    def write(self, html: str | None = None, json_path: str | None = None, junit: str | None = None) -> list[str]:
        """Write the documents asked for; returns the paths written."""
        written = []
        if json_path:
            _atomic_write(json_path, self.to_json())
            written.append(json_path)
        if junit:
            from stresskit.report.junit import junit_xml

            _atomic_write(junit, junit_xml(self))
            written.append(junit)
        if html:
            from stresskit.report.html import render_html

            _atomic_write(html, render_html(self))
            written.append(html)
        return written


def _atomic_write(path: str, text: str) -> None:
    if directory := os.path.dirname(path):
        os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _files_exist(prefix: str) -> list[str]:
    suffixes = (load.STATS_SUFFIX, load.HISTORY_SUFFIX, load.FAILURES_SUFFIX, load.EXCEPTIONS_SUFFIX,
                "_resources.csv", "_faults.csv", "_run.json", LATENCY_SUFFIX)
    return [s for s in suffixes if os.path.exists(f"{prefix}{s}")]


def _start_method() -> str:
    """``fork`` where it is safe and available, else ``spawn``.

    A forked helper starts in milliseconds with pandas and numpy already imported; a spawned one
    starts a new interpreter and imports them again (~0.4 s on the 20-hour benchmark's critical
    path). Forking is safe here only while this process runs no other Python thread: a thread
    holding a lock at the fork would leave it held forever in the child. ``stresskit report``
    has none; a program calling :func:`build_report` from a threaded server gets ``spawn``.
    """
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


def _resources_async(path: str, options: ResourceOptions, jobs: int | None):
    """Analyse a large resources file in a child process while the stats are read here."""
    if jobs == 1 or not os.path.exists(path):
        return None
    if jobs is None and (os.path.getsize(path) < PARALLEL_MIN_BYTES or (os.cpu_count() or 1) < 2):
        return None  # automatic: only when it pays (a big file, a second core)
    try:
        context = multiprocessing.get_context(_start_method())
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context)
        return pool, pool.submit(analyze_resources, path, options, judge=False)  # judged here (scipy)
    except (OSError, RuntimeError, ValueError):
        return None


def _peek_span(prefix: str) -> tuple[float | None, float | None]:
    """The run's start and end without reading the whole history: run.json, else the history's
    first and last lines (Locust writes it in time order)."""
    run, _ = load.read_run_json(prefix)
    if run is not None:
        started, ended = _num(run.get("started")), _num(run.get("ended"))
        if started is not None and ended is not None and ended > started:
            return started, ended
    path = f"{prefix}{load.HISTORY_SUFFIX}"
    try:
        with open(path, "rb") as handle:
            handle.readline()
            first = handle.readline()
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 65536))
            tail = [line for line in handle.read().splitlines() if line.strip()]
        t0 = float(first.split(b",", 1)[0])
        t1 = float(tail[-1].split(b",", 1)[0]) if tail else t0
        return t0, t1 + 1.0
    except (OSError, ValueError, IndexError):
        return None, None


def build_report(prefix: str, *, baseline: str | None = None, tolerance: float = DEFAULT_TOLERANCE,
                 window_s: float | None = None, leak_rule: LeakRule | None = None,
                 resource_options: ResourceOptions | None = None, progress: Progress | None = None,
                 jobs: int | None = 1, charts: bool = False) -> Report:
    """Read the files of the run written with ``--csv PREFIX`` and analyse them.

    :param baseline: the prefix of an earlier run to compare with (``--baseline``)
    :param tolerance: relative tolerance of the baseline comparison (0.10 = 10%)
    :param window_s: the time window of the per-window percentiles and timelines; None (the default)
        adapts it to the run's length, about 100–300 points per chart, 1 s at the finest
        (:func:`stresskit.report.windows.window_for`)
    :param jobs: 1 (the default) keeps everything in this process; 2 reads the resources file and
        measures its memory series in a child process in parallel (forked, or spawned while other
        threads run: see :func:`_start_method`) and judges them here; None does so only for a file
        over 32 MiB on a machine with two cores (the ``stresskit report`` CLI's default; a script
        using it needs the usual ``if __name__ == "__main__":`` guard)
    :param charts: have the child draw the request and latency charts once it has measured the
        resources, for a later ``write(html=...)`` (this process draws the resource charts then)
    :raises NoRunFilesError: no file of the run exists
    :raises EmptyRunError: there is nothing to report on
    """
    if window_s is not None and not window_s > 0:
        raise ReportError(f"the window must be > 0 seconds, got {window_s:g}")
    progress = progress or Progress(enabled=False)
    leak_rule = leak_rule or LeakRule()
    resource_options = resource_options or ResourceOptions(rule=leak_rule)
    prefix = str(prefix)
    prefix = prefix.removesuffix("_")
    if not _files_exist(prefix):
        raise NoRunFilesError(f"no run files found for prefix '{prefix}' (expected e.g. {prefix}_stats.csv); "
                              "pass the prefix given to locust --csv")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    run, run_note = load.read_run_json(prefix)
    bounds = time_bounds(_run_span(run))  # what can be a timestamp of this run (plausible.py)
    resource_options = dataclasses.replace(resource_options, bounds=bounds)
    res_path = load.resources_path(prefix)
    hint = _peek_span(prefix) if charts else None
    background = _resources_async(res_path, resource_options, jobs)

    progress.step("reading run.json, stats, failures, faults")
    stats_read = load.read_stats(prefix)
    failures_read = load.read_failures(prefix)
    exceptions_read = load.read_exceptions(prefix)
    faults_read = load.read_faults(prefix, bounds)
    progress.step("reading stats history")
    history_read = load.read_history(prefix, bounds)
    timings["read"] = time.perf_counter() - t0

    progress.step("latency percentiles and throughput per window")
    t1 = time.perf_counter()
    sketches, latency_note = read_latency(f"{prefix}{LATENCY_SUFFIX}")
    history = history_read.frame
    started, ended = _span(run, history, None)
    if window_s is None:
        window_s = window_for(ended - started if started is not None and ended is not None else None)
    hwin = history_windows(history, window_s) if history is not None and len(history) else None
    latency = latency_result(stats_read.frame, hwin, sketches, window_s)
    timings["latency"] = time.perf_counter() - t1

    traffic: _HelperCharts | None = None
    if charts and background is not None and hint is not None and hint[0] is not None:
        from stresskit.report.charts import all_outages, traffic_charts

        span_hint = (hint[0], hint[1]) if hint[1] is not None else None
        pre_tp = throughput(stats_read.frame, hwin, window_s, (hint[1] - hint[0]) if hint[1] else None, span_hint)
        pool, _ = background  # queued behind the measurement: the helper draws them once it has measured
        traffic = _HelperCharts(pool, pool.submit(
            traffic_charts, hint[0], hint[1], pre_tp, latency, fault_summary(faults_read.frame, window_s),
            latency.window_s if latency else window_s, all_outages(run_extras(run))))
    progress.step("resources and leak regression")
    t2 = time.perf_counter()
    resources: ResourcesResult | None
    if background is not None:
        import_statistics()  # while the helper works: it measures the memory series, this process judges them
        pool, future = background
        try:
            resources = future.result().judge_leaks()
        except Exception:  # noqa: BLE001 - fall back to doing it here (e.g. spawn unavailable)
            resources = analyze_resources(res_path, resource_options)
            if traffic is not None:
                traffic.discard()
            traffic = None
        finally:
            pool.shutdown(wait=traffic is None)  # else the helper goes on drawing: _HelperCharts.result waits
    else:
        resources = analyze_resources(res_path, resource_options)
    resources_out: ResourcesResult | None = resources if resources.span is not None else None
    timings["resources"] = time.perf_counter() - t2
    if started is None and resources.span is not None:
        started, ended = resources.span
    duration = (ended - started) if started is not None and ended is not None and ended > started else None

    progress.step("throughput, failures and faults")
    span = (started, ended) if started is not None and ended is not None else None
    tp = throughput(stats_read.frame, hwin, window_s, duration, span)
    by_cat, top = failure_categories(failures_read.frame)
    faults = fault_summary(faults_read.frame, window_s)
    inputs = [run_note, stats_read.note, history_read.note, failures_read.note, exceptions_read.note,
              resources.note, faults_read.note, latency_note]
    if not tp.requests and (resources.span is None) and not (faults and faults["injected"]):
        raise EmptyRunError(f"empty run: no requests in {prefix}_stats.csv and no resource samples — the run "
                            "did not send load (check the locust log; was it stopped before users spawned?)")

    progress.step("verdict")
    report = Report(prefix=prefix, inputs=inputs, run=run, window_s=latency.window_s if latency else window_s,
                    duration_s=duration, started=started, ended=ended, throughput=tp, latency=latency,
                    failures_by_category=by_cat, failures_top=top, exceptions=exceptions_read.frame, faults=faults,
                    resources=resources_out, verdict=Verdict("inconclusive", 9, []), summary={},
                    leak_rule=leak_rule, resource_options=resource_options, timings=timings,
                    charts=_keep(traffic, (started, ended) == tuple(hint or ())))
    if baseline:
        progress.step(f"baseline {baseline}")
        try:
            other = build_report(baseline, window_s=window_s, leak_rule=leak_rule,
                                 resource_options=resource_options, jobs=jobs)
        except ReportError as exc:
            raise ReportError(f"baseline: {exc}") from exc
        report.baseline = compare(report, other, tolerance)
    report.extras = run_extras(run)
    interrupted = report.extras.get("stop_reason") if report.extras.get("interrupted") else None
    report.verdict = judge(_criteria(report), run_known=run is not None, incomplete=interrupted)
    report.summary = _summary(report)
    timings["total"] = time.perf_counter() - t0
    return report


class _HelperCharts:
    """The traffic charts the helper process draws after it has measured the resources.

    The helper would idle then, while this process imports scipy.stats, judges the memory series
    and writes the JSON and the resource charts: on the 20-hour benchmark that moves ~0.4 s of
    drawing off the critical path. :meth:`result` waits for the charts (None when the helper
    failed: they are drawn at write time instead) and lets the helper process end.
    """

    def __init__(self, pool: concurrent.futures.ProcessPoolExecutor, future: concurrent.futures.Future) -> None:
        self._pool = pool
        self._future = future

    def result(self) -> tuple[list[Any], list[Any]] | None:
        try:
            return self._future.result()
        except Exception:  # noqa: BLE001 - drawn here instead (all_charts)
            return None
        finally:
            self._pool.shutdown(wait=True)

    def discard(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _keep(traffic: _HelperCharts | None, same_span: bool) -> Callable[[], tuple[list[Any], list[Any]] | None] | None:
    """The charts drawn ahead, when they were drawn for the span the report ended up with."""
    if traffic is None:
        return None
    if not same_span:
        traffic.discard()
        return None
    return traffic.result


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _run_span(run: dict[str, Any] | None) -> tuple[float | None, float | None] | None:
    """``_run.json``'s (started, ended) when both are numbers in order, else None."""
    if run is None:
        return None
    started, ended = _num(run.get("started")), _num(run.get("ended"))
    if started is not None and ended is not None and ended > started:
        return started, ended
    return None


def _span(run: dict[str, Any] | None, history: pd.DataFrame | None, _: Any) -> tuple[float | None, float | None]:
    if (known := _run_span(run)) is not None:
        return known
    if history is not None and len(history):
        ts = history["Timestamp"].to_numpy(dtype=float)
        return float(np.nanmin(ts)), float(np.nanmax(ts)) + 1.0
    return None, None


def _criteria(report: Report) -> list[Criterion]:
    criteria = run_criteria(report.run) if report.run is not None else []
    criteria += extra_criteria(report.extras, {c.name for c in criteria})
    tp = report.throughput
    if report.run is None and tp.requests:
        ratio = tp.error_ratio or 0.0
        criteria.append(Criterion("error_ratio", "report", PASS if ratio <= MAX_ERROR_RATIO else FAIL,
                                  f"{int(tp.failures)} of {int(tp.requests)} requests failed ({ratio:.1%})",
                                  ratio, MAX_ERROR_RATIO))
    leaks = report.leaks
    target = [lk for lk in leaks if lk.kind in TARGET_KINDS]
    if target:
        found = [lk for lk in target if lk.verdict == LEAK]
        unsure = [lk for lk in target if lk.verdict == "inconclusive"]
        if found:
            detail = "; ".join(f"{lk.series}: {lk.slope_mb_per_h:+.3g} MB/h" for lk in found[:5])
            status = FAIL
        else:
            detail = f"{len(target)} series, no leak" + (f" ({len(unsure)} inconclusive)" if unsure else "")
            status = PASS if len(unsure) < len(target) else "not evaluated"
        criteria.append(Criterion("no_memory_leak", "report", status, detail,
                                  float(len(found)), 0.0, code=int(ReportExit.MEMORY_LEAK)))
    generator = [lk for lk in leaks if lk.kind == "generator" and lk.verdict == LEAK]
    if generator:
        criteria.append(Criterion("load_generator_memory", "report", "warning",
                                  "; ".join(f"{lk.series}: {lk.slope_mb_per_h:+.3g} MB/h" for lk in generator)
                                  + " (the load generator itself grows: long-run figures may be skewed)",
                                  required=False))
    run_resources = next((c for c in criteria if c.name == "resources_stable"), None)
    hosts = report.resources.hosts if report.resources is not None else None
    if hosts is not None and not hosts.empty and (run_resources is None or run_resources.status == "not evaluated"):
        opts = report.resource_options
        bad = hosts[hosts["sustained"]]
        detail = (f"no sustained (≥{opts.sustain_s:g} s) CPU > {opts.cpu_threshold:g}% or memory > "
                  f"{opts.memory_threshold:g}% on {len(hosts)} host(s)") if bad.empty else "; ".join(
            f"{r.host}: CPU above {r.cpu_longest_above_s:.0f} s, memory above {r.memory_longest_above_s:.0f} s"
            for r in bad.itertuples())
        criteria.append(Criterion("resources_stable (report)", "report", FAIL if len(bad) else PASS, detail,
                                  float(len(bad)), 0.0))
    if report.baseline is not None:
        b = report.baseline
        worse = b["worse"]
        criteria.append(Criterion("no regression vs baseline", "baseline", FAIL if worse else PASS,
                                  (f"worse beyond {b['tolerance']:.0%}: " + ", ".join(worse[:6])) if worse else
                                  f"{b['compared']} metrics within {b['tolerance']:.0%} of {b['prefix']}",
                                  float(len(worse)), 0.0, code=int(ReportExit.REGRESSION)))
    return criteria


def _summary(report: Report) -> dict[str, Any]:
    """The small dict the validation suite prints per scenario."""
    run = report.run or {}
    tp = report.throughput
    pages_total = run.get("pages_total")
    pages_completed = run.get("pages_completed")
    if pages_completed is None and tp.pages_completed_stats is not None:
        pages_completed = int(tp.pages_completed_stats)
    restarts = run.get("session_restarts")
    if restarts is None and tp.restarts_stats is not None:
        restarts = int(tp.restarts_stats)
    hours = report.duration_s / 3600.0 if report.duration_s else None
    pages_per_hour = pages_completed / hours if pages_completed is not None and hours else None
    success = 1.0 - tp.error_ratio if tp.error_ratio is not None else None
    processed = (f"{pages_completed} of {pages_total}" if pages_completed is not None and pages_total
                 else (f"{pages_completed}" if pages_completed is not None else None))
    return {
        "verdict": report.verdict.status,
        "exit_code": report.verdict.exit_code,
        "scenario": run.get("scenario"),
        "time_scale": run.get("time_scale"),
        "duration_s": report.duration_s,
        "pages_completed": pages_completed,
        "pages_total": pages_total,
        "pages_processed": processed,
        "success_rate": success,
        "pages_per_hour": pages_per_hour,
        "session_restarts": restarts,
        "critical_failures": run.get("critical_failures"),
        "requests": tp.requests,
        "failures": tp.failures,
        "requests_per_s": tp.rps,
        "leaks": [lk.series for lk in report.leaks if lk.verdict == LEAK],
        "regression": (report.baseline or {}).get("verdict"),
    }
