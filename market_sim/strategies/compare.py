"""Run several library strategies in the same simulated market, on the same seeds, and compare them.

For one scenario and each seed, every strategy gets its own run of the scenario with the library strategies the
scenario itself contains taken out and that one strategy put in: each strategy meets the same background market
(noise, value, maker flow) of the seed and no other strategy. A strategy is named by
    - an [[agents]] name of the scenario whose type is a library strategy (its parameters, symbols, venue and
      latency are used), or
    - a library agent type (`market-sim agents`): the scenario's own table of that type if it has one, else the
      type's defaults on the scenario's first instrument.

Measured per run (the strategy's agent; USD = the quote currency units): PnL marked to the mid at the end; Sharpe
(analysis.metrics.sharpe of the equity returns per sample, equity = `capital` + PnL, scaled to the run's length:
periods_per_year = the number of samples, so mean/std·√n — the Sharpe ratio of one run, not of a year); maximum drawdown (analysis.metrics.max_drawdown, in USD: depth × peak equity); maximum and
mean |inventory| in lots (over the samples); fill rate (lots filled / lots the venue accepted); fees paid.
`compare()` returns the per-seed rows; `summary()` the mean per strategy; `plot()` draws the six metrics.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from market_sim.analysis.errors import AnalyticsError
from market_sim.analysis.metrics import Conventions, max_drawdown, pnl_to_equity, sharpe
from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError
from market_sim.core.events import OrderAccepted
from market_sim.simulation.agents.base import agent_types
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import apply_overrides, parse_override, parse_scenario, read_scenario_file

__all__ = ["StrategyRun", "library_kinds", "resolve_strategies", "compare", "summary", "plot", "METRICS"]

METRICS = ("pnl", "sharpe", "max_drawdown", "max_inventory", "fill_rate", "fees")
_LABELS = {"pnl": "PnL (USD)", "sharpe": "Sharpe (over the run)", "max_drawdown": "max drawdown (USD)",
           "max_inventory": "max |inventory| (lots)", "fill_rate": "fill rate (filled / accepted lots)",
           "fees": "fees paid (USD)"}
# agent types of the library outside market_sim.strategies (the simulator's own SMA crossover)
_EXTRA_LIBRARY = ("sma_crossover", "book_amm_arb")  # book_amm_arb: the CEX–DEX arbitrage (strategies.defi)
_NOT_STRATEGIES = ("env_quoter", "feature_recorder")  # driven from outside / never trade


def library_kinds() -> list[str]:
    """Agent types of the strategy library (registered by importing market_sim.strategies)."""
    import market_sim.strategies  # noqa: F401  (registers them)

    return sorted(k for k, cls in agent_types().items()
                  if (cls.__module__.startswith("market_sim.strategies.") or k in _EXTRA_LIBRARY)
                  and k not in _NOT_STRATEGIES)


@dataclass(frozen=True, slots=True)
class StrategyRun:
    """One strategy's figures on one seed."""

    strategy: str
    seed: int
    pnl: float
    sharpe: float
    max_drawdown: float
    max_inventory: int
    mean_inventory: float
    fill_rate: float
    fees: float
    fills: int
    lots: int


def _raw(scenario: str, overrides: Iterable[str]) -> tuple[Path, dict[str, Any]]:
    path = resolve_scenario(scenario)
    raw = apply_overrides(read_scenario_file(path), [parse_override(o) for o in overrides])
    header = raw.setdefault("scenario", {})
    header.setdefault("name", path.stem)
    plugins = list(header.get("plugins", []))
    if "market_sim.strategies" not in plugins:
        header["plugins"] = plugins = plugins + ["market_sim.strategies"]
    for module in plugins:  # registers the plug-ins' agent types before the strategies are looked up
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"cannot import plugin ({exc})", key="scenario.plugins", value=module) from None
    return path, raw


def resolve_strategies(scenario: str, names: Sequence[str] | None = None, overrides: Iterable[str] = ()
                       ) -> dict[str, dict[str, Any]]:
    """label -> the [[agents]] table that runs it (count 1), for the names given (default: the library strategies
    in the scenario). Unknown names raise ConfigError listing what is available."""
    _, raw = _raw(scenario, overrides)
    kinds = set(library_kinds())
    tables = [a for a in raw.get("agents", []) if isinstance(a, dict) and a.get("type") in kinds]
    by_name = {str(a.get("name", a["type"])): a for a in tables}
    if not names:
        if not by_name:
            raise ConfigError("the scenario has no library strategy; name some with --strategies "
                              f"(library types: {', '.join(sorted(kinds))})", key="strategies", value=scenario)
        names = list(by_name)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if name in by_name:
            table = dict(by_name[name])
        elif name in kinds:
            own = next((a for a in tables if a["type"] == name), None)
            table = dict(own) if own is not None else {"type": name}
        else:
            avail = sorted(set(by_name) | kinds)
            raise ConfigError(f"unknown strategy; choose a library agent type or an agent of the scenario: "
                              f"{', '.join(avail)}", key="strategies", value=name)
        table["name"], table["count"] = name, 1
        out[name] = table
    return out


def _scenario_for(raw: dict[str, Any], path: Path, table: dict[str, Any], seed: int) -> Any:
    kinds = set(library_kinds())
    r = dict(raw)
    r["scenario"] = {**raw["scenario"], "seed": seed}
    r["agents"] = [a for a in raw.get("agents", []) if not (isinstance(a, dict) and a.get("type") in kinds)]
    r["agents"].append(table)
    return parse_scenario(r, base_dir=path.parent, source=str(path))


def run_one(raw: dict[str, Any], path: Path, label: str, table: dict[str, Any], seed: int, *,
            sample: int = NS_PER_SECOND, capital: float = 10_000.0) -> tuple[StrategyRun, pd.DataFrame]:
    """Run one strategy on one seed: its figures and its sampled (t, pnl, inventory) path."""
    sim = Simulation(_scenario_for(raw, path, table, seed))
    sim.build()
    agents = [a for a in sim.agents if sim.agent_groups[a.id] == label]
    agent = agents[0]
    accepted = [0]

    def on_accept(e: OrderAccepted) -> None:
        if e.order.trader == agent.id:
            accepted[0] += e.order.quantity

    sim.bus.subscribe(OrderAccepted, on_accept)
    scale = {i.quote_asset: 10 ** i.quote_decimals for i in sim.instruments.values()}
    rows = []

    def sample_now() -> None:
        pnl = 0.0
        inv = 0
        for symbol in agent.symbols:
            venue = agent.venue_for(symbol)
            cur = sim.instruments[symbol].quote_asset
            pnl += agent.mark_pnl(symbol, sim.recorder.mark(venue, symbol)) / scale[cur]
            inv += abs(agent.position(symbol))
        rows.append((sim.now / NS_PER_SECOND, pnl, inv))

    duration = sim.scenario.duration
    t = 0
    sample_now()
    while t < duration:
        t = min(duration, t + sample)
        sim.run_until(t)
        sample_now()
    sim.finish()
    path_df = pd.DataFrame(rows, columns=["t", "pnl", "inventory"])
    equity = pnl_to_equity(path_df["pnl"], capital)
    returns = equity.pct_change().dropna()
    conv = Conventions(periods_per_year=max(1, len(returns)), interval=f"{sample}ns")   # scaled to the run
    try:
        sr = sharpe(returns, conv)
    except AnalyticsError:  # constant equity (the strategy never traded)
        sr = float("nan")
    dd = max_drawdown(equity)
    dd_usd = dd.depth * float(equity[dd.peak]) if dd.depth else 0.0
    fees = sum(p.fees for p in agent.account.positions.values())
    cur = sim.instruments[agent.symbols[0]].quote_asset
    run = StrategyRun(label, seed, round(float(path_df["pnl"].iloc[-1]), 2), sr, round(dd_usd, 2),
                      int(path_df["inventory"].max()), round(float(path_df["inventory"].mean()), 2),
                      round(agent.volume / accepted[0], 4) if accepted[0] else float("nan"),
                      round(fees / scale[cur], 2), agent.fills, agent.volume)
    return run, path_df


def compare(scenario: str, strategies: Sequence[str] | None = None, seeds: Sequence[int] | int = 3,
            overrides: Iterable[str] = (), *, sample: int = NS_PER_SECOND, capital: float = 10_000.0,
            progress: Any = None) -> tuple[list[StrategyRun], dict[tuple[str, int], pd.DataFrame]]:
    """Every strategy on every seed (an int n: the scenario's seed and the n − 1 after it)."""
    path, raw = _raw(scenario, overrides)
    tables = resolve_strategies(scenario, strategies, overrides)
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError("need at least one seed", key="seeds", value=seeds)
        base = int(raw["scenario"].get("seed", 0))
        seeds = [base + i for i in range(seeds)]
    runs, paths = [], {}
    for seed in seeds:
        for label, table in tables.items():
            if progress is not None:
                progress(label, seed)
            r, p = run_one(raw, path, label, table, int(seed), sample=sample, capital=capital)
            runs.append(r)
            paths[(label, int(seed))] = p
    return runs, paths


def summary(runs: Sequence[StrategyRun]) -> pd.DataFrame:
    """Mean (and PnL std) per strategy over the seeds, in the order the strategies were given."""
    df = pd.DataFrame([asdict(r) for r in runs])
    order = list(dict.fromkeys(df["strategy"]))
    g = df.groupby("strategy", sort=False)
    out = g[["pnl", "sharpe", "max_drawdown", "max_inventory", "mean_inventory", "fill_rate", "fees", "fills",
             "lots"]].mean()
    out.insert(1, "pnl_std", g["pnl"].std(ddof=1) if len(df) > len(order) else 0.0)
    out.insert(0, "seeds", g.size())
    return out.loc[order]


def plot(runs: Sequence[StrategyRun], paths: dict[tuple[str, int], pd.DataFrame], out: Path,
         title: str = "") -> list[Path]:
    """compare.png: one panel per metric (mean bar, one dot per seed); compare_pnl.png: PnL and |inventory| over
    time per strategy and seed."""
    from market_sim.simulation.plots import png_bytes, subplots

    df = pd.DataFrame([asdict(r) for r in runs])
    names = list(dict.fromkeys(df["strategy"]))
    fig, axes = subplots(2, 3, figsize=(13, 7))
    x = np.arange(len(names))
    for ax, metric in zip(axes.flat, METRICS):
        means = [df.loc[df.strategy == n, metric].mean() for n in names]
        ax.bar(x, [0 if math.isnan(m) else m for m in means], color="#8fb3d9")
        for i, n in enumerate(names):
            vals = df.loc[df.strategy == n, metric].to_numpy(dtype=float)
            ax.plot(np.full(len(vals), i), vals, "o", color="#1f4e79", markersize=4)
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_title(_LABELS[metric], fontsize=9)
        ax.axhline(0, color="grey", linewidth=0.6)
    fig.suptitle(title or "strategies compared (bar: mean over seeds, dots: each seed)", fontsize=10)
    out.mkdir(parents=True, exist_ok=True)
    p1 = out / "compare.png"
    p1.write_bytes(png_bytes(fig))
    fig, (a1, a2) = subplots(2, 1, figsize=(10, 7), sharex=True)
    colours = {n: f"C{i % 10}" for i, n in enumerate(names)}
    for (n, seed), p in paths.items():
        first = seed == min(s for m, s in paths if m == n)
        a1.plot(p["t"], p["pnl"], color=colours[n], linewidth=0.8, label=n if first else None)
        a2.plot(p["t"], p["inventory"], color=colours[n], linewidth=0.8, label=n if first else None)
    a1.set_ylabel("PnL (USD, marked to mid)")
    a2.set_ylabel("|inventory| (lots)")
    a2.set_xlabel("simulated time (s)")
    a1.legend(fontsize=8)
    a1.set_title("PnL and inventory over time (one line per seed)", fontsize=10)
    p2 = out / "compare_pnl.png"
    p2.write_bytes(png_bytes(fig))
    return [p1, p2]
