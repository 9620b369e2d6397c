"""Exact decimal <-> integer unit conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest

from market_sim.core.errors import ValidationError
from market_sim.core.money import from_units, to_decimal, to_units


@pytest.mark.parametrize("value,expected", [(1, Decimal(1)), ("1.25", Decimal("1.25")), (0.1, Decimal("0.1")),
                                            (Decimal("3.5"), Decimal("3.5"))])
def test_to_decimal_accepts_numbers(value, expected):
    assert to_decimal(value) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "NaN", "-Infinity", "abc", True, None])
def test_to_decimal_rejects_non_finite_and_non_numbers(value):
    with pytest.raises(ValidationError, match=r"^price (must be finite, got|must be a number, got|is not a number: )"):
        to_decimal(value, "price")


def test_to_units_on_grid_only():
    assert to_units("190.05", Decimal("0.01")) == 19005
    assert to_units("0.30", Decimal("0.1")) == 3
    assert to_units(-2, Decimal("0.5")) == -4
    with pytest.raises(ValidationError, match="price 1.005 is not a multiple of 0.01"):
        to_units("1.005", Decimal("0.01"), "price")


def test_round_trip():
    step = Decimal("0.25")
    for units in (0, 1, 7, 123456789):
        assert to_units(from_units(units, step), step) == units
    assert from_units(19005, Decimal("0.01")) == Decimal("190.05")


def test_format_units_prints_exact_decimal_token_amounts() -> None:
    from market_sim.core.money import format_units

    assert format_units(96_240 * 10**18, 18, "USD") == "96,240 USD"
    assert format_units(96_240_000_000_000, 18, "USD") == "0.00009624 USD"
    assert format_units(10**30 + 1, 18) == "1,000,000,000,000.000000000000000001"  # exact beyond 28 digits
    assert format_units(-15, 2, "EUR") == "-0.15 EUR"
    assert format_units(0, 6, "USDC") == "0 USDC"
    assert format_units(7, 0, "XYZ") == "7 XYZ"
