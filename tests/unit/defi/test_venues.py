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


def _capture(venue, seen: list) -> None:
    """Collect every result the venue's chain gets from it (SwapExecuted / SwapFailed), in execution order."""
    execute = venue.execute

    def captured(command, ts):
        event = execute(command, ts)
        seen.append(event)
        return event

    venue.execute = captured


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
    _capture(venue, seen)
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


# ---- chain time follows simulated time ------------------------------------------------------------------------------
CLOCK_RAW = {
    "scenario": {"name": "clock-test", "duration": "80s", "seed": 1, "plugins": ["market_sim.defi.sim"]},
    "instruments": RAW["instruments"],
    "venues": [{"name": "amm", "kind": "amm", "chain": "L1", "fee_bps": 30, "liquidity": 100.0}],
    "defi": {"chains": [{"name": "L1", "chain_id": 7, "block_time": "12s"}], "epoch": 1_900_000_000},
}
EPOCH = 1_900_000_000
S = 10**9


@pytest.fixture(scope="module")
def clocked():
    """An 80 s run with swaps sent at 5 s, 30 s and 61 s (mined in the blocks at 12 s, 36 s and 72 s); the 61 s batch
    holds a swap whose deadline is its block's time, then one whose deadline (sim second 71) passes before it."""
    sim = Simulation(parse_scenario(CLOCK_RAW)).build()
    world = world_of(sim)
    world.fund("deployer", "L1", 10 * E18, 50_000 * E6)
    venue = world.venues["amm"]
    pair = venue.amm.pair(venue.info.address)
    seen: list = []
    _capture(venue, seen)

    def send(at: int, cmd: SwapCommand) -> None:
        sim.kernel.schedule_at(at * S, venue.handle, cmd, at * S)

    send(5, SwapCommand("deployer", "ETH/USDC", Side.BUY, 1000 * E6, 0, "t5"))
    send(30, SwapCommand("deployer", "ETH/USDC", Side.SELL, E18, 0, "t30"))
    send(61, SwapCommand("deployer", "ETH/USDC", Side.BUY, 700 * E6, 0, "t61", deadline=EPOCH + 72))
    send(61, SwapCommand("deployer", "ETH/USDC", Side.BUY, 500 * E6, 0, "stale", deadline=EPOCH + 71))
    start = world.chain("L1").block_number
    outcome = sim.run()
    return sim, outcome, venue, pair, seen, start


def test_swaps_are_mined_at_the_simulated_time_of_their_block(clocked) -> None:
    sim, outcome, venue, pair, seen, start = clocked
    chain = venue.chain
    assert [(e.tag, e.ts, type(e).__name__) for e in seen] == [
        ("t5", 12 * S, "SwapExecuted"), ("t30", 36 * S, "SwapExecuted"), ("t61", 72 * S, "SwapExecuted"),
        ("stale", 72 * S, "SwapFailed")]
    syncs = chain.event_logs(pair.handle, "Sync", from_block=start + 1)
    stamps = [chain.w3.eth.get_block(log["blockNumber"])["timestamp"] for log in syncs]
    assert stamps == [EPOCH + 12, EPOCH + 36, EPOCH + 72]
    assert chain.call(pair.handle.functions.getReserves())[2] == EPOCH + 72
    assert chain.timestamp == EPOCH + 73  # the block's second transaction (the stale swap) was mined a second later


def test_price_accumulators_integrate_reserves_over_simulated_time(clocked) -> None:
    sim, outcome, venue, pair, seen, start = clocked
    chain = venue.chain
    syncs = chain.event_logs(pair.handle, "Sync", from_block=start + 1)
    first = syncs[0]["blockNumber"]
    f = pair.handle.functions
    c0, c1 = chain.call(f.price0CumulativeLast(), block=first), chain.call(f.price1CumulativeLast(), block=first)
    # after the first swap: price after swap k held for (time of swap k+1 − time of swap k) simulated seconds
    for log, held in zip(syncs, (36 - 12, 72 - 36)):
        r0, r1 = log["reserve0"], log["reserve1"]
        c0 += (r1 << 112) // r0 * held
        c1 += (r0 << 112) // r1 * held
    assert (chain.call(f.price0CumulativeLast()), chain.call(f.price1CumulativeLast())) == (c0, c1)


def test_a_swap_past_its_deadline_in_simulated_time_reverts_as_expired(clocked) -> None:
    sim, outcome, venue, pair, seen, start = clocked
    stale = next(e for e in seen if e.tag == "stale")
    assert isinstance(stale, SwapFailed) and stale.reason == "Expired"
    rows = [r for r in outcome.tables["chain_transactions"] if r["kind"] == "swap"]
    assert [(r["ts"], r["status"]) for r in rows] == [(12 * S, "ok"), (36 * S, "ok"), (72 * S, "ok"),
                                                      (72 * S, "reverted")]
    assert rows[-1]["tx_hash"].startswith("0x") and rows[-1]["gas_used"] == stale.gas_used > 0
    executed = [e for e in seen if isinstance(e, SwapExecuted)]
    assert [r["tx_hash"] for r in rows if r["status"] == "ok"] == [e.tx_hash for e in executed]
    assert [r["gas_used"] for r in rows if r["status"] == "ok"] == [e.gas_used for e in executed]
    assert outcome.metrics["defi"].chains["L1"].clock_ahead_max_s == 0


def test_runtime_deadline_counts_whole_block_times() -> None:
    sim = Simulation(parse_scenario(CLOCK_RAW)).build()
    rt = world_of(sim).runtime("L1")
    assert rt.timestamp_at(61 * S + 999_999_999) == EPOCH + 61
    assert rt.deadline(61 * S, 3) == EPOCH + 61 + 36


def test_agents_swaps_that_arrive_after_their_deadline_are_booked_as_failed() -> None:
    # 70 s to reach the venue is longer than the agents' deadline of 5 blocks (60 s): every swap expires on chain.
    raw = copy.deepcopy(CLOCK_RAW)
    raw["scenario"]["duration"] = "3min"
    raw["latency"] = {"default": "fixed:70s"}
    raw["agents"] = [{"type": "amm_noise", "name": "late", "venue": "amm", "pool": "amm", "interval": "20s"}]
    sim = Simulation(parse_scenario(raw)).build()
    outcome = sim.run()
    agent = sim.agent("late-1")
    assert agent.deadline_blocks * 12 < 70
    assert agent.swaps == 0 and agent.failed_swaps > 0 and agent.gas_units > 0
    swaps = outcome.tables["defi_swaps"]
    assert {s["reason"] for s in swaps} == {"Expired"}
    assert len(swaps) >= agent.failed_swaps  # the results travel back 70 s too: the last ones arrive after the end
    assert [r["status"] for r in outcome.tables["chain_transactions"] if r["kind"] == "swap"] == ["reverted"] * len(
        swaps)
