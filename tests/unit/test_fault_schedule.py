"""The seeded fault schedule as a pure function: reproducible, rate-correct, kinds drawn fairly."""

from collections import Counter

import pytest
from scipy.stats import binomtest, chisquare

from stresskit.faults.schedule import UserSchedule, slot_name

KINDS = ("browser_crash", "element_not_found", "stale_element", "javascript_error")


def decisions(seed, slot="w0/Pages/0", rate=0.05, kinds=KINDS, n=2000):
    return [(d.action, d.kind) for d in UserSchedule(seed, slot, rate, kinds).take(n)]


def test_same_seed_same_schedule_different_seed_or_slot_different():
    assert decisions(7) == decisions(7)
    assert decisions(7) != decisions(8)
    assert decisions(7) != decisions(7, slot="w0/Pages/1")
    assert decisions(7, slot=slot_name(1, "Pages", 0)) != decisions(7, slot=slot_name(0, "Pages", 0))


def test_the_decision_for_action_n_does_not_depend_on_the_rate():
    """Two draws per action whatever happens: a higher rate only adds faults, it never moves them."""
    low = decisions(3, rate=0.02, n=5000)
    high = decisions(3, rate=0.2, n=5000)
    low_faults = {a for a, k in low if k}
    high_faults = {a for a, k in high if k}
    assert low_faults <= high_faults
    assert all(dict(low)[a] == dict(high)[a] for a in low_faults)


@pytest.mark.parametrize("rate", [0.02, 0.03, 0.05, 0.08, 0.5])
def test_injection_rate_matches_the_configured_rate(rate):
    n = 20_000
    injected = sum(1 for _, kind in decisions(11, rate=rate, n=n) if kind)
    result = binomtest(injected, n, rate)
    assert result.pvalue > 0.001, f"{injected}/{n} for rate {rate}: p={result.pvalue:.2g}"


def test_the_rate_holds_across_many_users_too():
    n_users, actions = 200, 200
    injected = sum(1 for user in range(n_users)
                   for _, kind in decisions(5, slot=slot_name(0, "Api", user), rate=0.03, n=actions) if kind)
    assert binomtest(injected, n_users * actions, 0.03).pvalue > 0.001


def test_kinds_are_drawn_uniformly():
    counts = Counter(kind for _, kind in decisions(2, rate=1.0, n=8000))
    assert set(counts) == set(KINDS)
    assert chisquare([counts[k] for k in KINDS]).pvalue > 0.001


def test_rate_zero_never_and_rate_one_always_and_no_kinds_never():
    assert not any(k for _, k in decisions(1, rate=0.0, n=1000))
    assert all(k for _, k in decisions(1, rate=1.0, n=1000))
    assert not any(k for _, k in decisions(1, rate=1.0, kinds=(), n=1000))
