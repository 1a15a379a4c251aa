"""What the report refuses to believe: rows of a run's files that cannot be true.

A crashed collector, a file appended twice, a clock that jumped or a bug upstream can leave rows
that parse cleanly but would turn the verdict: two copies of a system sample summed into 120%
memory (a false FAIL), one sample dated next year that stretches every chart to a single dot,
a negative or infinite recovery time, more recoveries than there were faults to recover from.

Each check here drops such rows and says how many, per reason, so the report can name them
(text, JSON and HTML). Checks are vectorised (one pass, no pairwise work) except the recovery
ledger, which walks the fault log once in time order.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FUTURE_SLACK_S", "SPAN_SLACK_S", "Plausible", "check_faults", "check_resources", "note_fields",
           "time_bounds"]

FUTURE_SLACK_S = 86_400.0
"""Without the run's span: a timestamp more than a day after the report is made cannot be true."""
SPAN_SLACK_S = 600.0
"""With the run's span (``_run.json`` started/ended): a sample more than 10 min outside it is not of this run."""

# reason keys, shown to the user through REASONS
DUPLICATE = "duplicate"
TIME = "timestamp outside the run"
NOT_FINITE = "infinite or not a number"
OUT_OF_RANGE = "value out of range"
NEGATIVE_RECOVERY = "negative recovery time"
EXCESS_RECOVERY = "recovery without an injection"

REASONS = {
    DUPLICATE: "the same sample twice (kept once)",
    TIME: "timestamp far outside the run",
    NOT_FINITE: "an infinite value",
    OUT_OF_RANGE: "a value that cannot be (negative bytes, a percentage above 100)",
    NEGATIVE_RECOVERY: "a negative or infinite recovery time",
    EXCESS_RECOVERY: "more recoveries than injections of that fault",
}


class Plausible(Counter):
    """Rows dropped per reason (a :class:`collections.Counter`)."""

    def text(self) -> str:
        """``"3 duplicate, 1 timestamp outside the run"``: for one line of the report."""
        return ", ".join(f"{n} × {REASONS.get(k, k)}" for k, n in sorted(self.items()) if n)


def time_bounds(span: tuple[float | None, float | None] | None, now: float | None = None) -> tuple[float, float]:
    """The interval a timestamp of this run can fall in: the run's span with slack, else up to a day from now."""
    now = time.time() if now is None else now
    if span is not None and span[0] is not None and span[1] is not None and span[1] >= span[0]:
        return span[0] - SPAN_SLACK_S, span[1] + SPAN_SLACK_S
    return -math.inf, now + FUTURE_SLACK_S


def _drop(frame: pd.DataFrame, bad: np.ndarray, reason: str, counts: Plausible) -> pd.DataFrame:
    n = int(bad.sum())
    if not n:
        return frame
    counts[reason] += n
    return frame.loc[~bad].reset_index(drop=True)


# columns of _resources.csv and what they can be; NaN (an empty cell) is left to the loader's rules
_NON_NEGATIVE = ("cpu_percent", "rss_bytes", "available_bytes", "connections", "count")
_PERCENT = ("memory_percent",)
_SYSTEM_PERCENT = ("cpu_percent",)  # a process may use several cores; the machine is at most 100%


def check_resources(frame: pd.DataFrame, bounds: tuple[float, float]) -> tuple[pd.DataFrame, Plausible]:
    """Drop duplicated samples and rows that cannot be true from a ``_resources.csv`` frame.

    A duplicate is a second row of the same (timestamp, host, kind, name) — and pid, for process
    rows, whose children share a name and are summed later. Then: timestamps outside ``bounds``,
    infinite values, negative bytes or counts, percentages outside 0–100 (system CPU included).
    """
    counts = Plausible()
    if frame.empty:
        return frame, counts
    frame = _drop(frame, _duplicates(frame), DUPLICATE, counts)
    t = frame["timestamp"].to_numpy(dtype=float)
    frame = _drop(frame, ~((t >= bounds[0]) & (t <= bounds[1])), TIME, counts)
    infinite = np.zeros(len(frame), dtype=bool)
    wrong = np.zeros(len(frame), dtype=bool)
    system = (frame["kind"] == "system").to_numpy()
    for column in (*_NON_NEGATIVE, *_PERCENT):
        if column not in frame.columns:
            continue
        values = frame[column].to_numpy(dtype=float)
        infinite |= np.isinf(values)
        with np.errstate(invalid="ignore"):
            wrong |= values < 0
            if column in _PERCENT:
                wrong |= values > 100.0
            if column in _SYSTEM_PERCENT:
                wrong |= system & (values > 100.0)
    frame = _drop(frame, infinite, NOT_FINITE, counts)
    frame = _drop(frame, wrong[~infinite], OUT_OF_RANGE, counts)
    return frame, counts


def _codes(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64) + 1
    return pd.factorize(values.astype(str))[0].astype(np.int64) + 1


def _duplicates(frame: pd.DataFrame) -> np.ndarray:
    """Rows repeating an earlier row's (timestamp, host, kind, name[, pid for process rows]).

    One combined integer key per row, then a stable sort by (timestamp, key) and a comparison of
    neighbours: O(n log n) with numpy, and close to O(n) for a time-ordered file.
    """
    t = frame["timestamp"].to_numpy(dtype=float)
    host, kind, name = _codes(frame["host"]), _codes(frame["kind"]), _codes(frame["name"])
    pid = np.zeros(len(frame), dtype=np.int64)
    if "pid" in frame.columns:
        raw = frame["pid"].to_numpy(dtype=float)
        process = (frame["kind"] == "process").to_numpy() & np.isfinite(raw)
        pid[process] = np.clip(raw[process], -1, 2**31 - 2).astype(np.int64) + 2
    spans = [int(host.max()) + 1, int(kind.max()) + 1, int(name.max()) + 1, 2**31 + 1]
    if math.prod(spans) >= 2**62:  # absurdly many distinct names: let pandas hash the columns
        keys = pd.DataFrame({"t": t, "h": host, "k": kind, "n": name, "p": pid})
        return keys.duplicated(keep="first").to_numpy()
    key = ((host * spans[1] + kind) * spans[2] + name) * spans[3] + pid
    # fast path: a hash of (timestamp bits, key), wrapping: distinct hashes mean distinct rows
    with np.errstate(over="ignore"):
        mixed = np.sort(t.view(np.int64) * np.int64(0x9E3779B97F4A7C15 - 2**64) + key)
    if not np.any(mixed[1:] == mixed[:-1]):
        return np.zeros(len(frame), dtype=bool)
    order = np.lexsort((key, t))
    ts, ks = t[order], key[order]
    repeat = np.zeros(len(frame), dtype=bool)
    repeat[order[1:]] = (ts[1:] == ts[:-1]) & (ks[1:] == ks[:-1])
    return repeat


def check_faults(frame: pd.DataFrame, bounds: tuple[float, float]) -> tuple[pd.DataFrame, Plausible]:
    """Drop fault-log rows that cannot be true.

    Timestamps outside ``bounds``; a ``recovered`` row with a negative or infinite recovery time;
    a ``recovered`` row with no debt to settle. A user owes one recovery per ``injected`` row of
    that (kind, user), and every user may owe one per run-wide injection of the kind (its row has
    an empty user); run-wide recoveries (empty user) settle run-wide injections. Walked once in
    time order (an injection sorts before a recovery at the same instant).
    """
    counts = Plausible()
    if frame.empty:
        return frame, counts
    t = frame["timestamp"].to_numpy(dtype=float)
    frame = _drop(frame, ~((t >= bounds[0]) & (t <= bounds[1])), TIME, counts)
    recovered = (frame["event"] == "recovered").to_numpy()
    rt = frame["recovery_time"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad_rt = recovered & (np.isinf(rt) | (rt < 0))
    frame = _drop(frame, bad_rt, NEGATIVE_RECOVERY, counts)
    if not len(frame):
        return frame, counts
    rank = frame["event"].map({"injected": 0, "recovered": 1}).fillna(2).to_numpy()
    order = np.lexsort((rank, frame["timestamp"].to_numpy(dtype=float)))
    events = frame["event"].to_numpy()[order]
    kinds = frame["kind"].astype(str).to_numpy()[order]
    users = frame["user"].astype(str).to_numpy()[order]
    owed: dict[tuple[str, str], int] = {}  # (kind, user) → injections so far, minus recoveries
    runwide: dict[str, int] = {}  # kind → run-wide injections so far
    settled: dict[tuple[str, str], int] = {}  # (kind, user) → recoveries settled against run-wide injections
    excess = np.zeros(len(frame), dtype=bool)
    for i in np.flatnonzero((events == "injected") | (events == "recovered")):
        key = (kinds[i], users[i])
        if events[i] == "injected":
            if users[i]:
                owed[key] = owed.get(key, 0) + 1
            else:
                runwide[kinds[i]] = runwide.get(kinds[i], 0) + 1
                owed[key] = owed.get(key, 0) + 1
            continue
        if owed.get(key, 0) > 0:
            owed[key] -= 1
        elif users[i] and settled.get(key, 0) < runwide.get(kinds[i], 0):
            settled[key] = settled.get(key, 0) + 1
        else:
            excess[order[i]] = True
    frame = _drop(frame, excess, EXCESS_RECOVERY, counts)
    return frame, counts


def note_fields(counts: Plausible) -> dict[str, Any]:
    """What an input note records of a check: rows dropped, per reason."""
    return {"implausible_rows": int(sum(counts.values())), "implausible": {k: int(v) for k, v in counts.items() if v}}
