"""The one borrow-fee accrual rule of the platform (risk engine pools, the bar backtest's shorts, and the on-chain
lending pools of margin batches).

A borrow of `q` units valued at `mark` per unit pays `rate_bps` a year on its value, accrued on elapsed calendar time
(a 365-day year: weekends and holidays accrue too), exact:

    owed   = carry + q * mark * rate_bps * dt / (10_000 * YEAR_NS)
    charge = floor(owed)            (whole units; the fraction carries to the next accrual)

so a borrow held for any number of accruals pays floor(the exact total), never more, and nothing is rounded away.
Off chain a short pays in quote units on its market value (`mark` = the price); on chain a debt pays in kind, in the
borrowed token's base units (`mark` = 1).
"""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = ["YEAR_NS", "RATE_BPS", "GENERAL_COLLATERAL_BPS", "HARD_TO_BORROW_BPS", "accrue_borrow_fee"]

YEAR_NS = 365 * 24 * 3600 * 1_000_000_000
RATE_BPS = 10_000  # rates are in basis points a year
GENERAL_COLLATERAL_BPS = 25     # ~0.25 % a year: the default rate of a lending pool
HARD_TO_BORROW_BPS = 3000       # the default rate of a hard-to-borrow pool


def accrue_borrow_fee(units: int, mark: Fraction | int, rate_bps: int, dt: int,
                      carry: Fraction = Fraction(0)) -> tuple[int, Fraction]:
    """The fee of `units` borrowed for `dt` ns at `mark` per unit and an annual `rate_bps`: (whole units to charge
    now, the fraction carried to the next accrual)."""
    owed = carry + Fraction(units) * mark * rate_bps * dt / (RATE_BPS * YEAR_NS)
    charge = math.floor(owed)
    return charge, owed - charge
