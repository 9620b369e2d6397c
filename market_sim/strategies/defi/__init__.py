"""DeFi strategies of the library (a scenario plug-in: `plugins = ["market_sim.defi.sim", "market_sim.strategies.defi"]`;
not imported by `market_sim.strategies` itself, since it loads the in-process chain stack).

    hedged_lp      a liquidity provider that deposits into a constant-product pool and keeps a short position on the
                   order book equal to `hedge_ratio` × the base tokens its LP share holds (x = share × base reserve,
                   the pool position's delta: d(value)/d(price) = x for x·y = k), rebalanced every `interval` when
                   it is off by at least `band_lots`, with market IOC orders. What is left is the pool's fee income
                   minus its gamma (divergence) loss, without the price exposure.
    book_amm_arb   the CEX–DEX arbitrageur (market_sim.defi.agents.BookAmmArbitrageur, re-exported here as
                   `CexDexArbitrageur`): buys on the pool and sells at the book's bid (or the reverse), sized in
                   closed form on the pool's curve with its fee, traded only when the gain beats gas + min_profit.
    sandwich       a sandwich (MEV) searcher on the chain's mempool (market_sim.strategies.defi.sandwich): a block
                   builder that front-runs and back-runs pending swaps with slippage room in one bundle, sized in
                   closed form so the victim still gets its min_out.

`value_pnl(agent)` is the PnL that matters for a hedger: the account marked at the external price now minus the same
when it started (USDC), rather than DefiAgent.pnl() against holding the starting tokens (which credits an unhedged
LP with the price move the hedger gave away). `python -m market_sim.strategies.defi --seeds 1,2,3` prints the hedged and
unhedged LP side by side on the `strategies-defi` scenario; `--study mev` the searcher's profit, the victims' extra
cost and the LP's fees, PnL and LVR with and without the searcher on `strategies-mev` (`mev_study`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.orders import OrderType, Side, TimeInForce
from market_sim.defi.agents import BookAmmArbitrageur, DefiAgent, LiquidityProvider, LiquidityProviderParams
from market_sim.defi.ledger import lp_asset, split_asset
from market_sim.simulation.agents.base import Fill, register_agent_type
from market_sim.simulation.params import param
from market_sim.strategies.defi.sandwich import SandwichSearcher, max_front_run, plan_sandwich

__all__ = ["HedgedLP", "HedgedLPParams", "CexDexArbitrageur", "SandwichSearcher", "value_pnl", "pool_exposure",
           "study", "mev_study", "max_front_run", "plan_sandwich"]

CexDexArbitrageur = BookAmmArbitrageur


def pool_exposure(agent: DefiAgent, pool: str) -> int:
    """Base units the agent's LP tokens hold in `pool` now (its share of the base reserve)."""
    v = agent.venue(pool)
    supply = agent.world.lp_supply(v.name)
    lp = agent.account.balance(lp_asset(v.name, v.runtime.name))
    return lp * v.pool.base // supply if supply else 0


def external_value(agent: DefiAgent) -> int:
    """The agent's account marked at the external (true) price, quote units rounded down: base tokens on any chain,
    in transit or on the book at that price, LP tokens at their share of the pool's reserves with the base reserve at
    that price, gas like the base token. (DefiWorld.marks values chain tokens at the pool's own price, which noise
    swaps move away from the true price between two arbitrages; for an LP that mark moves with the last swap.)"""
    world = agent.world
    base_token, quote_token = world.asset_names()
    p = agent.true_price()
    total = Fraction(0)
    for asset, amount in agent.account.balances.items():
        if not amount:
            continue
        token, _ = split_asset(asset)
        if token == quote_token:
            total += amount
        elif token == base_token or token == "gas":
            total += amount * p
        elif token.startswith("LP.") and token[3:] in world.venues:
            pool = world.venues[token[3:]].pool
            supply = world.lp_supply(token[3:])
            if supply:
                total += Fraction(amount * (pool.quote + pool.base * p), supply)
    return math.floor(total)


def value_pnl(agent: DefiAgent) -> int:
    """external_value now minus external_value when the agent started (quote units); needs `start_value` (set by
    HedgedLP and by study() for the other agents)."""
    return external_value(agent) - agent.start_value


@dataclass(frozen=True, slots=True)
class HedgedLPParams(LiquidityProviderParams):
    book_venue: str = param("exchange", help="order-book venue the hedge trades on")
    hedge_ratio: float = param(1.0, min=0.0, max=2.0, help="short this multiple of the pool share's base tokens")
    interval: int = param(10 * NS_PER_SECOND, duration=True, min=1, help="time between hedge checks")
    band_lots: int = param(1, min=1, help="rebalance only when the hedge is off by at least this many lots")


@register_agent_type
class HedgedLP(LiquidityProvider):
    """Constant-product LP that hedges its pool exposure (the base tokens its share holds) on the order book."""

    kind = "hedged_lp"
    Params = HedgedLPParams

    def on_start(self) -> None:
        self.start_value = external_value(self)
        super().on_start()
        self.hedge = 0            # signed lots held on the book
        self.hedge_orders = 0
        self.wake_up_in(1)        # hedge the deposit at once

    def target_lots(self) -> int:
        p = self.params
        x = pool_exposure(self, p.pool)
        return -round(p.hedge_ratio * x / self.world.instrument.base_units_per_lot)

    def on_wakeup(self) -> None:
        p = self.params
        self.wake_up_in(p.interval)
        pending = sum(o.remaining * int(o.side) for o in self.open_orders.values())
        delta = self.target_lots() - self.hedge - pending
        if abs(delta) >= p.band_lots:
            self.hedge_orders += 1
            self.submit(self.world.instrument.symbol, Side.BUY if delta > 0 else Side.SELL, abs(delta),
                        order_type=OrderType.MARKET, tif=TimeInForce.IOC, venue=p.book_venue)

    def on_fill(self, fill: Fill) -> None:
        self.hedge += fill.quantity if fill.side is Side.BUY else -fill.quantity


def study(seeds: Sequence[int], overrides: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The strategies-defi scenario on each seed: the hedged and the unhedged LP and the CEX–DEX arbitrageur."""
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario

    rows = []
    for seed in seeds:
        sim = Simulation(load_scenario(resolve_scenario("strategies-defi"), overrides, seed=seed))
        sim.build()
        sim.run_until(0)
        for a in sim.agents:
            if isinstance(a, DefiAgent) and not hasattr(a, "start_value"):
                a.start_value = external_value(a)
        sim.run()
        q = 10 ** sim.instruments["ETH/USDC"].quote_decimals
        lp, hedged, arb = sim.agent("lp-1"), sim.agent("hedged-1"), sim.agent("cexdex-1")
        f = sim.fundamental("ETH/USDC")
        pool = sim.agent("hedged-1").venue("amm")
        rows.append({"seed": seed, "price_move_pct": round(100 * (f / 3000.0 - 1), 2),
                     "pool_gap_bps_end": round(1e4 * (pool.price_float() / f - 1), 1),
                     "lp_pnl": value_pnl(lp) / q, "hedged_pnl": value_pnl(hedged) / q,
                     "lp_pnl_vs_hodl": lp.pnl() / q, "hedged_pnl_vs_hodl": hedged.pnl() / q,
                     "hedge_orders": hedged.hedge_orders, "hedge_fills": hedged.fills,
                     "hedge_lots_end": hedged.hedge, "exposure_lots_end": -hedged.target_lots(),
                     "arb_trades": len(arb.decisions), "arb_pnl": arb.pnl() / q, "arb_gas": arb.gas_cost / q})
    return rows


def _mev_run(seed: int, active: bool, overrides: Sequence[str]) -> dict[str, Any]:
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario

    sets = [*overrides, f"agents.sandwich.active={'true' if active else 'false'}"]
    sim = Simulation(load_scenario(resolve_scenario("strategies-mev"), sets, seed=seed))
    sim.build()
    sim.run_until(0)
    for a in sim.agents:
        if isinstance(a, DefiAgent):
            a.start_value = external_value(a)
    out = sim.run()
    inst = sim.instruments["ETH/USDC"]
    q, b = 10 ** inst.quote_decimals, 10 ** inst.base_decimals
    lp = next(a for a in sim.agents if a.kind == "amm_lp")
    searcher = next(a for a in sim.agents if isinstance(a, SandwichSearcher))
    victims = [a for a in sim.agents if a.kind == "amm_noise"]
    v = lp.venue(lp.params.pool)
    share = Fraction(lp.account.balance(lp_asset(v.name, v.runtime.name)), lp.world.lp_supply(v.name))
    fees = Fraction(0)  # every mined swap's fee (its input × fee_bps), base valued at the pool's price after it
    for r in out.tables.get("defi_swaps", []):
        if r["ok"] and r["venue"] == v.name:
            fee = Fraction(int(r["amount_in"]) * v.fee_bps, 10_000)
            fees += fee / q if r["side"] == int(Side.BUY) else fee / b * Fraction(r["price_after"])
    tracker = sim.state("lvr")
    lvr = sum(m for _, m, _ in tracker.steps()[1:])  # the first step holds the LP's deposit
    notional = sum(r.plan.victim_in if r.side is Side.BUY else r.plan.clean_out for r in searcher.sandwiches)
    lost = sum(r.victim_cost_quote for r in searcher.sandwiches)
    return {"sandwiches": len(searcher.sandwiches), "searcher_profit": sum(searcher.realized) / q,
            "searcher_gas": searcher.gas_cost / q, "victim_cost": lost / q,
            "victim_cost_bps": round(1e4 * lost / notional, 1) if notional else 0.0,
            "victims_pnl": sum(value_pnl(a) for a in victims) / q, "victim_swaps": sum(a.swaps for a in victims),
            "victim_reverts": sum(a.failed_swaps for a in victims),
            "lp_fees": float(share * fees), "lp_pnl": value_pnl(lp) / q,
            "lp_lvr": float(share * (Fraction(lvr) + fees)),
            "arb_pnl": sum(a.pnl() for a in sim.agents if a.kind == "amm_arbitrageur") / q}


def mev_study(seeds: Sequence[int], overrides: Sequence[str] = ()) -> list[dict[str, Any]]:
    """strategies-mev on each seed with the searcher active and inactive (same seed, same agents): per seed the
    searcher's profit (its bundles' exact gains valued in quote when mined, after their gas), its sandwiches and the victims' direct extra cost (output lost vs no
    front-run on the same pool state; bps of their notional), the victims' PnL (external value), the LP's fee income, PnL (external value) and
    LVR (its share of the pool's: [lvr]'s per-block rebalancing minus pool value change, which is net of fees, plus
    the fees, so the loss to arbitrage before fee income) and the top-of-block arbitrageur's PnL against holding, in
    both runs (USDC)."""
    rows = []
    for seed in seeds:
        on, off = _mev_run(seed, True, overrides), _mev_run(seed, False, overrides)
        rows.append({"seed": seed, "sandwiches": on["sandwiches"], "searcher_profit": on["searcher_profit"],
                     "searcher_gas": on["searcher_gas"], "victim_cost": on["victim_cost"],
                     "victim_cost_bps": on["victim_cost_bps"], "victims_pnl": on["victims_pnl"],
                     "victims_pnl_off": off["victims_pnl"], "victim_reverts": on["victim_reverts"],
                     "victim_reverts_off": off["victim_reverts"], "lp_fees": on["lp_fees"],
                     "lp_fees_off": off["lp_fees"], "lp_pnl": on["lp_pnl"], "lp_pnl_off": off["lp_pnl"],
                     "lp_lvr": on["lp_lvr"], "lp_lvr_off": off["lp_lvr"], "arb_pnl": on["arb_pnl"],
                     "arb_pnl_off": off["arb_pnl"]})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Hedged vs unhedged LP on strategies-defi, or the sandwich searcher "
                                             "on strategies-mev (--study mev)")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--study", choices=("lp", "mev"), default="lp")
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.study == "mev":
        rows = mev_study(seeds, args.overrides)
        cols = list(rows[0])
        print(" ".join(f"{c:>14}" for c in cols))
        for r in rows:
            print(" ".join(f"{r[c]:>14.2f}" if isinstance(r[c], float) else f"{r[c]:>14}" for c in cols))
        for c in cols[1:]:
            print(f"{c}: mean {sum(r[c] for r in rows) / len(rows):.2f}")
        return 0
    rows = study(seeds, args.overrides)
    cols = list(rows[0])
    print(" ".join(f"{c:>18}" for c in cols))
    for r in rows:
        print(" ".join(f"{r[c]:>18.2f}" if isinstance(r[c], float) else f"{r[c]:>18}" for c in cols))
    for c in ("lp_pnl", "hedged_pnl"):
        v = [r[c] for r in rows]
        m = sum(v) / len(v)
        sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
        print(f"{c}: mean {m:.2f} std {sd:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
