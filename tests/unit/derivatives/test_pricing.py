"""European prices and Greeks: QuantLib, textbook values, put-call parity, finite differences, scalar == vector."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given
from hypothesis import strategies as st

from market_sim.core.errors import ValidationError
from market_sim.derivatives import (Greeks, PricingInputError, bachelier_greeks, bachelier_greeks_array,
                                    bachelier_price, bachelier_price_array, black76_greeks, black76_greeks_array,
                                    black76_price, black76_price_array, bsm_greeks, bsm_greeks_array, bsm_price,
                                    bsm_price_array)
from . import _quantlib as oracle

CASES = [  # spot, strike, days, rate, div, vol, call
    (100.0, 100.0, 365, 0.05, 0.02, 0.20, True),
    (100.0, 100.0, 365, 0.05, 0.02, 0.20, False),
    (90.0, 110.0, 90, 0.03, 0.05, 0.35, True),
    (130.0, 100.0, 730, 0.08, 0.01, 0.15, False),
    (50.0, 40.0, 10, -0.01, 0.00, 0.60, True),
    (75.0, 80.0, 1825, 0.02, 0.04, 0.45, False),
]


@pytest.mark.parametrize("spot, strike, days, rate, div, vol, call", CASES)
def test_bsm_price_and_greeks_match_quantlib(spot, strike, days, rate, div, vol, call):
    ref = oracle.european(spot, strike, days, rate, div, vol, call)
    g = bsm_greeks(spot, strike, oracle.year_fraction(days), rate, vol, div, call)
    assert g.price == pytest.approx(ref.NPV(), rel=1e-12, abs=1e-12)
    assert g.delta == pytest.approx(ref.delta(), rel=1e-10, abs=1e-12)
    assert g.gamma == pytest.approx(ref.gamma(), rel=1e-10, abs=1e-12)
    assert g.vega == pytest.approx(ref.vega(), rel=1e-10, abs=1e-12)
    assert g.theta == pytest.approx(ref.theta(), rel=1e-10, abs=1e-12)
    assert g.rho == pytest.approx(ref.rho(), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("forward, strike, t, rate, vol, call", [
    (100.0, 100.0, 1.0, 0.05, 0.2, True), (100.0, 120.0, 0.5, 0.03, 0.3, False), (80.0, 60.0, 2.0, 0.0, 0.5, True)])
def test_black76_and_bachelier_match_quantlib(forward, strike, t, rate, vol, call):
    kind = ql.Option.Call if call else ql.Option.Put
    disc = math.exp(-rate * t)
    assert black76_price(forward, strike, t, rate, vol, call) == pytest.approx(
        ql.blackFormula(kind, strike, forward, vol * math.sqrt(t), disc), rel=1e-12)
    normal_vol = vol * forward
    assert bachelier_price(forward, strike, t, rate, normal_vol, call) == pytest.approx(
        ql.bachelierBlackFormula(kind, strike, forward, normal_vol * math.sqrt(t), disc), rel=1e-12)


def test_hull_textbook_values():
    # Hull, Options, Futures and Other Derivatives, Example 15.6: S=42, K=40, r=10%, vol=20%, T=0.5: c=4.76, p=0.81
    assert round(bsm_price(42, 40, 0.5, 0.1, 0.2), 2) == 4.76
    assert round(bsm_price(42, 40, 0.5, 0.1, 0.2, call=False), 2) == 0.81
    # Hull Example 19.1 (delta of a call): S=49, K=50, r=5%, vol=20%, T=20 weeks: delta = N(d1) = 0.522
    assert round(bsm_greeks(49, 50, 20 / 52, 0.05, 0.2).delta, 3) == 0.522


@given(st.floats(20, 200), st.floats(20, 200), st.floats(0.01, 5), st.floats(-0.02, 0.1), st.floats(0.05, 1.0),
       st.floats(0, 0.08))
def test_put_call_parity(spot, strike, t, rate, vol, div):
    c = bsm_price(spot, strike, t, rate, vol, div, True)
    p = bsm_price(spot, strike, t, rate, vol, div, False)
    assert c - p == pytest.approx(spot * math.exp(-div * t) - strike * math.exp(-rate * t), abs=1e-9 * spot)
    f = spot * math.exp((rate - div) * t)
    assert black76_price(f, strike, t, rate, vol) - black76_price(f, strike, t, rate, vol, False) == pytest.approx(
        (f - strike) * math.exp(-rate * t), abs=1e-9 * spot)
    nv = vol * f
    assert bachelier_price(f, strike, t, rate, nv) - bachelier_price(f, strike, t, rate, nv, False) == pytest.approx(
        (f - strike) * math.exp(-rate * t), abs=1e-9 * spot)


def _fd_greeks(price, s, t, r, v, h=1e-4):
    """Central finite differences of a pricing function price(s, t, r, v)."""
    ds, dv, dt, dr = h * s, h, h * t, h
    return {
        "delta": (price(s + ds, t, r, v) - price(s - ds, t, r, v)) / (2 * ds),
        "gamma": (price(s + ds, t, r, v) - 2 * price(s, t, r, v) + price(s - ds, t, r, v)) / ds ** 2,
        "vega": (price(s, t, r, v + dv) - price(s, t, r, v - dv)) / (2 * dv),
        "theta": -(price(s, t + dt, r, v) - price(s, t - dt, r, v)) / (2 * dt),
        "rho": (price(s, t, r + dr, v) - price(s, t, r - dr, v)) / (2 * dr),
        "vanna": (price(s + ds, t, r, v + dv) - price(s + ds, t, r, v - dv) - price(s - ds, t, r, v + dv)
                  + price(s - ds, t, r, v - dv)) / (4 * ds * dv),
        "volga": (price(s, t, r, v + dv) - 2 * price(s, t, r, v) + price(s, t, r, v - dv)) / dv ** 2,
    }


MODELS = {
    "bsm": (lambda s, k, t, r, v, c: bsm_price(s, k, t, r, v, 0.03, c),
            lambda s, k, t, r, v, c: bsm_greeks(s, k, t, r, v, 0.03, c), 0.25),
    "black76": (black76_price, black76_greeks, 0.25),
    "bachelier": (bachelier_price, bachelier_greeks, 25.0),
}


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("call", [True, False])
@pytest.mark.parametrize("strike", [80.0, 100.0, 125.0])
def test_greeks_match_finite_differences(model, call, strike):
    price, greeks, vol = MODELS[model]
    s, t, r = 100.0, 0.75, 0.04
    g = greeks(s, strike, t, r, vol, call)
    fd = _fd_greeks(lambda s_, t_, r_, v_: price(s_, strike, t_, r_, v_, call), s, t, r, vol,
                    h=1e-4 if model != "bachelier" else 1e-4)
    scale = max(abs(g.price), 1.0)
    for name, value in fd.items():
        tol = 1e-4 if name in ("gamma", "vanna", "volga") else 1e-6
        assert getattr(g, name) == pytest.approx(value, rel=tol, abs=tol * scale), name


def test_vectorised_equals_scalar_elementwise():
    rng = np.random.default_rng(7)
    n = 40_000  # more than one block of the chunked evaluation
    s, k = rng.uniform(50, 150, n), rng.uniform(50, 150, n)
    t, r, v, q = rng.uniform(0.01, 3, n), rng.uniform(-0.01, 0.1, n), rng.uniform(0.05, 1, n), rng.uniform(0, .05, n)
    c = rng.random(n) < 0.5
    vec = bsm_greeks_array(s, k, t, r, v, q, c)
    assert np.array_equal(vec.price, bsm_price_array(s, k, t, r, v, q, c))
    for i in range(0, n, 997):
        one = bsm_greeks(float(s[i]), float(k[i]), float(t[i]), float(r[i]), float(v[i]), float(q[i]), bool(c[i]))
        for f in Greeks.__slots__:
            assert getattr(vec, f)[i] == pytest.approx(getattr(one, f), rel=1e-13, abs=1e-13), f
    b76 = black76_greeks_array(s, k, t, r, v, c)
    bach = bachelier_greeks_array(s, k, t, r, v * 100, c)
    for i in (0, 12_345, n - 1):
        assert b76.vega[i] == pytest.approx(black76_greeks(s[i], k[i], t[i], r[i], v[i], bool(c[i])).vega, rel=1e-13)
        assert bach.theta[i] == pytest.approx(
            bachelier_greeks(s[i], k[i], t[i], r[i], v[i] * 100, bool(c[i])).theta, rel=1e-12, abs=1e-12)
    assert black76_price_array(s[:3], k[:3], t[:3], r[:3], v[:3]).shape == (3,)
    assert bachelier_price_array(100.0, [90.0, 110.0], 1.0, 0.0, 20.0).shape == (2,)


def test_broadcasting_keeps_the_shape():
    grid = bsm_price_array(100.0, np.array([[90.0], [100.0], [110.0]]), np.array([0.25, 0.5, 1.0, 2.0]), 0.03, 0.2)
    assert grid.shape == (3, 4)
    assert grid[1, 2] == bsm_price(100.0, 100.0, 1.0, 0.03, 0.2)


@pytest.mark.parametrize("kwargs, name", [
    ({"spot": float("nan")}, "spot"), ({"spot": -1.0}, "spot"), ({"strike": 0.0}, "strike"),
    ({"t": 0.0}, "t"), ({"t": -0.5}, "t"), ({"vol": 0.0}, "vol"), ({"vol": float("inf")}, "vol"),
    ({"rate": float("nan")}, "rate")])
def test_bad_inputs_raise_clear_errors(kwargs, name):
    good = dict(spot=100.0, strike=100.0, t=1.0, rate=0.05, vol=0.2)
    args = good | kwargs
    with pytest.raises(PricingInputError, match=f"^{name} must be a finite number") as err:
        bsm_price(**args)
    assert err.value.name == name and isinstance(err.value, ValidationError)
    with pytest.raises(PricingInputError, match=f"^{name} must be .* at index 1 "):
        bsm_greeks_array(**(good | {name: np.array([good[name], args[name]])}))


def test_bachelier_accepts_negative_forwards_but_not_nan():
    assert bachelier_price(-0.5, 0.25, 1.0, 0.0, 1.0) > 0.0
    with pytest.raises(PricingInputError, match="forward must be a finite number"):
        bachelier_price(float("nan"), 0.25, 1.0, 0.0, 1.0)
    with pytest.raises(PricingInputError, match="call must be a bool"):
        bsm_price_array(100.0, 100.0, 1.0, 0.0, 0.2, call=np.array([1, 0]))
