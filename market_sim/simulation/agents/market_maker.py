"""Simple market maker: re-quotes a ladder around a centre with inventory skew.

The centre is the book mid moved `fundamental_weight` of the way to the fundamental value (anchor "blend", the
default), the book mid alone ("mid") or the fundamental alone ("fundamental"). Without a price process for the
symbol, "blend" is "mid". Centred on the mid alone, quotes only ever follow the book, and the only force that pulls
prices back to value is the value traders' position limit: in random-market the mids drifted up to ~170 bps away
from their fundamentals once the value traders were full.
"""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.orders import Side
from market_sim.simulation.agents.base import Agent, mid_ticks, register_agent_type
from market_sim.simulation.params import param

__all__ = ["MarketMaker", "MarketMakerParams"]

# Enum members as module constants: `Side.BUY` is an attribute lookup on the enum class that goes through
# EnumType.__getattr__ (~800 instructions, compiled or not) at every decision.
_BUY = Side.BUY
_SELL = Side.SELL


@dataclass(frozen=True, slots=True)
class MarketMakerParams:
    interval: int = param(NS_PER_SECOND, duration=True, min=1, help="time between re-quotes")
    half_spread_ticks: int = param(2, min=1, help="distance of the first level from the centre")
    quantity: int = param(10, min=1, help="lots per level")
    levels: int = param(2, min=1, help="price levels per side")
    level_spacing_ticks: int = param(1, min=1)
    max_inventory: int = param(100, min=0, help="stop quoting the side that would grow |position| beyond this")
    skew_ticks_per_lot: float = param(0.05, min=0.0, help="shift of the quotes against inventory")
    anchor: str = param("blend", choices=("blend", "mid", "fundamental"),
                        help="centre on the book mid, the fundamental, or (blend) the mid moved part of the way to "
                             "the fundamental at every re-quote")
    fundamental_weight: float = param(0.2, min=0.0, max=1.0,
                                      help="blend: share of the gap between book centre and fundamental closed per "
                                           "re-quote")


@register_agent_type
class MarketMaker(Agent):
    """Every interval, keeps `levels` bids and asks around the centre (moving only quotes whose price changed);
    leans quotes against its inventory."""

    kind = "market_maker"
    Params = MarketMakerParams

    def on_start(self) -> None:
        self.on_wakeup()

    def centre(self, symbol: str) -> int:
        p = self.params
        if p.anchor == "fundamental":
            return self.fundamental_ticks(symbol)
        book = self.book_centre(symbol)
        if p.anchor == "blend" and p.fundamental_weight:
            f = self.fundamental(symbol)
            if f is not None:
                # Quotes centred on the book alone only ever follow the book, so nothing but the value traders'
                # limited inventory pulls prices back to value; move the centre part of the way at every re-quote.
                return book + round((self.to_ticks(symbol, f) - book) * p.fundamental_weight)
        return book

    def book_centre(self, symbol: str) -> int:
        """Mid of the book, of the others' best prices when our own quotes define the top of book."""
        q = self.quote(symbol)
        mine = {o.price for o in self.open_orders.values() if o.symbol == symbol}
        # Centre on the best prices of others when our own quotes define the top of book.
        if q.bid is not None and q.ask is not None and not (q.bid in mine and q.ask in mine):
            return mid_ticks(q.bid, q.ask)
        return self.reference_ticks(symbol)

    def on_wakeup(self) -> None:
        p = self.params
        for symbol in self.symbols:
            pos = self.position(symbol)
            c = self.centre(symbol) - round(pos * p.skew_ticks_per_lot)
            wanted: set[tuple[Side, int]] = set()
            for lvl in range(p.levels):
                d = p.half_spread_ticks + lvl * p.level_spacing_ticks
                if pos < p.max_inventory:
                    wanted.add((_BUY, max(1, c - d)))
                if pos > -p.max_inventory:
                    wanted.add((_SELL, c + d))
            # Keep quotes already at a wanted price (they keep their queue position); replace the rest.
            for oid, o in list(self.open_orders.items()):
                if o.symbol != symbol:
                    continue
                key = (o.side, o.price)
                if key in wanted:
                    wanted.discard(key)
                else:
                    self.cancel(oid)
            for side, price in sorted(wanted):
                self.submit(symbol, side, p.quantity, price)
        self.wake_up_in(p.interval)
