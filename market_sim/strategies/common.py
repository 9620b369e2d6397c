"""Reusable pieces of the strategy library: rolling statistics, position sizing and stops.

Everything here is plain arithmetic on the prices a strategy has seen (integer ticks) and its position in lots; no
piece touches the simulation, so a strategy built from them runs unchanged wherever the Agent API is provided (the
simulation, the backtest engine).

Sizing (`sizing = "fixed" | "vol_target"`):
    fixed       `quantity` lots per unit of signal.
    vol_target  lots = risk_budget / (sigma_per_bar * price), where sigma_per_bar is the standard deviation of the
                last `vol_lookback` bar returns and `risk_budget` is the wanted standard deviation of the position's
                value change per bar in ticks x lots; capped at `max_position`.
Stops (each 0 = off): `stop_loss` (relative adverse move from the entry price), `take_profit` (relative favourable
move), `trailing_stop` (relative retreat from the best price since entry). A stop flattens the position and the
strategy stays flat until its signal changes sign.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from market_sim.core.errors import ConfigError

__all__ = ["Rolling", "Ewma", "SizingParams", "position_size", "Stops", "percentile"]


class Rolling:
    """The last `n` values, with their mean and (sample) standard deviation, min and max."""

    __slots__ = ("n", "values", "_sum", "_sq")

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ConfigError("window must hold at least one value", key="window", value=n)
        self.n = n
        self.values: deque[float] = deque()
        self._sum = 0.0
        self._sq = 0.0

    def push(self, x: float) -> None:
        v = self.values
        v.append(x)
        self._sum += x
        self._sq += x * x
        if len(v) > self.n:
            old = v.popleft()
            self._sum -= old
            self._sq -= old * old

    @property
    def full(self) -> bool:
        return len(self.values) == self.n

    def __len__(self) -> int:
        return len(self.values)

    def mean(self) -> float:
        return self._sum / len(self.values)

    def std(self) -> float:
        """Sample standard deviation (recomputed exactly, so long runs accumulate no rounding drift)."""
        k = len(self.values)
        if k < 2:
            return 0.0
        m = sum(self.values) / k
        return math.sqrt(sum((x - m) ** 2 for x in self.values) / (k - 1))

    def min(self) -> float:
        return min(self.values)

    def max(self) -> float:
        return max(self.values)


class Ewma:
    """Exponentially weighted mean with smoothing `alpha` (the first value seeds it)."""

    __slots__ = ("alpha", "value")

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.value: float | None = None

    def push(self, x: float) -> float:
        self.value = x if self.value is None else self.value + self.alpha * (x - self.value)
        return self.value


@dataclass(frozen=True, slots=True)
class SizingParams:
    """The sizing rule as plain values (the strategies' Params carry the same fields)."""

    sizing: str = "fixed"
    quantity: int = 10
    risk_budget: float = 100.0
    max_position: int = 100


def position_size(p: SizingParams, price_ticks: int, returns: Rolling | None) -> int:
    """Lots for one unit of signal under rule `p` (0 while vol targeting has fewer than two returns)."""
    if p.sizing == "fixed":
        return min(p.quantity, p.max_position)
    if p.sizing != "vol_target":
        raise ConfigError("unknown sizing rule; choose fixed or vol_target", key="sizing", value=p.sizing)
    if returns is None or len(returns) < 2:
        return 0
    sigma = returns.std()
    if sigma <= 0.0 or price_ticks <= 0:
        return p.max_position
    return max(0, min(p.max_position, int(p.risk_budget / (sigma * price_ticks))))


class Stops:
    """Stop-loss, take-profit and trailing stop on one position (relative thresholds; 0 disables each)."""

    __slots__ = ("stop_loss", "take_profit", "trailing", "entry", "best", "direction")

    def __init__(self, stop_loss: float = 0.0, take_profit: float = 0.0, trailing: float = 0.0) -> None:
        self.stop_loss, self.take_profit, self.trailing = stop_loss, take_profit, trailing
        self.entry: int | None = None
        self.best: int | None = None
        self.direction = 0

    def enter(self, direction: int, price: int) -> None:
        """A new position of sign `direction` opened (or flipped) at `price` ticks."""
        self.direction, self.entry, self.best = direction, price, price

    def clear(self) -> None:
        self.direction, self.entry, self.best = 0, None, None

    def hit(self, price: int) -> str | None:
        """Which stop `price` triggers ('stop_loss', 'take_profit', 'trailing_stop'), or None."""
        d, entry = self.direction, self.entry
        if d == 0 or entry is None:
            return None
        self.best = max(self.best, price) if d > 0 else min(self.best, price)
        move = d * (price - entry) / entry
        if self.stop_loss and move <= -self.stop_loss:
            return "stop_loss"
        if self.take_profit and move >= self.take_profit:
            return "take_profit"
        if self.trailing and d * (self.best - price) / self.best >= self.trailing:
            return "trailing_stop"
        return None


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, linear interpolation (numpy's default)."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
