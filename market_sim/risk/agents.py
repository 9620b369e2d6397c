"""`position_taker`: builds a target position (long or short) early in the run and holds it — the leveraged longs
of margin-cascade and the short sellers of short-squeeze. It stops building when the risk engine refuses an order
(buying power, locate, margin call) and never trades again after a forced liquidation or buy-in."""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.events import Event, OrderRejected
from market_sim.core.orders import Side, TimeInForce
from market_sim.simulation.agents.base import Agent, register_agent_type
from market_sim.simulation.params import param

__all__ = ["PositionTaker", "PositionTakerParams"]


@dataclass(frozen=True, slots=True)
class PositionTakerParams:
    side: str = param("buy", choices=("buy", "sell"), help="buy: a long position; sell: a short one")
    quantity: int = param(100, min=1, help="target position in lots")
    child_quantity: int = param(10, min=1, help="lots per order")
    start: int = param(5 * NS_PER_SECOND, duration=True, help="when it starts building (plus up to one interval)")
    interval: int = param(2 * NS_PER_SECOND, duration=True, min=1, help="time between orders")
    aggression_ticks: int = param(2, min=0, help="IOC limit this many ticks through the opposite best")


@register_agent_type
class PositionTaker(Agent):
    """Takes `quantity` lots on one side in IOC child orders, then holds."""

    kind = "position_taker"
    Params = PositionTakerParams

    def on_start(self) -> None:
        self.done = False
        self.wake_up_at(self.params.start + int(self.rng.random() * self.params.interval))

    def on_wakeup(self) -> None:
        p = self.params
        symbol = self.symbols[0]
        held = self.position(symbol) if p.side == "buy" else -self.position(symbol)
        if self.done or held >= p.quantity:
            return
        q = self.quote(symbol)
        if p.side == "buy":
            side, best = Side.BUY, q.ask
            price = None if best is None else best + p.aggression_ticks
        else:
            side, best = Side.SELL, q.bid
            price = None if best is None else max(1, best - p.aggression_ticks)
        if price is not None and not self.open_orders:
            self.submit(symbol, side, min(p.child_quantity, p.quantity - held), price, tif=TimeInForce.IOC)
        self.wake_up_in(p.interval)

    def on_order_event(self, event: Event) -> None:
        if isinstance(event, OrderRejected):
            self.done = True
