"""Figures of the DeFi scenarios as PNG bytes (headless matplotlib).

They follow the run-wide conventions of `market_sim.simulation.plots`: simulated time on the x axis with its unit,
the same colour for a venue as in prices.png, the external (true) price black and dashed.
"""

from __future__ import annotations

from typing import Any

from market_sim.simulation.plots import png_bytes, subplots

__all__ = ["price_gap_png", "lvr_png"]


def price_gap_png(frame: Any, symbol: str) -> bytes:
    """Price per venue against the true price over time and, with two or more AMM pools, the gap between them.

    `frame`: the price_gap table (ts, true_price, one column per venue, gap_bps)."""
    from market_sim.simulation.plots import FUNDAMENTAL_STYLE, run_colours, series_colour, time_axis

    venues = [c for c in frame.columns if c not in ("ts", "true_price", "gap_bps")]
    colours = run_colours(venues, [symbol])
    unit, xlabel = time_axis(float(frame["ts"].max()))
    x = frame["ts"].astype("float64") / unit
    has_gap = frame["gap_bps"].notna().any()
    fig, axes = subplots(2 if has_gap else 1, 1, figsize=(10, 6 if has_gap else 3.6), sharex=True, squeeze=False)
    top = axes[0, 0]
    for venue in venues:
        top.plot(x, frame[venue], lw=1.0, color=series_colour(colours, venue, symbol, len(venues)), label=venue)
    if frame["true_price"].notna().any():
        top.plot(x, frame["true_price"], label="fundamental (true price)", **FUNDAMENTAL_STYLE)
    top.set_title(f"{symbol}: price per venue", fontsize=10)
    top.set_ylabel("price")
    top.ticklabel_format(axis="y", useOffset=False, style="plain")
    top.legend(loc="best", fontsize=8)
    if has_gap:
        bottom = axes[1, 0]
        bottom.plot(x, frame["gap_bps"], color="tab:gray", lw=1.0)
        bottom.set_title("gap between the AMM pools (highest / lowest price - 1)", fontsize=10)
        bottom.set_ylabel("gap (bps)")
        bottom.set_ylim(bottom=0)
    axes[-1, 0].set_xlabel(xlabel)
    return png_bytes(fig)


def lvr_png(frame: Any, pool: str, venues: list[str], symbol: str, quote_asset: str, ratio: float,
            ratio_stderr: float, steps: int) -> bytes:
    """Cumulative measured LVR of `pool` against the σ²/8 theory. `frame`: the lvr table (ts, cum_lvr, cum_theory);
    `venues`: every venue of the run (for the pool's colour)."""
    from market_sim.simulation.plots import run_colours, series_colour, time_axis

    colours = run_colours(venues, [symbol])
    unit, xlabel = time_axis(float(frame["ts"].max()))
    x = frame["ts"].astype("float64") / unit
    fig, ax = subplots(figsize=(9, 4.5))
    ax.plot(x, frame["cum_lvr"], color=series_colour(colours, pool, symbol, len(venues)),
            label=f"measured LVR of {pool} (rebalancing − LP)")
    ax.plot(x, frame["cum_theory"], color="black", ls="--", lw=0.9, label="theory ∫σ²/8·V dt")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"cumulative LVR ({quote_asset})")
    ax.set_title(f"LVR ratio {ratio:.3f} ± {ratio_stderr:.3f} over {steps} blocks", fontsize=10)
    ax.legend()
    return png_bytes(fig)
