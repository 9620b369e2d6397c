"""The message bus: one typed publish/subscribe channel per simulation, in simulated time, deterministically ordered.

Publishers (venues, chains, the bridge, consensus, settlement) call `publish(event, topic)`; subscribers register a
handler for an event type and optionally a topic. Delivery is synchronous, at the simulated time of the publish, in
the order the subscriptions were made, so the same run always delivers the same way. Latency between a publisher
and a subscriber (an agent's market-data feed) is the subscriber's business: it schedules its own delivery on the
kernel.

Topics are tuples naming where an event belongs, most general first: `(venue, symbol)` for market data,
`(account,)` for an account's fills, `(chain,)` for blocks. A subscription's topic matches every published topic it
is a prefix of: `("exchange",)` receives `("exchange", "AAPL")` and `("exchange", "MSFT")`; no topic receives all.
A subscription to a class receives its subclasses too (`Event` receives everything).

Publishers of costly events (full-depth book deltas) ask `wants(type, topic)` first and skip building them when
nobody listens, so a feature's cost is paid only by its subscribers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from market_sim.core.errors import MarketSimError

__all__ = ["Bus", "Subscription", "Topic"]

E = TypeVar("E")
Topic = tuple[Any, ...]
Handler = Callable[[Any], None]


@dataclass(frozen=True, slots=True, eq=False)
class Subscription:
    """A handle returned by `Bus.subscribe`; pass it to `Bus.unsubscribe`."""

    event_type: type
    topic: Topic | None
    handler: Handler
    seq: int = field(compare=False)


class Bus:
    """Typed, topic-keyed publish/subscribe with deterministic delivery order."""

    __slots__ = ("_subs", "_routes", "_seq", "published")

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        # (event type, topic) -> the handlers that receive it, in subscription order; rebuilt lazily.
        self._routes: dict[tuple[type, Topic | None], tuple[Handler, ...]] = {}
        self._seq = 0
        self.published = 0

    def subscribe(self, event_type: type[E], handler: Callable[[E], None], topic: Topic | None = None) -> Subscription:
        """Call handler(event) for every published event of `event_type` (or a subclass) whose topic starts with
        `topic` (None: every topic)."""
        if not isinstance(event_type, type):
            raise MarketSimError(f"subscribe needs an event class, got {event_type!r}")
        if topic is not None and not isinstance(topic, tuple):
            raise MarketSimError(f"a bus topic is a tuple such as ('exchange', 'AAPL'), got {topic!r}")
        self._seq += 1
        sub = Subscription(event_type, topic, handler, self._seq)
        self._subs.append(sub)
        self._routes.clear()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop a subscription; unsubscribing twice is harmless."""
        if sub in self._subs:
            self._subs.remove(sub)
            self._routes.clear()

    def publish(self, event: object, topic: Topic | None = None) -> None:
        """Deliver `event` to its subscribers now, in subscription order."""
        key = (type(event), topic)
        handlers = self._routes.get(key)
        if handlers is None:
            handlers = self._route(key)
        self.published += 1
        for handler in handlers:
            handler(event)

    def wants(self, event_type: type, topic: Topic | None = None) -> bool:
        """Whether any subscriber would receive an event of this type and topic (publishers skip costly events
        nobody listens to)."""
        key = (event_type, topic)
        handlers = self._routes.get(key)
        if handlers is None:
            handlers = self._route(key)
        return bool(handlers)

    def subscriptions(self) -> tuple[Subscription, ...]:
        """Every live subscription, in order (for inspection and the API)."""
        return tuple(self._subs)

    def _route(self, key: tuple[type, Topic | None]) -> tuple[Handler, ...]:
        event_type, topic = key
        if topic is not None and not isinstance(topic, tuple):  # checked once per new (type, topic), off the hot path
            raise MarketSimError(f"a bus topic is a tuple such as ('exchange', 'AAPL'), got {topic!r}")
        handlers = tuple(s.handler for s in self._subs
                         if issubclass(event_type, s.event_type)
                         and (s.topic is None or (topic is not None and topic[:len(s.topic)] == s.topic)))
        self._routes[key] = handlers
        return handlers
