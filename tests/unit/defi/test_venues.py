"""AMM venues inside a Simulation: mempool order, block execution, slippage failures, quotes, world config errors."""

from __future__ import annotations

import copy

import pytest

from market_sim.core.errors import ConfigError, ValidationError
from market_sim.core.orders import Side
from market_sim.defi import sim as _plugin  # noqa: F401  (registers [defi] and the amm venue kind)
from market_sim.defi.sim import world_of
from market_sim.defi.venues import SwapCommand, SwapExecuted, SwapFailed
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario

E18, E6 = 10**18, 10**6
RAW = {
    "scenario": {"name": "venue-test", "duration": "1min", "seed": 1, "plugins": ["market_sim.defi.sim"]},
    "instruments": [{"symbol": "ETH/USDC", "tick_size": "0.01", "lot_size": "0.001", "base_decimals": 18,
                     "quote_decimals": 6, "initial_price": 2000.0}],
    "venues": [{"name": "amm-A", "kind": "amm", "chain": "A", "fee_bps": 30, "liquidity": 100.0},
               {"name": "amm-B", "kind": "amm", "chain": "B", "fee_bps": 5, "liquidity": 50.0, "price_offset": 0.01}],
    "defi": {"chains": [{"name": "A", "chain_id": 11, "block_time": "12s", "gas_price_gwei": 1.0},
                        {"name": "B", "chain_id": 22, "block_time": "2s"}],
             "bridge": {"validators": 3, "threshold": 2, "fee_bps": 10, "delay": "30s"}},
}


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return Simulation(parse_scenario(RAW)).build()


def test_pools_start_at_the_configured_prices_and_chains(sim: Simulation) -> None:
    world = world_of(sim)
    a, b = world.venues["amm-A"], world.venues["amm-B"]
    assert (a.pool.base, a.pool.quote) == (100 * E18, 200_000 * E6)
    assert (b.pool.base, b.pool.quote) == (50 * E18, 101_000 * E6)
    assert (a.chain.chain_id, b.chain.chain_id) == (11, 22)
    q = a.quote("ETH/USDC", 0)
    assert q.bid == int(200_000 * 0.997) and q.ask == round(200_000 / 0.997 + 0.5)
    # chain B holds bridged copies backed one-for-one by tokens locked on A
    assert world.supply_ok() and all(c.wrapped_supply == c.locked for c in world.relayer.supply_checks())


def test_block_executes_mempool_in_order_and_reports_failures(sim: Simulation) -> None:
    world = world_of(sim)
    world.fund("deployer", "A", 10 * E18, 50_000 * E6)
    venue = world.venues["amm-A"]
    seen: list = []
    sim.on_venue_events(lambda v, cmd, events: seen.extend(events))
    first = SwapCommand("deployer", "ETH/USDC", Side.BUY, 1000 * E6, 0, "second-sent")
    greedy = SwapCommand("deployer", "ETH/USDC", Side.SELL, E18, 10_000 * E6, "too-greedy")
    venue.handle(first, 0)
    venue.handle(greedy, 0)
    venue.runtime.submit(venue, SwapCommand("deployer", "ETH/USDC", Side.SELL, E18, 0, "front"), first=True)
    before = venue.pool
    venue.runtime.produce_block()
    assert [e.tag for e in seen] == ["front", "second-sent", "too-greedy"]
    assert isinstance(seen[0], SwapExecuted) and isinstance(seen[1], SwapExecuted)
    assert isinstance(seen[2], SwapFailed) and seen[2].reason == "InsufficientOutputAmount"
    assert seen[0].amount_out == before.sell_base(E18)
    assert (seen[1].reserve_quote, seen[1].reserve_base) == (venue.pool.quote, venue.pool.base)
    assert venue.pool == venue.refresh()


def test_amm_venue_refuses_order_book_commands(sim: Simulation) -> None:
    with pytest.raises(ValidationError, match="SwapCommand"):
        world_of(sim).venues["amm-A"].handle(object(), 0)


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("defi", "chains"), [], "defi.chains"),
        (("defi", "home_chain"), "Z", "defi.home_chain"),
        (("defi", "bridge", "threshold"), 5, "defi.bridge.threshold"),
        (("defi", "colour"), "red", "defi.colour"),
    ],
)
def test_bad_defi_config_names_the_key(path: tuple[str, ...], value: object, key: str) -> None:
    raw = copy.deepcopy(RAW)
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ConfigError) as err:
        parse_scenario(raw)
    assert err.value.key == key
