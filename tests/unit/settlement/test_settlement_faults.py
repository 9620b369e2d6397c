"""Faults on the simulation clock, end to end through the [settlement] section: the real networked committee, the
real contract on eth-tester, blocks from the BlockProducer. Each run keeps going, reports what happened, and ends
with every trade final, nothing lost or settled twice, and the ledger, the committee log and the chain reconciled
per height."""

from __future__ import annotations

import pytest

import tomllib

from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario as _parse


def parse_scenario(text: str):
    return _parse(tomllib.loads(text))

SEC = 1_000_000_000

MARKET = """
[scenario]
name = "settlement-fault"
seed = 11
duration = "60s"
plugins = ["market_sim.settlement.scenario"]

[[instruments]]
symbol = "WETH/USDC"
tick_size = "0.01"
lot_size = "0.01"
asset_class = "crypto"
base_decimals = 18
quote_decimals = 6
initial_price = 3000.0

[[venues]]
name = "exchange"
kind = "orderbook"

[[agents]]
type = "market_maker"
count = 2
half_spread_ticks = 3
quantity = 20
levels = 2
interval = "2s"

[[agents]]
type = "noise"
count = 6
interval = "1s"
max_quantity = 10
offset_ticks = 20
market_prob = 0.6

[output]
plots = false

[settlement]
validators = 4
byzantine = 0
max_batch = 100
max_delay = "3s"
block_time = "2s"
confirmations = 3
latency = "fixed:20ms"
deposit = { WETH = "500", USDC = "5000000" }
"""


def run(**settlement: str):
    head, section = MARKET.split("[settlement]\n")
    lines = [line for line in section.splitlines() if line.split(" = ")[0] not in settlement]
    text = head + "[settlement]\n" + "\n".join([*lines, *(f"{k} = {v}" for k, v in settlement.items())]) + "\n"
    sim = Simulation(parse_scenario(text))
    out = sim.run()
    return sim, out, out.metrics["settlement"]


def assert_whole(sim, out, result) -> None:
    """Every trade final exactly once; ledger, committee log and chain agree per height."""
    lifecycle = out.tables["settlement_lifecycle"]
    assert out.metrics["trades"] > 0
    assert lifecycle["trade_id"] == sorted(out.tables["trades"]["trade_id"])
    assert set(lifecycle["outcome"]) == {"final"}
    assert result.trades_settled == result.trades_final == out.metrics["trades"]
    assert result.reconciled and result.reconciliation_differences == 0 and result.trade_log_verified
    p = sim.state("settlement").stack.pipeline
    assert p.accounted() and not p.failed and not p.settling
    settled_ids = [t.trade_id for b in p.ledger.settled_batches.values() for t in b.trades]
    assert len(settled_ids) == len(set(settled_ids)) == out.metrics["trades"]   # none twice


def certified_at(out) -> list[int]:
    return out.tables["settlement_certification"]["certified_ns"]


def test_baseline_trades_final_three_blocks_after_inclusion():
    sim, out, result = run()
    assert_whole(sim, out, result)
    assert result.certification == "bft" and result.block_time_ms == 2_000 and result.reorgs == 0
    inc, fin = out.tables["settlement_lifecycle"]["included_ns"], out.tables["settlement_lifecycle"]["final_ns"]
    assert {f - i for i, f in zip(inc, fin)} == {2 * 2 * SEC}                 # two more blocks of 2 s
    blocks = out.tables["chain_blocks"]
    assert blocks["sim_time_ns"][:3] == [2 * SEC, 4 * SEC, 6 * SEC]          # a block every block_time


@pytest.mark.slow
def test_byzantine_leader_and_a_partition_that_heals_stall_then_resume_certification():
    sim, out, result = run(behaviours='{ 0 = "malicious-leader" }', partition='["10s", "30s"]')
    assert_whole(sim, out, result)
    times = certified_at(out)
    # no quorum while the committee is split in halves (2 + 2 of 4, quorum 3); certification resumes after it heals
    assert not [t for t in times if 10 * SEC + 100_000_000 < t < 30 * SEC]
    assert any(t < 10 * SEC for t in times) and any(t >= 30 * SEC for t in times)
    gap = max(b - a for a, b in zip(times, times[1:]))
    assert gap >= 20 * SEC - 3 * SEC


@pytest.mark.slow
def test_full_blocks_and_a_gas_price_spike_delay_inclusion_then_everything_settles():
    sim, out, result = run(gas_limit="1_000_000", load='[{ start = "10s", end = "40s", txs_per_block = 40, '
                                                       'priority_fee_gwei = 50, gas = 25000 }]')
    assert_whole(sim, out, result)
    blocks = out.tables["chain_blocks"]
    busy = [i for i, t in enumerate(blocks["sim_time_ns"]) if 12 * SEC <= t < 40 * SEC]
    assert all(blocks["gas_reserved"][i] > 0.95 * 1_000_000 for i in busy)   # full blocks during the spike
    assert result.base_fee_max_gwei > 1                                       # the base fee rose
    lifecycle = out.tables["settlement_lifecycle"]
    waits = [i - c for c, i in zip(lifecycle["certified_ns"], lifecycle["included_ns"])]
    assert max(waits) > 25 * SEC                   # the batch certified before the spike waited it out in the mempool
    assert max(waits) < 35 * SEC                                              # ... and got in right after it


@pytest.mark.slow
def test_a_reorg_orphans_a_settled_batch_which_is_reincluded_once():
    sim, out, result = run(confirmations="4", reorgs='[{ at = "20s", depth = 3 }]')
    assert_whole(sim, out, result)
    assert result.reorgs == 1 and result.orphaned_settle_txs >= 1
    assert any(out.tables["chain_blocks"]["replacement"])
    lifecycle = out.tables["settlement_lifecycle"]
    assert max(lifecycle["orphaned"]) >= 1                                    # a trade's block left the chain


@pytest.mark.slow
def test_a_validator_removed_and_a_standby_added_mid_run_on_chain_and_in_the_committee():
    sim, out, result = run(standby="1", reconfigure='[{ height = 3, remove = 1, add = 4 }]')
    assert_whole(sim, out, result)
    run_state = sim.state("settlement")
    client = run_state.stack.venue.client
    cluster = run_state.stack.committee.net.cluster
    assert result.validator_swaps == 1
    assert not client.is_validator(cluster.validators[1]) and client.is_validator(cluster.validators[4])
    log = run_state.stack.committee.log
    assert len(log.blocks) >= 4
    for block in log.blocks[2:]:                                               # height 3 on: the new set signs
        assert cluster.validators[1] not in block.qc.signers
    swap = out.tables["validator_swaps"]
    assert swap["height"] == [3] and swap["error"] == [""]


def test_fault_settings_are_checked_before_the_run():
    from market_sim.core.errors import ConfigError

    for bad, match in [('reorgs = [{ at = "5s", depth = 3 }]', "depth must be 1..2"),
                       ('load = [{ start = "5s", end = "1s", txs_per_block = 1 }]', "start < end"),
                       ('reconfigure = [{ height = 3, remove = 1, add = 9 }]', "validator indices 0..3"),
                       ('partition = ["1s"]', "from, until"),
                       ('reorgs = [{ when = "5s", depth = 1 }]', "unknown key 'when'")]:
        with pytest.raises(ConfigError, match=match):
            parse_scenario(MARKET + bad + "\n")
    with pytest.raises(ConfigError, match="settlement.reorgs: needs the chain on the simulation clock"):
        parse_scenario(MARKET.replace('block_time = "2s"', 'block_time = "0s"') + 'reorgs = [{ at = "5s", depth = 1 }]\n')


@pytest.mark.anvil
@pytest.mark.slow
def test_the_rpc_node_unreachable_for_a_while_the_run_goes_on_and_everything_settles():
    from market_sim.blockchain.anvil import anvil_binary, start_anvil, stop_anvil
    from market_sim.blockchain.proxy import TcpProxy

    if not anvil_binary().exists():
        pytest.skip(f"anvil binary missing at {anvil_binary()}: run `npm ci`")
    proc, url = start_anvil()
    proxy = TcpProxy(url)
    try:
        head, section = MARKET.split("[settlement]\n")
        sim = Simulation(parse_scenario(head + "[settlement]\n" + section + f'rpc = "{proxy.url}"\n'))
        sim.build()
        sim.kernel.schedule_at(20 * SEC, proxy.pause)     # the link is cut from 20 s to 30 s of simulated time
        sim.kernel.schedule_at(30 * SEC, proxy.resume)
        out = sim.run()
        result = out.metrics["settlement"]
        assert_whole(sim, out, result)
        assert result.node_outages >= 1 and result.chain == proxy.url
        blocks = out.tables["chain_blocks"]["sim_time_ns"]
        assert not [t for t in blocks if 20 * SEC < t < 30 * SEC]  # no block while the node was unreachable
        assert any(t >= 30 * SEC for t in blocks)
    finally:
        proxy.close()
        stop_anvil(proc)
