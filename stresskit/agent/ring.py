"""The ring buffer of encoded samples that lets a subscriber resume from a sequence number.

Samples are kept for ``max_age`` seconds (default one hour) and at most ``max_bytes`` in all,
whichever bound bites first. Each entry is stored zlib-compressed (a sample tracking a hundred
processes is ~11 KB of JSON and ~2 KB compressed); the newest few are also kept as they are,
because live subscribers read those, so only a subscriber catching up pays for decompression.
"""

from __future__ import annotations

import threading
import zlib
from collections import deque

__all__ = ["Ring"]

_HOT = 16


class Ring:
    """Sequence-numbered, age- and size-bounded store of encoded sample lines. Thread-safe."""

    def __init__(self, max_age: float = 3600.0, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_age = max_age
        self.max_bytes = max_bytes
        self._entries: deque[tuple[int, float, bytes]] = deque()  # (seq, mono, compressed line)
        self._hot: dict[int, bytes] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.evicted = 0

    def append(self, seq: int, mono: float, line: bytes) -> None:
        """Add the line of sample ``seq`` taken at monotonic time ``mono``; evict what fell out of bounds."""
        packed = zlib.compress(line, 1)
        with self._lock:
            if self._entries and seq != self._entries[-1][0] + 1:
                raise ValueError(f"sequence numbers must be contiguous: {seq} after {self._entries[-1][0]}")
            self._entries.append((seq, mono, packed))
            self._bytes += len(packed)
            self._hot[seq] = line
            self._hot.pop(seq - _HOT, None)
            horizon = mono - self.max_age
            while len(self._entries) > 1 and (self._entries[0][1] < horizon or self._bytes > self.max_bytes):
                old_seq, _, old = self._entries.popleft()
                self._bytes -= len(old)
                self._hot.pop(old_seq, None)
                self.evicted += 1

    def since(self, seq: int, limit: int = 64) -> list[tuple[int, bytes]]:
        """Up to ``limit`` entries with sequence number ``>= seq``, oldest first (decoded lines)."""
        with self._lock:
            if not self._entries or seq > self._entries[-1][0]:
                return []
            first = self._entries[0][0]
            start = max(0, seq - first)  # sequence numbers are contiguous inside the ring
            picked = [self._entries[i] for i in range(start, min(start + limit, len(self._entries)))]
            hot = dict(self._hot)
        return [(s, hot.get(s) or zlib.decompress(packed)) for s, _, packed in picked]

    @property
    def oldest(self) -> int | None:
        with self._lock:
            return self._entries[0][0] if self._entries else None

    @property
    def latest(self) -> int | None:
        with self._lock:
            return self._entries[-1][0] if self._entries else None

    @property
    def nbytes(self) -> int:
        """Compressed bytes held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
