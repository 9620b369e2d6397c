"""Per-client stream queues: bounded, filled by bus handlers on the simulation's thread, drained by the client's
WebSocket sender on the server's event loop.

The slow-client rule: a book's deltas wait at most `max_delay` seconds in a client's queue (0.05 s by default in
the app): a delta arriving when the oldest queued delta of its book is older than that drops them all, and the book
is resynced with a snapshot as below; this bounds the staleness of what a client is sent. A client's queue holds
at most `maxlen` messages. When a message arrives at a full queue,
every queued book delta is dropped and each book they belonged to is marked for resync: further deltas of that
book are dropped until the sender sends a fresh `book_snapshot` (taken under the simulation lock, so the deltas
after it continue it exactly). This is conflation: a slow client sees fewer, coarser book updates, never a wrong
book. If the queue is still full after that (it holds only trades, order or settlement messages), the client is
disconnected (WebSocket close code 4008, "too slow"). The simulation never waits for a client, and a client never
holds more than `maxlen` messages.

Waking: a LiveSim's bus handlers queue with `push(..., later=set)`, and the simulation's lock (live.StepLock) wakes
every client handed messages meanwhile when the step ends, with one call into each event loop (`wake_all`): a
client is sent one frame per step, whatever the number of messages in it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["StreamClient", "CLOSE_TOO_SLOW", "DEFAULT_QUEUE", "wake_all"]

CLOSE_TOO_SLOW = 4008
DEFAULT_QUEUE = 1000

BookKey = tuple[str, str]  # (venue, symbol)


class StreamClient:
    """One WebSocket connection's outgoing queue (thread-safe)."""

    __slots__ = ("_q", "_lock", "_event", "_loop", "maxlen", "resync", "closed", "conflations", "dropped",
                 "subscriptions", "principal", "max_delay", "_clock", "_oldest")

    def __init__(self, loop: asyncio.AbstractEventLoop | None, maxlen: int = DEFAULT_QUEUE,
                 principal: Any = None, max_delay: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._q: deque[tuple[str, BookKey | None]] = deque()
        self._lock = threading.Lock()
        self._event = asyncio.Event()
        self._loop = loop
        self.maxlen = maxlen
        self.resync: set[BookKey] = set()   # books whose deltas were conflated: a snapshot is owed
        self.closed: str | None = None      # why the client is to be disconnected
        self.conflations = 0
        self.dropped = 0                    # deltas dropped by conflation
        self.subscriptions: set[tuple] = set()
        self.principal = principal
        self.max_delay = max_delay          # seconds a book's deltas may wait in the queue (None: no limit)
        self._clock = clock
        self._oldest: dict[BookKey, float] = {}  # book -> when its oldest queued delta was queued

    def push(self, text: str, book: BookKey | None = None, later: set[StreamClient] | None = None) -> None:
        """Queue one serialized message (`book`: the book a delta belongs to). Never blocks on the client.
        `later`: instead of waking the client's sender now, add the client to this set; the publisher wakes them all
        with `wake_all` when its simulation step ends, so a client is sent one frame per step, not one per message."""
        with self._lock:
            wake = self._put(text, book, self._clock() if book is not None and self.max_delay is not None else 0.0)
        if wake:
            if later is None:
                self._wake()
            else:
                later.add(self)

    def push_many(self, items: list[tuple[str, BookKey | None]], later: set[StreamClient] | None = None) -> None:
        """`push` each (text, book) in order, arriving at one time, under one hold of the queue's lock."""
        with self._lock:
            now = self._clock() if self.max_delay is not None else 0.0
            wake = False
            for text, book in items:
                if self._put(text, book, now):
                    wake = True
        if wake:
            if later is None:
                self._wake()
            else:
                later.add(self)

    def _put(self, text: str, book: BookKey | None, now: float) -> bool:
        """With the lock held: queue one message arriving at `now` by the slow-client rule; whether to wake."""
        if self.closed is not None:
            return False
        if book is not None and book in self.resync:
            self.dropped += 1
            return False
        q = self._q
        wake = not q
        if book is not None and self.max_delay is not None:
            first = self._oldest.get(book)
            if first is None:
                self._oldest[book] = now
            elif now - first > self.max_delay:  # this book's deltas waited too long: a snapshot replaces them
                self._conflate_book(book)
                return True
        if len(q) >= self.maxlen:
            self.conflations += 1
            kept: deque[tuple[str, BookKey | None]] = deque()
            for item in q:
                if item[1] is None:
                    kept.append(item)
                else:
                    self.resync.add(item[1])
                    self.dropped += 1
            if book is not None:
                self.resync.add(book)
                self.dropped += 1
            self._q = q = kept
            self._oldest.clear()
            if len(q) >= self.maxlen:
                self.closed = f"too slow: {len(q)} messages queued (the limit is {self.maxlen})"
                q.clear()
            elif book is None:
                q.append((text, None))
            return True
        q.append((text, book))
        return wake

    def _conflate_book(self, book: BookKey) -> None:
        """With the lock held: drop `book`'s queued deltas (and the one arriving) and owe it a snapshot."""
        kept = deque(item for item in self._q if item[1] != book)
        self.dropped += len(self._q) - len(kept) + 1
        self.conflations += 1
        self._q = kept
        self.resync.add(book)
        self._oldest.pop(book, None)

    def _wake(self) -> None:
        if self._loop is None:
            self._event.set()
            return
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop is closed: the connection is gone
            pass

    def close(self, reason: str) -> None:
        """Disconnect after what is queued (the simulation ended, the server stops)."""
        with self._lock:
            if self.closed is None:
                self.closed = reason
        self._wake()

    def take(self) -> tuple[list[str], list[BookKey], str | None]:
        """Everything queued, the books owed a snapshot, and the close reason (if the client is to be dropped)."""
        with self._lock:
            items = [t for t, _ in self._q]
            self._q.clear()
            self._oldest.clear()
            return items, sorted(self.resync), self.closed

    @property
    def too_slow(self) -> bool:
        return self.closed is not None and self.closed.startswith("too slow")

    def resynced(self, book: BookKey) -> None:
        """A snapshot of `book` is on its way (call with the simulation lock held): its deltas flow again."""
        with self._lock:
            self.resync.discard(book)

    def queued(self) -> int:
        with self._lock:
            return len(self._q)

    async def wait(self) -> None:
        await self._event.wait()
        self._event.clear()


def wake_all(clients: set[StreamClient]) -> None:
    """Wake the senders of `clients` (and empty the set): one call into each event loop for all of its clients."""
    by_loop: dict[Any, list[StreamClient]] = {}
    for c in clients:
        if c._loop is None:
            c._event.set()
        else:
            by_loop.setdefault(c._loop, []).append(c)
    clients.clear()
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(_set_events, group)
        except RuntimeError:  # the loop is closed: the connections are gone
            pass


def _set_events(group: list[StreamClient]) -> None:
    for c in group:
        c._event.set()
