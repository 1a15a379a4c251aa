"""``stresskit report PREFIX``: turn a run's files into HTML, JSON, JUnit and a summary with a verdict.

Writes ``PREFIX_report.html``, ``PREFIX_report.json`` and ``PREFIX_report.junit.xml`` (each can be
moved or switched off), prints the summary on stdout with the verdict first, progress on stderr.
Exit codes: see :mod:`stresskit.report.verdict` (0 pass, 2 bad input, 3–9 what failed).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Any

from stresskit.core.limits import RESOURCE_ALERT_PERCENT
from stresskit.errors import ReportError
from stresskit.report.verdict import ReportExit

__all__ = ["EXIT_WITHOUT_TEARDOWN", "configure", "run"]

EXIT_WITHOUT_TEARDOWN = True
"""The console script ends the process as soon as the report is written (stresskit.cli._end_now)."""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _fraction(text: str) -> float:
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fraction or percentage: {text!r}") from None
    if not 0 <= value < 10:
        raise argparse.ArgumentTypeError(f"out of range: {text}")
    return value


def _warmup(text: str) -> tuple[str, float]:
    text = text.strip()
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100
            if not 0 <= value < 1:
                raise ValueError
            return "fraction", value
        value = float(text.removesuffix("s"))
        if value < 0:
            raise ValueError
        return "seconds", value
    except ValueError:
        raise argparse.ArgumentTypeError(f"warm-up must be seconds (300, 300s) or a percentage (10%), got {text!r}"
                                         ) from None


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``report`` sub-command's arguments."""
    parser.add_argument("prefix", help="the prefix the run was started with (locust --csv PREFIX)")
    parser.add_argument("--baseline", metavar="OTHER_PREFIX", help="compare with an earlier run's files")
    parser.add_argument("--tolerance", type=_fraction, default=0.10,
                        help="baseline tolerance: a relative change worse than this is a regression "
                             "(0.1 or 10%%; default 10%%)")
    parser.add_argument("--window", type=_positive, default=None, metavar="SECONDS",
                        help="time window of the percentiles and timelines (default: adapted to the run's "
                             "length, about 100-300 points per chart, 1 s at the finest)")
    parser.add_argument("--warmup", type=_warmup, default=None, metavar="SECONDS|PCT",
                        help="warm-up excluded from the leak regression (default 10%% of each series)")
    parser.add_argument("--leak-growth", type=_positive, default=2.0, metavar="PCT",
                        help="smallest growth over the run, in %% of the memory level, called a leak (default 2)")
    parser.add_argument("--cpu-threshold", type=_positive, default=RESOURCE_ALERT_PERCENT, metavar="PCT")
    parser.add_argument("--memory-threshold", type=_positive, default=RESOURCE_ALERT_PERCENT, metavar="PCT")
    parser.add_argument("--sustain", type=_positive, default=60.0, metavar="SECONDS",
                        help="how long above a threshold counts as sustained (default 60)")
    parser.add_argument("--html", metavar="PATH", help="HTML path (default PREFIX_report.html)")
    parser.add_argument("--json", dest="json_path", metavar="PATH", help="JSON path (default PREFIX_report.json)")
    parser.add_argument("--junit", metavar="PATH", help="JUnit XML path (default PREFIX_report.junit.xml)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML report (faster)")
    parser.add_argument("--jobs", type=int, default=None, choices=(1, 2),
                        help="2 (default for files over 32 MiB) analyses the resources in a second process; 1 = one process")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    parser.add_argument("--debug", action="store_true", help="show a traceback on an internal error")


def run(args: argparse.Namespace) -> int:
    """Build, write and print the report; returns the exit code of the verdict."""
    # numpy asks the kernel for transparent huge pages for every large array (when THP is in
    # "madvise" mode). The report fills ~0.6 GB of arrays once each: in the 20-hour benchmark the
    # kernel spent 1.7-1.8 s of system time on them with huge pages against 0.8 s without (a 2-core
    # VM), 0.2-0.3 s of wall time. Read when numpy is first imported; a value set by the user wins.
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    from stresskit.report.build import EmptyRunError, NoRunFilesError, build_report
    from stresskit.report.leak import LeakRule
    from stresskit.report.progress import Progress
    from stresskit.report.resources import ResourceOptions

    progress = Progress(enabled=not args.quiet)
    warmup: dict[str, Any] = {}
    if args.warmup is not None:
        kind, value = args.warmup
        warmup = {"warmup_s": value} if kind == "seconds" else {"warmup_fraction": value}
    rule = LeakRule(min_growth_pct=args.leak_growth, **warmup)
    options = ResourceOptions(cpu_threshold=args.cpu_threshold, memory_threshold=args.memory_threshold,
                              sustain_s=args.sustain, rule=rule)
    prefix = args.prefix
    try:
        report = build_report(prefix, baseline=args.baseline, tolerance=args.tolerance, window_s=args.window,
                              leak_rule=rule, resource_options=options, progress=progress, jobs=args.jobs,
                              charts=not args.no_html)
        base = report.prefix
        html = None if args.no_html else (args.html or f"{base}_report.html")
        if html:
            progress.step("charts and HTML")
        written = report.write(html=html, json_path=args.json_path or f"{base}_report.json",
                               junit=args.junit or f"{base}_report.junit.xml")
        progress.done()
    except (NoRunFilesError, EmptyRunError) as exc:
        progress.done()
        print(f"stresskit report: {exc}", file=sys.stderr)
        return int(ReportExit.BAD_INPUT)
    except ReportError as exc:
        progress.done()
        print(f"stresskit report: error: {exc}", file=sys.stderr)
        return int(ReportExit.BAD_INPUT)
    except OSError as exc:
        progress.done()
        print(f"stresskit report: cannot write the report: {exc} (check the directory and permissions)",
              file=sys.stderr)
        return int(ReportExit.ERROR)
    except Exception as exc:  # noqa: BLE001 - never a traceback storm; --debug shows it
        progress.done()
        if args.debug:
            traceback.print_exc()
        print(f"stresskit report: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
              "traceback and report it)", file=sys.stderr)
        return int(ReportExit.ERROR)
    sys.stdout.write(report.summary_text())
    sys.stdout.write("\nwritten: " + ", ".join(os.path.relpath(p) if not os.path.isabs(prefix) else p
                                               for p in written) + "\n")
    return int(report.verdict.exit_code)
