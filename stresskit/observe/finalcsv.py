"""Rewrite Locust's ``--csv`` files with the final numbers when Locust quits.

Locust 2.47 rewrites ``PREFIX_stats.csv``, ``_failures.csv`` and ``_exceptions.csv`` once a
second and does not write them again at shutdown, so the requests of a run's last second are
missing from the files (the printed summary has them). This listener writes the three files
once more from the final stats at ``quit`` — to a temporary file, then an atomic rename, so a
crash mid-write never leaves a truncated file.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import tempfile
from typing import Any, cast

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.perrun import Once

log = logging.getLogger("stresskit.observe.finalcsv")

_REGISTERED = Once()
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def use_final_csv(events: Any) -> None:
    """Opt a locustfile into the final rewrite of the ``--csv`` files (idempotent per ``events``)."""
    if not _REGISTERED.first(events):
        return

    def on_init(environment: RunEnvironment, **_: Any) -> None:
        environment.events.quit.add_listener(lambda **__: write_final_csv(environment))

    events.init.add_listener(on_init)


def write_final_csv(environment: RunEnvironment) -> None:
    """Write the final stats, failures and exceptions CSV files of ``environment``'s run."""
    from locust.runners import WorkerRunner
    from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

    prefix = getattr(getattr(environment, "parsed_options", None), "csv_prefix", None)
    if not prefix or environment.runner is None or isinstance(environment.runner, WorkerRunner):
        return
    writer = StatsCSV(cast(Any, environment), PERCENTILES_TO_REPORT)  # Locust's own Environment
    for suffix, method in (("_stats.csv", writer.requests_csv), ("_failures.csv", writer.failures_csv),
                           ("_exceptions.csv", writer.exceptions_csv)):
        path = f"{prefix}{suffix}"
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", dir=os.path.dirname(path) or ".")
            with os.fdopen(fd, "w", newline="") as handle:
                method(csv.writer(handle))
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; keep the mode Locust's files have
            os.replace(tmp, path)
        except OSError as exc:
            from stresskit.run.lifecycle import note_write_error

            note_write_error(environment, path, exc)
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
