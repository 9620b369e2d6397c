"""risk.png: price (with the fundamental), margin calls and liquidation volume, short interest when lending is on."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from market_sim.risk.engine import RiskEngine
    from market_sim.simulation.runner import Simulation

__all__ = ["risk_png"]


def risk_png(sim: "Simulation", engine: "RiskEngine") -> bytes | None:
    import os

    import matplotlib

    if "inline" not in os.environ.get("MPLBACKEND", ""):  # a notebook's inline backend is kept
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from market_sim.simulation.plots import FUNDAMENTAL_STYLE, run_colours, time_axis

    if not engine.prices:
        return None
    end = sim.scenario.duration
    unit, xlabel = time_axis(end)
    colours = run_colours(sim.venues, sim.instruments)
    lending = bool(engine.config.lending)
    panels = 4 if lending else 3
    fig, axes = plt.subplots(panels, 1, figsize=(11, 2.6 * panels + 1), sharex=True,
                             gridspec_kw={"height_ratios": [2.2] + [1] * (panels - 1)})
    ax = axes[0]
    for symbol, pts in sorted(engine.prices.items()):
        inst = sim.instruments[symbol]
        tick = float(inst.tick_size)
        ax.plot([t / unit for t, _ in pts], [p * tick for _, p in pts], lw=0.9, color=colours.get(symbol),
                label=f"{symbol} trades")
        proc = sim._process_of.get(symbol)
        if proc is not None:
            n = 400
            ts = [end * i // n for i in range(n + 1)]
            fresh = type(proc)(proc_params(sim, symbol), _seed(sim, symbol))
            ax.plot([t / unit for t in ts], [fresh.value_at(t) for t in ts], label=f"{symbol} fundamental",
                    **FUNDAMENTAL_STYLE)
    liq = engine.rows["liquidations"]
    if liq:
        first = min(r["ts"] for r in liq)
        ax.axvline(first / unit, color="tab:red", lw=0.8, ls=":", label="first liquidation")
    ax.set_ylabel("price")
    ax.set_title(f"{sim.scenario.name}: price, margin calls and liquidations")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    bins = 120
    width = end / bins
    edges = [i * width / unit for i in range(bins)]
    calls = [0] * bins
    for r in engine.rows["margin_calls"]:
        if r["status"] == "issued":
            calls[min(bins - 1, int(r["ts"] // width))] += 1
    axes[1].bar(edges, calls, width=width / unit, align="edge", color="tab:orange")
    axes[1].set_ylim(0, max(1, max(calls)) * 1.1)
    axes[1].set_ylabel("margin calls\nissued")
    axes[1].grid(alpha=0.3)
    vol = [0] * bins
    for r in liq:
        vol[min(bins - 1, int(r["ts"] // width))] += r["filled"]
    for r in engine.rows["buy_ins"]:
        vol[min(bins - 1, int(r["ts"] // width))] += r["filled"]
    axes[2].bar(edges, vol, width=width / unit, align="edge", color="tab:red")
    axes[2].set_ylim(0, max(1, max(vol)) * 1.1)
    axes[2].set_ylabel("forced volume\n(lots)")
    axes[2].set_title("liquidations and buy-ins", fontsize=9)
    axes[2].grid(alpha=0.3)
    if lending:
        ax3 = axes[3]
        for symbol in sorted(engine.config.lending):
            rows = [r for r in engine.rows["short_interest"] if r["symbol"] == symbol]
            ax3.plot([r["ts"] / unit for r in rows], [r["short_interest"] for r in rows], color=colours.get(symbol),
                     label=f"{symbol} short interest")
            ax3.plot([r["ts"] / unit for r in rows], [r["supply"] for r in rows], color="grey", ls="--",
                     label=f"{symbol} lendable supply")
        ax3.set_ylabel("lots")
        ax3.legend(loc="best", fontsize=8)
        ax3.grid(alpha=0.3)
    axes[-1].set_xlabel(xlabel)
    axes[-1].set_xlim(0, end / unit)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def proc_params(sim: "Simulation", symbol: str):
    name = next(c.process for c in sim.scenario.instruments if c.instrument.symbol == symbol)
    return sim.scenario.processes[name].params


def _seed(sim: "Simulation", symbol: str) -> int:
    from market_sim.simulation.seeds import derive_seed

    name = next(c.process for c in sim.scenario.instruments if c.instrument.symbol == symbol)
    return derive_seed(sim.seed, "process", name)
