"""The ring buffer: contiguous sequence numbers, resume from any kept seq, bounded by age and size."""

import os

import pytest

from stresskit.agent.ring import Ring


def line(seq, size=100):
    return f'{{"seq":{seq},"pad":"{"x" * size}"}}\n'.encode()


def test_since_returns_from_the_requested_seq_in_order_and_in_chunks():
    ring = Ring(max_age=100)
    for seq in range(1, 101):
        ring.append(seq, float(seq), line(seq))
    assert [s for s, _ in ring.since(95)] == [95, 96, 97, 98, 99, 100]
    assert [s for s, _ in ring.since(1, limit=3)] == [1, 2, 3]
    assert ring.since(101) == []
    assert dict(ring.since(5, limit=1))[5] == line(5)  # old entries come back decompressed, byte for byte


def test_age_bound_evicts_the_oldest_and_a_stale_since_starts_at_the_oldest():
    ring = Ring(max_age=10)
    for seq in range(1, 31):
        ring.append(seq, float(seq), line(seq))
    assert ring.oldest == 20 and ring.latest == 30 and ring.evicted == 19
    assert ring.since(3)[0][0] == 20  # the subscriber sees the jump 3 -> 20


def test_size_bound_evicts_the_oldest():
    ring = Ring(max_age=1e9, max_bytes=20_000)
    for seq in range(1, 201):
        ring.append(seq, float(seq), os.urandom(1000))  # incompressible
    assert ring.nbytes <= 20_000
    assert ring.latest == 200 and ring.oldest > 150


def test_sequence_numbers_must_be_contiguous():
    ring = Ring()
    ring.append(1, 0.0, line(1))
    with pytest.raises(ValueError, match="contiguous"):
        ring.append(3, 1.0, line(3))
