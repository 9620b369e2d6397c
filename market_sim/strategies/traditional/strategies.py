"""The traditional strategies: mean reversion (z-score / Bollinger), time-series momentum and channel breakout. Each
is a SignalStrategy (bars, sizing, stops and order handling in traditional/base.py). The moving-average crossover
is the simulator's `sma_crossover` (market_sim.simulation.agents.sma_crossover: the same class runs in simulations
and bar backtests); the library once had a second one, `ma_crossover`, removed so there is one."""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.errors import ConfigError
from market_sim.simulation.agents.base import register_agent_type
from market_sim.simulation.params import param
from market_sim.strategies.common import Rolling
from market_sim.strategies.traditional.base import SignalParams, SignalStrategy

__all__ = ["MeanReversion", "TimeSeriesMomentum", "Breakout"]


@dataclass(frozen=True, slots=True)
class MeanReversionParams(SignalParams):
    lookback: int = param(30, min=2, help="bars of the rolling mean and standard deviation")
    entry_z: float = param(2.0, min=0.0, help="enter against the move when |z| exceeds this (Bollinger width)")
    exit_z: float = param(0.5, min=0.0, help="flatten when |z| falls below this")


@register_agent_type
class MeanReversion(SignalStrategy):
    """Mean reversion on the z-score of price against its rolling mean (Bollinger bands at mean ± entry_z·std):
    short above the upper band, long below the lower one, flat once back within exit_z."""

    kind = "mean_reversion"
    Params = MeanReversionParams

    def init_state(self) -> None:
        if self.params.exit_z > self.params.entry_z:
            raise ConfigError("exit_z must not exceed entry_z", key=f"{self.id}.exit_z", value=self.params.exit_z)
        self.window = {s: Rolling(self.params.lookback) for s in self.symbols}
        self.z: dict[str, float] = {}

    def signal(self, symbol: str, price: int) -> int | None:
        w = self.window[symbol]
        w.push(price)
        if not w.full:
            return None
        sd = w.std()
        if sd == 0.0:
            return None
        z = self.z[symbol] = (price - w.mean()) / sd
        p = self.params
        if z > p.entry_z:
            return -1
        if z < -p.entry_z:
            return 1
        if abs(z) < p.exit_z:
            return 0
        return None


@dataclass(frozen=True, slots=True)
class MomentumParams(SignalParams):
    lookback: int = param(20, min=1, help="bars the return is measured over")
    threshold: float = param(0.0, min=0.0, help="|return| below this: flat")


@register_agent_type
class TimeSeriesMomentum(SignalStrategy):
    """Time-series momentum: the sign of the return over the last `lookback` bars (flat within ±threshold)."""

    kind = "ts_momentum"
    Params = MomentumParams

    def init_state(self) -> None:
        self.window = {s: Rolling(self.params.lookback + 1) for s in self.symbols}

    def signal(self, symbol: str, price: int) -> int | None:
        w = self.window[symbol]
        w.push(price)
        if not w.full:
            return None
        ret = price / w.values[0] - 1.0
        t = self.params.threshold
        return 1 if ret > t else -1 if ret < -t else 0


@dataclass(frozen=True, slots=True)
class BreakoutParams(SignalParams):
    entry_lookback: int = param(20, min=1, help="bars of the entry channel (Donchian)")
    exit_lookback: int = param(10, min=1, help="bars of the exit channel")


@register_agent_type
class Breakout(SignalStrategy):
    """Channel breakout (Donchian): long when the price closes above the highest of the previous entry_lookback bars,
    short below their lowest; a long exits below the lowest of the previous exit_lookback bars (a short above
    their highest)."""

    kind = "breakout"
    Params = BreakoutParams

    def init_state(self) -> None:
        p = self.params
        n = max(p.entry_lookback, p.exit_lookback)
        self.window = {s: Rolling(n) for s in self.symbols}

    def signal(self, symbol: str, price: int) -> int | None:
        p = self.params
        w = self.window[symbol]
        sig: int | None = None
        if w.full:
            prev = list(w.values)
            entry, exit_ = prev[-p.entry_lookback:], prev[-p.exit_lookback:]
            if price > max(entry):
                sig = 1
            elif price < min(entry):
                sig = -1
            else:
                t = self.target[symbol]
                if t > 0 and price < min(exit_) or t < 0 and price > max(exit_):
                    sig = 0
        w.push(price)
        return sig
