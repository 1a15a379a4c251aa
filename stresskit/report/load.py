"""Reading a run's files into DataFrames, tolerant of what a crashed or killed run leaves behind.

Every file is optional: a missing one is noted (:class:`InputNote`) and the report goes on with
what is there. Rows that cannot be parsed — a line with the wrong number of fields, a value that
is not a number where one must be, a truncated last line — are skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from stresskit.core.schema import FAULT_COLUMNS, FAULT_EVENTS, FAULT_NOTICES, FAULTS_SUFFIX, RESOURCES_SUFFIX, RUN_SUFFIX
from stresskit.report.plausible import (
    TIME,
    Plausible,
    check_faults,
    check_resources,
    note_fields,
    time_bounds,
)

__all__ = [
    "EXCEPTIONS_SUFFIX",
    "FAILURES_SUFFIX",
    "HISTORY_SUFFIX",
    "RESOURCE_KINDS",
    "STATS_SUFFIX",
    "InputNote",
    "read_csv_robust",
    "read_exceptions",
    "read_failures",
    "read_faults",
    "read_history",
    "read_resources",
    "read_run_json",
    "read_stats",
]

STATS_SUFFIX = "_stats.csv"
HISTORY_SUFFIX = "_stats_history.csv"
FAILURES_SUFFIX = "_failures.csv"
EXCEPTIONS_SUFFIX = "_exceptions.csv"
RESOURCE_KINDS = ("system", "process", "browsers", "generator", "gap")

_SKIPPED = re.compile(r"Skipping line \d+")


@dataclass
class InputNote:
    """What happened to one input file: ``ok``, ``missing``, ``empty`` or ``unreadable``."""

    file: str
    status: str
    rows: int = 0
    skipped_rows: int = 0
    detail: str = ""
    implausible_rows: int = 0  # parsed, but cannot be true (see stresskit.report.plausible)
    implausible: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def implausible_text(self) -> str:
        """The reasons rows were not believed, e.g. ``3 × the same sample twice (kept once)``."""
        from stresskit.report.plausible import Plausible

        return Plausible(self.implausible).text()

    def line(self) -> str:
        """One human line, e.g. ``run_resources.csv: 1200 rows, 3 corrupt rows skipped``."""
        name = os.path.basename(self.file)
        if self.status == "ok":
            text = f"{name}: {self.rows} rows"
            if self.skipped_rows:
                text += f", {self.skipped_rows} corrupt row(s) skipped"
            if self.implausible_rows:
                text += f", {self.implausible_rows} row(s) that cannot be true left out ({self.implausible_text()})"
            return text + (f" ({self.detail})" if self.detail else "")
        return f"{name}: {self.status}" + (f" — {self.detail}" if self.detail else "")


@dataclass
class _Read:
    frame: pd.DataFrame | None
    note: InputNote
    extra: dict[str, Any] = field(default_factory=dict)


def read_csv_robust(path: str, required: tuple[str, ...], numeric: tuple[str, ...] = (),
                    usecols: tuple[str, ...] | None = None, strings: tuple[str, ...] = (),
                    categories: tuple[str, ...] = ()) -> _Read:
    """Read a CSV file, skipping and counting rows that cannot be used.

    ``required`` columns must be in the header and non-empty in a row for the row to count;
    ``numeric`` columns are read as float64 (a non-number becomes NaN; in a required column
    that drops the row); ``strings`` columns are text and ``categories`` columns categorical
    text (cheap for a few distinct values such as host, kind or request name), both with empty
    cells as ``""``.
    """
    note = InputNote(file=path, status="ok")
    if not os.path.exists(path):
        note.status, note.detail = "missing", "not found; this part of the report is left out"
        return _Read(None, note)
    if os.path.getsize(path) == 0:
        note.status, note.detail = "empty", "the file is empty"
        return _Read(None, note)
    header = _header(path)
    wanted = set(usecols) if usecols is not None else None
    columns = None if wanted is None or header is None else [c for c in header if c.strip() in wanted]
    stripped = {c.strip(): c for c in header} if header is not None else {}
    text_types = {stripped.get(c, c): t for c, t in {**{c: str for c in strings},
                                                     **{c: "category" for c in categories}}.items()
                  if header is None or c in stripped}
    bad_lines = 0
    kwargs: dict[str, Any] = {"usecols": columns or None, "encoding_errors": "replace", "skip_blank_lines": True}
    frame = None
    try:
        # numbers are left to the parser (ints stay ints); a corrupt cell turns its column to text,
        # which is coerced below
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = pd.read_csv(path, on_bad_lines="warn", engine="c", low_memory=True, dtype=text_types, **kwargs)
        bad_lines = sum(len(_SKIPPED.findall(str(w.message))) for w in caught)
    except pd.errors.EmptyDataError:
        note.status, note.detail = "empty", "no header and no rows"
        return _Read(None, note)
    except (pd.errors.ParserError, ValueError, TypeError, UnicodeError):
        # e.g. a quote left open by a truncated last line: the slow, forgiving parser counts each bad line
        counter = [0]

        def skip(_line: list[str]) -> None:
            counter[0] += 1

        try:
            frame = pd.read_csv(path, on_bad_lines=skip, engine="python", dtype=text_types, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any parser failure is reported, not raised
            note.status, note.detail = "unreadable", f"cannot be parsed ({type(exc).__name__}: {exc})"
            return _Read(None, note)
        bad_lines = counter[0]
    except OSError as exc:
        note.status, note.detail = "unreadable", str(exc)
        return _Read(None, note)
    assert frame is not None
    frame.columns = [str(c).strip() for c in frame.columns]
    absent = [c for c in required if c not in frame.columns]
    if absent:
        note.status = "unreadable"
        note.detail = f"header lacks column(s) {', '.join(absent)}; is this the right file?"
        return _Read(None, note)
    for column in numeric:
        if column in frame.columns and not pd.api.types.is_numeric_dtype(frame[column].dtype):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in strings:
        if column in frame.columns:
            frame[column] = frame[column].fillna("").astype(str)
    for column in categories:
        if column in frame.columns:
            values = frame[column]
            if not isinstance(values.dtype, pd.CategoricalDtype):
                values = values.astype("category")
            if values.isna().any():
                if "" not in values.cat.categories:
                    values = values.cat.add_categories([""])
                values = values.fillna("")
            frame[column] = values
    dropped = 0
    if required:
        ok = np.ones(len(frame), dtype=bool)
        for column in required:
            values = frame[column]
            if column in strings or column in categories:
                ok &= (values != "").to_numpy()
            else:
                ok &= values.notna().to_numpy()
        dropped = int((~ok).sum())
        if dropped:
            frame = frame.loc[ok].reset_index(drop=True)
    note.rows = len(frame)
    note.skipped_rows = bad_lines + dropped
    if not len(frame):
        note.detail = "no rows" if not note.skipped_rows else "no usable rows"
    return _Read(frame, note)


def _header(path: str) -> list[str] | None:
    """The column names of a CSV file's first line (None when it cannot be read)."""
    import csv

    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            row = next(csv.reader(handle), None)
    except (OSError, csv.Error):
        return None
    return list(row) if row else None


def read_run_json(prefix: str) -> tuple[dict[str, Any] | None, InputNote]:
    """``PREFIX_run.json`` as a dict, or None with a note saying why."""
    path = f"{prefix}{RUN_SUFFIX}"
    note = InputNote(file=path, status="ok")
    if not os.path.exists(path):
        note.status, note.detail = "missing", "not found; criteria, pages and restarts of the run are unknown"
        return None, note
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        note.status, note.detail = "unreadable", f"not valid JSON ({exc})"
        return None, note
    if not isinstance(data, dict):
        note.status, note.detail = "unreadable", "not a JSON object"
        return None, note
    note.rows = 1
    return data, note


def read_stats(prefix: str) -> _Read:
    """Locust's ``_stats.csv``: whole-run figures per (Type, Name), the ``Aggregated`` row last."""
    read = read_csv_robust(f"{prefix}{STATS_SUFFIX}", required=("Name", "Request Count"),
                           numeric=("Request Count", "Failure Count", "Median Response Time",
                                    "Average Response Time", "Min Response Time", "Max Response Time",
                                    "Requests/s", "Failures/s"),
                           strings=("Type", "Name"))
    if read.frame is not None:
        _coerce_percentiles(read.frame)
        if "Type" not in read.frame.columns:
            read.frame["Type"] = ""
        if "Failure Count" not in read.frame.columns:
            read.frame["Failure Count"] = 0
    return read


def read_history(prefix: str, bounds: tuple[float, float] | None = None) -> _Read:
    """Locust's ``_stats_history.csv`` (``--csv-full-history`` gives a row per name per second); rows
    timed outside ``bounds`` (see :func:`stresskit.report.plausible.time_bounds`) are left out and counted."""
    from stresskit.report.columnar import HISTORY_NUMERIC, HISTORY_TEXT

    path = f"{prefix}{HISTORY_SUFFIX}"
    required = ("Timestamp", "Name", "Total Request Count")
    read = _read_side_file(path, required) or read_csv_robust(
        path, required=required, numeric=HISTORY_NUMERIC, usecols=(*HISTORY_NUMERIC, *HISTORY_TEXT),
        categories=HISTORY_TEXT)
    if read.frame is not None:
        _coerce_percentiles(read.frame)
        for column in ("User Count", "Total Failure Count", "Requests/s"):
            if column not in read.frame.columns:
                read.frame[column] = 0.0 if column == "Total Failure Count" else np.nan
        if "Type" not in read.frame.columns:
            read.frame["Type"] = ""
        t = read.frame["Timestamp"].to_numpy(dtype=float)
        lo, hi = bounds or time_bounds(None)
        outside = ~((t >= lo) & (t <= hi))
        if outside.any():
            read.frame = read.frame.loc[~outside].reset_index(drop=True)
            _note_implausible(read.note, Plausible({TIME: int(outside.sum())}))
            read.note.rows = len(read.frame)
    return read


def read_failures(prefix: str) -> _Read:
    """Locust's ``_failures.csv``: occurrences per (Method, Name, Error)."""
    read = read_csv_robust(f"{prefix}{FAILURES_SUFFIX}", required=("Name", "Occurrences"),
                           numeric=("Occurrences",), strings=("Method", "Name", "Error"))
    if read.frame is not None:
        for column in ("Method", "Error"):
            if column not in read.frame.columns:
                read.frame[column] = ""
    return read


def read_exceptions(prefix: str) -> _Read:
    """Locust's ``_exceptions.csv``: exceptions raised inside tasks (count, message, nodes)."""
    return read_csv_robust(f"{prefix}{EXCEPTIONS_SUFFIX}", required=("Count", "Message"), numeric=("Count",),
                           usecols=("Count", "Message", "Nodes"), strings=("Message", "Nodes"))


_RESOURCE_NUMERIC = ("timestamp", "pid", "cpu_percent", "memory_percent", "rss_bytes", "available_bytes",
                     "connections", "count")
_RESOURCE_USED = ("timestamp", "host", "kind", "name", *_RESOURCE_NUMERIC[1:])
_KIND_REQUIRES = {"system": ("memory_percent",), "process": ("rss_bytes",), "browsers": ("rss_bytes",),
                  "generator": ("rss_bytes",), "gap": ()}


def read_resources(path: str, bounds: tuple[float, float] | None = None) -> _Read:
    """The collector's ``_resources.csv`` (see :data:`stresskit.core.schema.RESOURCE_COLUMNS`).

    A row counts as corrupt when its kind is unknown or a field its kind needs is empty
    (a process row without RSS, a system row without memory %): skipped and counted. Rows that
    parse but cannot be true (duplicates, timestamps outside ``bounds``, infinite or impossible
    values) are left out and counted apart (:func:`stresskit.report.plausible.check_resources`).
    """
    read = _read_side_file(path, ("timestamp", "kind")) or read_csv_robust(path, required=("timestamp", "kind"),
                                                                            numeric=_RESOURCE_NUMERIC,
                                                    usecols=_RESOURCE_USED, categories=("host", "kind", "name"))
    frame = read.frame
    if frame is None:
        return read
    for column in _RESOURCE_USED:
        if column not in frame.columns:
            frame[column] = pd.Categorical([""] * len(frame)) if column in ("host", "name") else np.nan
    ok = frame["kind"].isin(RESOURCE_KINDS).to_numpy().copy()
    for kind, needs in _KIND_REQUIRES.items():
        if needs:
            is_kind = (frame["kind"] == kind).to_numpy()
            for column in needs:
                ok &= ~(is_kind & frame[column].isna().to_numpy())
    dropped = int((~ok).sum())
    if dropped:
        frame = frame.loc[ok].reset_index(drop=True)
        read.note.skipped_rows += dropped
    frame, counts = check_resources(frame, bounds or time_bounds(None))
    _note_implausible(read.note, counts)
    read.note.rows = len(frame)
    read.frame = frame
    if not len(frame):
        read.note.detail = "no usable rows"
    return read


def _read_side_file(path: str, required: tuple[str, ...]) -> _Read | None:
    """The columnar copy of ``path`` when it matches the CSV (:mod:`stresskit.report.columnar`), with
    rows lacking a ``required`` cell skipped and counted as the CSV reader does; else None."""
    from stresskit.report.columnar import read_columnar

    frame = read_columnar(path)
    if frame is None or any(column not in frame.columns for column in required):
        return None
    ok = np.ones(len(frame), dtype=bool)
    for column in required:
        cells = frame[column]
        ok &= (cells != "").to_numpy() if isinstance(cells.dtype, pd.CategoricalDtype) else cells.notna().to_numpy()
    dropped = int((~ok).sum())
    if dropped:
        frame = frame.loc[ok].reset_index(drop=True)
    note = InputNote(file=path, status="ok", rows=len(frame), skipped_rows=dropped)
    if not len(frame):
        note.detail = "no rows" if not dropped else "no usable rows"
    return _Read(frame, note)


def _note_implausible(note: InputNote, counts: Plausible) -> None:
    for key, value in note_fields(counts).items():
        setattr(note, key, value)


def read_faults(prefix: str, bounds: tuple[float, float] | None = None) -> _Read:
    """The fault injector's ``_faults.csv`` (see :data:`stresskit.core.schema.FAULT_COLUMNS`); rows that
    cannot be true are left out and counted (:func:`stresskit.report.plausible.check_faults`)."""
    # kind is not required of every row: a harness_error notice has none (a fault row without one is corrupt)
    read = read_csv_robust(f"{prefix}{FAULTS_SUFFIX}", required=("timestamp", "event"),
                           numeric=("timestamp", "recovery_time"), strings=("event", "kind", "user", "worker",
                                                                             "detail"))
    frame = read.frame
    if frame is None:
        return read
    for column in FAULT_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan if column == "recovery_time" else ""
    notices = frame["event"].isin(FAULT_NOTICES).to_numpy()
    if notices.any():  # not faults: said in the input's line, kept out of the fault counts
        shown = frame.loc[notices, ["event", "kind"]].astype(str).value_counts()
        read.note.detail = "; ".join(f"{n} × {event} {kind}" for (event, kind), n in shown.items())
        read.extra["notices"] = frame.loc[notices].reset_index(drop=True)
        frame = frame.loc[~notices].reset_index(drop=True)
    ok = (frame["event"].isin(FAULT_EVENTS) & frame["kind"].fillna("").astype(str).ne("")).to_numpy()
    dropped = int((~ok).sum())
    if dropped:
        frame = frame.loc[ok].reset_index(drop=True)
        read.note.skipped_rows += dropped
    frame, counts = check_faults(frame, bounds or time_bounds(None))
    _note_implausible(read.note, counts)
    read.frame = frame
    read.note.rows = len(frame)
    return read


def resources_path(prefix: str) -> str:
    return f"{prefix}{RESOURCES_SUFFIX}"


def _coerce_percentiles(frame: pd.DataFrame) -> None:
    for column in frame.columns:
        if column.endswith("%") and not pd.api.types.is_numeric_dtype(frame[column].dtype):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")


def percentile_columns(frame: pd.DataFrame) -> dict[float, str]:
    """Locust's percentile columns (``"99.9%"``) as {0.999: "99.9%"}."""
    found = {}
    for column in frame.columns:
        if column.endswith("%"):
            try:
                found[round(float(column[:-1]) / 100.0, 9)] = column
            except ValueError:
                continue
    return found
