"""Latency arbitrage between two venues quoting the same instrument.

The arbitrageur watches the top of book of both venues (subscribe on each, its own fast latency). When one venue's
bid exceeds the other's ask by at least `min_edge_ticks` — the slow venue's makers have not yet moved their quotes
after the fast venue did — it buys at the cheap ask and sells at the rich bid, both IOC limit orders at those prices,
for the size both tops show (at most `quantity`). A leg that misses leaves a position, which it flattens with an IOC
at the better venue's touch; |position| stays within `max_position`.
"""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.errors import ConfigError
from market_sim.core.orders import Side, TimeInForce
from market_sim.simulation.agents.base import register_agent_type
from market_sim.simulation.params import param
from market_sim.simulation.venues import Quote
from market_sim.strategies.hft.base import HftAgent, HftParams

__all__ = ["LatencyArb"]


@dataclass(frozen=True, slots=True)
class LatencyArbParams(HftParams):
    venues: list[str] = param([], help="the two venues that list the instrument")
    min_edge_ticks: int = param(1, min=1, help="bid of one venue minus ask of the other needed to trade")
    quantity: int = param(10, min=1, help="largest lots per arbitrage")
    max_position: int = param(20, min=0, help="absolute position limit in lots (legs that missed)")


@register_agent_type
class LatencyArb(HftAgent):
    """Buys the stale ask on one venue and sells the rich bid on the other when they cross."""

    kind = "latency_arb"
    Params = LatencyArbParams

    def on_start(self) -> None:
        p = self.params
        if len(p.venues) != 2 or p.venues[0] == p.venues[1]:
            raise ConfigError("needs exactly two different venues", key=f"{self.id}.venues", value=p.venues)
        self.symbol = self.symbols[0]
        self.tops: dict[str, Quote] = {}
        self.arbs = 0
        self.edge_ticks = 0   # sum of the edges taken (ticks x lots) when both legs fill
        for v in p.venues:
            self.subscribe(self.symbol, venue=v)

    def observe_quote(self, quote: Quote) -> bool:
        self.tops[quote.venue] = quote
        return True

    def observe_fill(self, fill) -> bool:
        return True

    def decide(self) -> None:
        if len(self.tops) < 2 or any(o.symbol == self.symbol for o in self.open_orders.values()):
            return
        p = self.params
        a, b = (self.tops[v] for v in p.venues)
        pos = self.position(self.symbol)
        for rich, cheap in ((a, b), (b, a)):
            if rich.bid is None or cheap.ask is None or rich.bid - cheap.ask < p.min_edge_ticks:
                continue
            qty = min(p.quantity, rich.bid_qty, cheap.ask_qty)
            if qty <= 0:
                continue
            self.arbs += 1
            self.edge_ticks += (rich.bid - cheap.ask) * qty
            self.submit(self.symbol, Side.BUY, qty, cheap.ask, tif=TimeInForce.IOC, venue=cheap.venue)
            self.submit(self.symbol, Side.SELL, qty, rich.bid, tif=TimeInForce.IOC, venue=rich.venue)
            return
        if pos > 0:    # a missed buy-leg... flatten at the better bid
            best = max((q for q in (a, b) if q.bid is not None), key=lambda q: q.bid, default=None)
            if best is not None:
                self.submit(self.symbol, Side.SELL, min(pos, best.bid_qty), best.bid, tif=TimeInForce.IOC,
                            venue=best.venue)
        elif pos < 0:
            best = min((q for q in (a, b) if q.ask is not None), key=lambda q: q.ask, default=None)
            if best is not None:
                self.submit(self.symbol, Side.BUY, min(-pos, best.ask_qty), best.ask, tif=TimeInForce.IOC,
                            venue=best.venue)
