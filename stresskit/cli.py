"""The ``stresskit`` command: one sub-command per part, each in the module that owns it.

Sub-command modules are imported only when chosen, so ``stresskit agent`` never imports
Locust or gevent, and a bad option costs no heavy import. Each module exposes
``configure(parser)`` and ``run(args) -> int``; one that sets ``EXIT_WITHOUT_TEARDOWN = True``
ends the console-script process as soon as ``run`` returns (see :func:`_end_now`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from stresskit.errors import ConfigError, StressKitError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "target": ("stresskit.target.cli", "run the reference target (the demo system under test)"),
    "agent": ("stresskit.agent.cli", "run the resource agent on a target host"),
    "report": ("stresskit.report.cli", "turn a run's files into a report with a verdict"),
    "suite": ("stresskit.run.suite", "run scenarios in order (light → medium → heavy) with a go / no-go"),
    "proxy": ("stresskit.faults.proxy.cli", "run the TCP fault proxy (Toxiproxy-style toxics) in front of a target"),
}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: what is wrong and where to look."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(only: str | None = None) -> OneLineParser:
    """The top-level parser; with ``only``, just that sub-command is imported and configured."""
    parser = OneLineParser(
        prog="stresskit",
        description="stresskit: load, fault and soak testing on top of Locust. "
        "Load itself runs with `locust -f locustfiles/production.py`; these commands run the parts around it.",
    )
    from stresskit import __version__

    parser.add_argument("--version", action="version", version=f"stresskit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                continue
            module.configure(sub)
            sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stresskit`` console script."""
    argv_given = argv
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=chosen if chosen in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    module = getattr(args, "_module", None)
    if module is None:
        if args.command:
            print(f"stresskit: '{args.command}' is not available in this installation", file=sys.stderr)
            return EXIT_ERROR
        parser.print_help()
        return EXIT_USAGE
    try:
        code = int(module.run(args) or 0)
    except ConfigError as exc:
        print(f"stresskit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StressKitError as exc:
        print(f"stresskit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    if argv_given is None and getattr(module, "EXIT_WITHOUT_TEARDOWN", False):
        _end_now(code)
    return code


def _end_now(code: int) -> None:
    """End the process without the interpreter's teardown, once the command's work is done.

    ``stresskit report`` holds ~0.6 GB of arrays and frames at the end of a 20-hour run's report;
    freeing them object by object at exit took ~0.2 s of its ~3 s. Its files are written and
    closed, and its helper process has ended, before ``run`` returns: only the buffered output is
    left to flush. Only the console script does this (``main(argv)`` in a program returns).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
