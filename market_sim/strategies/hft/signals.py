"""Order-book imbalance and trade-flow signals, and a taker that trades on them.

    imbalance(book, levels)  (bid lots − ask lots) / (bid lots + ask lots) over the best `levels` of each side, in
                             [−1, 1]; positive = more resting buyers (price pressure up).
    TradeFlow                exponentially decayed signed aggressor volume (buys +, sells −) with half-life in
                             simulated time, normalised by the decayed total volume: in [−1, 1].
The `imbalance_taker` combines them, s = w·imbalance + (1 − w)·flow, buys (IOC at the best ask) when s > entry,
sells when s < −entry, flattens when |s| < exit, within `max_position`.
"""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.events import Trade
from market_sim.core.orders import Side, TimeInForce
from market_sim.simulation.agents.base import register_agent_type
from market_sim.simulation.params import param
from market_sim.simulation.venues import BookDelta, L2Book
from market_sim.strategies.hft.base import HftAgent, HftParams

__all__ = ["imbalance", "TradeFlow", "ImbalanceTaker"]


def imbalance(book: L2Book, levels: int = 1) -> float:
    """(bid − ask) / (bid + ask) resting lots over the best `levels` levels of each side (0 for an empty book)."""
    bids, asks = book.depth(levels)
    b, a = sum(q for _, q in bids), sum(q for _, q in asks)
    return 0.0 if b + a == 0 else (b - a) / (b + a)


class TradeFlow:
    """Decayed signed aggressor volume over decayed total volume, in [−1, 1]."""

    __slots__ = ("half_life", "signed", "total", "last_t")

    def __init__(self, half_life: int) -> None:
        self.half_life = half_life
        self.signed = 0.0
        self.total = 0.0
        self.last_t = 0

    def _decay(self, t: int) -> None:
        if t > self.last_t:
            f = 0.5 ** ((t - self.last_t) / self.half_life)
            self.signed *= f
            self.total *= f
            self.last_t = t

    def on_trade(self, trade: Trade) -> None:
        self._decay(trade.ts)
        self.signed += trade.quantity if trade.aggressor is Side.BUY else -trade.quantity
        self.total += trade.quantity

    def value(self, t: int) -> float:
        self._decay(t)
        return 0.0 if self.total == 0 else self.signed / self.total


@dataclass(frozen=True, slots=True)
class ImbalanceParams(HftParams):
    levels: int = param(3, min=1, help="book levels per side in the imbalance")
    flow_half_life: int = param(5 * NS_PER_SECOND, duration=True, min=1, help="decay of the trade flow")
    imbalance_weight: float = param(0.5, min=0.0, max=1.0, help="w: weight of imbalance vs trade flow")
    entry: float = param(0.6, min=0.0, max=1.0, help="|signal| that opens a position")
    exit: float = param(0.1, min=0.0, max=1.0, help="|signal| under which the position is closed")
    quantity: int = param(5, min=1, help="lots per order")
    max_position: int = param(20, min=0, help="absolute position limit in lots")


@register_agent_type
class ImbalanceTaker(HftAgent):
    """Takes liquidity in the direction of order-book imbalance and trade flow (IOC at the touch)."""

    kind = "imbalance_taker"
    Params = ImbalanceParams

    def on_start(self) -> None:
        self.symbol = self.symbols[0]
        self.flow = TradeFlow(self.params.flow_half_life)
        self.last_signal = 0.0
        self.subscribe_trades(self.symbol)
        self.subscribe_book(self.symbol)

    def observe_trade(self, trade: Trade) -> bool:
        self.flow.on_trade(trade)
        return True

    def observe_book(self, delta: BookDelta | None) -> bool:
        return True

    def signal(self) -> float:
        w = self.params.imbalance_weight
        return w * imbalance(self.books[self.symbol], self.params.levels) + (1 - w) * self.flow.value(self.now)

    def decide(self) -> None:
        book = self.books.get(self.symbol)
        if book is None or not book.bids or not book.asks:
            return
        if any(o.symbol == self.symbol for o in self.open_orders.values()):
            return   # an IOC still in flight
        p = self.params
        s = self.last_signal = self.signal()
        pos = self.position(self.symbol)
        target = pos
        if s > p.entry:
            target = min(p.max_position, pos + p.quantity)
        elif s < -p.entry:
            target = max(-p.max_position, pos - p.quantity)
        elif abs(s) < p.exit:
            target = 0
        if target > pos:
            self.submit(self.symbol, Side.BUY, target - pos, min(book.asks), tif=TimeInForce.IOC)
        elif target < pos:
            self.submit(self.symbol, Side.SELL, pos - target, max(book.bids), tif=TimeInForce.IOC)
