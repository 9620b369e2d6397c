"""Small builders shared by the market tests."""

from __future__ import annotations

from market_sim.core.events import Event, OrderCancelled, OrderRejected, Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, OrderType, Side
from market_sim.market import MatchingEngine

SYM = "XYZ"
BUY, SELL = Side.BUY, Side.SELL


def engine(**kwargs) -> MatchingEngine:
    return MatchingEngine([Instrument(SYM)], **kwargs)


def limit(oid: int, trader: str, side: Side, qty: int, price: int, **kw) -> NewOrder:
    return NewOrder(oid, trader, SYM, side, qty, OrderType.LIMIT, price, **kw)


def market(oid: int, trader: str, side: Side, qty: int, **kw) -> NewOrder:
    return NewOrder(oid, trader, SYM, side, qty, OrderType.MARKET, **kw)


def fills(events: list[Event]) -> list[tuple[int, int, int, int]]:
    """Trades as (buy id, sell id, price, qty)."""
    return [(e.buy_order_id, e.sell_order_id, e.price, e.quantity) for e in events if isinstance(e, Trade)]


def cancels(events: list[Event]) -> list[tuple[int, int, str, int]]:
    """Cancels as (order id, cancelled qty, reason, remaining)."""
    return [(e.order_id, e.cancelled_quantity, e.reason.value, e.remaining_quantity)
            for e in events if isinstance(e, OrderCancelled)]


def rejects(events: list[Event]) -> list[tuple[int, str]]:
    return [(e.order_id, e.reason.value) for e in events if isinstance(e, OrderRejected)]


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def snapshot(eng: MatchingEngine) -> tuple:
    """Everything observable about the book, for 'left exactly as it was' checks."""
    book = eng.book(SYM)
    return (book.l3(include_hidden=True), book.depth(100), book.stats(), eng.pending_stops(SYM),
            eng.resting_count())


def resting(eng: MatchingEngine, side: Side | None = None) -> list[tuple[int, int, int]]:
    """(order id, price, open qty) of resting orders, in priority order (bids then asks)."""
    bids, asks = eng.book(SYM).l3(include_hidden=True)
    chosen = bids + asks if side is None else (bids if side is BUY else asks)
    return [(s.order_id, s.price, s.quantity) for s in chosen]


def run(eng: MatchingEngine, *cmds, ts: int = 0) -> list[Event]:
    """Process commands in order; returns the events of the last one."""
    events: list[Event] = []
    for cmd in cmds:
        events = eng.process(cmd, ts)
    return events
