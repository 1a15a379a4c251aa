"""Known-answer tests of the leak regression on synthetic memory series."""

import numpy as np
import pytest

from stresskit.report.leak import INCONCLUSIVE, LEAK, NO_LEAK, LeakRule, analyze_leak, window_floors

MB = 1e6


def series(hours=2.0, interval=1.0, base=500 * MB, slope_mb_h=0.0, noise_mb=0.0, saw_mb=0.0, saw_period=120.0,
           seed=0):
    rng = np.random.default_rng(seed)
    t = 1_700_000_000 + np.arange(0, hours * 3600, interval)
    rel = t - t[0]
    y = base + slope_mb_h * MB * rel / 3600 + rng.normal(0, noise_mb * MB, len(t))
    if saw_mb:
        y += saw_mb * MB * ((rel % saw_period) / saw_period)
    return t, y


@pytest.mark.parametrize("slope", [5.0, 20.0, 120.0])
@pytest.mark.parametrize("saw", [0.0, 40.0])
def test_known_slope_recovered_within_5_percent(slope, saw):
    t, y = series(base=200 * MB, slope_mb_h=slope, noise_mb=0.5, saw_mb=saw, seed=int(slope + saw))
    result = analyze_leak(t, y, series="p")
    assert result.verdict == LEAK, result.reason
    assert result.slope_mb_per_h == pytest.approx(slope, rel=0.05)
    assert result.ci_low_mb_per_h < slope < result.ci_high_mb_per_h or abs(result.slope_mb_per_h - slope) < 0.05 * slope
    assert result.ols_slope_mb_per_h == pytest.approx(slope, rel=0.05)


def test_flat_sawtooth_is_not_a_leak():
    # a 60 MB GC sawtooth on a flat floor: every point regression would see the teeth, the floors do not
    t, y = series(slope_mb_h=0.0, noise_mb=0.3, saw_mb=60.0, saw_period=97.0, seed=3)
    result = analyze_leak(t, y, series="gc")
    assert result.verdict == NO_LEAK, result.reason
    assert abs(result.slope_mb_per_h) < 1.0


def test_sawtooth_with_slow_leak_under_it_is_found():
    t, y = series(hours=4, slope_mb_h=8.0, noise_mb=0.3, saw_mb=80.0, saw_period=300.0, seed=4)
    result = analyze_leak(t, y)
    assert result.verdict == LEAK, result.reason
    assert result.slope_mb_per_h == pytest.approx(8.0, rel=0.05)


def test_decreasing_memory_is_no_leak():
    t, y = series(slope_mb_h=-30.0, noise_mb=1.0, seed=5)
    assert analyze_leak(t, y).verdict == NO_LEAK


def test_warmup_growth_is_excluded():
    t, y = series(hours=2, noise_mb=0.2, seed=6)
    rel = t - t[0]
    y = y + np.where(rel < 600, 200 * MB * rel / 600, 200 * MB)  # caches fill in the first 10 minutes
    result = analyze_leak(t, y, rule=LeakRule(warmup_s=900))
    assert result.verdict == NO_LEAK, result.reason
    # without the warm-up excluded the fill drags the least-squares slope up (Theil-Sen resists it)
    assert analyze_leak(t, y, rule=LeakRule(warmup_s=0)).ols_slope_mb_per_h > 20


def test_too_short_is_inconclusive_and_says_why():
    t, y = series(hours=0.005, slope_mb_h=100)  # 18 samples
    result = analyze_leak(t, y)
    assert result.verdict == INCONCLUSIVE
    assert "too short" in result.reason


def test_noisy_small_trend_is_inconclusive_not_leak():
    t, y = series(hours=1, slope_mb_h=2.0, noise_mb=40.0, seed=8)
    result = analyze_leak(t, y)
    assert result.verdict in (INCONCLUSIVE, NO_LEAK)


def test_time_to_exhaustion():
    t, y = series(hours=2, slope_mb_h=100.0, noise_mb=0.1, seed=9)
    result = analyze_leak(t, y, available_bytes=1000 * MB)
    assert result.hours_to_exhaustion == pytest.approx(10.0, rel=0.05)
    flat = analyze_leak(*series(hours=2, seed=10), available_bytes=1000 * MB)
    assert flat.hours_to_exhaustion is None


def test_fitted_line_passes_through_floors():
    t, y = series(hours=2, slope_mb_h=50.0, noise_mb=0.1, seed=11)
    result = analyze_leak(t, y)
    fitted = result.fitted(np.array(result.floors_t))
    assert np.max(np.abs(fitted - np.array(result.floors_mb))) < 1.0


def test_window_floors_picks_each_windows_minimum():
    t = np.arange(10.0)
    y = np.array([5, 3, 4, 9, 1, 7, 8, 2, 6, 0], dtype=float)
    ft, fy = window_floors(t, y, 0.0, 5.0, 2)
    assert list(fy) == [1.0, 0.0]
    assert list(ft) == [4.0, 9.0]


def test_unsorted_and_nan_samples_are_handled():
    t, y = series(hours=2, slope_mb_h=30.0, noise_mb=0.2, seed=12)
    y[::50] = np.nan
    perm = np.random.default_rng(0).permutation(len(t))
    result = analyze_leak(t[perm], y[perm])
    assert result.verdict == LEAK
    assert result.slope_mb_per_h == pytest.approx(30.0, rel=0.05)


def test_sawtooth_period_is_found_and_windows_span_it():
    from stresskit.report.leak import sawtooth_period

    t, y = series(hours=2, saw_mb=50.0, saw_period=450.0, noise_mb=0.2, seed=13)
    assert sawtooth_period(t, y) == pytest.approx(450.0, rel=0.05)
    assert sawtooth_period(*series(hours=1, noise_mb=1.0, seed=14)) is None
    result = analyze_leak(t, y)
    assert result.window_s >= 1.1 * 450 * 0.95
    assert result.verdict == NO_LEAK, result.reason


def test_autocorrelation_correction_raises_p_for_a_wandering_series():
    from stresskit.report.leak import mann_kendall

    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(0, 1, 40))  # a random walk: strongly autocorrelated, no real trend
    _, p, p_corrected = mann_kendall(x)
    assert p_corrected >= p
    trend = np.arange(40) + rng.normal(0, 0.5, 40)
    assert mann_kendall(trend)[2] < 1e-6
