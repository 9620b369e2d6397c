"""The pairs trader: a Kalman-filter hedge ratio on two cointegrated instruments, z-score entry and exit, holding
time bounded by the spread's OU half-life.

Legs: the agent's first instrument is y, the second x (log prices). Each bar (every `interval`) the filter updates
(alpha, beta) and gives the forecast error e and its variance Q; z = e/sqrt(Q). Short the spread (sell y, buy x)
above entry_z, long below −entry_z, flat inside ±exit_z, beyond ±stop_z, or after max_hold_half_lives × the half-life
of an OU fit to the spread of the last `half_life_window` bars under the current hedge ratio. A spread unit is `quantity` lots of y against
round(quantity · beta · P_y / P_x) lots of x (beta is a log-price ratio, so x's notional is beta × y's). The filter
starts from the OLS fit of the `warmup` bars. Orders are market IOC for the difference to the target on each leg.
Only the Agent API is used.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError
from market_sim.core.orders import OrderType, Side, TimeInForce
from market_sim.simulation.agents.base import Agent, register_agent_type
from market_sim.simulation.params import param
from market_sim.strategies.statarb.analysis import KalmanHedge, ZScoreRule, ou_half_life

__all__ = ["PairsTrader", "PairsParams"]


@dataclass(frozen=True, slots=True)
class PairsParams:
    interval: int = param(5 * NS_PER_SECOND, duration=True, min=1, help="bar length")
    warmup: int = param(60, min=5, help="bars before trading; the filter starts from their OLS fit")
    delta: float = param(1e-10, min=1e-15, max=0.5, help="Kalman state noise (hedge ratio drift)")
    obs_var: float = param(3e-6, min=1e-15, help="Kalman observation noise (spread variance, log units)")
    entry_z: float = param(2.0, min=0.0, help="|z| that opens a spread position")
    exit_z: float = param(0.5, min=0.0, help="|z| under which it is closed")
    stop_z: float = param(6.0, min=0.0, help="|z| over which it is closed (the pair broke)")
    max_hold_half_lives: float = param(4.0, min=0.0, help="close after this many half-lives (0 = no limit)")
    half_life_window: int = param(200, min=10, help="bars of spread the OU half-life is fitted to")
    quantity: int = param(10, min=1, help="lots of the y leg per spread unit")
    max_position: int = param(100, min=1, help="absolute position limit per leg in lots")


@register_agent_type
class PairsTrader(Agent):
    """Trades the spread of two cointegrated instruments: Kalman hedge ratio, z-score entry/exit, OU half-life."""

    kind = "pairs_trader"
    Params = PairsParams

    def on_start(self) -> None:
        if len(self.symbols) != 2:
            raise ConfigError("trades exactly two instruments (instruments = [y, x])", key=f"{self.id}.instruments",
                              value=list(self.symbols))
        p = self.params
        self.y, self.x = self.symbols
        self.kf = KalmanHedge(p.delta, p.obs_var)
        self.history: list[tuple[float, float]] = []
        self.window: deque[tuple[float, float]] = deque(maxlen=p.half_life_window)   # (log x, log y)
        self.state = 0          # spread position: +1 long, −1 short
        self.held = 0
        self.z = 0.0
        self.half_life = math.inf
        self.entries = 0
        self.wake_up_in(p.interval)

    def on_wakeup(self) -> None:
        p = self.params
        self.wake_up_in(p.interval)
        py, px = self.reference_ticks(self.y), self.reference_ticks(self.x)
        ly, lx = math.log(py), math.log(px)
        if self.kf.n == 0 and len(self.history) < p.warmup:
            self.history.append((lx, ly))
            if len(self.history) == p.warmup:
                self.kf.initialise([h[0] for h in self.history], [h[1] for h in self.history])
                self.kf.n = 1
            return
        e, Q = self.kf.update(lx, ly)
        self.z = e / math.sqrt(Q)
        self.window.append((lx, ly))
        if len(self.window) >= 20 and (self.kf.n % 10 == 0 or math.isinf(self.half_life)):
            b = self.kf.beta   # the spread of the window under the current hedge ratio
            self.half_life = ou_half_life([wy - b * wx for wx, wy in self.window])
        max_hold = p.max_hold_half_lives * self.half_life if p.max_hold_half_lives else math.inf
        rule = ZScoreRule(p.entry_z, p.exit_z, max_hold if math.isfinite(max_hold) else math.inf, p.stop_z)
        new = rule.next(self.state, self.z, self.held)
        if new != self.state:
            self.held = 0
            if new:
                self.entries += 1
            self.state = new
        elif self.state:
            self.held += 1
        self.rebalance(py, px)

    def targets(self, py: int, px: int) -> tuple[int, int]:
        p = self.params
        lim = p.max_position
        ty = self.state * p.quantity
        tx = -self.state * round(p.quantity * self.kf.beta * py / px)
        return max(-lim, min(lim, ty)), max(-lim, min(lim, tx))

    def rebalance(self, py: int, px: int) -> None:
        for symbol, target in zip((self.y, self.x), self.targets(py, px)):
            pending = sum(o.remaining if o.side is Side.BUY else -o.remaining
                          for o in self.open_orders.values() if o.symbol == symbol)
            d = target - self.position(symbol) - pending
            if d:
                self.submit(symbol, Side.BUY if d > 0 else Side.SELL, abs(d), order_type=OrderType.MARKET,
                            tif=TimeInForce.IOC)
