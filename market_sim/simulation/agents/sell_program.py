"""Sell program: a large parent order worked as market child orders, e.g. to provoke a flash crash."""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.orders import OrderType, Side, TimeInForce
from market_sim.simulation.agents.base import Agent, register_agent_type
from market_sim.simulation.params import param

__all__ = ["SellProgram", "SellProgramParams"]


@dataclass(frozen=True, slots=True)
class SellProgramParams:
    start: int = param(60 * NS_PER_SECOND, duration=True, help="when the program starts")
    total_quantity: int = param(1000, min=1, help="lots to sell in total")
    child_quantity: int = param(50, min=1, help="lots per market child order")
    interval: int = param(NS_PER_SECOND, duration=True, min=1, help="time between child orders")
    side: str = param("sell", choices=("sell", "buy"), help="'buy' turns it into a buy program")


@register_agent_type
class SellProgram(Agent):
    """Sends market child orders of `child_quantity` every `interval` until `total_quantity` is done."""

    kind = "sell_program"
    Params = SellProgramParams

    def on_start(self) -> None:
        self.remaining = self.params.total_quantity
        self.wake_up_at(self.params.start)

    def on_wakeup(self) -> None:
        p = self.params
        if self.remaining <= 0:
            return
        qty = min(p.child_quantity, self.remaining)
        self.remaining -= qty
        side = Side.SELL if p.side == "sell" else Side.BUY
        self.submit(self.symbols[0], side, qty, order_type=OrderType.MARKET, tif=TimeInForce.IOC)
        if self.remaining > 0:
            self.wake_up_in(p.interval)
