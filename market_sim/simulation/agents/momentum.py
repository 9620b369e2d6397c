"""Momentum trader: buys after the price rose over its lookback window, sells after it fell."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.orders import OrderType, Side, TimeInForce
from market_sim.simulation.agents.base import Agent, register_agent_type
from market_sim.simulation.params import param

__all__ = ["MomentumTrader", "MomentumParams"]

# Enum members as module constants: `Side.BUY` is an attribute lookup on the enum class that goes through
# EnumType.__getattr__ (~800 instructions, compiled or not) at every decision.
_BUY = Side.BUY
_SELL = Side.SELL
_MARKET = OrderType.MARKET
_IOC = TimeInForce.IOC


@dataclass(frozen=True, slots=True)
class MomentumParams:
    interval: int = param(2 * NS_PER_SECOND, duration=True, min=1, help="time between price samples")
    lookback: int = param(10, min=1, help="number of samples the return is measured over")
    threshold: float = param(0.002, min=0.0, help="relative return that triggers a trade")
    quantity: int = param(3, min=1, help="lots per market order")
    max_position: int = param(30, min=0, help="absolute position limit in lots")


@register_agent_type
class MomentumTrader(Agent):
    """Follows the trend of the reference price with market orders, within a position limit."""

    kind = "momentum"
    Params = MomentumParams

    def on_start(self) -> None:
        self.history = {s: deque(maxlen=self.params.lookback + 1) for s in self.symbols}
        self.wake_up_in(int(self.rng.random() * self.params.interval) + 1)

    def on_wakeup(self) -> None:
        p = self.params
        for symbol in self.symbols:
            hist = self.history[symbol]
            hist.append(self.reference_ticks(symbol))
            if len(hist) <= p.lookback:
                continue
            ret = (hist[-1] - hist[0]) / hist[0]
            pos = self.position(symbol)
            if ret > p.threshold and pos < p.max_position:
                self.submit(symbol, _BUY, min(p.quantity, p.max_position - pos),
                            order_type=_MARKET, tif=_IOC)
            elif ret < -p.threshold and pos > -p.max_position:
                self.submit(symbol, _SELL, min(p.quantity, p.max_position + pos),
                            order_type=_MARKET, tif=_IOC)
        self.wake_up_in(p.interval)
