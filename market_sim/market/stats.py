"""Per-instrument trading statistics: last trade price, volume, VWAP."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MarketStats"]


@dataclass(frozen=True, slots=True)
class MarketStats:
    """Trading so far in one instrument; prices in ticks, volume in lots."""

    symbol: str
    last_price: int | None
    volume: int
    notional: int      # sum of price * quantity over all trades, in tick-lots
    trade_count: int

    @property
    def vwap(self) -> float | None:
        """Volume-weighted average price in ticks (a float: display/analytics only)."""
        return self.notional / self.volume if self.volume else None
