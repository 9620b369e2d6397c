"""Execution algorithms: TWAP, VWAP (against a volume profile), POV and Almgren–Chriss, each measured by its
implementation shortfall against the arrival price.

Every algorithm works one parent order (`side`, `total_quantity` lots) from `start` to `start + horizon`: each
`interval` it computes the cumulative quantity its schedule wants done by now and sends the shortfall as one
child market (IOC) order; at the deadline whatever is left goes as a final market order, so TWAP, VWAP and
Almgren–Chriss complete by the deadline whenever the book has the liquidity (POV too with `finish = true`).
    twap            done(t) = X · (t − start) / horizon
    vwap            done(t) = X · (cumulative `profile` weight up to t), weights of equal time buckets, linear
                    within a bucket (the default profile is a U shape)
    pov             done(t) = rate · (market volume traded since start, own fills excluded), from the trade tape
    almgren_chriss  remaining(t) = X · sinh(κ(T − t)) / sinh(κT), κ = sqrt(λσ² / η): λ risk aversion, σ the price
                    volatility (ticks/√s), η the temporary impact (ticks per lot/s). λ → 0 gives TWAP, large λ sells
                    early.
Implementation shortfall: the arrival price is the mid when the parent starts; shortfall = Σ side·(arrival − fill
price)·lots over the fills (positive = cost), plus the unfilled lots marked at the last mid; `shortfall_bps` divides
by arrival × total quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError
from market_sim.core.events import Trade
from market_sim.core.orders import OrderType, Side, TimeInForce
from market_sim.simulation.agents.base import Agent, Fill, register_agent_type
from market_sim.simulation.params import param

__all__ = ["ExecutionParams", "ExecutionAlgo", "TWAP", "VWAP", "POV", "AlmgrenChriss", "almgren_chriss_remaining"]


@dataclass(frozen=True, slots=True)
class ExecutionParams:
    side: str = param("sell", choices=("sell", "buy"), help="direction of the parent order")
    total_quantity: int = param(1000, min=1, help="lots of the parent order")
    start: int = param(60 * NS_PER_SECOND, duration=True, min=0, help="when the parent order arrives")
    horizon: int = param(600 * NS_PER_SECOND, duration=True, min=1, help="deadline, from start")
    interval: int = param(5 * NS_PER_SECOND, duration=True, min=1, help="time between child orders")
    min_child: int = param(1, min=1, help="smallest child order (lots) before the deadline")


class ExecutionAlgo(Agent):
    """Base class: subclasses give target_done(t) — lots the schedule wants executed by time t."""

    Params = ExecutionParams

    def on_start(self) -> None:
        p = self.params
        self.symbol = self.symbols[0]
        self.sign = 1 if p.side == "buy" else -1
        self.side = Side.BUY if p.side == "buy" else Side.SELL
        self.done = 0
        self.sent = 0
        self.arrival: int | None = None
        self.last_mid: int | None = None
        self.cash_shortfall = 0        # ticks x lots
        self.finished_at: int | None = None
        self.children = 0
        self.deadline = p.start + p.horizon
        self.init_algo()
        self.wake_up_at(p.start)

    def init_algo(self) -> None:
        """Subclass setup (subscriptions)."""

    def target_done(self, t: int) -> float:
        raise NotImplementedError

    @property
    def remaining(self) -> int:
        return self.params.total_quantity - self.done

    def in_flight(self) -> int:
        return sum(o.remaining for o in self.open_orders.values() if o.symbol == self.symbol)

    def on_wakeup(self) -> None:
        p = self.params
        now = self.now
        mid = self.reference_ticks(self.symbol)
        self.last_mid = mid
        if self.arrival is None:
            self.arrival = mid
        if self.done >= p.total_quantity:
            return
        if now >= self.deadline:
            want = p.total_quantity
        else:
            want = min(p.total_quantity, int(self.target_done(now)))
        child = want - self.done - self.in_flight()
        if child > 0 and (child >= p.min_child or now >= self.deadline):
            self.children += 1
            self.sent += child
            self.submit(self.symbol, self.side, child, order_type=OrderType.MARKET, tif=TimeInForce.IOC)
        if now < self.deadline:
            self.wake_up_at(min(now + p.interval, self.deadline))
        else:
            self.wake_up_in(p.interval)   # past the deadline with lots left (a thin book): keep sweeping

    def on_fill(self, fill: Fill) -> None:
        if fill.symbol != self.symbol:
            return
        self.done += fill.quantity
        self.cash_shortfall += self.sign * (fill.price - self.arrival) * fill.quantity
        if self.done >= self.params.total_quantity and self.finished_at is None:
            self.finished_at = self.now

    def shortfall(self) -> dict[str, float | int | None]:
        """Implementation shortfall vs the arrival mid (ticks x lots, bps of arrival notional; positive = cost)."""
        p = self.params
        if self.arrival is None:
            return {"arrival": None, "shortfall_ticks": 0, "shortfall_bps": 0.0, "done": 0}
        unfilled = p.total_quantity - self.done
        mark = self.last_mid if self.last_mid is not None else self.arrival
        cost = self.cash_shortfall + self.sign * (mark - self.arrival) * unfilled
        return {"arrival": self.arrival, "done": self.done, "unfilled": unfilled, "children": self.children,
                "shortfall_ticks": cost, "shortfall_bps": 1e4 * cost / (self.arrival * p.total_quantity),
                "finished_at_s": None if self.finished_at is None else self.finished_at / NS_PER_SECOND}


@register_agent_type
class TWAP(ExecutionAlgo):
    """Time-weighted average price: equal quantity per unit of time up to the deadline."""

    kind = "twap"

    def target_done(self, t: int) -> float:
        p = self.params
        return p.total_quantity * min(1.0, max(0.0, (t - p.start) / p.horizon))


@dataclass(frozen=True, slots=True)
class VWAPParams(ExecutionParams):
    profile: list[float] = param([3.0, 2.0, 1.5, 1.0, 1.0, 1.0, 1.0, 1.5, 2.0, 3.0],
                                 help="expected volume weights of equal time buckets over the horizon")


@register_agent_type
class VWAP(ExecutionAlgo):
    """Volume-weighted schedule: the parent is split across time buckets in proportion to a volume profile."""

    kind = "vwap"
    Params = VWAPParams

    def init_algo(self) -> None:
        prof = self.params.profile
        if not prof or any(w < 0 for w in prof) or sum(prof) <= 0:
            raise ConfigError("profile needs non-negative weights with a positive sum", key=f"{self.id}.profile",
                              value=prof)
        total = sum(prof)
        self.cum = [0.0]
        for w in prof:
            self.cum.append(self.cum[-1] + w / total)

    def target_done(self, t: int) -> float:
        p = self.params
        f = min(1.0, max(0.0, (t - p.start) / p.horizon)) * (len(self.cum) - 1)
        i = min(int(f), len(self.cum) - 2)
        frac = self.cum[i] + (self.cum[i + 1] - self.cum[i]) * (f - i)
        return p.total_quantity * frac


@dataclass(frozen=True, slots=True)
class POVParams(ExecutionParams):
    rate: float = param(0.1, min=0.0, max=1.0, help="share of the market volume to take")
    finish: bool = param(True, help="send what is left at the deadline (false: stop there, leaving it undone)")


@register_agent_type
class POV(ExecutionAlgo):
    """Percentage of volume: keeps its executed quantity at `rate` of the market volume since start."""

    kind = "pov"
    Params = POVParams

    def init_algo(self) -> None:
        self.market_volume = 0
        self.subscribe_trades(self.symbol)

    def on_trade(self, trade: Trade) -> None:
        if trade.ts >= self.params.start and not trade.involves(self.id):
            self.market_volume += trade.quantity

    def target_done(self, t: int) -> float:
        return self.params.rate * self.market_volume

    def on_wakeup(self) -> None:
        if self.now >= self.deadline and not self.params.finish:
            self.last_mid = self.reference_ticks(self.symbol)
            return
        super().on_wakeup()


def almgren_chriss_remaining(total: float, t: float, T: float, kappa: float) -> float:
    """Lots still to sell at time t of [0, T] on the Almgren–Chriss optimal trajectory (κ = 0: linear)."""
    if t >= T:
        return 0.0
    if kappa * T < 1e-9:
        return total * (1 - t / T)
    return total * math.sinh(kappa * (T - t)) / math.sinh(kappa * T)


@dataclass(frozen=True, slots=True)
class AlmgrenChrissParams(ExecutionParams):
    risk_aversion: float = param(1e-6, min=0.0, help="λ: weight of the variance of the cost (per tick x lot)")
    sigma: float = param(1.0, min=0.0, help="price volatility in ticks per √s")
    eta: float = param(0.05, min=1e-12, help="temporary impact: ticks per (lot/s) of trading rate")


@register_agent_type
class AlmgrenChriss(ExecutionAlgo):
    """Almgren–Chriss optimal schedule: trades faster early the more it fears price risk (κ = sqrt(λσ²/η))."""

    kind = "almgren_chriss"
    Params = AlmgrenChrissParams

    @property
    def kappa(self) -> float:
        p = self.params
        return math.sqrt(p.risk_aversion * p.sigma ** 2 / p.eta)   # per second

    def target_done(self, t: int) -> float:
        p = self.params
        T = p.horizon / NS_PER_SECOND
        tau = (t - p.start) / NS_PER_SECOND
        return p.total_quantity - almgren_chriss_remaining(p.total_quantity, tau, T, self.kappa)
