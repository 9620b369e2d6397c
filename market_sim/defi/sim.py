"""Simulation plug-in: the `[defi]` scenario section, the `amm` venue kind and the DeFi agent kinds.

List it in a scenario's `[scenario] plugins = ["market_sim.defi.sim"]`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from market_sim.core.errors import ConfigError
from market_sim.defi import agents as _agents  # noqa: F401  (registers the DeFi agent kinds)
from market_sim.defi import lvr as _lvr  # noqa: F401  (registers the [lvr] section)
from market_sim.defi.agents import DEFI_AGENT_KINDS, DefiAgent
from market_sim.defi.world import AmmVenueParams, DefiConfig, DefiWorld, parse_defi, world_of
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


register_venue_type("amm", _amm_venue, _check_amm_params)


class DefiSection(Section):
    """Builds chains, tokens, bridge and pools; funds the DeFi agents; records swaps, prices and bridge flows."""

    name = "defi"
    description = "in-process chains, AMM pools, a quorum-attested bridge and DeFi agents"

    def parse(self, raw: Any, ctx: ParseContext) -> DefiConfig:
        return parse_defi(dict(raw))

    def prepare(self, sim: "Simulation", config: DefiConfig) -> None:
        accounts = [f"{a.name}-{i}" for a in sim.scenario.agents if a.kind in DEFI_AGENT_KINDS
                    for i in range(1, a.count + 1)]
        sim.defi = DefiWorld.build(sim, config, accounts)

    def install(self, sim: "Simulation", config: DefiConfig) -> None:
        world = world_of(sim)
        for agent in sim.agents:
            if isinstance(agent, DefiAgent):
                agent.attach(world)
                for chain, (base, quote) in agent.funding().items():
                    world.fund(agent.id, chain, world.units(base, "base"), world.units(quote, "quote"))
        for rt in world.runtimes.values():
            rt.start(sim)
        sim.every(config.sample_interval, lambda: _sample_prices(sim, world), start=0)

    def finish(self, sim: "Simulation", config: DefiConfig) -> None:
        world = world_of(sim)
        _sample_prices(sim, world)
        _agent_results(sim)
        _bridge_results(sim, world)
        for name, rt in world.runtimes.items():
            sim.metrics[f"chain.{name}.blocks"] = rt.blocks
            sim.metrics[f"chain.{name}.transactions"] = rt.transactions
            sim.metrics[f"chain.{name}.gas_used"] = rt.gas_used
            sim.metrics[f"chain.{name}.clock_ahead_max_s"] = rt.clock_ahead_max
        gaps = [abs(r["gap_bps"]) for r in sim.tables.get("price_gap", []) if r.get("gap_bps") is not None]
        if gaps:
            sim.metrics["price_gap_bps.mean"] = round(sum(gaps) / len(gaps), 3)
            sim.metrics["price_gap_bps.max"] = round(max(gaps), 3)
            sim.metrics["price_gap_bps.final"] = round(gaps[-1], 3)
        sim.metrics["defi.swaps"] = sum(rt.transactions for rt in world.runtimes.values())
        _lp_metrics(sim, world)
        _final_arbitrage_check(sim, world)
        if len(world.runtimes) > 1:
            sim.metrics["bridge.supply_ok_after_final_pass"] = world.supply_ok()
        _write_price_files(sim)


def _agent_results(sim: "Simulation") -> None:
    for agent in sim.agents:
        if isinstance(agent, DefiAgent):
            row = agent.report()
            sim.record("defi_agents", row)
            for key in ("pnl", "swaps", "gas_cost", "bridge_transfers"):
                value = row[key]
                sim.metrics[f"defi.{agent.id}.{key}"] = round(value, 6) if isinstance(value, float) else value


def _bridge_results(sim: "Simulation", world: DefiWorld) -> None:
    """Every transfer as a row; flows per direction and asset, pending count and the supply bound as metrics."""
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
        return
    during_run = [t for t in world.relayer.transfers if t.sent_at > 0]  # time 0 is the set-up funding
    sim.metrics["bridge.transfers"] = len(during_run)
    sim.metrics["bridge.pending"] = len(world.relayer.pending)
    sim.metrics["bridge.supply_ok"] = world.supply_ok()
    for t in during_run:
        asset = assets.get(t.relay.token, "?")
        decimals = world.instrument.base_decimals if asset == "base" else world.instrument.quote_decimals
        key = f"bridge.flow.{names[t.relay.source_chain_id]}->{names[t.dest_chain_id]}.{asset}"
        sim.metrics[key] = round(sim.metrics.get(key, 0.0) + t.relay.amount / 10**decimals, 6)


def _lp_metrics(sim: "Simulation", world: DefiWorld) -> None:
    """Each pool's liquidity provider: value of its share now against holding the deposited tokens (quote)."""
    inst = world.instrument
    price = world.price_fraction(sim.fundamental(inst.symbol) or 0.0)
    q = 10**inst.quote_decimals
    for name, venue in world.venues.items():
        base, quote, liquidity = world.lp_deposits[name]
        pair = venue.amm.pair(venue.info.address)
        supply = pair.total_supply()
        pool = venue.refresh()
        value = (pool.quote + pool.base * price) * liquidity / supply
        hodl = quote + base * price
        sim.metrics[f"lp.{name}.pnl_vs_hodl"] = round(float(value - hodl) / q, 6)


def _final_arbitrage_check(sim: "Simulation", world: DefiWorld) -> None:
    """Deliver pending bridge transfers, arbitrage the first two AMM pools once more and check the band."""
    names = list(world.venues)
    if len(names) < 2:
        return
    world.relayer.flush()
    price = sim.fundamental(world.instrument.symbol) or world.venues[names[0]].price_float()
    trades = world.arbitrage_pass(names[0], names[1], price)
    a, b = world.venues[names[0]], world.venues[names[1]]
    costs = world.arbitrage_costs(names[0], names[1], price, 130_000)
    from market_sim.defi.arbitrage import best_cross_pool_trade

    sim.metrics["final_pass.trades"] = len(trades)
    sim.metrics["final_pass.gap_bps"] = round((max(a.price_float(), b.price_float())
                                               / min(a.price_float(), b.price_float()) - 1) * 1e4, 3)
    sim.metrics["final_pass.fee_band_bps"] = round((1 / ((1 - a.fee_bps / 1e4) * (1 - b.fee_bps / 1e4)) - 1) * 1e4, 3)
    sim.metrics["final_pass.no_arbitrage"] = best_cross_pool_trade((a.pool, b.pool), fixed_costs=costs) is None


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

    duration = "2min" if quick else "15min"
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
