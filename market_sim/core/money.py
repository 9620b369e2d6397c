"""Exact conversion between decimal amounts and the integers (ticks, lots, token units) used everywhere."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from market_sim.core.errors import ValidationError

__all__ = ["to_decimal", "to_units", "from_units", "format_units"]


def to_decimal(value: object, what: str = "value") -> Decimal:
    """Parse an int, str, Decimal or finite float into a Decimal, rejecting NaN and infinities."""
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{what} must be finite, got {value!r}")
        value = repr(value)  # shortest repr keeps 0.1 as 0.1, not its binary expansion
    try:
        d = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError(f"{what} is not a number: {value!r}") from None
    if not d.is_finite():
        raise ValidationError(f"{what} must be finite, got {value!r}")
    return d


def to_units(value: object, step: Decimal, what: str = "value") -> int:
    """Convert a decimal amount to an integer count of `step`, requiring it to lie exactly on the grid."""
    d = to_decimal(value, what)
    units, rem = divmod(d, step)
    if rem != 0:
        raise ValidationError(f"{what} {d} is not a multiple of {step}")
    return int(units)


def from_units(units: int, step: Decimal) -> Decimal:
    """Convert an integer count of `step` back to a decimal amount."""
    return units * step


def format_units(units: int, decimals: int, symbol: str = "") -> str:
    """A token amount in base units as the decimal amount people read, exactly: format_units(96240 * 10**18, 18,
    'USD') == '96,240 USD', format_units(15, 2) == '0.15' (thousands separators, no trailing zeros)."""
    whole, frac = divmod(abs(int(units)), 10**decimals) if decimals > 0 else (abs(int(units)), 0)
    text = f"{'-' if units < 0 else ''}{whole:,}"
    if frac:
        text += "." + f"{frac:0{decimals}d}".rstrip("0")
    return f"{text} {symbol}" if symbol else text
