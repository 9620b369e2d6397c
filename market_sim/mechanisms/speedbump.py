"""Speed bump (as IEX's): every incoming command waits a fixed delay before the venue sees it, except those of
exempt traders (and, if asked, cancels). Wraps any venue; the wrapped venue's events are published when the delayed
command reaches it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from market_sim.core.errors import ConfigError
from market_sim.core.events import Event
from market_sim.core.orders import CancelOrder

__all__ = ["SpeedBump"]


class SpeedBump:
    """A venue seen through a delay of `delay` ns (all Venue calls but handle go straight through)."""

    def __init__(self, inner: Any, sim: Any, delay: int, exempt: Iterable[str] = (), exempt_cancels: bool = False):
        if type(delay) is not int or delay < 0:
            raise ConfigError("must be a duration >= 0", key="speed_bump", value=delay)
        if sim is None:
            raise ConfigError("a speed bump needs a simulation (its delay runs on the kernel)", key="speed_bump",
                              value=delay)
        self.inner, self.sim, self.delay = inner, sim, delay
        self.exempt = frozenset(exempt)
        self.exempt_cancels = exempt_cancels
        self.name, self.kind, self.symbols = inner.name, inner.kind, inner.symbols
        self.delayed = 0  # commands that went through the bump

    def __getattr__(self, attr: str) -> Any:  # fees, event_types, emit_book_updates, engine ... of the inner venue
        return getattr(self.inner, attr)

    def handle(self, command: Any, ts: int) -> list[Event]:
        if getattr(command, "trader", None) in self.exempt or (self.exempt_cancels and type(command) is CancelOrder):
            return self.inner.handle(command, ts)
        self.delayed += 1
        self.sim.kernel.schedule_at(ts + self.delay, self._release, command)
        return []

    def _release(self, command: Any) -> None:
        self.sim.publish(self, command, self.inner.handle(command, self.sim.kernel.now))

    def quote(self, symbol: str, ts: int):
        return self.inner.quote(symbol, ts)

    def depth(self, symbol: str, levels: int = 10):
        return self.inner.depth(symbol, levels)

    def end_session(self, ts: int) -> list[Event]:
        return self.inner.end_session(ts)

    def expire(self, ts: int) -> list[Event]:
        return self.inner.expire(ts)
