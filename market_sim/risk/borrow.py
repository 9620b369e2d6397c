"""Borrow fees of short positions in the risk engine and the bar backtest: rates per symbol; the accrual rule
itself is `market_sim.core.borrowing.accrue_borrow_fee` (shared with the on-chain lending pools).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from market_sim.core.borrowing import GENERAL_COLLATERAL_BPS, HARD_TO_BORROW_BPS, accrue_borrow_fee
from market_sim.core.errors import ConfigError

__all__ = ["accrue_borrow_fee", "BorrowFees", "GENERAL_COLLATERAL_BPS", "HARD_TO_BORROW_BPS"]



def _rate(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError("must be a non-negative integer number of basis points a year", key=key, value=value)
    return value


@dataclass(frozen=True, slots=True)
class BorrowFees:
    """Borrow rates of a backtest's shorts: `rate_bps` a year for every symbol, `rates` per symbol overriding it."""

    rate_bps: int = GENERAL_COLLATERAL_BPS
    rates: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _rate(self.rate_bps, "borrow.rate_bps")
        for sym, r in dict(self.rates).items():
            _rate(r, f"borrow.rates.{sym}")
        object.__setattr__(self, "rates", MappingProxyType(dict(self.rates)))

    def rate(self, symbol: str) -> int:
        """The annual rate in bps of borrowing `symbol`."""
        return self.rates.get(symbol, self.rate_bps)

    def describe(self) -> str:
        extra = "".join(f", {s} {r} bps" for s, r in sorted(self.rates.items()))
        return (f"shorts pay {self.rate_bps} bps a year{extra} on their market value at the previous close, accrued "
                "bar by bar on calendar time (365-day year), whole quote units (fractions carry)")
