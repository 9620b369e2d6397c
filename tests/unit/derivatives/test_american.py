"""American options: CRR and Leisen-Reimer trees and BAW against QuantLib and Hull, convergence, the boundary."""

from __future__ import annotations

import numpy as np
import pytest

from market_sim.derivatives import (PricingInputError, baw_price, baw_price_array, binomial_price,
                                    binomial_price_array, bsm_price, exercise_boundary)
from . import _quantlib as oracle

CASES = [  # spot, strike, days, rate, div, vol, call
    (100.0, 100.0, 365, 0.05, 0.00, 0.20, False),
    (90.0, 100.0, 182, 0.08, 0.03, 0.30, False),
    (110.0, 100.0, 730, 0.03, 0.06, 0.25, True),   # a call on a high-yield asset: exercised early
    (100.0, 120.0, 365, 0.10, 0.00, 0.40, False),
    (60.0, 50.0, 91, 0.02, 0.01, 0.50, True),
]


@pytest.mark.parametrize("spot, strike, days, rate, div, vol, call", CASES)
def test_leisen_reimer_matches_quantlib_exactly(spot, strike, days, rate, div, vol, call):
    ref = oracle.american(spot, strike, days, rate, div, vol, call, "lr", 101)
    ours = binomial_price(spot, strike, oracle.year_fraction(days), rate, vol, div, call, steps=101, method="lr")
    assert ours == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("spot, strike, days, rate, div, vol, call", CASES)
def test_crr_agrees_with_quantlib_crr(spot, strike, days, rate, div, vol, call):
    # QuantLib's CRR uses the additive up-probability 1/2 + drift dt / (2 dx) instead of (e^{b dt} - d) / (u - d):
    # the two 500-step trees agree to O(1/n) (their errors have opposite signs here), not to rounding.
    ref = oracle.american(spot, strike, days, rate, div, vol, call, "crr", 500)
    ours = binomial_price(spot, strike, oracle.year_fraction(days), rate, vol, div, call, steps=500)
    assert ours == pytest.approx(ref, abs=1e-2 * strike / 100)


@pytest.mark.parametrize("spot, strike, days, rate, div, vol, call", CASES)
def test_barone_adesi_whaley_matches_quantlib(spot, strike, days, rate, div, vol, call):
    ref = oracle.american(spot, strike, days, rate, div, vol, call, "baw")
    ours = baw_price(spot, strike, oracle.year_fraction(days), rate, vol, div, call)
    assert ours == pytest.approx(ref, rel=1e-6)  # QuantLib solves for the critical price to 1e-6


def test_hull_american_put_tree():
    # Hull, Options, Futures and Other Derivatives, Example 21.1: S=50, K=50, r=10%, vol=40%, T=5 months,
    # a 5-step CRR tree values the American put at 4.49 and the European at 4.32 (Black-Scholes: 4.08; the
    # control-variate estimate of Section 21.3 is then 4.49 + 4.08 - 4.32 = 4.25)
    assert round(binomial_price(50, 50, 5 / 12, 0.1, 0.4, steps=5), 2) == 4.49
    assert round(binomial_price(50, 50, 5 / 12, 0.1, 0.4, steps=5, american=False), 2) == 4.32
    assert round(bsm_price(50, 50, 5 / 12, 0.1, 0.4, call=False), 2) == 4.08


def test_european_trees_converge_to_bsm_and_leisen_reimer_faster():
    s, k, t, r, v, q = 100.0, 105.0, 1.0, 0.05, 0.25, 0.02
    exact = bsm_price(s, k, t, r, v, q, False)
    crr = [abs(binomial_price(s, k, t, r, v, q, False, n, "crr", american=False) - exact) for n in (51, 201, 801)]
    lr = [abs(binomial_price(s, k, t, r, v, q, False, n, "lr", american=False) - exact) for n in (51, 201, 801)]
    assert crr[2] < 2e-3 and lr[2] < 1e-6
    assert lr[0] < crr[2] / 5  # 51 LR steps beat 801 CRR steps five times over
    assert lr[0] / lr[1] > 12 and lr[1] / lr[2] > 12  # LR: second order, error ~ 1/n^2 (x16 per 4x steps)


def test_american_properties():
    s = np.linspace(70, 130, 13)
    am = binomial_price_array(s, 100.0, 1.0, 0.06, 0.3, 0.0, False, steps=200)
    eu = binomial_price_array(s, 100.0, 1.0, 0.06, 0.3, 0.0, False, steps=200, american=False)
    assert np.all(am >= eu - 1e-12) and np.all(am >= 100.0 - s - 1e-12)
    assert np.all(np.diff(am) < 0)
    # a call on a non-dividend asset is never exercised early
    call = binomial_price_array(s, 100.0, 1.0, 0.06, 0.3, 0.0, True, steps=200)
    assert np.allclose(call, binomial_price_array(s, 100.0, 1.0, 0.06, 0.3, 0.0, True, steps=200, american=False),
                       rtol=0, atol=1e-12)
    assert np.allclose(baw_price_array(s, 100.0, 1.0, 0.06, 0.3, 0.0, True),
                       [bsm_price(x, 100.0, 1.0, 0.06, 0.3) for x in s], rtol=1e-14)
    batched = binomial_price_array(s, 100.0, 1.0, 0.06, 0.3, 0.02, False, steps=101, method="lr")
    assert batched[3] == binomial_price(s[3], 100.0, 1.0, 0.06, 0.3, 0.02, False, steps=101, method="lr")


def test_exercise_boundary_of_a_put():
    b = exercise_boundary(100.0, 100.0, 1.0, 0.08, 0.3, steps=400)
    assert b.times[0] == 0.0 and b.times[-1] == 1.0 and b.spots[-1] == 100.0
    found = b.spots[~np.isnan(b.spots)]
    assert found.size > 300 and np.all(found <= 100.0)
    # the boundary rises towards the strike as expiry nears (coarse tree wiggle allowed)
    assert found[: found.size // 4].mean() < found[-found.size // 4:].mean() < 100.0
    # BAW's critical price (at t = 0, one year out) lies close to the tree's earliest boundary nodes
    below = [s for s in np.linspace(60, 90, 301) if baw_price(s, 100.0, 1.0, 0.08, 0.3) <= 100.0 - s + 1e-9]
    assert abs(max(below) - found[:5].mean()) < 1.5


def test_bad_tree_inputs():
    with pytest.raises(PricingInputError, match="method must be one of crr, lr"):
        binomial_price(100, 100, 1, 0.05, 0.2, method="jr")
    with pytest.raises(PricingInputError, match="steps must be an integer between 1 and 100000"):
        binomial_price(100, 100, 1, 0.05, 0.2, steps=0)
    with pytest.raises(PricingInputError, match="up probability lies in"):
        binomial_price(100, 100, 10, 0.5, 0.01, steps=5)
    with pytest.raises(PricingInputError, match="vol must be a finite number > 0"):
        baw_price(100, 100, 1, 0.05, -0.2)
