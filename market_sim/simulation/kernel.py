"""The discrete-event kernel: an integer-nanosecond clock and a queue of callbacks ordered by (time, sequence)."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from market_sim.core.errors import MarketSimError

__all__ = ["Kernel", "Timer"]

Timer = list  # [time, seq, fn, args]; fn is set to None to cancel (lazy deletion)


class Kernel:
    """Runs callbacks in (time, sequence) order; the same schedule always runs the same way."""

    __slots__ = ("now", "_queue", "_seq", "_stopped", "events_processed")

    def __init__(self, start: int = 0) -> None:
        self.now: int = start
        self._queue: list[Timer] = []
        self._seq = 0
        self._stopped = False
        self.events_processed = 0

    def schedule_at(self, time: int, fn: Callable[..., Any], *args: Any) -> Timer:
        """Run fn(*args) at absolute time `time` (ns); returns a handle for cancel()."""
        if time < self.now:
            raise MarketSimError(f"cannot schedule in the past: {time} < now {self.now}")
        self._seq += 1
        entry = [time, self._seq, fn, args]
        heapq.heappush(self._queue, entry)
        return entry

    def schedule(self, delay: int, fn: Callable[..., Any], *args: Any) -> Timer:
        """Run fn(*args) `delay` ns from now."""
        if delay < 0:
            raise MarketSimError(f"negative delay {delay}")
        self._seq += 1
        entry = [self.now + delay, self._seq, fn, args]
        heapq.heappush(self._queue, entry)
        return entry

    @staticmethod
    def cancel(timer: Timer) -> None:
        """Cancel a scheduled callback; cancelling twice or after it ran is harmless."""
        timer[2] = None

    def every(self, period: int, fn: Callable[[], Any], start: int | None = None) -> Callable[[], None]:
        """Call fn() every `period` ns from `start` (default now + period); returns a function that stops it."""
        if period <= 0:
            raise MarketSimError(f"period must be positive, got {period}")
        state: dict[str, Timer | None] = {"timer": None}

        def tick() -> None:
            state["timer"] = self.schedule(period, tick)
            fn()

        state["timer"] = self.schedule_at(self.now + period if start is None else start, tick)

        def stop() -> None:
            if state["timer"] is not None:
                self.cancel(state["timer"])

        return stop

    def stop(self) -> None:
        """Stop run() after the current callback."""
        self._stopped = True

    @property
    def pending(self) -> int:
        return len(self._queue)

    def peek(self) -> int | None:
        """Time of the next live event, or None when the queue is empty."""
        q = self._queue
        while q and q[0][2] is None:
            heapq.heappop(q)
        return q[0][0] if q else None

    def run_one(self, pacer: Callable[[int], None] | None = None) -> bool:
        """Process the next live event; returns False when the queue is empty."""
        q = self._queue
        while q:
            entry = heapq.heappop(q)
            fn = entry[2]
            if fn is None:
                continue
            t = entry[0]
            if pacer is not None and t != self.now:
                pacer(t)
            self.now = t
            fn(*entry[3])
            self.events_processed += 1
            return True
        return False

    def run(self, until: int | None = None, pacer: Callable[[int], None] | None = None) -> int:
        """Process events until the queue is empty, `until` (ns, inclusive) is reached, or stop() is called.

        `pacer(t)` is called before each event at a new time (the real-time clock sleeps there).
        Returns the number of events processed.
        """
        q = self._queue
        pop = heapq.heappop
        self._stopped = False
        n = 0
        limit = until if until is not None else float("inf")
        try:
            if pacer is None:  # the common case, without the per-event pacer test
                while q:
                    entry = pop(q)
                    fn = entry[2]
                    if fn is None:
                        continue
                    t = entry[0]
                    if t > limit:
                        heapq.heappush(q, entry)  # same (time, seq): it keeps its place
                        break
                    self.now = t
                    fn(*entry[3])
                    n += 1
                    if self._stopped:
                        break
            else:
                while q and not self._stopped:
                    entry = q[0]
                    t = entry[0]
                    if t > limit:
                        break
                    pop(q)
                    fn = entry[2]
                    if fn is None:
                        continue
                    if t != self.now:
                        pacer(t)
                    self.now = t
                    fn(*entry[3])
                    n += 1
        finally:
            self.events_processed += n
        if until is not None and not self._stopped and self.now < until:
            self.now = until
        return n
