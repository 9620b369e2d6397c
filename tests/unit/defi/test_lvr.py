"""LVR accounting against the σ²/8 theory with a pure-Python pool arbitraged to a GBM price every step."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from market_sim.core.errors import ConfigError
from market_sim.defi.arbitrage import QuotePool, best_price_trade
from market_sim.defi.lvr import LvrTracker

E18, E6 = 10**18, 10**6
YEAR = 365 * 24 * 3600 * 10**9


def _run(steps: int, sigma: float, fee_bps: int, seed: int) -> LvrTracker:
    rng = random.Random(seed)
    dt = 12 * 10**9
    h = dt / YEAR
    price = 3000.0
    pool = QuotePool(3_000_000 * E6, 1000 * E18, fee_bps)
    tracker = LvrTracker(sigma, YEAR)
    tracker.record(0, price, pool.base / E18, pool.quote / E6)
    for k in range(1, steps + 1):
        price *= math.exp(-0.5 * sigma**2 * h + sigma * math.sqrt(h) * rng.gauss(0, 1))
        trade = best_price_trade(pool, Fraction(price).limit_denominator(10**9) * Fraction(E6, E18))
        if trade is not None:
            if trade.buy_base:
                pool = QuotePool(pool.quote + trade.amount_in, pool.base - trade.amount_out, fee_bps)
            else:
                pool = QuotePool(pool.quote - trade.amount_out, pool.base + trade.amount_in, fee_bps)
        tracker.record(k * dt, price, pool.base / E18, pool.quote / E6)
    return tracker


def test_fee_free_pool_loses_sigma_squared_over_eight() -> None:
    result = _run(4000, sigma=1.0, fee_bps=0, seed=11).result()
    assert result.steps == 4000
    assert result.ratio_stderr < 0.05
    assert abs(result.ratio - 1) < 3 * result.ratio_stderr
    assert result.measured > 0 and result.theory > 0


def test_fees_reduce_the_lp_loss_below_theory() -> None:
    # With a fee the arbitrageur trades less often and pays the fee: LP loss net of fees is well below σ²/8.
    assert _run(1500, sigma=1.0, fee_bps=30, seed=5).result().ratio < 0.6


def test_lvr_steps_are_rebalancing_minus_lp() -> None:
    t = LvrTracker(sigma=0.5, rate_unit=YEAR)
    t.record(0, 100.0, 10.0, 1000.0)
    t.record(YEAR, 121.0, 10 / 1.1, 1100.0)  # constant product, price up 21 %
    ((_, lvr, theory),) = t.steps()
    assert lvr == pytest.approx(10 * 21 - ((10 / 1.1) * 121 + 1100 - 2000))
    assert theory == pytest.approx(0.25 / 8 * 2000)


def test_needs_two_samples() -> None:
    t = LvrTracker(sigma=0.5, rate_unit=YEAR)
    t.record(0, 1.0, 1.0, 1.0)
    with pytest.raises(ConfigError, match="two samples"):
        t.result()
