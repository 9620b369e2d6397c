"""Latency arbitrage under each market mechanism: the `latency-arbitrage` scenario, same flow and seeds.

    python -m market_sim.mechanisms.study [--seeds 1,2,3] [--duration 2min] [--mechanisms a,b] [--plot out.png]
                                          [--json]

For every mechanism in MECHANISM_VARIANTS both venues of the scenario are switched to it (everything else — agents,
latencies, seeds, the fundamental path — stays the same) and each seed is run. Per run:

- `arb_pnl`: the sniper's PnL (currency units), marked at the fundamental at the end of the run;
- `arb_lots`: lots the sniper traded;
- `spread_ticks`: the quoted spread (best ask - best bid) averaged over the book snapshots of both venues in which
  both sides are quoted; `one_sided`: share of snapshots with a side empty;
- `depth_lots`: lots within the best `depth_levels` levels (bids + asks), averaged over the snapshots of both venues;
- `maker_pnl`: PnL of all market makers, `slow_maker_pnl` of those on the slow venue (the ones sniped); marked
  at the fundamental;
- `maker_edge_ticks`: the makers' PnL per lot they traded, in ticks (what a competitive maker could give up by
  narrowing its half-spread and still break even);
- `noise_pnl`: PnL of the noise traders (the investors' trading cost).

`study()` gives per mechanism the mean and standard deviation over seeds of each, plus the per-seed values;
`table()` renders them as one table, `plot()` as one labelled figure (PNG bytes).
"""

from __future__ import annotations

import argparse
import json
import statistics
from fractions import Fraction
from pathlib import Path
from typing import Any

from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import apply_overrides, parse_override, parse_scenario, read_scenario_file

__all__ = ["MECHANISM_VARIANTS", "METRICS", "run_one", "study", "table", "plot", "main"]

SCENARIO = "latency-arbitrage"
MAKERS = ["fast_maker-1", "fast_maker-2", "slow_maker-1", "slow_maker-2"]

# name -> the [[venues]] keys both venues get (kind = "mechanism")
MECHANISM_VARIANTS: dict[str, dict[str, Any]] = {
    "continuous": {"mechanism": "continuous"},
    "fba-10ms": {"mechanism": "batch", "tau": "10ms"},
    "fba-100ms": {"mechanism": "batch", "tau": "100ms"},
    "fba-1s": {"mechanism": "batch", "tau": "1s"},
    # IEX: every incoming order waits, the makers are exempt (as IEX's own pegged orders reprice without delay)
    "speed-bump-350us": {"mechanism": "continuous", "speed_bump": "350us", "speed_bump_exempt": MAKERS},
    "speed-bump-50ms": {"mechanism": "continuous", "speed_bump": "50ms", "speed_bump_exempt": MAKERS},
}

# (key, column header, decimals)
METRICS: tuple[tuple[str, str, int], ...] = (
    ("arb_pnl", "sniper PnL", 2),
    ("arb_lots", "sniper lots", 0),
    ("spread_ticks", "spread (ticks)", 2),
    ("depth_lots", "depth (lots)", 1),
    ("maker_pnl", "maker PnL", 2),
    ("slow_maker_pnl", "slow-maker PnL", 2),
    ("maker_edge_ticks", "maker edge (ticks/lot)", 3),
    ("noise_pnl", "noise PnL", 2),
)


def _raw(mechanism: str, seed: int, overrides: list[str] | None) -> dict[str, Any]:
    keys = MECHANISM_VARIANTS.get(mechanism)
    if keys is None:
        from market_sim.core.errors import ConfigError

        raise ConfigError(f"unknown mechanism variant; known: {', '.join(MECHANISM_VARIANTS)}", key="mechanism",
                          value=mechanism)
    raw = read_scenario_file(resolve_scenario(SCENARIO))
    raw = apply_overrides(raw, [parse_override(o) for o in overrides or []])
    raw["venues"] = [{"name": v["name"], "kind": "mechanism", **keys} for v in raw["venues"]]
    raw["scenario"]["seed"] = seed
    return raw


def run_one(mechanism: str, seed: int, overrides: list[str] | None = None) -> dict[str, Any]:
    """One run of the scenario with both venues on `mechanism`: the metrics of the module docstring."""
    sim = Simulation(parse_scenario(_raw(mechanism, seed, overrides)))
    out = sim.run()
    symbol = next(iter(sim.instruments))
    inst = sim.instruments[symbol]
    _, per_lot, _, per_lot_tick = sim._units[symbol]
    mark = Fraction(round(sim.fundamental(symbol) / sim.tick_float(symbol))) * per_lot_tick / per_lot
    scale = 10 ** inst.quote_decimals
    pnl: dict[str, float] = {}
    for agent in sim.agents:
        group = sim.agent_groups[agent.id]
        pnl[group] = pnl.get(group, 0.0) + agent.mark_pnl(symbol, mark) / scale
    trades = out.tables["trades"]
    arb_lots = maker_lots = 0
    for q, b, s in zip(trades["quantity"], trades["buyer"], trades["seller"]):
        if b.startswith("arb") or s.startswith("arb"):
            arb_lots += q
        maker_lots += q * ((b in MAKERS) + (s in MAKERS))
    tick_value = per_lot_tick / scale  # currency per lot per tick
    snaps = out.tables["book_snapshots"]
    spreads = [s for s in snaps["spread"] if s is not None]
    depth = [b + a for b, a in zip(snaps["bid_depth"], snaps["ask_depth"])]
    return {
        "mechanism": mechanism, "seed": seed,
        "arb_pnl": pnl.get("arb", 0.0), "arb_lots": arb_lots,
        "spread_ticks": statistics.fmean(spreads) if spreads else float("nan"),
        "one_sided": 1 - len(spreads) / len(snaps["spread"]) if snaps["spread"] else 0.0,
        "depth_lots": statistics.fmean(depth) if depth else 0.0,
        "maker_pnl": pnl.get("fast_maker", 0.0) + pnl.get("slow_maker", 0.0),
        "slow_maker_pnl": pnl.get("slow_maker", 0.0),
        "maker_edge_ticks": (pnl.get("fast_maker", 0.0) + pnl.get("slow_maker", 0.0)) / tick_value / maker_lots
        if maker_lots else 0.0,
        "noise_pnl": pnl.get("noise_fast", 0.0) + pnl.get("noise_slow", 0.0),
        "trades": len(trades["quantity"]),
    }


def study(mechanisms: list[str] | None = None, seeds: list[int] | None = None,
          overrides: list[str] | None = None) -> dict[str, Any]:
    """mechanism -> {"seeds", per metric: {"mean", "std", "values"}} over the seeds (same seeds for each)."""
    mechanisms = list(MECHANISM_VARIANTS) if mechanisms is None else mechanisms
    seeds = [1, 2, 3] if seeds is None else seeds
    out: dict[str, Any] = {}
    for mech in mechanisms:
        runs = [run_one(mech, s, overrides) for s in seeds]
        row: dict[str, Any] = {"seeds": list(seeds)}
        for key in [m[0] for m in METRICS] + ["one_sided", "trades"]:
            vals = [r[key] for r in runs]
            row[key] = {"mean": round(statistics.fmean(vals), 4),
                        "std": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0,
                        "values": [round(v, 4) for v in vals]}
        out[mech] = row
    return out


def table(result: dict[str, Any]) -> str:
    """One text table: a row per mechanism, mean ± std over the seeds for each metric."""
    headers = ["mechanism"] + [h for _, h, _ in METRICS]
    rows = []
    for mech, r in result.items():
        rows.append([mech] + [f"{r[k]['mean']:.{d}f} ± {r[k]['std']:.{d}f}" for k, _, d in METRICS])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                          for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "| " + " | ".join(("-" * w) if i == 0 else ("-" * (w - 1) + ":") for i, w in enumerate(widths)) + " |"
    seeds = next(iter(result.values()))["seeds"] if result else []
    return "\n".join([line(headers), sep, *(line(r) for r in rows)]) + f"\n(mean ± std over seeds {seeds})"


def plot(result: dict[str, Any]) -> bytes:
    """One figure, a panel per metric (sniper PnL, spread, depth, maker PnL), mechanisms on the x axis, mean with
    the std over seeds as error bars: PNG bytes."""
    from market_sim.simulation.plots import png_bytes, subplots

    panels = (("arb_pnl", "sniper PnL (currency)"), ("spread_ticks", "quoted spread (ticks)"),
              ("depth_lots", "depth, 2 levels a side (lots)"), ("maker_pnl", "market-maker PnL (currency)"))
    names = list(result)
    fig, axes = subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2))
    for ax, (key, label) in zip(axes, panels):
        means = [result[m][key]["mean"] for m in names]
        stds = [result[m][key]["std"] for m in names]
        ax.bar(range(len(names)), means, yerr=stds, capsize=3,
               color=["tab:red" if m == "continuous" else "tab:blue" if m.startswith("fba") else "tab:green"
                      for m in names])
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=40, ha="right")
        ax.set_title(label)
        ax.axhline(0, color="black", linewidth=0.6)
    seeds = result[names[0]]["seeds"] if names else []
    fig.suptitle(f"latency-arbitrage: one mechanism on both venues, seeds {seeds} (mean ± std)")
    return png_bytes(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--mechanisms", default=",".join(MECHANISM_VARIANTS))
    ap.add_argument("--duration", default=None, help="override the scenario's duration, e.g. 5min")
    ap.add_argument("--plot", default=None, help="write the figure to this PNG file")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    overrides = [f"scenario.duration={a.duration}"] if a.duration else []
    res = study(a.mechanisms.split(","), [int(s) for s in a.seeds.split(",")], overrides)
    if a.plot:
        Path(a.plot).write_bytes(plot(res))
    print(json.dumps(res, indent=2) if a.json else table(res))


if __name__ == "__main__":
    main()
