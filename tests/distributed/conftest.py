"""Fixtures for tests that run stresskit's services as separate hosts in network namespaces.

``netns_lab`` gives each test its own :class:`tests.support.netns.NetnsLab` (a bridge and host
namespaces named with a unique prefix, addresses from 198.18.0.0/24) and always tears it down:
processes it started are stopped by pid, then its namespaces (with their bridge and veths) are
deleted. The test is skipped only when not root or when iproute2's ``ip`` is missing.
"""

from __future__ import annotations

import pytest

from tests.support.netns import NetnsLab, unavailable_reason


@pytest.fixture
def netns_lab(tmp_path):
    """A fresh namespace lab for one test; see tests/support/netns.py."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    lab = NetnsLab(tmp_path / "netns")
    try:
        yield lab
    finally:
        lab.close()
