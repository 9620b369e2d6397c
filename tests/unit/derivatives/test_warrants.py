"""Warrant pricing: the dilution formula W = k N/(N+Mk) C(S_adj), Hull's example, the M -> 0 limit, the fixed point
from the share price, its delta, the expiry payoff, and the dilution rule of the fundamental."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from market_sim.derivatives import (PricingInputError, bsm_price, diluted_share_value, dilution_factor,
                                    warrant_delta_from_share, warrant_price, warrant_price_array,
                                    warrant_price_from_share, warrant_price_from_share_array)


def test_formula_is_dilution_factor_times_calls() -> None:
    n, m, k = 10_000, 2_500, 2
    c = bsm_price(52.0, 50.0, 0.5, 0.03, 0.35, 0.01)
    assert dilution_factor(n, m, k) == n / (n + m * k) == 2 / 3
    assert warrant_price(52.0, 50.0, 0.5, 0.03, 0.35, n, m, k, 0.01) == pytest.approx(k * n / (n + m * k) * c,
                                                                                       rel=1e-15)


def test_hull_example() -> None:
    # Hull, Options, Futures, and Other Derivatives: 1 million shares at $40, 200,000 warrants at $60 for 5 years,
    # r = 3 %, vol 30 %: the call is worth 7.04 and each warrant 7.04 / 1.2 = 5.87.
    assert bsm_price(40, 60, 5, 0.03, 0.3) == pytest.approx(7.04, abs=0.005)
    assert warrant_price(40, 60, 5, 0.03, 0.3, 1_000_000, 200_000) == pytest.approx(5.87, abs=0.005)


@pytest.mark.parametrize("ratio", [1, 3])
def test_no_warrants_is_k_calls(ratio: int) -> None:
    c = bsm_price(45.0, 50.0, 1.0, 0.05, 0.25)
    assert warrant_price(45.0, 50.0, 1.0, 0.05, 0.25, 1000, 0, ratio) == pytest.approx(ratio * c, rel=1e-15)
    assert warrant_price_from_share(45.0, 50.0, 1.0, 0.05, 0.25, 1000, 0, ratio) == pytest.approx(ratio * c,
                                                                                                 rel=1e-14)
    # and continuously: M -> 0 converges to the call
    gaps = [abs(warrant_price_from_share(45.0, 50.0, 1.0, 0.05, 0.25, 1000, m, ratio) - ratio * c)
            for m in (100.0, 10.0, 1.0, 0.1, 1e-6)]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 1e-7  # O(M): the gap falls with M


def test_fixed_point_from_share_price() -> None:
    n, m, k = 1_000, 300, 1
    s = 50.0
    w = warrant_price_from_share(s, 50.0, 1.0, 0.02, 0.3, n, m, k)
    assert w == pytest.approx(warrant_price(s + m * w / n, 50.0, 1.0, 0.02, 0.3, n, m, k), rel=1e-13)
    assert w < bsm_price(s, 50.0, 1.0, 0.02, 0.3)  # a warrant is worth less than the call: dilution
    # delta against finite differences and the closed form
    h = 1e-4
    fd = (warrant_price_from_share(s + h, 50.0, 1.0, 0.02, 0.3, n, m, k)
          - warrant_price_from_share(s - h, 50.0, 1.0, 0.02, 0.3, n, m, k)) / (2 * h)
    assert warrant_delta_from_share(s, 50.0, 1.0, 0.02, 0.3, n, m, k) == pytest.approx(fd, rel=1e-7)


def test_expiry_payoff() -> None:
    # Near expiry the warrant is worth k N/(N+Mk) (S_adj - K)+ = k ((N S_adj + M k K)/(N + M k) - K)+: the gain of
    # buying k new shares at K in the diluted firm.
    n, m, k, s_adj, strike = 1_000, 200, 2, 60.0, 50.0
    post = (n * s_adj + m * k * strike) / (n + m * k)
    assert post == diluted_share_value(s_adj, strike, n, m * k)
    assert warrant_price(s_adj, strike, 1e-9, 0.0, 0.2, n, m, k) == pytest.approx(k * (post - strike), rel=1e-12)


def test_vector_equals_scalar() -> None:
    s = np.array([30.0, 45.0, 50.0, 55.0, 80.0])
    m = np.array([0.0, 10.0, 500.0, 2_000.0, 5_000.0])
    got = warrant_price_from_share_array(s, 50.0, 0.75, 0.01, 0.4, 10_000, m, 2)
    want = [warrant_price_from_share(float(a), 50.0, 0.75, 0.01, 0.4, 10_000, float(b), 2) for a, b in zip(s, m)]
    np.testing.assert_allclose(got, want, rtol=1e-13)
    adj = warrant_price_array(s, 50.0, 0.75, 0.01, 0.4, 10_000, m, 2)
    np.testing.assert_allclose(adj, [warrant_price(float(a), 50.0, 0.75, 0.01, 0.4, 10_000, float(b), 2)
                                     for a, b in zip(s, m)], rtol=1e-14)


@given(s=st.floats(5, 200), m=st.floats(0, 50_000), k=st.integers(1, 5))
def test_between_zero_and_the_call(s: float, m: float, k: int) -> None:
    w = warrant_price_from_share(s, 50.0, 0.5, 0.02, 0.3, 10_000, m, k)
    c = bsm_price(s, 50.0, 0.5, 0.02, 0.3)
    assert 0.0 <= w <= k * c * (1 + 1e-12)


def test_bad_inputs() -> None:
    with pytest.raises(PricingInputError, match="warrants must be a finite number >= 0"):
        warrant_price(50, 50, 1, 0, 0.2, 1000, -1)
    with pytest.raises(PricingInputError, match="shares must be"):
        warrant_price(50, 50, 1, 0, 0.2, 0, 10)
    with pytest.raises(PricingInputError, match="warrants"):
        warrant_price_array([50.0], 50, 1, 0, 0.2, 1000, [-1.0])
    with pytest.raises(PricingInputError, match="new_shares"):
        diluted_share_value(50, 40, 1000, math.nan)
