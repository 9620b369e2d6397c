"""Borrow fees of short positions: the one accrual rule of the platform, used by the risk engine's lending pools
(simulations) and by the bar backtest's short positions.

A short of `q` base units, marked at `mark` quote units per base unit, pays `rate_bps` a year on its market value,
accrued on elapsed calendar time (a 365-day year: weekends and holidays accrue too), exact:

    owed   = carry + q * mark * rate_bps * dt / (10_000 * YEAR_NS)
    charge = floor(owed)            (whole quote base units; the fraction carries to the next accrual)

so a short held for any number of accruals pays floor(the exact total), never more, and nothing is rounded away.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType

from market_sim.core.errors import ConfigError
from market_sim.risk.config import YEAR_NS
from market_sim.risk.margin import BPS

__all__ = ["accrue_borrow_fee", "BorrowFees", "GENERAL_COLLATERAL_BPS", "HARD_TO_BORROW_BPS"]

GENERAL_COLLATERAL_BPS = 25     # ~0.25 % a year: the default rate of a lending pool
HARD_TO_BORROW_BPS = 3000       # the default rate of a hard-to-borrow pool


def accrue_borrow_fee(short_units: int, mark: Fraction, rate_bps: int, dt: int,
                      carry: Fraction = Fraction(0)) -> tuple[int, Fraction]:
    """The fee of `short_units` base units borrowed for `dt` ns at `mark` (quote units per base unit) and an annual
    `rate_bps`: (whole quote units to charge now, the fraction carried to the next accrual)."""
    owed = carry + Fraction(short_units) * mark * rate_bps * dt / (BPS * YEAR_NS)
    charge = math.floor(owed)
    return charge, owed - charge


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
