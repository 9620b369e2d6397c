"""The discrete-event kernel: an integer-nanosecond clock and a queue of callbacks ordered by (time, sequence).

The queue is a heap of distinct times plus, per time, a bucket: the list of the callbacks due then, in the order they
were scheduled. A time's bucket stays in place while its callbacks run, so a callback scheduled for the current time
(`schedule(0, ...)`) is appended to it and runs after everything already due then — insertion order at equal times is
kept without a sequence number, and only the first callback at a time touches the heap. The heap compares plain ints
(cheap), where a heap of [time, seq, fn, args] entries spent a third of the kernel's time comparing lists.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

from market_sim.core.errors import MarketSimError

__all__ = ["Kernel", "Timer"]

Timer = list  # [fn, args]; fn is set to None when it has run or is cancelled (lazy deletion)

_NO_LIMIT = 1 << 256  # beyond any time in ns


class Kernel:
    """Runs callbacks in (time, sequence) order; the same schedule always runs the same way."""

    __slots__ = ("now", "_times", "_buckets", "_stopped", "_running", "events_processed")

    def __init__(self, start: int = 0) -> None:
        self.now: int = start
        self._times: list[int] = []  # heap of the distinct times that have a bucket
        self._buckets: dict[int, list[Timer]] = {}  # time -> its callbacks in scheduling order
        self._stopped = False
        self._running = False
        self.events_processed = 0

    def schedule_at(self, time: int, fn: Callable[..., Any], *args: Any) -> Timer:
        """Run fn(*args) at absolute time `time` (ns); returns a handle for cancel()."""
        if time < self.now:
            raise MarketSimError(f"cannot schedule in the past: {time} < now {self.now}")
        entry = [fn, args]
        bucket = [entry]
        b = self._buckets.setdefault(time, bucket)
        if b is bucket:
            heappush(self._times, time)
        else:
            b.append(entry)
        return entry

    def schedule(self, delay: int, fn: Callable[..., Any], *args: Any) -> Timer:
        """Run fn(*args) `delay` ns from now."""
        # The body repeats schedule_at's on purpose: every event of a run is scheduled here, and a second Python
        # call per event would cost ~10 % of the kernel's throughput (bench kernel).
        if delay < 0:
            raise MarketSimError(f"negative delay {delay}")
        time = self.now + delay
        entry = [fn, args]
        bucket = [entry]
        b = self._buckets.setdefault(time, bucket)
        if b is bucket:
            heappush(self._times, time)
        else:
            b.append(entry)
        return entry

    @staticmethod
    def cancel(timer: Timer) -> None:
        """Cancel a scheduled callback; cancelling twice or after it ran is harmless."""
        timer[0] = None

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
        """Callbacks scheduled and neither run nor cancelled yet."""
        return sum(entry[0] is not None for bucket in self._buckets.values() for entry in bucket)

    def peek(self) -> int | None:
        """Time of the next live event, or None when the queue is empty."""
        times, buckets = self._times, self._buckets
        while times:
            t = times[0]
            if any(entry[0] is not None for entry in buckets[t]):
                return t
            if self._running and t == self.now:
                # run() is working through this bucket (peek from a callback): leave it to run() to discard.
                heappop(times)
                t2 = self.peek()
                heappush(times, t)
                return t2
            heappop(times)
            del buckets[t]
        return None

    def run_one(self, pacer: Callable[[int], None] | None = None) -> bool:
        """Process the next live event (the step API); returns False when nothing is left."""
        times, buckets = self._times, self._buckets
        while times:
            t = times[0]
            for entry in buckets[t]:
                fn = entry[0]
                if fn is None:
                    continue
                if pacer is not None and t != self.now:
                    pacer(t)
                self.now = t
                entry[0] = None  # ran (or raised): never again
                fn(*entry[1])
                self.events_processed += 1
                return True
            heappop(times)  # every callback of this time has run
            del buckets[t]
        return False

    def run(self, until: int | None = None, pacer: Callable[[int], None] | None = None) -> int:
        """Process events until the queue is empty, `until` (ns, inclusive) is reached, or stop() is called.

        `pacer(t)` is called before each event at a new time (the real-time clock sleeps there).
        Returns the number of events processed.
        """
        times, buckets = self._times, self._buckets
        self._stopped = False
        self._running = True
        n = 0
        limit = until if until is not None else _NO_LIMIT
        try:
            while times:
                t = times[0]
                if t > limit:
                    break
                if pacer is not None and t != self.now:
                    pacer(t)
                self.now = t
                # A callback may append to this bucket (same time): the iteration picks that up.
                for entry in buckets[t]:
                    fn = entry[0]
                    if fn is None:
                        continue
                    entry[0] = None  # ran (or raised): never again, and a late cancel() is harmless
                    fn(*entry[1])
                    n += 1
                    if self._stopped:
                        break
                else:
                    heappop(times)
                    del buckets[t]
                    continue
                break  # stopped: the rest of this bucket runs on the next run()
        finally:
            self.events_processed += n
            self._running = False
        if until is not None and not self._stopped and self.now < until:
            self.now = until
        return n
