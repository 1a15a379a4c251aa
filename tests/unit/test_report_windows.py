"""The report's window adapts to the run's length, and every recording grain divides it."""

import itertools

import pytest

from stresskit.report.latency import _count_note
from stresskit.report.windows import GRAINS, POINTS, grain_for, window_for


@pytest.mark.parametrize(("duration", "window"), [
    (21, 1.0), (300, 1.0), (301, 5.0), (3600, 30.0), (15 * 60, 5.0), (2 * 3600, 30.0), (20 * 3600, 300.0),
    (None, 60.0), (0, 60.0)])
def test_window_follows_the_run_length(duration, window):
    assert window_for(duration) == window
    if duration and duration > 300:
        assert 60 <= duration / window <= POINTS


def test_grains_form_a_chain():
    assert all(b % a == 0 for a, b in itertools.pairwise(GRAINS))


@pytest.mark.parametrize("coarsest", [60.0, 2.0, 300.0, 45.0])
def test_every_grain_recorded_divides_the_window_of_any_longer_run(coarsest):
    for elapsed in (0, 10, 299, 300, 1499, 1500, 3000, 9000, 18000, 72000):
        grain = grain_for(elapsed, coarsest)
        assert grain <= coarsest and (coarsest / grain).is_integer()
        for duration in (elapsed, elapsed * 1.5, elapsed * 10):
            window = max(window_for(duration or 1), coarsest if coarsest not in GRAINS else 0)
            assert (window / grain).is_integer(), (elapsed, duration, grain, window)


def test_grain_grows_with_the_run():
    assert [grain_for(t, 60.0) for t in (0, 1499, 1500, 3000, 9000, 18000)] == [1, 1, 5, 10, 30, 60]


def test_count_notes_are_plain_statements():
    fewer = _count_note(1200, 1265, 2)
    assert "65 fewer requests than Locust counted (1,200 of 1,265, over 2 request names)" in fewer
    assert "-65" not in fewer
    more = _count_note(1270, 1265, 1)
    assert "5 more requests than Locust's counts" in more and "1 request name)" in more


def test_next_grain_change_bounds_the_span_a_grain_holds() -> None:
    """The latency recorder reuses a window until next_grain_change: grain_for must not change before."""
    from stresskit.report.windows import grain_for, next_grain_change

    for coarsest in (60.0, 300.0, 7.0):
        for elapsed in (0.0, 0.5, 299.9, 300.0, 1499.0, 1500.0, 2999.0, 9000.0, 17999.0, 18000.0, 1e6):
            change = next_grain_change(elapsed, coarsest)
            assert change > elapsed
            grain = grain_for(elapsed, coarsest)
            probe = [elapsed + f * (min(change, elapsed + 1e5) - elapsed) for f in (0.25, 0.5, 0.999)]
            assert all(grain_for(e, coarsest) == grain for e in probe)
            if change != float("inf"):
                assert grain_for(change, coarsest) != grain
