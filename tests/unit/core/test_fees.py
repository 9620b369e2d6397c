"""core.fees: exact maker/taker fees, rebates, per-unit fees, commissions, minimums, caps and the rounding rule."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market_sim.core.accounts import Accounts, Fill, Liquidity
from market_sim.core.errors import ConfigError
from market_sim.core.fees import NO_FEES, FeeSchedule, FeeScheduleError
from market_sim.core.orders import Side

MAKER, TAKER, POOL = Liquidity.MAKER, Liquidity.TAKER, Liquidity.POOL


# ----------------------------------------------------------------------------------------------- exact cases

def test_taker_bps_of_notional_rounds_up_to_a_base_unit():
    f = FeeSchedule(taker_bps=Fraction(5, 2))                # 2.5 bps
    assert f.fee(1_000_000, 10, TAKER) == 250                # 10,000.00 USD notional -> 2.50 USD
    assert f.fee(1_000_001, 10, TAKER) == 251                # 250.00025 rounds up
    assert f.fee(3_999, 1, TAKER) == 1                       # 0.99975 rounds up to one cent
    assert f.fee(0, 0, TAKER) == 0
    assert f.fee(1_000_000, 10, MAKER) == 0                  # no maker rate given
    assert f.fee(1_000_000, 10, POOL) == 250                 # a swap takes liquidity: taker rates
    assert f.fee(1_000_000, 10, False) == 250 and f.fee(1_000_000, 10, True) == 0


def test_maker_rebate_is_negative_and_rounds_toward_zero():
    f = FeeSchedule(maker_bps=Fraction(-1, 2), taker_bps=Fraction(5, 2))
    assert f.fee(1_000_000, 10, MAKER) == -50                # 0.5 bps rebate of 10,000.00 USD
    assert f.fee(1_000_199, 10, MAKER) == -50                # -50.00995 -> -50: the venue keeps the fraction
    assert f.fee(19_999, 1, MAKER) == 0                      # -0.99995 -> 0
    assert f.trade_fees(1_000_000, 10) == (-50, 250)


def test_fractional_bps_are_exact():
    f = FeeSchedule(taker_bps="1/3", maker_bps=Decimal("0.25"))
    assert f.taker_bps == Fraction(1, 3) and f.maker_bps == Fraction(1, 4)
    assert f.fee(30_000, 1, TAKER) == 1                      # 30,000 * 1/3 / 10,000 = exactly 1
    assert f.fee(30_001, 1, TAKER) == 2
    assert f.fee(40_000, 1, MAKER) == 1
    assert FeeSchedule(taker_bps=0.1).taker_bps == Fraction(1, 10)  # a float by its decimal repr, not 0.1000000000000000055


def test_per_unit_fees_and_rebates():
    # US-equity style: taker pays 0.30 cents per share, maker earns 0.20 cents per share (a lot of 1 share here)
    f = FeeSchedule(taker_per_unit=Fraction(3, 10), maker_per_unit=Fraction(-1, 5))
    assert f.fee(10_000_000, 100, TAKER) == 30
    assert f.fee(10_000_000, 101, TAKER) == 31               # 30.3 -> 31
    assert f.fee(10_000_000, 100, MAKER) == -20
    assert f.fee(10_000_000, 101, MAKER) == -20              # -20.2 -> -20
    assert f.fee(10_000_000, 3, MAKER) == 0                  # -0.6 -> 0


def test_commission_minimum_and_cap():
    f = FeeSchedule(taker_per_unit=Fraction(1, 2), minimum=100, maximum_bps=100)  # IBKR-like: 0.5c/sh, min $1, max 1 %
    assert f.fee(100_000, 100, TAKER) == 100                 # 50 cents -> the $1 minimum
    assert f.fee(10_000_000, 1_000, TAKER) == 500            # 1,000 shares of $100: $5
    assert f.fee(5_000, 100, TAKER) == 50                    # $50 notional: the 1 % cap (50 cents) beats the minimum
    assert f.fee(10_001, 1_000, TAKER) == 101                # cap = ceil(100.01) = 101 < 500
    g = FeeSchedule(taker_bps=1, maker_bps=-1, commission=7)
    assert g.fee(1_000_000, 1, TAKER) == 107
    assert g.fee(1_000_000, 1, MAKER) == -93                 # the commission is charged on a rebated fill too
    h = FeeSchedule(maker_bps=-2, taker_bps=3, minimum=10)
    assert h.fee(1_000, 1, TAKER) == 10                      # 0.3 -> the minimum
    assert h.fee(1_000, 1, MAKER) == 0                       # a rebate is not raised to the minimum
    assert h.fee(1_000_000, 1, MAKER) == -200
    assert FeeSchedule(minimum=10).fee(1_000, 1, MAKER) == 10  # a free fill is a charge of 0: the minimum applies


def test_zero_schedule():
    assert NO_FEES.is_zero and NO_FEES.trade_fees(10**30, 10**9) == (0, 0)
    assert FeeSchedule.parse(None) is NO_FEES and FeeSchedule.parse({}) == NO_FEES
    assert not FeeSchedule(minimum=1).is_zero and not FeeSchedule(maker_per_unit=Fraction(1, 100)).is_zero


# ----------------------------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, field", [
    ({"maker_bps": -3, "taker_bps": 2}, "maker_bps"),
    ({"taker_bps": -1}, "taker_bps"),
    ({"maker_per_unit": -1}, "maker_per_unit"),
    ({"taker_bps": "abc"}, "taker_bps"),
    ({"taker_bps": float("nan")}, "taker_bps"),
    ({"taker_bps": True}, "taker_bps"),
    ({"taker_bps": 10_001}, "taker_bps"),
    ({"commission": -1}, "commission"),
    ({"commission": 1.5}, "commission"),
    ({"minimum": Fraction(1, 2)}, "minimum"),
    ({"maximum_bps": 0}, "maximum_bps"),
    ({"maximum_bps": 50, "maker_bps": -1, "taker_bps": 2}, "maximum_bps"),
])
def test_a_bad_field_is_named(kwargs, field):
    with pytest.raises(FeeScheduleError, match=f"fee schedule {field}:") as info:
        FeeSchedule(**kwargs)
    assert info.value.field == field


def test_parse_reads_toml_keys_with_the_callers_unit():
    f = FeeSchedule.parse({"maker_bps": -0.5, "taker_bps": 2.5, "per_lot": 0.25, "commission": 100.0},
                          "venues[0].fees", unit="lot")
    assert f == FeeSchedule(Fraction(-1, 2), Fraction(5, 2), Fraction(1, 4), Fraction(1, 4), 100)
    assert FeeSchedule.parse(f.to_config("lot"), unit="lot") == f
    g = FeeSchedule.parse({"taker_per_share": "1/3", "maximum_bps": 100}, unit="share")
    assert g.taker_per_unit == Fraction(1, 3) and g.to_config("share") == {"taker_per_share": "1/3",
                                                                            "maximum_bps": 100}


@pytest.mark.parametrize("raw, key", [
    ({"maker_bps": -3, "taker_bps": 2}, "venues[0].fees.maker_bps"),
    ({"taker_bps": "x"}, "venues[0].fees.taker_bps"),
    ({"maker_per_lot": -1}, "venues[0].fees.maker_per_lot"),
    ({"per_lot": -1}, "venues[0].fees.per_lot"),
    ({"per_lot": 1, "taker_per_lot": 2}, "venues[0].fees.taker_per_lot"),
    ({"per_share": 1}, "venues[0].fees.per_share"),
    ({"commission": 2.5}, "venues[0].fees.commission"),
])
def test_parse_errors_name_the_config_key(raw, key):
    with pytest.raises(ConfigError) as info:
        FeeSchedule.parse(raw, "venues[0].fees", unit="lot")
    assert info.value.key == key and str(info.value).startswith(key + ": ")
    assert "_per_unit" not in str(info.value)


def test_parse_scales_currency_amounts_to_base_units():
    f = FeeSchedule.parse({"per_share": 0.0035, "commission": 1, "minimum": 0.35, "taker_bps": 0.1}, unit="share",
                          scale=100)  # USD at 2 decimals
    assert (f.taker_per_unit, f.commission, f.minimum, f.taker_bps) == (Fraction(7, 20), 100, 35, Fraction(1, 10))
    wei = FeeSchedule.parse({"commission": 0.001}, scale=10**18)
    assert wei.commission == 10**15
    with pytest.raises(ConfigError, match="finer than one base unit") as info:
        FeeSchedule.parse({"minimum": 0.001}, "fees", scale=100)
    assert info.value.key == "fees.minimum"


def test_parse_rejects_a_non_table():
    with pytest.raises(ConfigError, match="must be a table"):
        FeeSchedule.parse(2.5, "venues[0].fees")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- properties

bps = st.fractions(min_value=-50, max_value=50, max_denominator=400)
per_unit = st.fractions(min_value=-5, max_value=5, max_denominator=100)


@st.composite
def schedules(draw):
    maker, taker, mu, tu = draw(bps), draw(bps), draw(per_unit), draw(per_unit)
    if maker + taker < 0:
        maker = -taker  # no rebate larger than the other side's charge (the schedule refuses that)
    if mu + tu < 0:
        mu = -tu
    cap = None
    if min(maker, taker, mu, tu) >= 0:
        cap = draw(st.none() | st.fractions(min_value=Fraction(1, 100), max_value=200, max_denominator=100))
    return FeeSchedule(maker, taker, mu, tu, draw(st.integers(0, 500)), draw(st.integers(0, 500)), cap)


@given(schedules(), st.integers(0, 10**12), st.integers(0, 10**12), st.integers(0, 10**6),
       st.sampled_from([MAKER, TAKER]))
def test_fee_is_monotone_in_notional(f, a, b, qty, liq):
    """A charge never falls and a rebate never shrinks as the notional grows (same quantity)."""
    lo, hi = sorted((a, b))
    rate = f.maker_bps if liq is MAKER else f.taker_bps
    if rate >= 0:
        assert f.fee(lo, qty, liq) <= f.fee(hi, qty, liq)
    else:
        assert f.fee(lo, qty, liq) >= f.fee(hi, qty, liq)


@given(schedules(), st.integers(0, 10**12), st.integers(0, 10**6))
def test_a_rebate_never_exceeds_the_other_sides_charge(f, notional, qty):
    maker, taker = f.trade_fees(notional, qty)
    assert maker + taker >= 0
    for fee, liq in ((maker, MAKER), (taker, TAKER)):
        rate = f.maker_bps if liq is MAKER else f.taker_bps
        unit = f.maker_per_unit if liq is MAKER else f.taker_per_unit
        exact = Fraction(notional) * rate / 10_000 + qty * unit + f.commission
        if exact >= 0:  # a charge: at least the minimum, at most the cap, rounded up by less than a unit
            capped = min(max(exact, f.minimum), Fraction(notional) * f.maximum_bps / 10_000
                         if f.maximum_bps is not None else max(exact, f.minimum))
            assert capped <= fee < capped + 1
        else:  # a rebate: never more than the exact rebate, toward zero by less than a unit
            assert exact <= fee < exact + 1 and fee <= 0


@given(schedules(), st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 10**4), st.booleans(),
                                       st.sampled_from("abcd"), st.sampled_from("abcd")), max_size=30))
def test_booked_fees_sum_to_the_venues_revenue(f, trades):
    accounts = Accounts()
    revenue = 0
    for i, (price, qty, buyer_is_maker, buyer, seller) in enumerate(trades):
        notional = price * qty
        maker_fee, taker_fee = f.trade_fees(notional, qty)
        buy_fee, sell_fee = (maker_fee, taker_fee) if buyer_is_maker else (taker_fee, maker_fee)
        revenue += buy_fee + sell_fee
        for acct, side, fee, maker in ((buyer, Side.BUY, buy_fee, buyer_is_maker),
                                       (seller, Side.SELL, sell_fee, not buyer_is_maker)):
            accounts.apply(Fill(i, acct, "v", "X", side, "X", qty, "USD", notional, "USD", fee,
                                MAKER if maker else TAKER, trade_id=i, price=price, quantity=qty))
    assert sum(a.fees_paid.get("USD", 0) for a in accounts) == revenue >= 0
    assert sum(p.fees for a in accounts for p in a.positions.values()) == revenue
    # what the accounts lost to fees is exactly what the venue took: USD no longer sums to zero by `revenue`
    assert accounts.totals().get("USD", 0) == -revenue and accounts.totals().get("X", 0) == 0
