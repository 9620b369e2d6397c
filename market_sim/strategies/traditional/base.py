"""SignalStrategy: the shared frame of the traditional strategies (one price per bar, a signal, a target position).

A bar is either a timer tick (`interval` > 0: the reference price, mid else last trade, read every interval) or, with
`interval = 0`, every top-of-book update received through `on_market_data` (its mid): the way a backtest engine
replays historical bars. Each bar the subclass's `signal(symbol, price)` returns +1 (long), -1 (short), 0 (flat) or
None (keep the current target); the frame turns it into a target position with the sizing rule, applies the stops,
and sends one market (IOC) order for the difference between the target and the position plus the still-open orders.
It uses only the Agent API (market-data callbacks, timer, submit, account), nothing simulation-internal.
"""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.orders import OrderType, Side, TimeInForce
from market_sim.simulation.agents.base import Agent, Fill, mid_ticks
from market_sim.simulation.params import param
from market_sim.simulation.venues import Quote
from market_sim.strategies.common import Rolling, SizingParams, Stops, position_size

__all__ = ["SignalParams", "SignalStrategy"]


@dataclass(frozen=True, slots=True)
class SignalParams:
    interval: int = param(NS_PER_SECOND, duration=True, min=0,
                          help="bar length: the price is sampled every interval; 0 = every top-of-book update")
    sizing: str = param("fixed", choices=("fixed", "vol_target"), help="position sizing rule (common.py)")
    quantity: int = param(10, min=1, help="fixed sizing: lots per unit of signal")
    risk_budget: float = param(500.0, min=0.0,
                               help="vol_target: wanted std of the position value change per bar (ticks x lots)")
    vol_lookback: int = param(50, min=2, help="vol_target: bar returns the volatility is measured over")
    max_position: int = param(50, min=0, help="absolute position limit in lots")
    allow_short: bool = param(True, help="false: a -1 signal means flat")
    stop_loss: float = param(0.0, min=0.0, help="flatten after this relative adverse move from entry (0 = off)")
    take_profit: float = param(0.0, min=0.0, help="flatten after this relative favourable move (0 = off)")
    trailing_stop: float = param(0.0, min=0.0, help="flatten after this relative retreat from the best price")


class SignalStrategy(Agent):
    """Base class: subclasses implement signal(symbol, price) -> +1 / -1 / 0 / None."""

    Params = SignalParams

    def on_start(self) -> None:
        p = self.params
        self.returns = {s: Rolling(p.vol_lookback) for s in self.symbols}
        self.last_price: dict[str, int] = {}
        self.stops = {s: Stops(p.stop_loss, p.take_profit, p.trailing_stop) for s in self.symbols}
        self.blocked: dict[str, int] = {}   # direction a stop closed; re-entered only after the signal changes
        self.target: dict[str, int] = {s: 0 for s in self.symbols}
        self.bars = 0
        self.stop_exits = 0
        self.init_state()
        if p.interval > 0:
            self.wake_up_in(p.interval)
        else:
            for s in self.symbols:
                self.subscribe(s)

    def init_state(self) -> None:
        """Subclasses set up their per-symbol state here."""

    def signal(self, symbol: str, price: int) -> int | None:
        raise NotImplementedError

    # ----- bars -----
    def on_wakeup(self) -> None:
        for s in self.symbols:
            self.on_bar(s, self.reference_ticks(s))
        self.wake_up_in(self.params.interval)

    def on_market_data(self, quote: Quote) -> None:
        if self.params.interval == 0 and quote.bid is not None and quote.ask is not None:
            self.on_bar(quote.symbol, mid_ticks(quote.bid, quote.ask))

    def on_bar(self, symbol: str, price: int) -> None:
        p = self.params
        self.bars += 1
        prev = self.last_price.get(symbol)
        if prev:
            self.returns[symbol].push(price / prev - 1.0)
        self.last_price[symbol] = price
        sig = self.signal(symbol, price)
        pos = self.position(symbol)
        stop = self.stops[symbol]
        if pos != 0 and stop.hit(price) is not None:
            self.stop_exits += 1
            self.blocked[symbol] = 1 if pos > 0 else -1
            self.target[symbol] = 0
        elif sig is not None:
            if sig < 0 and not p.allow_short:
                sig = 0
            if self.blocked.get(symbol) is not None and sig != self.blocked[symbol]:
                del self.blocked[symbol]
            if self.blocked.get(symbol) is None:
                size = position_size(SizingParams(p.sizing, p.quantity, p.risk_budget, p.max_position), price,
                                     self.returns[symbol])
                self.target[symbol] = sig * size
        self.rebalance(symbol)

    def pending(self, symbol: str) -> int:
        """Signed lots of the still-open orders of `symbol`."""
        return sum(o.remaining if o.side is Side.BUY else -o.remaining
                   for o in self.open_orders.values() if o.symbol == symbol)

    def rebalance(self, symbol: str) -> None:
        """Send one market IOC order for target - (position + open orders), within max_position."""
        lim = self.params.max_position
        target = max(-lim, min(lim, self.target[symbol]))
        delta = target - self.position(symbol) - self.pending(symbol)
        if delta > 0:
            self.submit(symbol, Side.BUY, delta, order_type=OrderType.MARKET, tif=TimeInForce.IOC)
        elif delta < 0:
            self.submit(symbol, Side.SELL, -delta, order_type=OrderType.MARKET, tif=TimeInForce.IOC)

    def on_fill(self, fill: Fill) -> None:
        pos = self.position(fill.symbol)
        stop = self.stops[fill.symbol]
        direction = (pos > 0) - (pos < 0)
        if direction == 0:
            stop.clear()
        elif direction != stop.direction:
            stop.enter(direction, fill.price)
