"""A columnar side file of Locust's ``_stats_history.csv``, so the report of a long run does not parse it.

A 20-hour run with ``--csv-full-history`` leaves millions of history rows, and parsing them was
the largest share of ``stresskit report``'s time. Locust writes that file itself, once a second,
and offers no hook for it; this module wraps its writer's row and flush methods so each row it
writes is also kept, column by column, in ``_stats_history.csv.cols/``
(:class:`stresskit.report.columnar.ColumnarWriter`). A checkpoint (rows and the CSV's size) is
written each time Locust flushes the CSV and when it closes it, so the report believes the side
file only while it matches the CSV byte for byte in size; anything else and the CSV is parsed.

The side file can never cost the CSV: on any error it stops for that run with one warning line.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from stresskit.core.perrun import Once

__all__ = ["use_history_side_file"]

log = logging.getLogger("stresskit.observe.historyside")

_REGISTERED = Once()
_WANTED_ATTR = "_stresskit_history_side_wanted"
"""On the environment: the run opted in."""
_SIDE_ATTR = "_stresskit_history_side"
"""On Locust's CSV writer: its :class:`_Side`, or False once it stopped."""


def use_history_side_file(events: Any) -> None:
    """Opt a locustfile into the history side file (idempotent; Locust's CSV writer is patched once)."""
    if not _REGISTERED.first(events):
        return
    _patch_writer()

    def on_init(environment: Any, **_: Any) -> None:
        setattr(environment, _WANTED_ATTR, True)

    events.init.add_listener(on_init)


class _Side:
    """One writer's side file: rows kept since the last flush, written with the CSV's size then."""

    def __init__(self, writer: Any) -> None:
        from stresskit.report.columnar import HISTORY_NUMERIC, HISTORY_TEXT, ColumnarWriter

        header = list(writer.stats_history_csv_columns)
        self.header = header
        self.columnar = ColumnarWriter(writer.stats_history_file_name(),
                                       numeric=tuple(c for c in HISTORY_NUMERIC if c in header),
                                       text=tuple(c for c in HISTORY_TEXT if c in header))
        self.pending: list[dict[str, Any]] = []

    def checkpoint(self, csv_bytes: int) -> None:
        if self.pending:
            rows, self.pending = self.pending, []
            self.columnar.append(rows, csv_bytes)


class _Tee:
    """Stands in for Locust's ``csv.writer`` of the history: each row goes to the CSV and is kept."""

    def __init__(self, csv_writer: Any, side: _Side) -> None:
        self.csv_writer, self.side = csv_writer, side

    def writerow(self, row: Any) -> Any:
        cells = list(row)
        written = self.csv_writer.writerow(cells)
        self.side.pending.append(dict(zip(self.side.header, cells, strict=False)))
        return written


def _side_of(writer: Any) -> _Side | None:
    """The writer's side file, opened on first use; None when the run did not opt in or it stopped."""
    side = writer.__dict__.get(_SIDE_ATTR)
    if side is False or (side is None and not getattr(writer.environment, _WANTED_ATTR, False)):
        return None
    if side is None:
        try:
            side = _Side(writer)
        except (OSError, ValueError, TypeError) as exc:
            _give_up(writer, exc)
            return None
        writer.__dict__[_SIDE_ATTR] = side
    return side


def _give_up(writer: Any, exc: Exception) -> None:
    side = writer.__dict__.get(_SIDE_ATTR)
    if isinstance(side, _Side):
        side.columnar.close()
    writer.__dict__[_SIDE_ATTR] = False
    log.warning("stats history: the columnar side file stopped (%s); the report will parse the CSV", exc)


def _checkpoint(writer: Any, side: _Side) -> None:
    try:
        side.checkpoint(os.fstat(writer.stats_history_csv_filehandle.fileno()).st_size)
    except (OSError, ValueError, TypeError) as exc:
        _give_up(writer, exc)


def _patch_writer() -> None:
    from locust.stats import StatsCSVFileWriter

    cls: Any = StatsCSVFileWriter  # patched in place: Locust offers no hook for its CSV writer
    if getattr(cls, "_stresskit_history_side_patched", False):
        return
    rows, flush, close = cls._stats_history_data_rows, cls.stats_history_flush, cls.close_files

    def _stats_history_data_rows(self: Any, csv_writer: Any, now: float) -> None:
        side = _side_of(self)
        rows(self, csv_writer if side is None else _Tee(csv_writer, side), now)

    def stats_history_flush(self: Any) -> None:
        flush(self)
        side = _side_of(self)
        if side is not None:
            _checkpoint(self, side)

    def close_files(self: Any) -> None:
        side = self.__dict__.get(_SIDE_ATTR)
        if isinstance(side, _Side):
            try:  # the rows still in Locust's buffer reach the file now: flush first, then the checkpoint
                self.stats_history_csv_filehandle.flush()
            except (OSError, ValueError) as exc:
                _give_up(self, exc)  # the CSV may end mid-row: the report parses it
            else:
                _checkpoint(self, side)
                side.columnar.close()
        close(self)

    cls._stats_history_data_rows = _stats_history_data_rows
    cls.stats_history_flush = stats_history_flush
    cls.close_files = close_files
    cls._stresskit_history_side_patched = True
