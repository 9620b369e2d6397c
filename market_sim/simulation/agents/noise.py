"""Zero-intelligence noise trader: random side, size and price around the reference, at random times."""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.orders import OrderType, Side, TimeInForce
from market_sim.simulation.agents.base import Agent, register_agent_type
from market_sim.simulation.params import param

__all__ = ["NoiseTrader", "NoiseParams"]

# Enum members as module constants: `Side.BUY` is an attribute lookup on the enum class that goes through
# EnumType.__getattr__ (~800 instructions, compiled or not) at every decision.
_BUY = Side.BUY
_SELL = Side.SELL
_MARKET = OrderType.MARKET
_IOC = TimeInForce.IOC
_GTD = TimeInForce.GTD


@dataclass(frozen=True, slots=True)
class NoiseParams:
    interval: int = param(NS_PER_SECOND, duration=True, min=1, help="mean time between orders (exponential)")
    max_quantity: int = param(5, min=1, help="order size is uniform in 1..max_quantity lots")
    offset_ticks: int = param(20, min=0, help="limit prices fall within this many ticks of the reference")
    market_prob: float = param(0.1, min=0.0, max=1.0, help="probability an order is a market order")
    lifetime: int = param(30 * NS_PER_SECOND, duration=True, help="limit orders are GTD for this long (0: GTC)")


@register_agent_type
class NoiseTrader(Agent):
    """Submits random limit and market orders around the current reference price."""

    kind = "noise"
    Params = NoiseParams

    def on_start(self) -> None:
        self.wake_up_in(self._next_delay())

    def _next_delay(self) -> int:
        return int(self.rng.expovariate(1.0) * self.params.interval) + 1

    def on_wakeup(self) -> None:
        p, rng = self.params, self.rng
        symbol = self.symbols[rng.randrange(len(self.symbols))] if len(self.symbols) > 1 else self.symbols[0]
        side = _BUY if rng.random() < 0.5 else _SELL
        qty = rng.randint(1, p.max_quantity)
        if rng.random() < p.market_prob:
            self.submit(symbol, side, qty, order_type=_MARKET, tif=_IOC)
        else:
            ref = self.reference_ticks(symbol)
            # Mostly passive, sometimes crossing: the spread of offsets leans away from the other side.
            offset = rng.randint(-p.offset_ticks // 4, p.offset_ticks)
            price = max(1, ref - offset if side is _BUY else ref + offset)
            if p.lifetime:
                self.submit(symbol, side, qty, price, tif=_GTD, expire_at=self.now + p.lifetime)
            else:
                self.submit(symbol, side, qty, price)
        self.wake_up_in(self._next_delay())
