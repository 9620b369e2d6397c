"""Simulation plug-in: the `[defi]` scenario section, the `amm` venue kind and the DeFi agent kinds.

List it in a scenario's `[scenario] plugins = ["market_sim.defi.sim"]`.

The section listens on the simulation's bus: ChainTransaction events of its chains become rows of the
`chain_transactions` table, BlockProduced events the per-chain block, transaction and gas figures. At the end of the
run every account's chain entries are reconciled with the chains (`defi.reconciliation`; differences, if any, in the
`defi_reconciliation` table).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from market_sim.core.errors import ConfigError
from market_sim.defi import agents as _agents  # noqa: F401  (registers the DeFi agent kinds)
from market_sim.defi import lvr as _lvr  # noqa: F401  (registers the [lvr] section)
from market_sim.defi.agents import (
    DEFI_AGENT_KINDS, BookAmmArbitrageur, BridgeArbitrageur, DefiAgent, InventoryArbitrageur, PriceArbitrageur)
from market_sim.defi.events import BlockProduced, ChainTransaction
from market_sim.defi.results import (
    BridgeResult, ChainResult, DefiAgentResult, DefiSectionResult, FinalPass, PriceGap)
from market_sim.defi.world import (
    AmmVenueParams, BridgeConfig, ChainConfig, DefiConfig, DefiTableKeys, DefiWorld, parse_defi, world_of)
from market_sim.simulation.agents.base import agent_types
from market_sim.simulation.params import build_params
from market_sim.simulation.scenario import ParseContext, Section, register_section
from market_sim.simulation.venues import VenueConfig, register_venue_type

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = ["DefiSection", "world_of"]


def _amm_venue(sim: "Simulation", cfg: VenueConfig) -> Any:
    if len(cfg.symbols) != 1:
        raise ConfigError("an AMM venue lists exactly one instrument", key=f"venues.{cfg.name}.instruments",
                          value=list(cfg.symbols))
    params = build_params(AmmVenueParams, cfg.params, f"venues.{cfg.name}")
    symbol = cfg.symbols[0]
    world = world_of(sim)
    if symbol != world.instrument.symbol:
        raise ConfigError(f"the DeFi world trades the first instrument, {world.instrument.symbol}",
                          key=f"venues.{cfg.name}.instruments", value=symbol)
    price = sim.initial_ticks(symbol) * sim.tick_float(symbol)
    return world.add_pool(cfg.name, params, price)


def _check_amm_params(params: dict[str, Any], where: str) -> dict[str, Any]:
    build_params(AmmVenueParams, params, where)
    return params


register_venue_type("amm", _amm_venue, _check_amm_params, params=AmmVenueParams,
                    description="constant-product (Uniswap V2) pool on a [[defi.chains]] chain")


class DefiSection(Section):
    """Builds chains, tokens, bridge and pools; funds the DeFi agents; records swaps, prices and bridge flows."""

    name = "defi"
    description = "in-process chains, AMM pools, a quorum-attested bridge and DeFi agents"
    result = DefiSectionResult  # what finish() reports (sim.metrics["defi"])

    def parameters(self) -> list[tuple[str, type]]:
        return [("defi", DefiTableKeys), ("[[defi.chains]]", ChainConfig), ("defi.bridge", BridgeConfig)]

    def parse(self, raw: Any, ctx: ParseContext) -> DefiConfig:
        return parse_defi(dict(raw))

    def prepare(self, sim: "Simulation", config: DefiConfig) -> DefiWorld:
        kinds = agent_types()  # every DefiAgent subclass gets chain accounts, plug-ins' kinds too
        accounts = [f"{a.name}-{i}" for a in sim.scenario.agents
                    if a.kind in DEFI_AGENT_KINDS or issubclass(kinds.get(a.kind, object), DefiAgent)
                    for i in range(1, a.count + 1)]
        world = DefiWorld.build(sim, config, accounts)  # the section state: sim.state("defi"), world_of(sim)
        for rt in world.runtimes.values():
            sim.bus.subscribe(ChainTransaction, lambda ev: _record_transaction(sim, ev), rt.topic)
            sim.bus.subscribe(BlockProduced, world.chain_stats.setdefault(rt.name, _ChainStats()).add, rt.topic)
        return world

    def install(self, sim: "Simulation", config: DefiConfig, world: DefiWorld) -> None:
        for agent in sim.agents:
            if isinstance(agent, DefiAgent):
                agent.attach(world)
                for chain, (base, quote) in agent.funding().items():
                    world.fund(agent.id, chain, world.units(base, "base"), world.units(quote, "quote"))
        for rt in world.runtimes.values():
            rt.start(sim)
        sim.every(config.sample_interval, lambda: _sample_prices(sim, world), start=0)

    def finish(self, sim: "Simulation", config: DefiConfig, world: DefiWorld) -> None:
        _sample_prices(sim, world)
        agents, arb_pnl, arbs = _agent_results(sim)
        bridge = _bridge_results(sim, world)
        stats = {name: world.chain_stats.get(name, _ChainStats()) for name in world.runtimes}
        chains = {name: ChainResult(st.blocks, st.transactions, st.gas_used, world.runtimes[name].clock_ahead_max)
                  for name, st in stats.items()}
        gaps = [abs(r["gap_bps"]) for r in sim.tables.get("price_gap", []) if r.get("gap_bps") is not None]
        gap = PriceGap(final=round(gaps[-1], 3), mean=round(sum(gaps) / len(gaps), 3),
                       max=round(max(gaps), 3)) if gaps else None
        swaps = sum(st.transactions for st in stats.values())
        lp = _lp_results(sim, world)
        final_pass = _final_arbitrage_check(sim, world)
        if bridge is not None:
            bridge = dataclasses.replace(bridge, supply_ok_after_final_pass=bool(world.supply_ok()))
        checked, differences = _reconcile(sim, world)
        sim.metrics["defi"] = DefiSectionResult(arbitrage_pnl=round(arb_pnl, 6), arbitrageurs=arbs, swaps=swaps,
                                                bridge=bridge, price_gap_bps=gap, agents=agents, chains=chains,
                                                lp_pnl_vs_hodl=lp, final_pass=final_pass,
                                                accounts_reconciled=not differences, accounts_checked=checked,
                                                account_differences=differences)
        _write_price_files(sim)


_ARBITRAGEURS = (PriceArbitrageur, InventoryArbitrageur, BridgeArbitrageur, BookAmmArbitrageur)


class _ChainStats:
    """Blocks, swaps and their gas of one chain, counted from its BlockProduced events."""

    __slots__ = ("blocks", "transactions", "gas_used")

    def __init__(self) -> None:
        self.blocks = self.transactions = self.gas_used = 0

    def add(self, ev: BlockProduced) -> None:
        self.blocks += 1
        self.transactions += ev.transactions
        self.gas_used += ev.gas_used


def _record_transaction(sim: "Simulation", ev: ChainTransaction) -> None:
    sim.record("chain_transactions", {"ts": ev.ts, "chain": ev.chain, "tx_hash": ev.tx_hash, "kind": ev.kind,
                                      "batch": None, "gas_used": ev.gas_used, "status": ev.status})


def _reconcile(sim: "Simulation", world: DefiWorld) -> tuple[int, int]:
    """Every account's chain entries against the chains (after the final pass): (accounts checked, differences);
    each difference is a row of the defi_reconciliation table."""
    checked, mismatches = world.reconcile()
    for m in mismatches:
        sim.record("defi_reconciliation", {"account": m.account, "asset": m.asset, "booked": str(m.booked),
                                           "on_chain": str(m.actual), "difference": str(m.difference)})
    return checked, len(mismatches)


def _agent_results(sim: "Simulation") -> tuple[dict[str, DefiAgentResult], float, int]:
    """Every DeFi agent's row in defi_agents; its figures; the arbitrageurs' PnL sum (quote, net of gas) and count."""
    arb_pnl, arbs = 0.0, 0
    out: dict[str, DefiAgentResult] = {}
    for agent in sim.agents:
        if isinstance(agent, DefiAgent):
            row = agent.report()
            sim.record("defi_agents", row)
            out[agent.id] = DefiAgentResult(pnl=round(row["pnl"], 6), swaps=row["swaps"],
                                            gas_cost=round(row["gas_cost"], 6),
                                            bridge_transfers=row["bridge_transfers"])
            if isinstance(agent, _ARBITRAGEURS):
                arb_pnl, arbs = arb_pnl + row["pnl"], arbs + 1
    return out, arb_pnl, arbs


def _bridge_results(sim: "Simulation", world: DefiWorld) -> BridgeResult | None:
    """Every transfer as a row; with two chains or more, flows per direction and asset, pending count and the
    supply bound."""
    names = {rt.chain.chain_id: name for name, rt in world.runtimes.items()}
    assets: dict[str, str] = {}
    for toks in world.tokens.values():
        assets[toks.base.address], assets[toks.quote.address] = "base", "quote"
    for t in world.relayer.transfers:
        sim.record("bridge_transfers", {
            "sent_at": t.sent_at, "arrived_at": t.arrived_at, "kind": "mint" if t.relay.kind == 0 else "release",
            "from_chain": names[t.relay.source_chain_id], "to_chain": names[t.dest_chain_id],
            "asset": assets.get(t.relay.token, "?"), "sender": t.sender, "amount": str(t.relay.amount),
            "received": str(t.received), "fee": str(t.fee)})
    if len(world.runtimes) < 2:
        return None
    during_run = [t for t in world.relayer.transfers if t.sent_at > 0]  # time 0 is the set-up funding
    flows: dict[str, float] = {}
    for t in during_run:
        asset = assets.get(t.relay.token, "?")
        decimals = world.instrument.base_decimals if asset == "base" else world.instrument.quote_decimals
        key = f"{names[t.relay.source_chain_id]}->{names[t.dest_chain_id]}.{asset}"
        flows[key] = round(flows.get(key, 0.0) + t.relay.amount / 10**decimals, 6)
    return BridgeResult(transfers=len(during_run), supply_ok=bool(world.supply_ok()),
                        pending=len(world.relayer.pending), flows=flows)


def _lp_results(sim: "Simulation", world: DefiWorld) -> dict[str, float]:
    """Each pool's liquidity provider: value of its share now against holding the deposited tokens (quote)."""
    inst = world.instrument
    price = world.price_fraction(sim.fundamental(inst.symbol) or 0.0)
    q = 10**inst.quote_decimals
    out = {}
    for name, venue in world.venues.items():
        base, quote, liquidity = world.lp_deposits[name]
        pair = venue.amm.pair(venue.info.address)
        supply = pair.total_supply()
        pool = venue.refresh()
        value = (pool.quote + pool.base * price) * liquidity / supply
        hodl = quote + base * price
        out[name] = round(float(value - hodl) / q, 6)
    return out


def _final_arbitrage_check(sim: "Simulation", world: DefiWorld) -> FinalPass | None:
    """Deliver pending bridge transfers, arbitrage the first two AMM pools once more and check the band."""
    names = list(world.venues)
    if len(names) < 2:
        return None
    world.relayer.flush()
    price = sim.fundamental(world.instrument.symbol) or world.venues[names[0]].price_float()
    trades = world.arbitrage_pass(names[0], names[1], price)
    a, b = world.venues[names[0]], world.venues[names[1]]
    costs = world.arbitrage_costs(names[0], names[1], price, 130_000)
    from market_sim.defi.arbitrage import best_cross_pool_trade

    return FinalPass(
        trades=len(trades),
        gap_bps=round((max(a.price_float(), b.price_float()) / min(a.price_float(), b.price_float()) - 1) * 1e4, 3),
        fee_band_bps=round((1 / ((1 - a.fee_bps / 1e4) * (1 - b.fee_bps / 1e4)) - 1) * 1e4, 3),
        no_arbitrage=best_cross_pool_trade((a.pool, b.pool), fixed_costs=costs) is None)


def _sample_prices(sim: "Simulation", world: DefiWorld) -> None:
    symbol = world.instrument.symbol
    row: dict[str, Any] = {"ts": sim.kernel.now, "true_price": sim.fundamental(symbol)}
    prices = []
    for name, venue in world.venues.items():
        row[name] = venue.price_float()
        prices.append(venue.price_float())
    for name, venue in sim.venues.items():
        if venue.kind == "orderbook":
            q = venue.quote(symbol, sim.kernel.now)
            row[name] = None if q.bid is None or q.ask is None else (q.bid + q.ask) * sim.tick_float(symbol) / 2
    row["gap_bps"] = (max(prices) / min(prices) - 1) * 1e4 if len(prices) >= 2 else None
    sim.record("price_gap", row)


def _write_price_files(sim: "Simulation") -> None:
    import pandas as pd

    rows = sim.tables.get("price_gap", [])
    if not rows:
        return
    frame = pd.DataFrame(rows)
    sim.extra_files["price_gap.csv"] = frame.to_csv(index=False).encode()
    from market_sim.defi.plots import price_gap_png

    sim.extra_files["price_gap.png"] = price_gap_png(frame, world_of(sim).instrument.symbol)


register_section(DefiSection())


def arbitrage_steps_per_second(quick: bool = False) -> dict[str, Any]:
    """Run the cross-chain-arbitrage scenario (shortened when quick) and report simulation speed."""
    import time

    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario

    duration = "15s" if quick else "15min"
    sc = load_scenario(resolve_scenario("cross-chain-arbitrage"), [f'scenario.duration="{duration}"'])
    start = time.perf_counter()
    sim = Simulation(sc).build()
    setup = time.perf_counter() - start
    outcome = sim.run()
    world = world_of(sim)
    blocks = sum(rt.blocks for rt in world.runtimes.values())
    swaps = sum(rt.transactions for rt in world.runtimes.values())
    wall = outcome.wall_seconds
    return {"simulated_seconds": sc.duration / 1e9, "setup_seconds": round(setup, 3), "run_seconds": round(wall, 3),
            "kernel_events": outcome.events, "steps_per_second": round(outcome.events / wall, 1),
            "blocks_per_second": round(blocks / wall, 2), "swaps_per_second": round(swaps / wall, 2),
            "simulated_seconds_per_wall_second": round(sc.duration / 1e9 / wall, 2)}
