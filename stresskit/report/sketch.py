"""The ``_latency.jsonl`` codec: DDSketch latency histograms as JSON lines, and quantiles from them.

Shared by the Locust-side recorder (:mod:`stresskit.observe.latency`) and the report; it imports only
the ``ddsketch`` package and numpy, never Locust or pandas, so a worker pays little for it.

A sketch line::

    {"kind": "window" | "run", "start": 1700000000.0, "end": 1700000060.0, "type": "GET",
     "name": "/api/items", "n": 1234, "sum": 5678.9, "min": 0.8, "max": 912.3,
     "zero": 0, "ra": 0.01, "k0": 12, "bins": [3, 0, 7, ...]}

``bins[i]`` counts the values in DDSketch key ``k0 + i`` of a logarithmic mapping with relative
accuracy ``ra``: each quantile read from it is within ``ra`` (1%) of a value that was recorded at
that rank. Values are milliseconds. Lines for the same (kind, start, type, name) add up — a late
worker report for a window already written is simply another line.
The first line of a file is ``{"kind": "meta", "v": 1, "window_s": 60, "ra": 0.01, ...}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from ddsketch import LogCollapsingLowestDenseDDSketch
from ddsketch.mapping import LogarithmicMapping

__all__ = ["BIN_LIMIT", "RELATIVE_ACCURACY", "Hist", "add_values", "decode_hist", "encode", "merge_encoded",
           "new_sketch"]

RELATIVE_ACCURACY = 0.01
BIN_LIMIT = 2048
FORMAT_VERSION = 1


def new_sketch(relative_accuracy: float = RELATIVE_ACCURACY, bin_limit: int = BIN_LIMIT):
    """A bounded DDSketch: at most ``bin_limit`` bins (the lowest collapse first), so memory is fixed."""
    return LogCollapsingLowestDenseDDSketch(relative_accuracy=relative_accuracy, bin_limit=bin_limit)


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def encode(sketch: Any) -> dict[str, Any]:
    """The sketch's content as a JSON-ready dict (positive store and zero count; latencies are >= 0)."""
    store = sketch._store
    count = sketch.count
    data: dict[str, Any] = {"n": _num(count), "sum": sketch.sum, "min": sketch._min if count else None,
                            "max": sketch._max if count else None, "zero": _num(sketch._zero_count),
                            "ra": sketch._relative_accuracy}
    if store.count:
        lo, hi = store.min_key, store.max_key
        data["k0"] = int(lo)
        data["bins"] = [_num(b) for b in store.bins[lo - store.offset: hi - store.offset + 1]]
    else:
        data["k0"], data["bins"] = 0, []
    return data


def add_values(sketch: Any, values: Any) -> None:
    """Add many latencies (ms, >= 0) to ``sketch`` at once: the bins, count, sum, min and max that
    one ``sketch.add`` per value gives, computed with numpy and one ``store.add`` per distinct bin.

    The latency recorder buffers each request's value and folds the buffer in with this, which
    costs a fraction of ``DDSketch.add``'s pure-Python key computation per request.
    """
    data = np.asarray(values, dtype=np.float64)
    if not data.size:
        return
    mapping = sketch._mapping
    positive = data[data > mapping.min_possible]
    if positive.size:
        # LogarithmicMapping.key: ceil(log2(v) * multiplier) + offset (ddsketch < 4)
        keys = np.ceil(np.log2(positive) * mapping._multiplier).astype(np.int64) + int(mapping._offset)
        lowest = int(keys.min())
        counts = np.bincount(keys - lowest)
        store = sketch._store
        for index in np.flatnonzero(counts).tolist():
            store.add(lowest + index, float(counts[index]))
    sketch._zero_count += float(data.size - positive.size)
    sketch._count += float(data.size)
    sketch._sum += float(data.sum())
    sketch._min = min(sketch._min, float(data.min()))
    sketch._max = max(sketch._max, float(data.max()))


def merge_encoded(sketch: Any, data: dict[str, Any]) -> None:
    """Add an encoded sketch into ``sketch`` (same relative accuracy)."""
    if not data.get("n"):
        return
    if abs(float(data.get("ra", RELATIVE_ACCURACY)) - sketch._relative_accuracy) > 1e-12:
        raise ValueError(f"relative accuracy {data.get('ra')} differs from {sketch._relative_accuracy}")
    store = sketch._store
    k0 = int(data.get("k0", 0))
    for i, weight in enumerate(data.get("bins", ())):
        if weight:
            store.add(k0 + i, float(weight))
    zero = float(data.get("zero", 0) or 0)
    sketch._zero_count += zero
    sketch._count += float(data["n"])
    sketch._sum += float(data.get("sum", 0.0))
    if data.get("min") is not None:
        sketch._min = min(sketch._min, float(data["min"]))
    if data.get("max") is not None:
        sketch._max = max(sketch._max, float(data["max"]))


@dataclass
class Hist:
    """A decoded sketch as numpy bins, for fast merging and quantiles in the report."""

    n: float
    total: float
    vmin: float
    vmax: float
    zero: float
    ra: float
    k0: int
    bins: np.ndarray

    def merged(self, other: Hist) -> Hist:
        """Both histograms' values in one (the bins are aligned by key)."""
        if not other.n:
            return self
        if not self.n:
            return other
        if not math.isclose(self.ra, other.ra):
            raise ValueError("cannot merge sketches of different relative accuracy")
        if not len(self.bins):
            k0, bins = other.k0, other.bins.copy()
        elif not len(other.bins):
            k0, bins = self.k0, self.bins.copy()
        else:
            k0 = min(self.k0, other.k0)
            end = max(self.k0 + len(self.bins), other.k0 + len(other.bins))
            bins = np.zeros(end - k0)
            bins[self.k0 - k0: self.k0 - k0 + len(self.bins)] += self.bins
            bins[other.k0 - k0: other.k0 - k0 + len(other.bins)] += other.bins
        return Hist(self.n + other.n, self.total + other.total, min(self.vmin, other.vmin),
                    max(self.vmax, other.vmax), self.zero + other.zero, self.ra, k0, bins)

    def quantiles(self, qs: tuple[float, ...]) -> list[float | None]:
        """Values at the quantiles ``qs`` (0..1), each within ``ra`` relative error, clamped to [min, max];
        the same rank rule as ``DDSketch.get_quantile_value``."""
        if not self.n:
            return [None for _ in qs]
        mapping = _mapping(self.ra)
        cum = np.cumsum(self.bins)
        out: list[float | None] = []
        for q in qs:
            if q >= 1.0:
                out.append(self.vmax)
                continue
            rank = q * (self.n - 1)
            if rank < self.zero or not len(cum):
                out.append(0.0)
                continue
            idx = int(np.searchsorted(cum, rank - self.zero, side="right"))
            idx = min(idx, len(cum) - 1)
            value = mapping.value(self.k0 + idx)
            out.append(float(min(max(value, self.vmin), self.vmax)))
        return out

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


_MAPPINGS: dict[float, LogarithmicMapping] = {}


def _mapping(ra: float) -> LogarithmicMapping:
    mapping = _MAPPINGS.get(ra)
    if mapping is None:
        mapping = _MAPPINGS[ra] = LogarithmicMapping(ra)
    return mapping


def decode_hist(data: dict[str, Any]) -> Hist:
    """A :class:`Hist` from an encoded line; raises ``ValueError``/``TypeError``/``KeyError`` on a bad one."""
    n = float(data["n"])
    bins = np.asarray(data.get("bins") or [], dtype=float)
    if bins.ndim != 1 or (len(bins) and (not np.all(np.isfinite(bins)) or bins.min() < 0)):
        raise ValueError("bad bins")
    zero = float(data.get("zero") or 0.0)
    if n < 0 or abs(bins.sum() + zero - n) > 1e-6 * max(n, 1.0):
        raise ValueError("bin counts do not add up to n")
    ra = float(data.get("ra", RELATIVE_ACCURACY))
    if not 0 < ra < 1:
        raise ValueError("bad relative accuracy")
    vmin = data.get("min")
    vmax = data.get("max")
    return Hist(n=n, total=float(data.get("sum") or 0.0), vmin=float(vmin) if vmin is not None else math.inf,
                vmax=float(vmax) if vmax is not None else -math.inf, zero=zero, ra=ra, k0=int(data.get("k0", 0)),
                bins=bins)
