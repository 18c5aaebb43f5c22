"""Time as a dependency, so tests can move it (token windows, state expiry)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""


class SystemClock:
    def now(self) -> float:
        return time.time()


class FrozenClock:
    """A clock for tests: stands still until moved."""

    def __init__(self, at: float | None = None):
        self._at = time.time() if at is None else at

    def now(self) -> float:
        return self._at

    def advance(self, seconds: float) -> None:
        self._at += seconds
