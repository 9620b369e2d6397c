"""Queue-position-aware quoting from L2 deltas and the trade tape.

The maker joins the best bid and ask. For each of its resting quotes it estimates the lots queued ahead of it:
the level's size when the quote was sent; trades at that price then consume the queue from the front (all of it
ahead of us), and other decreases of the level (cancels) are taken pro rata from the lots ahead and behind. New
orders join behind. A quote whose price is no longer the best of its side has lost its place (a better price
now has priority): it is cancelled and the maker rejoins at the new best, or improves the best by a tick when the
queue there is longer than `max_join_queue` and the spread allows. It quotes only while the spread is at least
`min_spread_ticks`, within `max_inventory`.
"""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.events import Event, OrderCancelled, OrderRejected, Trade
from market_sim.core.orders import Side
from market_sim.simulation.agents.base import Fill, register_agent_type
from market_sim.simulation.params import param
from market_sim.simulation.venues import BookDelta
from market_sim.strategies.hft.base import HftAgent, HftParams

__all__ = ["QueueMaker"]


@dataclass(frozen=True, slots=True)
class QueueMakerParams(HftParams):
    quantity: int = param(5, min=1, help="lots per quote")
    max_inventory: int = param(50, min=0, help="|position| never exceeds this many lots")
    min_spread_ticks: int = param(2, min=1, help="quote only while the spread is at least this wide")
    max_join_queue: int = param(200, min=0,
                                help="join the best level only when at most this many lots queue there; else "
                                     "improve it by one tick (if the spread is wider than min_spread_ticks)")
    skew_lots: int = param(0, min=0, help="stop quoting the side that grows |position| past this (0 = limit only)")


@register_agent_type
class QueueMaker(HftAgent):
    """Joins the touch and keeps its queue place: tracks the lots ahead of each quote from L2 deltas and trades,
    cancels and rejoins when its level stops being the best."""

    kind = "queue_maker"
    Params = QueueMakerParams

    def on_start(self) -> None:
        self.symbol = self.symbols[0]
        self.quotes: dict[Side, int | None] = {Side.BUY: None, Side.SELL: None}
        self.ahead: dict[int, float] = {}          # order id -> estimated lots ahead
        self._traded: dict[tuple[Side, int], int] = {}  # resting side, price -> traded lots not yet seen in deltas
        self._level_before: dict[tuple[Side, int], int] = {}
        self.fill_queue_ahead: list[float] = []    # estimated queue ahead when each fill arrived (0 is exact)
        self.requeues = 0
        self.subscribe_trades(self.symbol)
        self.subscribe_book(self.symbol)

    # ----- queue tracking -----
    def observe_trade(self, trade: Trade) -> bool:
        resting = Side.SELL if trade.aggressor is Side.BUY else Side.BUY
        key = (resting, trade.price)
        self._traded[key] = self._traded.get(key, 0) + trade.quantity
        for oid in self._mine_at(resting, trade.price):
            self.ahead[oid] = max(0.0, self.ahead[oid] - trade.quantity)
        return False

    def observe_book(self, delta: BookDelta | None) -> bool:
        if delta is not None:
            key = (delta.side, delta.price)
            old = self._level_before.get(key, 0)
            self._level_before[key] = delta.quantity
            drop = old - delta.quantity
            traded = self._traded.pop(key, 0)
            cancels = max(0, drop - traded)
            if cancels:
                for oid in self._mine_at(delta.side, delta.price):
                    mine = self.open_orders[oid].remaining
                    others = max(1, old - traded - mine)
                    self.ahead[oid] = max(0.0, self.ahead[oid] - cancels * self.ahead[oid] / others)
        else:
            book = self.books[self.symbol]
            self._level_before = {**{(Side.BUY, p): q for p, q in book.bids.items()},
                                  **{(Side.SELL, p): q for p, q in book.asks.items()}}
        return True

    def _mine_at(self, side: Side, price: int) -> list[int]:
        return [oid for oid, o in self.open_orders.items() if o.side is side and o.price == price
                and oid in self.ahead]

    def observe_fill(self, fill: Fill) -> bool:
        self.fill_queue_ahead.append(self.ahead.get(fill.order_id, 0.0))
        if fill.order_id not in self.open_orders:
            self.ahead.pop(fill.order_id, None)
        return True

    def observe_order_event(self, event: Event) -> None:
        if isinstance(event, (OrderCancelled, OrderRejected)):
            self.ahead.pop(event.order_id, None)
            for side, oid in self.quotes.items():
                if oid == event.order_id:
                    self.quotes[side] = None

    # ----- quoting -----
    def decide(self) -> None:
        book = self.books.get(self.symbol)
        if book is None or not book.bids or not book.asks:
            return
        p = self.params
        best_bid, best_ask = max(book.bids), min(book.asks)
        spread = best_ask - best_bid
        pos = self.position(self.symbol)
        for side, best, level in ((Side.BUY, best_bid, book.bids), (Side.SELL, best_ask, book.asks)):
            oid = self.quotes[side]
            if oid is not None and oid not in self.open_orders:
                oid = self.quotes[side] = None
            if oid is not None:
                o = self.open_orders[oid]
                if (o.price >= best) if side is Side.BUY else (o.price <= best):
                    continue              # still at (or, not yet shown, inside) the touch: keep the queue place
                self.cancel(oid)          # a better price now has priority: our place is lost
                self.quotes[side] = None
                self.requeues += 1
            mine_here = sum(self.open_orders[i].remaining for i in self._mine_at(side, best))
            queue = level.get(best, 0) - mine_here
            if spread < p.min_spread_ticks:
                continue
            price = best
            if queue > p.max_join_queue and spread > p.min_spread_ticks:
                price = best + 1 if side is Side.BUY else best - 1
                queue = 0
            signed = pos if side is Side.BUY else -pos
            if p.skew_lots and signed >= p.skew_lots:
                continue
            if signed + self.open_exposure(self.symbol, side) + p.quantity > p.max_inventory:
                continue
            new = self.submit(self.symbol, side, p.quantity, price)
            self.quotes[side] = new
            self.ahead[new] = float(queue)
