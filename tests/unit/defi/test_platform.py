"""DeFi on the simulation's bus and accounts: chain, pool and bridge events; swaps as Fills on the trader's and the
pool's accounts; chain balances reconciled with the accounts; block builders first in a block."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest

from market_sim.core.accounts import Fill, Liquidity, Transfer
from market_sim.core.events import Event
from market_sim.core.orders import Side
from market_sim.defi import sim as _plugin  # noqa: F401  (registers [defi] and the amm venue kind)
from market_sim.defi.events import (
    BlockProduced, BridgeLocked, BridgeMinted, BridgeRelayed, ChainTransaction, LiquidityChanged, Swap)
from market_sim.defi.ledger import Mismatch, pool_account
from market_sim.defi.sim import world_of
from market_sim.defi.venues import SwapCommand
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario
from tests.unit.defi.test_venues import RAW

E18, E6 = 10**18, 10**6
S = 10**9


@dataclass
class Run:
    sim: Simulation
    outcome: object
    events: list[tuple[tuple, Event]] = field(default_factory=list)

    def of(self, kind: type, topic: tuple | None = None) -> list:
        return [e for t, e in self.events if isinstance(e, kind) and (topic is None or t[:len(topic)] == topic)]


@pytest.fixture(scope="module")
def run() -> Run:
    raw = copy.deepcopy(RAW)
    raw["agents"] = [
        {"type": "amm_noise", "name": "noise-a", "pool": "amm-A", "interval": "6s"},
        {"type": "amm_noise", "name": "noise-b", "pool": "amm-B", "interval": "3s"},
        {"type": "amm_lp", "name": "lp", "pool": "amm-A", "base_amount": 10.0},
    ]
    sim = Simulation(parse_scenario(raw)).build()
    r = Run(sim, None)
    bus = sim.bus
    for kind, topic in ((BlockProduced, ("chain",)), (ChainTransaction, ("chain",)), (Swap, ("amm-A",)),
                        (Swap, ("amm-B",)), (LiquidityChanged, ("amm-A",)), (BridgeLocked, ("bridge",)),
                        (BridgeRelayed, ("bridge",)), (BridgeMinted, ("bridge",)), (Fill, ("account",)),
                        (Transfer, ("account",))):
        bus.subscribe(kind, _catch(r, kind), topic)
    agent = sim.agent("noise-a-1")
    sim.kernel.schedule_at(5 * S, agent.bridge, "base", E18, "A", "B")
    r.outcome = sim.run()
    return r


def _catch(r: Run, kind: type):
    # The topic is not passed to handlers: recover it from the event (what the publishers use).
    def handler(ev: Event) -> None:
        if isinstance(ev, (BlockProduced, ChainTransaction)):
            topic = ("chain", ev.chain)
        elif isinstance(ev, (Swap, LiquidityChanged)):
            topic = (ev.venue, ev.symbol)
        elif isinstance(ev, (BridgeLocked, BridgeRelayed, BridgeMinted)):
            topic = ("bridge", ev.bridge)
        else:
            topic = ("account", ev.account)
        r.events.append((topic, ev))
    return handler


def test_every_block_is_published_on_its_chain(run: Run) -> None:
    for chain, block_time in (("A", 12), ("B", 2)):
        blocks = run.of(BlockProduced, ("chain", chain))
        assert [b.number for b in blocks] == list(range(1, 60 // block_time + 1))
        assert [b.ts for b in blocks] == [block_time * S * n for n in range(1, 60 // block_time + 1)]
        swaps = [s for s in run.outcome.tables["defi_swaps"] if s["chain"] == chain]
        assert sum(b.transactions for b in blocks) == len(swaps) > 0
        assert sum(b.gas_used for b in blocks) == sum(s["gas_used"] for s in swaps)
        assert run.outcome.metrics["defi"].chains[chain].blocks == len(blocks)


def test_chain_transactions_table_is_recorded_from_the_bus(run: Run) -> None:
    world = world_of(run.sim)
    txs = run.of(ChainTransaction)
    rows = [r for r in run.outcome.tables["chain_transactions"] if r["chain"] in world.runtimes]
    # (the pools were seeded while the simulation was built, before this test subscribed)
    assert len(rows) > len(txs) and rows[-len(txs):] == [{"ts": e.ts, "chain": e.chain, "tx_hash": e.tx_hash, "kind": e.kind, "batch": None,
                     "gas_used": e.gas_used, "status": e.status} for e in txs]
    assert {e.kind for e in txs} >= {"swap", "lp_mint", "bridge_lock", "bridge_mint"}
    assert all(e.sender in world.account_names for e in txs)
    assert {e.sender for e in txs if e.kind == "swap"} == {"noise-a-1", "noise-b-1", "deployer"}  # + final pass


def test_swaps_are_pool_fills_on_the_trader_and_the_pool(run: Run) -> None:
    swaps = run.of(Swap)
    fills = run.of(Fill)
    assert len(fills) == 2 * len(swaps) > 0
    for swap, (mine, pool) in zip(swaps, zip(fills[::2], fills[1::2])):
        assert (mine.account, pool.account) == (swap.trader, pool_account(swap.venue))
        assert mine.liquidity is pool.liquidity is Liquidity.POOL
        assert mine.side is swap.side and pool.side is (Side.SELL if swap.side is Side.BUY else Side.BUY)
        assert mine.symbol == pool.symbol == f"ETH/USDC@{swap.chain}"
        assert (mine.base_asset, mine.quote_asset) == (f"ETH@{swap.chain}", f"USDC@{swap.chain}")
        assert (mine.base_amount, mine.quote_amount) == (swap.base_amount, swap.quote_amount)
    agent = run.sim.agent("noise-b-1")
    assert agent.account.position("ETH/USDC@B").fills == agent.swaps > 0


def test_liquidity_is_booked_as_lp_tokens(run: Run) -> None:
    world = world_of(run.sim)
    adds = [e for e in run.of(LiquidityChanged) if e.provider == "lp-1"]
    (add,) = adds
    lp = run.sim.accounts["lp-1"]
    venue = world.venues["amm-A"]
    assert add.liquidity > 0 and lp.balance("LP.amm-A@A") == add.liquidity
    assert lp.balance("LP.amm-A@A") == world.lp_balance("amm-A", venue.chain.address("lp-1"))


def test_bridge_transfer_is_locked_relayed_and_minted(run: Run) -> None:
    world = world_of(run.sim)
    (locked,) = [e for e in run.of(BridgeLocked) if e.sender == "noise-a-1"]
    (minted,) = [e for e in run.of(BridgeMinted) if e.sender == "noise-a-1"]
    relayed = [e for e in run.of(BridgeRelayed) if e.nonce == locked.nonce and e.dest_chain_id == 22]
    assert locked.kind == "lock" and (locked.ts, locked.amount) == (5 * S, E18)
    assert (minted.ts - locked.ts, minted.kind, minted.nonce) == (30 * S, "mint", locked.nonce)
    fee = E18 * 10 // 10_000
    assert (minted.received, minted.fee) == (E18 - fee, fee)
    assert len(relayed) == 1 and relayed[0].signatures == world.relayer.threshold
    transfers = [e for e in run.of(Transfer) if e.account == "noise-a-1" and e.reason == "bridge_lock"]
    assert [(t.asset, t.amount) for t in transfers] == [("ETH@A", -E18), ("ETH@bridge:B", E18 - fee)]


def test_every_account_reconciles_with_the_chains(run: Run) -> None:
    m = run.outcome.metrics
    assert m["defi"].accounts_reconciled is True and m["defi"].account_differences == 0
    assert m["defi"].accounts_checked > 0
    assert "defi_reconciliation" not in run.outcome.tables
    world = world_of(run.sim)
    pool = run.sim.accounts[pool_account("amm-A")]
    venue = world.venues["amm-A"]
    assert (pool.balance("ETH@A"), pool.balance("USDC@A")) == (venue.pool.base, venue.pool.quote)


def test_a_difference_between_account_and_chain_is_reported(run: Run) -> None:
    world = world_of(run.sim)
    acct = run.sim.accounts["noise-b-1"]
    booked = acct.balance("USDC@B")
    acct.credit("USDC@B", 5)
    try:
        checked, mismatches = world.reconcile()
    finally:
        acct.credit("USDC@B", -5)
    assert mismatches == [Mismatch("noise-b-1", "USDC@B", booked + 5, booked)] and mismatches[0].difference == 5
    assert world.reconcile() == (checked, [])


def test_block_builders_put_their_swaps_first_in_the_order_they_were_added() -> None:
    raw = copy.deepcopy(RAW)
    raw["scenario"]["duration"] = "12s"
    sim = Simulation(parse_scenario(raw)).build()
    world = world_of(sim)
    world.fund("deployer", "A", 10 * E18, 50_000 * E6)
    venue = world.venues["amm-A"]
    rt = venue.runtime
    calls: list[str] = []

    def builder(tag: str):
        def build() -> list:
            calls.append(tag)
            return [(venue, SwapCommand("deployer", "ETH/USDC", Side.BUY, 100 * E6, 0, tag))]
        return build

    rt.add_block_builder(builder("first-builder"))
    rt.add_block_builder(builder("second-builder"))
    sim.kernel.schedule_at(S, venue.handle, SwapCommand("deployer", "ETH/USDC", Side.SELL, E18 // 10, 0, "mempool"),
                           S)
    outcome = sim.run()
    assert calls == ["first-builder", "second-builder"]
    assert [r["tag"] for r in outcome.tables["defi_swaps"]] == ["first-builder", "second-builder", "mempool"]


def test_a_builder_sees_the_pending_swaps_and_its_predecessors_pool_and_can_bundle_a_pending_swap() -> None:
    raw = copy.deepcopy(RAW)
    raw["scenario"]["duration"] = "12s"
    sim = Simulation(parse_scenario(raw)).build()
    world = world_of(sim)
    world.fund("deployer", "A", 10 * E18, 50_000 * E6)
    venue = world.venues["amm-A"]
    rt = venue.runtime
    start = venue.pool
    seen: dict[str, object] = {}
    victim = SwapCommand("deployer", "ETH/USDC", Side.SELL, E18 // 10, 0, "victim")
    other = SwapCommand("deployer", "ETH/USDC", Side.SELL, E18 // 20, 0, "other")

    def first() -> list:
        return [(venue, SwapCommand("deployer", "ETH/USDC", Side.BUY, 100 * E6, 0, "first"))]

    def second() -> list:
        seen["pool"], seen["pending"] = venue.pool, [c.tag for _, c in rt.pending(venue)]
        (_, pending_victim), _ = rt.pending(venue)
        return [(venue, SwapCommand("deployer", "ETH/USDC", Side.SELL, E18 // 100, 0, "front")),
                (venue, pending_victim)]

    rt.add_block_builder(first)
    rt.add_block_builder(second)
    sim.kernel.schedule_at(S, venue.handle, victim, S)
    sim.kernel.schedule_at(2 * S, venue.handle, other, 2 * S)
    blocks: list[BlockProduced] = []
    sim.bus.subscribe(BlockProduced, blocks.append, rt.topic)
    outcome = sim.run()
    rows = outcome.tables["defi_swaps"]
    assert [r["tag"] for r in rows] == ["first", "front", "victim", "other"]  # the victim once, in the bundle
    assert seen["pending"] == ["victim", "other"]
    after_first = int(rows[0]["amount_out"])
    assert seen["pool"].base == start.base - after_first and seen["pool"].quote == start.quote + 100 * E6
    assert [(b.transactions, b.gas_used) for b in blocks] == [(4, sum(r["gas_used"] for r in rows))]
    assert rt.pending() == ()
