"""Fundamental-value trader: buys below and sells above the external price process, posts quotes around it."""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.orders import Side, TimeInForce
from market_sim.simulation.agents.base import Agent, register_agent_type
from market_sim.simulation.params import param

__all__ = ["FundamentalTrader", "FundamentalParams"]

# Enum members as module constants: `Side.BUY` is an attribute lookup on the enum class that goes through
# EnumType.__getattr__ (~800 instructions, compiled or not) at every decision.
_BUY = Side.BUY
_SELL = Side.SELL
_IOC = TimeInForce.IOC
_GTD = TimeInForce.GTD


@dataclass(frozen=True, slots=True)
class FundamentalParams:
    interval: int = param(5 * NS_PER_SECOND, duration=True, min=1, help="mean time between decisions")
    threshold_ticks: int = param(2, min=0, help="minimum mispricing (ticks) before taking liquidity")
    quantity: int = param(5, min=1, help="lots per order")
    max_position: int = param(50, min=0, help="absolute position limit in lots")
    passive_prob: float = param(0.5, min=0.0, max=1.0, help="chance of posting a quote when there is no edge")
    quote_offset_ticks: int = param(5, min=0, help="passive quotes sit this far from the value")
    noise_ticks: float = param(0.0, min=0.0, help="std of the agent's private error on the value, in ticks")
    lifetime: int = param(20 * NS_PER_SECOND, duration=True, min=1, help="passive quotes are GTD for this long")


@register_agent_type
class FundamentalTrader(Agent):
    """Buys below and sells above the fundamental value (from [processes]; the instrument's initial price if none),
    unwinds once the price is back at value, and otherwise may post a quote around it."""

    kind = "fundamental"
    Params = FundamentalParams

    def on_start(self) -> None:
        self.wake_up_in(int(self.rng.random() * self.params.interval) + 1)

    def value_ticks(self, symbol: str) -> int:
        v = self.fundamental_ticks(symbol)
        if self.params.noise_ticks:
            v += round(self.rng.gauss(0.0, self.params.noise_ticks))
        return max(1, v)

    def on_wakeup(self) -> None:
        p, rng = self.params, self.rng
        for symbol in self.symbols:
            v = self.value_ticks(symbol)
            q = self.quote(symbol)
            pos = self.position(symbol)
            if q.ask is not None and q.ask < v - p.threshold_ticks and pos < p.max_position:
                qty = min(p.quantity, p.max_position - pos)
                self.submit(symbol, _BUY, qty, v - p.threshold_ticks, tif=_IOC)
            elif q.bid is not None and q.bid > v + p.threshold_ticks and pos > -p.max_position:
                qty = min(p.quantity, p.max_position + pos)
                self.submit(symbol, _SELL, qty, v + p.threshold_ticks, tif=_IOC)
            elif pos > 0 and q.bid is not None and q.bid >= v:
                # The price is back at value: take the profit, which frees capacity for the next mispricing.
                self.submit(symbol, _SELL, min(p.quantity, pos), v, tif=_IOC)
            elif pos < 0 and q.ask is not None and q.ask <= v:
                self.submit(symbol, _BUY, min(p.quantity, -pos), v, tif=_IOC)
            elif rng.random() < p.passive_prob:
                side = _BUY if rng.random() < 0.5 else _SELL
                if side * pos < p.max_position:
                    price = v - p.quote_offset_ticks if side is _BUY else v + p.quote_offset_ticks
                    self.submit(symbol, side, p.quantity, max(1, price), tif=_GTD,
                                expire_at=self.now + p.lifetime)
        self.wake_up_in(int(rng.expovariate(1.0) * p.interval) + 1)
