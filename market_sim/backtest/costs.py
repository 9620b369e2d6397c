"""Trading costs in a backtest: fee schedules (a protocol) and slippage models.

Fees: the platform's one fee model, `market_sim.core.fees.FeeSchedule` (maker/taker bps, per unit, fixed
commission, minimum, cap; exact rationals, rounded up to a whole quote unit), re-exported here with `NO_FEES`.

Slippage: a model moves the fill price of a TAKER fill (market orders, triggered stops, a limit that is marketable
at the open) against the trader, in whole ticks, from the bar it fills in. Limit orders filled at their own price
never slip. The engine clamps a slipped price into the bar's [low, high] range: nothing trades outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from market_sim.core.errors import ConfigError
from market_sim.core.fees import NO_FEES as _NO_FEES, FeeSchedule
from market_sim.core.orders import Side

__all__ = ["FeeSchedule", "Slippage", "NoSlippage", "FixedTicks", "BpsSlippage",
           "VolumeImpact", "NO_FEES", "NO_SLIPPAGE"]


# The one fee model of the platform (simulation venues and backtests): re-exported here for convenience.
NO_FEES = _NO_FEES


@runtime_checkable
class Slippage(Protocol):
    """The price a taker fill gets, in ticks, given the price the fill rule chose and the bar."""

    def price(self, side: Side, price: int, quantity: int, bar_volume: int, bar_range: int) -> int: ...


@dataclass(frozen=True, slots=True)
class NoSlippage:
    def price(self, side: Side, price: int, quantity: int, bar_volume: int, bar_range: int) -> int:
        return price


@dataclass(frozen=True, slots=True)
class FixedTicks:
    """A fixed number of ticks against the trader (half a spread, say)."""

    ticks: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.ticks, bool) or not isinstance(self.ticks, int) or self.ticks < 0:
            raise ConfigError("must be a non-negative integer", key="slippage.ticks", value=self.ticks)

    def price(self, side: Side, price: int, quantity: int, bar_volume: int, bar_range: int) -> int:
        return price + self.ticks if side is Side.BUY else price - self.ticks


@dataclass(frozen=True, slots=True)
class BpsSlippage:
    """A fixed fraction of the price against the trader, rounded up to whole ticks."""

    bps: float = 5.0

    def __post_init__(self) -> None:
        if not (isinstance(self.bps, (int, float)) and math.isfinite(self.bps) and 0 <= self.bps <= 10_000):
            raise ConfigError("must be a number of basis points in 0..10000", key="slippage.bps", value=self.bps)

    def price(self, side: Side, price: int, quantity: int, bar_volume: int, bar_range: int) -> int:
        d = math.ceil(price * self.bps / 10_000)
        return price + d if side is Side.BUY else price - d


@dataclass(frozen=True, slots=True)
class VolumeImpact:
    """Square-root impact: `k` * bar range * sqrt(quantity / bar volume) ticks against the trader (rounded up);
    a bar without volume moves the price by `k` * the range."""

    k: float = 0.1

    def __post_init__(self) -> None:
        if not (isinstance(self.k, (int, float)) and math.isfinite(self.k) and self.k >= 0):
            raise ConfigError("must be a non-negative number", key="slippage.k", value=self.k)

    def price(self, side: Side, price: int, quantity: int, bar_volume: int, bar_range: int) -> int:
        share = 1.0 if bar_volume <= 0 else min(1.0, quantity / bar_volume)
        d = math.ceil(self.k * bar_range * math.sqrt(share))
        return price + d if side is Side.BUY else price - d


NO_SLIPPAGE = NoSlippage()
