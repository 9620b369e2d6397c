"""The shipped DeFi scenarios, shortened: bridge supply bound, agents' known-cost profitability, no-arbitrage band
after a final pass, result files, the LVR ratio, and the accounts: every chain entry reconciles with the chains and
every agent's PnL is its account marked at the pool prices."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from market_sim.defi.agents import DefiAgent, InventoryArbitrageur, LiquidityProvider, PriceArbitrageur
from market_sim.defi.arbitrage import best_cross_pool_trade
from market_sim.defi.ledger import pool_account
from market_sim.defi.sim import world_of
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.results import load_run, write_run
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario


def _run(name: str, duration: str):
    sc = load_scenario(resolve_scenario(name), [f'scenario.duration="{duration}"'])
    sim = Simulation(sc).build()
    return sim, sim.run()


@pytest.fixture(scope="module")
def cross_chain():
    return _run("cross-chain-arbitrage", "4min")


def test_bridged_supply_never_exceeds_locked(cross_chain) -> None:
    sim, outcome = cross_chain
    world = world_of(sim)
    checks = world.relayer.supply_checks()
    assert len(checks) == 2  # base and quote wrapped on chain B
    for c in checks:
        assert c.wrapped_supply <= c.locked
        assert c.wrapped_supply == c.locked  # nothing pending after the final pass flushed the bridge
    bridge = outcome.metrics["defi"].bridge
    assert bridge.supply_ok is True and bridge.supply_ok_after_final_pass is True


def test_agents_only_decide_trades_that_pay_their_known_costs(cross_chain) -> None:
    sim, _ = cross_chain
    agents = [a for a in sim.agents if isinstance(a, DefiAgent)]
    decisions = [d for a in agents for d in a.decisions]
    assert {d.kind for d in decisions} >= {"inventory", "book"}
    assert all(d.expected_net > 0 and d.known_costs > 0 for d in decisions)
    inventory = next(a for a in agents if isinstance(a, InventoryArbitrageur))
    # both legs carry min_out at the planned amounts and gas is budgeted above its real use: never a loss
    assert inventory.realized and all(r > 0 for r in inventory.realized)


def test_final_pass_leaves_prices_inside_the_no_arbitrage_band(cross_chain) -> None:
    sim, outcome = cross_chain
    world = world_of(sim)
    assert not world.relayer.pending
    a, b = world.venues["amm-A"], world.venues["amm-B"]
    price = sim.fundamental("ETH/USDC")
    costs = world.arbitrage_costs("amm-A", "amm-B", price, 130_000)
    assert best_cross_pool_trade((a.pool, b.pool), fixed_costs=costs) is None
    band = (1 - a.fee_bps / 1e4) * (1 - b.fee_bps / 1e4)
    ratio = a.price_float() / b.price_float()
    assert band * 0.995 <= ratio <= 1 / band / 0.995  # fees, plus the gas that a closing trade must beat
    assert outcome.metrics["defi"].final_pass.no_arbitrage is True


def test_results_have_price_gap_plot_and_csv_and_per_agent_figures(cross_chain, tmp_path: Path) -> None:
    _, outcome = cross_chain
    record = write_run(outcome, tmp_path, plots=False)
    folder = Path(record.path)
    assert (folder / "price_gap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = (folder / "price_gap.csv").read_text().splitlines()[0].split(",")
    assert header == ["ts", "true_price", "amm-A", "amm-B", "exchange", "gap_bps"]
    d = outcome.metrics["defi"]
    assert {"arb-inventory-1", "arb-bridge-1", "arb-book-1", "noise-A-1", "lp-A-1", "lp-B-1"} <= set(d.agents)
    assert load_run(folder).results["defi"] == d  # metrics.json gives the same typed result back
    assert d.chains["A"].blocks == 4 * 60 // 12 and d.chains["B"].blocks == 4 * 60 // 2
    # the summary's headline: the arbitrageurs' PnL summed (quote, after gas), over exactly the three arbitrageurs
    arbs = ("arb-inventory-1", "arb-bridge-1", "arb-book-1")
    assert d.arbitrageurs == 3
    assert d.arbitrage_pnl == pytest.approx(sum(d.agents[a].pnl for a in arbs), abs=1e-5)


def test_liquidity_providers_hold_their_pool_share(cross_chain) -> None:
    sim, _ = cross_chain
    lps = [a for a in sim.agents if isinstance(a, LiquidityProvider)]
    assert [a.id for a in lps] == ["lp-A-1", "lp-B-1"]
    for lp in lps:
        venue = lp.venue(lp.params.pool)
        pair = venue.amm.pair(venue.info.address)
        share = pair.balance_of(venue.chain.address(lp.id))
        assert share > 0
        assert lp.lp_value() > 0 and lp.portfolio_value() >= lp.lp_value()


def test_order_book_trades_settle_on_chain(cross_chain) -> None:
    _, outcome = cross_chain
    m = outcome.metrics
    assert m["trades"] > 0 and m["settlement"].trades_settled == m["trades"]
    assert m["settlement"].reconciled is True


def test_chain_transactions_record_every_swap_lp_and_bridge_transaction(cross_chain) -> None:
    sim, outcome = cross_chain
    world = world_of(sim)
    rows = outcome.tables["chain_transactions"]
    assert {r["kind"] for r in rows if r["chain"] == "eth-tester"} == {"settle"}  # the settlement chain's batches
    defi = [r for r in rows if r["chain"] in world.runtimes]
    assert {r["kind"] for r in defi} >= {"swap", "lp_mint", "bridge_lock", "bridge_mint"}
    assert all(r["batch"] is None and 0 <= r["ts"] <= sim.scenario.duration for r in defi)
    mined = [r for r in defi if r["tx_hash"] is not None]
    assert all(r["gas_used"] > 0 and r["tx_hash"].startswith("0x") for r in mined)
    assert len({(r["chain"], r["tx_hash"]) for r in mined}) == len(mined)

    def count(chain: str, kind: str, status: str | None = None) -> int:
        return sum(1 for r in defi if r["chain"] == chain and r["kind"] == kind and status in (None, r["status"]))

    swaps = outcome.tables["defi_swaps"]
    final_legs = outcome.metrics["defi"].final_pass.trades  # one leg per chain, executed after the run's blocks
    for chain in ("A", "B"):
        mine = [s for s in swaps if s["chain"] == chain]
        assert count(chain, "swap", "ok") == sum(s["ok"] for s in mine) + final_legs
        assert count(chain, "swap", "reverted") == sum(not s["ok"] for s in mine)
    # two pools seeded + one LP agent each; every transfer's two transactions (all delivered by the final flush)
    assert count("A", "lp_mint") == count("B", "lp_mint") == 2
    transfers = world.relayer.transfers
    locks = sum(1 for t in transfers if t.relay.kind == 0)
    assert count("A", "bridge_lock") == count("B", "bridge_mint") == locks > 0
    assert count("B", "bridge_burn") == count("A", "bridge_release") == len(transfers) - locks
    assert sum(1 for r in defi if r["status"] == "ok" and r["kind"] != "swap") == len(
        [r for r in defi if r["kind"] != "swap"])


def test_chain_clocks_follow_simulated_time(cross_chain) -> None:
    sim, outcome = cross_chain
    world = world_of(sim)
    end = sim.scenario.duration // 10**9
    for name, rt in world.runtimes.items():
        lead = outcome.metrics["defi"].chains[name].clock_ahead_max_s
        assert 0 <= lead <= 5  # bursts of a few transactions (e.g. an LP's approve, approve, addLiquidity at 0 s)
        assert rt.epoch + end <= rt.chain.timestamp <= rt.epoch + end + lead + 10  # + the final pass's transactions
        venue = next(v for v in world.venues.values() if v.runtime is rt)
        last_update = venue.chain.call(venue.amm.pair(venue.info.address).handle.functions.getReserves())[2]
        assert rt.epoch <= last_update <= rt.chain.timestamp


def test_amm_lvr_ratio_is_near_one() -> None:
    sim, outcome = _run("amm-lvr", "20min")
    m = outcome.metrics
    lvr = m["lvr"]
    assert lvr.steps == 100
    assert abs(lvr.ratio - 1) < 4 * lvr.ratio_stderr + 0.05
    arb = next(a for a in sim.agents if isinstance(a, PriceArbitrageur))
    assert arb.decisions and all(d.expected_net > 0 for d in arb.decisions)
    assert "lvr.png" in outcome.extra_files and "lvr.csv" in outcome.extra_files
    assert world_of(sim).supply_ok()  # one chain: nothing bridged, the bound holds trivially
    assert m["defi"].accounts_reconciled is True and m["defi"].account_differences == 0


def test_accounts_reconcile_with_the_chains_and_hold_every_swap(cross_chain) -> None:
    sim, outcome = cross_chain
    world = world_of(sim)
    result = outcome.metrics["defi"]
    assert result.accounts_reconciled is True and result.account_differences == 0 and result.accounts_checked > 50
    assert world.reconcile()[1] == []
    swaps = [s for s in outcome.tables["defi_swaps"] if s["ok"]]
    for name, venue in world.venues.items():
        pool = sim.accounts[pool_account(name)]
        chain = venue.runtime.name
        assert (pool.balance(f"WETH@{chain}"), pool.balance(f"USDC@{chain}")) == (venue.pool.base, venue.pool.quote)
        # every mined swap of the run, plus the final pass's leg on this pool, is one of the pool's fills
        legs = result.final_pass.trades
        assert pool.position(f"ETH/USDC@{chain}").fills == sum(s["venue"] == name for s in swaps) + legs
    for agent in (a for a in sim.agents if isinstance(a, DefiAgent)):
        fills = sum(p.fills for s, p in agent.account.positions.items() if "@" in s)
        # booked when mined (the agent hears of it after the venue->agent latency, maybe after the run's end)
        assert fills == sum(s["agent"] == agent.id for s in swaps) >= agent.swaps


def test_agent_pnl_is_the_account_marked_at_each_chains_pool_price(cross_chain) -> None:
    sim, outcome = cross_chain
    world = world_of(sim)
    rows = {r["agent"]: r for r in outcome.tables["defi_agents"]}
    inventory = next(a for a in sim.agents if isinstance(a, InventoryArbitrageur))
    marks = world.marks(inventory.true_price())
    value = sum(v * marks(k) for k, v in inventory.account.balances.items())
    start = sum(v * marks(k) for k, v in inventory._start.items())
    assert set(inventory.account.balances) >= {"WETH@A", "USDC@A", "WETH@B", "USDC@B", "gas@A", "gas@B"}
    assert inventory.account.balance("gas@A") < 0
    assert marks("WETH@B") == world.venues["amm-B"].pool.price() != marks("WETH@A")
    # (the final arbitrage pass ran after the agents' figures were taken: compare with the pools as they are now)
    assert inventory.pnl() == math.floor(value) - math.floor(start) and type(inventory.pnl()) is int
    assert set(rows) == {a.id for a in sim.agents if isinstance(a, DefiAgent)}


@pytest.mark.parametrize("name", ["cross-chain-arbitrage", "amm-lvr"])
def test_the_defi_sections_keep_their_state_off_the_simulation(name: str) -> None:
    from market_sim.defi.lvr import LvrTracker
    from market_sim.defi.world import DefiWorld

    sc = load_scenario(resolve_scenario(name), ['scenario.duration="30s"'])
    sim = Simulation(sc)
    before = dict(vars(sim))
    sim.build()
    sim.run()
    assert set(vars(sim)) - set(before) == set()  # no section attached an attribute (sim.defi, sim.lvr_tracker, ...)
    assert all(vars(sim)[k] is v for k, v in before.items() if not isinstance(v, (bool, int, float, type(None))))
    world = sim.state("defi")
    assert isinstance(world, DefiWorld) and world_of(sim) is world
    assert all(a.world is world for a in sim.agents if isinstance(a, DefiAgent))
    assert isinstance(sim.state("lvr"), LvrTracker) == (name == "amm-lvr")


def _lvr_raw(change):
    from market_sim.simulation.scenario import read_scenario_file

    raw = read_scenario_file(Path(resolve_scenario("amm-lvr")))
    change(raw)
    return raw


@pytest.mark.parametrize(("change", "message"), [
    (lambda raw: raw.pop("defi"), "defi: AMM venues and [lvr] need a [defi] section"),
    (lambda raw: raw["lvr"].update(pool="nope"), "lvr.pool: no AMM venue by this name; AMM venues: amm"),
    (lambda raw: raw["processes"].update({"ETH/USDC": dict(kind="ou", x0=3000.0, mean=3000.0, theta=1.0, sigma=1.0)}),
     "processes: the LVR theory needs a GBM price process"),
])
def test_lvr_checks_the_scenario_before_anything_is_built(change, message: str) -> None:
    from market_sim.core.errors import ConfigError
    from market_sim.simulation.scenario import parse_scenario

    sims = []
    with pytest.raises(ConfigError, match="^" + re.escape(message)):  # when the scenario is read, or at build
        sims.append(Simulation(parse_scenario(_lvr_raw(change))))
        sims[0].build()
    assert not sims or (sims[0].state("defi") is None and not sims[0].venues)  # nothing built before the error
