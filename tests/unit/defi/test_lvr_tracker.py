"""LvrTracker: liquidity deposited or withdrawn between two samples is not LP profit or loss."""

from __future__ import annotations

import pytest

from market_sim.defi.lvr import LvrTracker


def test_a_deposit_between_samples_is_left_out_of_the_lp_value_change():
    t = LvrTracker(sigma=0.0, rate_unit=1)
    t.record(0, 100.0, 0.0, 0.0)             # an empty pool at the start
    t.liquidity(100.0, 10.0, 1_000.0)         # the LP's opening deposit: 2,000 of value
    t.record(1, 100.0, 10.0, 1_000.0)
    t.record(2, 121.0, 9.0909, 1_100.0)      # a swap to the new price: the pool loses to the arbitrageur
    (_, first, _), (_, second, _) = t.steps()
    assert first == 0.0                       # the deposit is neither a gain nor a loss
    rebalancing = 10.0 * 21.0
    lp = (9.0909 * 121.0 + 1_100.0) - 2_000.0
    assert second == pytest.approx(rebalancing - lp)
    t.liquidity(121.0, -9.0909, -1_100.0)     # withdrawn in full
    t.record(3, 121.0, 0.0, 0.0)
    assert t.steps()[-1][1] == pytest.approx(0.0)
