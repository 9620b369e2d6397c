"""Option margin by the CBOE / Reg T rule, in integers: exact tables for naked calls and puts, the 10 % floors,
covered calls and puts, vertical spreads, rounding, and margin_state with and without the rule."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market_sim.core.errors import ConfigError
from market_sim.risk.margin import (Holding, MarginRules, OptionHolding, OptionMarginRule, margin_state,
                                    option_requirements)

CBOE = OptionMarginRule()
S = Fraction(5000)  # XYZ at 50.00: cents per share (= per option unit)


def opt(symbol: str, units: int, premium: int | Fraction, strike: int, call: bool = True, expiry: int = 100,
        spot: Fraction = S) -> OptionHolding:
    """`units` option units (contracts x multiplier) at `premium` cents per unit, strike in cents."""
    return OptionHolding(symbol, units, Fraction(premium), "XYZ", spot, Fraction(strike), call, expiry, 1)


def table(options: list[OptionHolding], underlying: dict[str, int] | None = None,
          rule: OptionMarginRule = CBOE) -> list[tuple[object, ...]]:
    return [(r["symbol"], r["kind"], r["units"], r["premium"], r["requirement"])
            for r in option_requirements(options, underlying or {}, rule)]


# One contract = 10 units; premium P, underlying value U, strike value K, all in cents.
NAKED = [
    # symbol, units, premium/unit, strike, call, requirement                      the arithmetic
    ("C52", -10, 120, 5200, True, 9_200),     # P 1,200 + max(20% x 50,000 - OTM 2,000, 10% U 5,000) = 1,200 + 8,000
    ("C45", -10, 540, 4500, True, 15_400),    # in the money: 5,400 + 20% U 10,000
    ("C70", -10, 1, 7000, True, 5_010),       # far out: 10 + max(10,000 - 20,000, 5,000): the 10 % floor of U
    ("P45", -20, 35, 4500, False, 10_700),    # 700 + max(20,000 - OTM 10,000, 10% K 9,000)
    ("P30", -10, 2, 3000, False, 3_020),      # 20 + max(10,000 - 20,000, 10% K 3,000): the floor is on the strike
    ("P55", -10, 520, 5500, False, 15_200),   # in the money: 5,200 + 10,000
]


@pytest.mark.parametrize("symbol, units, premium, strike, call, want", NAKED)
def test_naked_short_options(symbol: str, units: int, premium: int, strike: int, call: bool, want: int) -> None:
    assert table([opt(symbol, units, premium, strike, call)]) == [(symbol, "naked", -units, -units * premium, want)]


def test_rounding_is_up_and_exact() -> None:
    # XYZ mid 50.005 (5000.5 cents), 7 units of the 52 call at 1.205: P = 843.5 -> 844; U = 35,003.5, OTM = 1,396.5,
    # 20% U - OTM = 5,604.2 -> 5,605 (10% U = 3,500.35 is lower)
    h = opt("C52", -7, Fraction(241, 2), 5200, spot=Fraction(10001, 2))
    assert table([h]) == [("C52", "naked", 7, 844, 844 + 5_605)]


def test_longs_are_paid_in_full() -> None:
    assert table([opt("C52", 30, 120, 5200)]) == [("C52", "long", 30, 3_600, 3_600)]
    assert table([opt("C52", 30, 120, 5200)], rule=OptionMarginRule(long_bps=5000)) == [("C52", "long", 30, 3_600,
                                                                                           1_800)]


def test_covered_calls_and_puts() -> None:
    # 15 shares cover 15 of 20 short call units (unit for unit: the premium only); the other 5 are naked:
    # 600 + max(20% x 25,000 - OTM 1,000, 10% x 25,000) = 600 + 4,000
    assert table([opt("C52", -20, 120, 5200)], {"XYZ": 15}) == [
        ("C52", "covered", 15, 1_800, 1_800), ("C52", "naked", 5, 600, 4_600)]
    # a short put is covered by a short underlying position
    assert table([opt("P45", -20, 35, 4500, call=False)], {"XYZ": -20}) == [("P45", "covered", 20, 700, 700)]
    # long shares do not cover a put; covered = false turns cover off
    assert table([opt("P45", -20, 35, 4500, call=False)], {"XYZ": 20})[0][1] == "naked"
    assert table([opt("C52", -10, 120, 5200)], {"XYZ": 10}, OptionMarginRule(covered=False))[0][1] == "naked"


def test_vertical_spreads() -> None:
    # bear call spread: short 50 call (2.00), long 52 call (1.20): max loss 2.00 x 10 = 2,000 < naked 10,000
    assert table([opt("C50", -10, 200, 5000), opt("C52", 10, 120, 5200)]) == [
        ("C50", "spread", 10, 2_000, 4_000), ("C52", "long", 10, 1_200, 1_200)]
    # bull call spread: short 52 against long 50: no loss possible, the premium only
    assert table([opt("C52", -10, 120, 5200), opt("C50", 10, 200, 5000)]) == [
        ("C52", "spread", 10, 1_200, 1_200), ("C50", "long", 10, 2_000, 2_000)]
    # bull put spread: short 50 put (1.80), long 48 put (0.90): max loss 2,000
    assert table([opt("P50", -10, 180, 5000, False), opt("P48", 10, 90, 4800, False)]) == [
        ("P50", "spread", 10, 1_800, 3_800), ("P48", "long", 10, 900, 900)]
    # the long picks the smallest max loss; a long expiring before the short does not pair (calendar)
    assert table([opt("C50", -10, 200, 5000), opt("C55", 10, 40, 5500), opt("C51", 10, 150, 5100)])[0] == \
        ("C50", "spread", 10, 2_000, 3_000)
    assert table([opt("C50", -10, 200, 5000, expiry=100), opt("C52", 10, 120, 5200, expiry=50)])[0][1] == "naked"
    # a long call does not pair with a short put, and spreads = false turns pairing off
    assert table([opt("P50", -10, 180, 5000, False), opt("C52", 10, 120, 5200)])[0][1] == "naked"
    assert table([opt("C50", -10, 200, 5000), opt("C52", 10, 120, 5200)],
                 rule=OptionMarginRule(spreads=False))[0][1] == "naked"
    # a partly paired short: 10 units in the spread, 10 naked (20% U - OTM 0 = 10,000 for the at-the-money 50 call)
    assert table([opt("C50", -20, 200, 5000), opt("C52", 10, 120, 5200)])[:2] == [
        ("C50", "spread", 10, 2_000, 4_000), ("C50", "naked", 10, 2_000, 12_000)]


def test_margin_state_with_and_without_the_rule() -> None:
    holdings = [opt("C52", -10, 120, 5200), Holding("XYZ", 10, S)]
    # with the rule: equity = cash + 50,000 (shares) - 1,200 (the short call); the call is covered (1,200), the
    # shares at Reg T 50 % initial / 25 % maintenance
    st = margin_state(100_000, holdings, MarginRules(options=CBOE))
    assert (st.equity, st.long_value, st.short_value) == (148_800, 50_000, 1_200)
    assert (st.initial, st.maintenance) == (25_000 + 1_200, 12_500 + 1_200)
    naked = margin_state(100_000, holdings[:1], MarginRules(options=CBOE))
    assert (naked.equity, naked.initial, naked.maintenance) == (98_800, 9_200, 9_200)
    # without it: the option is a position like any other, Reg T on its premium (50 % / 30 % short)
    plain = margin_state(100_000, holdings[:1], MarginRules())
    assert (plain.equity, plain.initial, plain.maintenance) == (98_800, 600, 360)


def test_bad_rule() -> None:
    with pytest.raises(ConfigError):
        OptionMarginRule(underlying_bps=-1)
    with pytest.raises(ConfigError):
        OptionMarginRule(covered="yes")  # type: ignore[arg-type]


@given(units=st.integers(1, 500), premium=st.integers(0, 5_000), strike=st.integers(1_000, 10_000),
       other=st.integers(1_000, 10_000), spot=st.integers(1_000, 10_000), call=st.booleans())
def test_cover_and_spreads_never_cost_more_than_naked(units: int, premium: int, strike: int, other: int, spot: int,
                                                      call: bool) -> None:
    s = Fraction(spot)
    short = opt("S", -units, premium, strike, call, spot=s)
    naked = table([short])[0]
    u, k = units * spot, units * strike
    assert naked[4] >= naked[3] + (u if call else k) // 10  # premium + at least the 10 % floor
    spread = table([short, opt("L", units, 1, other, call, spot=s)])[0]
    assert spread[1] == "spread" and spread[3] <= spread[4] <= naked[4]
    covered = table([short], {"XYZ": units if call else -units})[0]
    assert covered[1] == "covered" and covered[4] == covered[3] <= naked[4]
