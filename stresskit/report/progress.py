"""A small progress display for long post-processing, on stderr so stdout stays the summary.

On a terminal one line is rewritten in place; otherwise (CI logs, pipes) each step is one line.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Announce steps: ``progress.step("reading stats history")``; ``done()`` ends the display."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None, total: int | None = None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.count = 0
        self.started = time.perf_counter()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.steps: list[tuple[str, float]] = []

    def step(self, label: str) -> None:
        self.count += 1
        elapsed = time.perf_counter() - self.started
        self.steps.append((label, elapsed))
        if not self.enabled:
            return
        of = f"/{self.total}" if self.total else ""
        text = f"[report {self.count}{of}] {label} ({elapsed:.1f} s)"
        try:
            if self._tty:
                self.stream.write("\r\033[K" + text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def done(self) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        try:
            self.stream.write(("\r\033[K" if self._tty else "") + f"[report] done in {elapsed:.1f} s\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass
