"""Venues: where agents' commands go. The runner talks to every venue through the Venue protocol only, so other
packages can add venue kinds (e.g. an AMM pool on a chain) with register_venue_type."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from market_sim.core.errors import ConfigError
from market_sim.core.fees import FeeSchedule
from market_sim.core.events import (
    BookUpdate, Event, OrderAccepted, OrderCancelled, OrderModified, OrderRejected, OrderRepriced, OrderTriggered,
    TradeRejected,
)
from market_sim.core.instruments import Instrument
from market_sim.core.registry import Registry
from market_sim.core.orders import Side
from market_sim.core.values import fast_init
from market_sim.simulation.params import build_params, param

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = [
    "Quote", "BookDelta", "BookSnapshot", "L2Book", "Venue", "VenueConfig", "OrderBookVenue", "register_venue_type",
    "VENUE_TYPES", "venue_types", "venue_type_info", "venue_module", "build_venue", "ORDER_BOOK_EVENTS",
    "OrderBookVenueParams",
]


@fast_init
@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book of one symbol on one venue (integer ticks and lots; None when a side is empty)."""

    ts: int
    venue: str
    symbol: str
    bid: int | None
    bid_qty: int
    ask: int | None
    ask_qty: int
    last: int | None

    @property
    def mid2(self) -> int | None:
        """Twice the mid price in ticks (an integer), or None when a side is empty."""
        return None if self.bid is None or self.ask is None else self.bid + self.ask


@fast_init
@dataclass(frozen=True, slots=True)
class BookDelta(BookUpdate):
    """An L2 change published on the bus (topic (venue, symbol)): the level `price` on `side` now shows
    `quantity` lots (0: the level is gone). `seq` counts the deltas of one (venue, symbol) from 1, with no gaps,
    so a subscriber applying them to the snapshot of the same seq has the book."""

    venue: str = ""
    seq: int = 0


@dataclass(frozen=True, slots=True)
class BookSnapshot(Event):
    """The full-depth (L2) book of one symbol on one venue after delta `seq` (bids and asks best first, as
    (price ticks, lots))."""

    venue: str
    symbol: str
    seq: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


class L2Book:
    """A subscriber's copy of one L2 book, kept from a snapshot and the deltas after it."""

    __slots__ = ("venue", "symbol", "seq", "bids", "asks")

    def __init__(self, venue: str, symbol: str, seq: int = 0) -> None:
        self.venue, self.symbol, self.seq = venue, symbol, seq
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    @classmethod
    def from_snapshot(cls, snap: BookSnapshot) -> "L2Book":
        book = cls(snap.venue, snap.symbol, snap.seq)
        book.bids.update(snap.bids)
        book.asks.update(snap.asks)
        return book

    def apply(self, delta: BookDelta) -> None:
        """Apply the next delta; deltas at or before the copy's seq (already in the snapshot) are skipped, and a
        gap raises MarketSimError (a subscriber missed one)."""
        if delta.seq <= self.seq:
            return
        if delta.seq != self.seq + 1:
            from market_sim.core.errors import MarketSimError

            raise MarketSimError(f"{self.venue}/{self.symbol}: book delta {delta.seq} after {self.seq} (a gap)")
        self.seq = delta.seq
        levels = self.bids if delta.side is Side.BUY else self.asks
        if delta.quantity:
            levels[delta.price] = delta.quantity
        else:
            levels.pop(delta.price, None)

    def best_bid(self) -> tuple[int, int] | None:
        return max(self.bids.items()) if self.bids else None

    def best_ask(self) -> tuple[int, int] | None:
        return min(self.asks.items()) if self.asks else None

    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) best first."""
        return (sorted(self.bids.items(), reverse=True)[:levels], sorted(self.asks.items())[:levels])


# The events an order-book venue publishes besides Trade and BookUpdate (the recorder's order_events table).
ORDER_BOOK_EVENTS: tuple[type[Event], ...] = (OrderAccepted, OrderRejected, OrderCancelled, OrderModified,
                                              OrderRepriced, OrderTriggered, TradeRejected)


@runtime_checkable
class Venue(Protocol):
    """What the runner needs from a venue. Commands are whatever the venue kind accepts (NewOrder, CancelOrder,
    ModifyOrder for order books; a swap command for an AMM); events are core Event values, which the runner
    publishes on the simulation's bus with topic (venue name, event symbol).

    Optional: `fees` (symbol -> core FeeSchedule in the instrument's quote base units: the runner charges each
    trade's maker and taker fills with it), `event_types` (the non-Trade event classes it emits, so the recorder subscribes to exactly those and
    L2 deltas stay unbuilt when nobody wants them; without it the recorder takes every event of the venue) and
    `emit_book_updates(on)` (the venue can produce BookUpdate deltas on request)."""

    name: str
    kind: str
    symbols: tuple[str, ...]

    def handle(self, command: Any, ts: int) -> list[Event]:
        """Apply a command arriving at ts; return every event it caused, in order."""
        ...

    def quote(self, symbol: str, ts: int) -> Quote:
        """Current top of book (or the AMM's marginal price as bid=ask)."""
        ...

    def depth(self, symbol: str, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) as (price ticks, lots), best first."""
        ...

    def end_session(self, ts: int) -> list[Event]:
        """Session close (DAY orders expire); venues without sessions return []."""
        ...

    def expire(self, ts: int) -> list[Event]:
        """Expire time-limited orders due at ts; venues without them return []."""
        ...


class OrderBookVenue:
    """A continuous limit-order-book exchange: the matching engine behind the Venue protocol."""

    kind = "orderbook"
    event_types = ORDER_BOOK_EVENTS

    def __init__(self, name: str, instruments: Iterable[Instrument], validator: Any = None,
                 fees: Mapping[str, FeeSchedule] | None = None) -> None:
        from market_sim.market import MatchingEngine  # the runner is the only simulation piece needing market

        self.name = name
        insts = list(instruments)
        # symbol -> the fee schedule of its fills (quote base units; per-unit fees per lot); none: free
        self.fees: dict[str, FeeSchedule] = dict(fees or {})
        self.symbols = tuple(i.symbol for i in insts)
        self.engine = MatchingEngine(insts, traders=None, validator=validator)
        self._process = self.engine.process
        self.handle = self.engine.process  # the runner calls handle once per command: no wrapper frame
        self._book = {s: self.engine.book(s) for s in self.symbols}

    def handle(self, command: Any, ts: int) -> list[Event]:  # shadowed per instance by engine.process
        return self._process(command, ts)

    def quote(self, symbol: str, ts: int) -> Quote:
        book = self._book[symbol]
        top = book._top  # best_bid()/best_ask() without their wrapper frames (agents read quotes at every decision)
        bid, ask = top(book.bids), top(book.asks)
        last = book.last_price  # the OrderBook keeps it; stats() would build a snapshot object per call
        return Quote(ts, self.name, symbol, bid[0] if bid else None, bid[1] if bid else 0,
                     ask[0] if ask else None, ask[1] if ask else 0, last)

    def reference(self, symbol: str) -> int | None:
        """What `Agent.reference_ticks` derives from `quote(symbol, ts)`, without building the Quote: the mid (half
        a tick to even), else the last trade, else the one displayed side, else None."""
        book = self._book[symbol]
        top = book._top
        bid, ask = top(book.bids), top(book.asks)
        if bid and ask:
            total = bid[0] + ask[0]  # mid_ticks, inlined
            half = total >> 1
            return half + 1 if total & 1 and half & 1 else half
        last = book.last_price
        if last is not None:
            return last
        if bid:
            return bid[0]
        return ask[0] if ask else None

    def depth(self, symbol: str, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids, asks = self._book[symbol].depth(levels)
        return list(bids), list(asks)

    def emit_book_updates(self, on: bool = True) -> None:
        """Ask the engine for BookUpdate deltas (the runner asks when a bus subscriber wants them)."""
        self.engine.emit_book_updates(on)

    def end_session(self, ts: int) -> list[Event]:
        return self.engine.end_session(ts)

    def expire(self, ts: int) -> list[Event]:
        return self.engine.expire(ts)


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """One [[venues]] entry: name, kind, the instrument symbols it lists and kind-specific parameters."""

    name: str
    kind: str
    symbols: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)


VenueFactory = Callable[["Simulation", VenueConfig], Venue]
ParamsCheck = Callable[[dict[str, Any], str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _VenueType:
    factory: VenueFactory
    check: ParamsCheck | None
    params: type | None = None  # the parameter dataclass of the kind's extra keys (for listings)
    description: str = ""


VENUE_TYPES: Registry[_VenueType] = Registry("venue kind")


def register_venue_type(kind: str, factory: VenueFactory, check: ParamsCheck | None = None, *,
                        params: type | None = None, description: str = "") -> None:
    """Add a venue kind: factory(sim, config) builds it; check(params, where) validates extra keys at load time;
    `params` (a parameter dataclass) and `description` document the kind in `market-sim agents`."""
    VENUE_TYPES.register(_VenueType(factory, check, params, description), name=kind, help=description,
                         params=params, plugin=getattr(factory, "__module__", None) or "")


def venue_module(kind: str) -> str | None:
    """The module that registered a venue kind (its factory's module), or None for an unknown kind."""
    return VENUE_TYPES.entry(kind).plugin or None if kind in VENUE_TYPES else None


def venue_type_info(kind: str) -> tuple[str, type | None]:
    """(description, parameter dataclass or None) of a registered venue kind."""
    e = VENUE_TYPES.entry(kind)
    return e.help, e.params


def venue_types() -> list[str]:
    """Registered venue kinds."""
    return sorted(VENUE_TYPES)


def check_venue_params(kind: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate a venue's kind-specific keys."""
    check = VENUE_TYPES.get(kind, f"{where}.kind").check
    if check is not None:
        return check(params, where)
    if params:
        key = next(iter(params))
        raise ConfigError("unknown key for this venue kind", key=f"{where}.{key}", value=params[key])
    return params


def build_venue(sim: "Simulation", config: VenueConfig) -> Venue:
    """Build a venue of a registered kind."""
    return VENUE_TYPES.get(config.kind, "kind").factory(sim, config)


@dataclass(frozen=True, slots=True)
class OrderBookVenueParams:
    """The keys of an order-book [[venues]] entry besides name, kind and instruments."""

    fees: dict = param({}, help="fees of each fill, e.g. { maker_bps = -0.5, taker_bps = 2.5 }: maker_bps, "
                                "taker_bps (basis points of notional, exact decimals; negative = rebate); per_lot or "
                                "maker_per_lot/taker_per_lot, commission (per fill) and minimum (per fill) in the "
                                "instrument's quote currency; maximum_bps (cap); charges round up to a quote base "
                                "unit, rebates toward zero (market_sim.core.fees)")


def _orderbook_fees(params: dict[str, Any], where: str, instruments: Iterable[Instrument]) -> dict[str, FeeSchedule]:
    """Each instrument's schedule: the venue's fees table with amounts in that instrument's quote base units."""
    raw = build_params(OrderBookVenueParams, params, where).fees
    if not raw:
        return {}
    return {i.symbol: FeeSchedule.parse(raw, f"{where}.fees", unit="lot", scale=10 ** i.quote_decimals)
            for i in instruments}


def _check_orderbook(params: dict[str, Any], where: str) -> dict[str, Any]:
    # at load time the quote decimals are not known here: check keys, numbers and rates (as at 18 decimals); the
    # venue re-reads the table per instrument when it is built (a commission finer than a cent fails then)
    raw = build_params(OrderBookVenueParams, params, where).fees
    FeeSchedule.parse(raw, f"{where}.fees", unit="lot", scale=10 ** 18)
    return params


register_venue_type(
    "orderbook",
    lambda sim, cfg: OrderBookVenue(cfg.name, [sim.instruments[s] for s in cfg.symbols], sim.trade_validator,
                                    _orderbook_fees(cfg.params, f"venues.{cfg.name}",
                                                    [sim.instruments[s] for s in cfg.symbols])),
    _check_orderbook, params=OrderBookVenueParams,
    description="continuous limit order book: the matching engine (price-time priority; optional maker/taker fees)",
)
