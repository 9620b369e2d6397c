"""The clock protocol: anything that tells simulated time in integer nanoseconds."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Clock", "NS_PER_SECOND", "NS_PER_MS", "NS_PER_US"]

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_SECOND = 1_000_000_000


class Clock(Protocol):
    def now(self) -> int:
        """Current time in integer nanoseconds."""
        ...
