"""DeFi strategies of the library on the strategies-defi world (in-process chain, pool, order book): the hedged LP
shorts exactly its pool share's base tokens on the book and keeps following them; the CEX–DEX arbitrageur is the
library's book_amm_arb."""

import pytest

from market_sim.core.clock import NS_PER_SECOND
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

defi = pytest.importorskip("market_sim.strategies.defi")


@pytest.fixture(scope="module")
def world():
    sim = Simulation(load_scenario(resolve_scenario("strategies-defi"), ["scenario.duration=3min"]))
    sim.build()
    sim.run_until(NS_PER_SECOND)
    h = sim.agent("hedged-1")
    first = (h.hedge, defi.pool_exposure(h, "amm"), h.hedge_orders, h.fills, dict(h.open_orders))
    sim.run()
    return sim, first


@pytest.mark.slow
def test_hedged_lp_shorts_its_pool_share_on_the_book_at_once(world):
    sim, (hedge, exposure, orders, fills, open_orders) = world
    lot = sim.instruments["ETH/USDC"].base_units_per_lot
    # 50 WETH deposited into a 300 WETH pool: its share holds 50 WETH (to the pool's integer rounding)
    assert abs(exposure - 50 * 10**18) < 10**6
    assert (orders, hedge, open_orders) == (1, -round(exposure / lot), {}) and fills >= 1


@pytest.mark.slow
def test_hedge_follows_the_pool_exposure_and_the_arbitrageur_trades(world):
    sim, _ = world
    h = sim.agent("hedged-1")
    target = h.target_lots()
    assert abs(h.hedge - target) <= max(h.params.band_lots, 0.05 * abs(target))
    arb = sim.agent("cexdex-1")
    assert isinstance(arb, defi.CexDexArbitrageur) and len(arb.decisions) > 0 and arb.swaps > 0
    # every arbitrage the agent decided was expected to clear its gas and min_profit
    assert all(d.expected_net > 0 for d in arb.decisions)


def test_the_defi_strategies_are_library_strategies():
    from market_sim.strategies.compare import library_kinds

    assert {"hedged_lp", "book_amm_arb"} <= set(library_kinds())
    assert defi.CexDexArbitrageur.kind == "book_amm_arb"
