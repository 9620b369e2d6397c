"""Implied volatility: round trips (deep ITM/OTM, near expiry, extreme vols), QuantLib, the no-arbitrage error."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given
from hypothesis import strategies as st

from market_sim.derivatives import (ArbitrageBoundsError, PricingInputError, black76_implied_vol,
                                    black76_implied_vol_array, black76_price, bsm_implied_vol,
                                    bsm_implied_vol_array, bsm_price, bsm_price_array)
from . import _quantlib as oracle


@pytest.mark.parametrize("spot, strike, t, vol, call", [
    (100.0, 100.0, 1.0, 0.2, True),       # at the money
    (100.0, 300.0, 1.0, 0.3, True),       # deep OTM call (price ~ 4e-4)
    (100.0, 30.0, 1.0, 0.3, False),       # deep OTM put
    (100.0, 400.0, 0.25, 0.3, True),      # price 5e-20: matched in relative terms too
    (100.0, 40.0, 0.5, 0.4, True),        # deep ITM call: solved through the OTM put
    (100.0, 180.0, 0.5, 0.4, False),      # deep ITM put
    (100.0, 101.0, 1 / 365, 0.2, True),   # one day to expiry
    (100.0, 100.0, 1 / 3650, 0.5, False), # a few hours
    (100.0, 100.0, 1.0, 4.0, True),       # very high vol: price near its upper bound
    (100.0, 100.0, 1.0, 0.005, False),    # very low vol
])
def test_round_trip(spot, strike, t, vol, call):
    price = bsm_price(spot, strike, t, 0.03, vol, 0.01, call)
    iv = bsm_implied_vol(price, spot, strike, t, 0.03, 0.01, call)
    assert iv == pytest.approx(vol, rel=1e-8)
    assert bsm_price(spot, strike, t, 0.03, iv, 0.01, call) == pytest.approx(price, rel=1e-12, abs=1e-13)


@given(st.floats(0.3, 3.0), st.floats(0.003, 5.0), st.floats(0.02, 1.5), st.booleans())
def test_round_trip_property(moneyness, t, vol, call):
    spot, strike = 100.0, 100.0 * moneyness
    price = bsm_price(spot, strike, t, 0.02, vol, 0.0, call)
    intrinsic = max((spot - strike * math.exp(-0.02 * t)) * (1 if call else -1), 0.0)
    if price - intrinsic < 1e-12 * spot or price < 1e-300:  # no information left in the price's rounding
        return
    iv = bsm_implied_vol(price, spot, strike, t, 0.02, 0.0, call)
    assert bsm_price(spot, strike, t, 0.02, iv, 0.0, call) == pytest.approx(price, rel=1e-11, abs=1e-11)


def test_vectorised_round_trip_to_1e_10_in_price():
    rng = np.random.default_rng(11)
    n = 50_000
    s, k, t = 100.0, rng.uniform(40, 250, n), rng.uniform(0.005, 3, n)
    v, c = rng.uniform(0.03, 1.5, n), rng.random(n) < 0.5
    p = bsm_price_array(s, k, t, 0.03, v, 0.01, c)
    iv = bsm_implied_vol_array(p, s, k, t, 0.03, 0.01, c, on_error="nan")
    ok = ~np.isnan(iv)
    assert ok.mean() > 0.97  # the rest: time value lost below the rounding of a deep ITM price
    assert np.abs(bsm_price_array(s, k[ok], t[ok], 0.03, iv[ok], 0.01, c[ok]) - p[ok]).max() <= 1e-10
    with pytest.raises(ArbitrageBoundsError, match=r"at index \d+ is outside the no-arbitrage range"):
        bsm_implied_vol_array(p, s, k, t, 0.03, 0.01, c)


def test_matches_quantlib_implied_volatility():
    opt = oracle.european(100.0, 110.0, 182, 0.04, 0.02, 0.27, True)
    price = opt.NPV()
    ref = opt.impliedVolatility(price, oracle.process(100.0, 0.04, 0.02, 0.3), 1e-12, 500, 1e-4, 4.0)
    assert bsm_implied_vol(price, 100.0, 110.0, oracle.year_fraction(182), 0.04, 0.02, True) == pytest.approx(
        ref, abs=1e-9)


def test_black76_round_trip():
    price = black76_price(95.0, 100.0, 0.75, 0.05, 0.33, False)
    assert black76_implied_vol(price, 95.0, 100.0, 0.75, 0.05, False) == pytest.approx(0.33, rel=1e-12)
    prices = np.array([black76_price(95.0, k, 0.75, 0.05, 0.25) for k in (80.0, 95.0, 120.0)])
    assert np.allclose(black76_implied_vol_array(prices, 95.0, [80.0, 95.0, 120.0], 0.75, 0.05), 0.25, rtol=1e-12)
    undiscounted = float(prices[2]) / math.exp(-0.05 * 0.75)
    ref = ql.blackFormulaImpliedStdDev(ql.Option.Call, 120.0, 95.0, undiscounted, 1.0, 0.0, 0.2, 1e-14, 1000)
    assert black76_implied_vol(float(prices[2]), 95.0, 120.0, 0.75, 0.05) * math.sqrt(0.75) == pytest.approx(
        ref, rel=1e-9)


def test_price_below_intrinsic_raises_with_bounds():
    # a call struck at 90 on a spot of 100 (r = 5%, t = 1): intrinsic 100 - 90 e^{-0.05} = 14.39..., bound 100
    with pytest.raises(ArbitrageBoundsError, match="outside the no-arbitrage range") as err:
        bsm_implied_vol(10.0, 100.0, 90.0, 1.0, 0.05)
    assert err.value.lower == pytest.approx(100.0 - 90.0 * math.exp(-0.05), rel=1e-14)
    assert err.value.upper == pytest.approx(100.0, rel=1e-14)
    assert err.value.price == 10.0 and err.value.index is None


def test_price_above_upper_bound_and_bad_prices_raise():
    with pytest.raises(ArbitrageBoundsError, match=r"strictly between 0\.0 .* and 9[0-9.]+ \(upper bound\)") as err:
        bsm_implied_vol(100.0, 100.0, 100.0, 1.0, 0.05, call=False)  # a put is worth less than K e^{-rT}
    assert err.value.upper == pytest.approx(100.0 * math.exp(-0.05))
    with pytest.raises(ArbitrageBoundsError):
        bsm_implied_vol(0.0, 100.0, 150.0, 1.0, 0.05)  # zero: at the lower bound, no vol > 0 gives it
    with pytest.raises(PricingInputError, match="price must be a finite number"):
        bsm_implied_vol(float("nan"), 100.0, 100.0, 1.0, 0.05)
    with pytest.raises(PricingInputError, match="t must be a finite number > 0"):
        bsm_implied_vol(5.0, 100.0, 100.0, 0.0, 0.05)
    with pytest.raises(PricingInputError, match="on_error must be 'raise' or 'nan'"):
        bsm_implied_vol_array(5.0, 100.0, 100.0, 1.0, 0.05, on_error="ignore")
    out = bsm_implied_vol_array([10.0, float("nan"), bsm_price(100, 90, 1, 0.05, 0.2)], 100.0, 90.0, 1.0, 0.05,
                                on_error="nan")
    assert np.isnan(out[:2]).all() and out[2] == pytest.approx(0.2, rel=1e-12)
