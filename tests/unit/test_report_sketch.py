"""The latency sketch codec: encode → merge → quantiles stay within the stated 1% relative accuracy."""

import json
import math

import numpy as np
import pytest

from stresskit.report.sketch import Hist, decode_hist, encode, merge_encoded, new_sketch


def exact_quantile(values, q):
    # the rank rule DDSketch uses: the value at rank floor-ish q*(n-1) of the sorted sample
    ordered = np.sort(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


@pytest.fixture
def samples():
    rng = np.random.default_rng(42)
    return [rng.lognormal(3.0, 1.0, 4000), rng.lognormal(4.5, 0.6, 3000), rng.exponential(80, 5000)]


def test_merged_workers_quantiles_within_one_percent(samples):
    master = new_sketch()
    for part in samples:  # three "workers", each encoded as it would travel in a report
        worker = new_sketch()
        for v in part:
            worker.add(float(v))
        merge_encoded(master, json.loads(json.dumps(encode(worker))))
    everything = np.concatenate(samples)
    assert master.count == len(everything)
    assert master.sum == pytest.approx(everything.sum())
    for q in (0.5, 0.95, 0.99, 0.999):
        assert master.get_quantile_value(q) == pytest.approx(exact_quantile(everything, q), rel=0.0101)


def test_hist_merge_matches_sketch_merge(samples):
    hists = []
    for part in samples:
        sketch = new_sketch()
        for v in part:
            sketch.add(float(v))
        hists.append(decode_hist(json.loads(json.dumps(encode(sketch)))))
    merged = hists[0].merged(hists[1]).merged(hists[2])
    everything = np.concatenate(samples)
    assert merged.n == len(everything)
    got = merged.quantiles((0.5, 0.95, 0.99, 0.999, 1.0))
    for q, value in zip((0.5, 0.95, 0.99, 0.999), got, strict=False):
        assert value == pytest.approx(exact_quantile(everything, q), rel=0.0101)
    assert got[-1] == pytest.approx(everything.max())
    assert merged.mean == pytest.approx(everything.mean())


def test_zero_latencies_and_empty_sketch():
    sketch = new_sketch()
    for v in (0.0, 0.0, 0.0, 10.0):
        sketch.add(v)
    hist = decode_hist(encode(sketch))
    assert hist.quantiles((0.5, 1.0)) == [0.0, 10.0]
    empty = decode_hist(encode(new_sketch()))
    assert empty.quantiles((0.5,)) == [None]
    assert hist.merged(empty) is hist


@pytest.mark.parametrize("bad", [
    {"n": 3, "bins": [1, 1], "k0": 0},  # counts do not add up
    {"n": 1, "bins": [-1, 2], "k0": 0},
    {"n": 1, "bins": [1], "k0": 0, "ra": 2},
    {"bins": [1]},
])
def test_bad_lines_are_rejected(bad):
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode_hist(bad)


def test_hist_is_a_dataclass_with_bins():
    hist = Hist(n=2, total=3.0, vmin=1.0, vmax=2.0, zero=0, ra=0.01, k0=5, bins=np.array([1.0, 1.0]))
    assert hist.mean == 1.5


def test_values_added_at_once_fill_the_same_bins_as_one_add_each():
    """The latency recorder folds its buffered values in with add_values: the sketch must be the one
    DDSketch.add per value gives (bins, zero count, count, min, max; the sum to rounding)."""
    from array import array

    from stresskit.report.sketch import add_values

    rng = np.random.default_rng(7)
    for trial in range(10):
        values = np.concatenate([rng.lognormal(2.0, 1.5 + trial / 10, 3000), [0.0, 0.0, 1e-12, 0.5, 2e5]])
        one_by_one, at_once = new_sketch(), new_sketch()
        for v in values:
            one_by_one.add(float(v))
        add_values(at_once, array("d", values[:1000]))  # in two folds, as the recorder does
        add_values(at_once, array("d", values[1000:]))
        a, b = encode(one_by_one), encode(at_once)
        assert math.isclose(a.pop("sum"), b.pop("sum"), rel_tol=1e-12)
        assert a == b, trial
    empty = new_sketch()
    add_values(empty, array("d"))
    assert empty.count == 0
