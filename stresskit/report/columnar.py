"""Columnar side files of the big CSVs, so a report of a long run does not parse millions of CSV rows.

Two files get one: ``_resources.csv`` (the collector writes each row twice) and Locust's
``_stats_history.csv`` (:mod:`stresskit.observe.historyside` copies each row Locust writes). The
CSV is the file people and tools read and stays the source of truth; the side file is the
directory ``<csv path>.cols/``: one file of raw little-endian values per column (float64 for
numbers, int32 codes for text) and ``index.jsonl`` (first the columns it holds, then the text of
each code, and after every write a checkpoint: rows written and the CSV's size in bytes at that
moment). ``stresskit report`` reads the side file instead of the CSV only when the last checkpoint
matches the CSV as it is now (same size, enough records); a run killed mid-way, a CSV edited or
truncated afterwards, a missing or damaged side file: the CSV is parsed as before.

Measured on the 20-hour benchmark data (``benchmarks/bench_report.py``): see BENCHMARKS.md. numpy
and the standard library only: the Locust side imports the writer, the report the reader.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

__all__ = ["HISTORY_NUMERIC", "HISTORY_TEXT", "INDEX_NAME", "NUMERIC", "SIDE_SUFFIX", "TEXT", "ColumnarWriter",
           "read_columnar"]

SIDE_SUFFIX = ".cols"
"""The side directory is ``<csv path>.cols``."""
INDEX_NAME = "index.jsonl"
NUMERIC = ("timestamp", "pid", "cpu_percent", "memory_percent", "rss_bytes", "available_bytes", "connections",
           "count")
"""Resource columns the report uses that hold numbers (float64 in the side file; empty is NaN)."""
TEXT = ("host", "kind", "name")
"""Resource columns the report uses that hold text (int32 codes into the index's texts)."""
HISTORY_NUMERIC = ("Timestamp", "User Count", "Requests/s", "Total Request Count", "Total Failure Count",
                   "Total Max Response Time", "50%", "95%", "99%", "99.9%", "100%")
"""Stats-history columns the report uses that hold numbers (a percentile Locust was not asked for is left out)."""
HISTORY_TEXT = ("Type", "Name")
"""Stats-history columns the report uses that hold text."""
_NUMBER, _CODE = np.dtype("<f8"), np.dtype("<i4")


def _dtypes(numeric: tuple[str, ...], text: tuple[str, ...]) -> dict[str, np.dtype[Any]]:
    return {**{c: _NUMBER for c in numeric}, **{c: _CODE for c in text}}


def _file_name(column: str) -> str:
    """A column's file in the side directory (history columns hold ``/``, ``%`` and spaces)."""
    return column.replace("/", "_per_").replace("%", "pct").replace(" ", "_") + ".bin"


def _number(value: Any) -> tuple[float, bool]:
    """A cell as the CSV reader sees it: (its number or NaN for empty/unreadable, whether its text
    is an integer — the CSV parser makes a column int64 only when every cell is one)."""
    if value is None or value == "" or isinstance(value, bool):
        return math.nan, False
    if isinstance(value, int):
        return float(value), True
    if isinstance(value, float):
        return value, False
    text = str(value).strip()
    try:
        return float(int(text)), True
    except ValueError:
        pass
    try:
        return float(text), False
    except ValueError:
        return math.nan, False


class ColumnarWriter:
    """Appends rows to the side file of ``csv_path`` (see the module docstring): the ``numeric`` and
    ``text`` columns of each row, by default the resource columns the report uses."""

    def __init__(self, csv_path: str | os.PathLike[str], numeric: tuple[str, ...] = NUMERIC,
                 text: tuple[str, ...] = TEXT) -> None:
        directory = os.fspath(csv_path) + SIDE_SUFFIX
        os.makedirs(directory, exist_ok=True)
        self._numeric, self._text = numeric, text
        self._dtypes = _dtypes(numeric, text)
        self._columns = {c: open(os.path.join(directory, _file_name(c)), "wb") for c in self._dtypes}  # noqa: SIM115
        self._index = open(os.path.join(directory, INDEX_NAME), "w", encoding="utf-8")  # noqa: SIM115
        self._index.write(json.dumps({"numeric": list(numeric), "text": list(text)}) + "\n")
        self._codes: dict[str, int] = {}
        self._floats: set[str] = set()  # numeric columns the CSV parser reads as float64 (not int64)
        self.rows = 0

    def _code(self, value: Any) -> int:
        text = "" if value is None else str(value)
        code = self._codes.get(text)
        if code is None:
            code = self._codes[text] = len(self._codes)
            self._index.write(json.dumps({"code": code, "text": text}) + "\n")
        return code

    def append(self, rows: list[dict[str, Any]], csv_bytes: int) -> None:
        """Write ``rows`` (the dicts just written to the CSV) and a checkpoint: the CSV now has ``csv_bytes``."""
        for column in self._numeric:
            cells = [_number(row.get(column)) for row in rows]
            self._columns[column].write(np.array([number for number, _ in cells], dtype=_NUMBER).tobytes())
            if column not in self._floats and not all(whole for _, whole in cells):
                self._floats.add(column)
        for column in self._text:
            codes = [self._code(row.get(column)) for row in rows]
            self._columns[column].write(np.array(codes, dtype=_CODE).tobytes())
        for handle in self._columns.values():
            handle.flush()
        self.rows += len(rows)
        self._index.write(json.dumps({"rows": self.rows, "csv_bytes": int(csv_bytes),
                                      "floats": sorted(self._floats)}) + "\n")
        self._index.flush()

    def close(self) -> None:
        for handle in (*self._columns.values(), self._index):
            try:
                handle.close()
            except OSError:
                pass


def read_columnar(csv_path: str) -> Any | None:
    """The rows of ``csv_path`` as a DataFrame read from its side file (the columns the side file
    holds), or None when there is none or it does not match the CSV as it is now (then parse the CSV).

    Numbers are float64, or int64 where every cell was written as an integer (as the CSV parser
    reads them); text columns are categorical with empty cells as ``""``.
    """
    import pandas as pd

    directory = csv_path + SIDE_SUFFIX
    try:
        csv_bytes = os.path.getsize(csv_path)
        texts: dict[int, str] = {}
        last: dict[str, Any] | None = None
        numeric: tuple[str, ...] = NUMERIC  # a side file from before the columns were written down
        text: tuple[str, ...] = TEXT
        with open(os.path.join(directory, INDEX_NAME), encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    break  # a line cut short by a kill: what came before still holds
                if "code" in entry:
                    texts[int(entry["code"])] = str(entry["text"])
                elif "rows" in entry:
                    last = {"rows": int(entry["rows"]), "csv_bytes": int(entry["csv_bytes"]),
                            "floats": set(entry.get("floats", numeric))}
                elif "numeric" in entry:
                    numeric, text = tuple(map(str, entry["numeric"])), tuple(map(str, entry["text"]))
        if last is None or last["csv_bytes"] != csv_bytes or last["rows"] <= 0:
            return None
        rows = last["rows"]
        raw: dict[str, np.ndarray] = {}
        for column, dtype in _dtypes(numeric, text).items():
            path = os.path.join(directory, _file_name(column))
            if os.path.getsize(path) < rows * dtype.itemsize:
                return None
            raw[column] = np.fromfile(path, dtype=dtype, count=rows)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    columns: dict[str, Any] = {}
    for column in numeric:
        values = raw[column]
        columns[column] = values if column in last["floats"] else values.astype(np.int64)
    names = [texts.get(i) for i in range(len(texts))]
    if any(name is None for name in names):
        return None
    for column in text:
        codes = raw[column]
        if codes.size and (codes.min() < 0 or codes.max() >= len(names)):
            return None
        used = np.zeros(len(names), dtype=bool)
        used[codes] = True
        # categories as the CSV reader makes them: the texts sorted, then "" for empty cells
        kept = sorted((names[i] for i in np.flatnonzero(used)), key=lambda name: (name == "", name))
        position = {name: i for i, name in enumerate(kept)}
        remap = np.array([position.get(name, -1) for name in names], dtype=np.int32)
        columns[column] = pd.Categorical.from_codes(remap[codes], categories=kept)
    # copy=False keeps one block per column: consolidating 8 numeric columns of 3.8 M rows into one
    # 2-D block would copy 240 MB (~0.5 s) for nothing
    return pd.DataFrame(columns, copy=False)
