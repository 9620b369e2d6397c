"""Figures of a settled run as PNG bytes (headless matplotlib), from the lifecycle tracker's tables.

- settlement_latency.png: the distribution of each stage's latency (executed→certified, certified→included,
  included→final, executed→final) in simulated time, p50 and p99 marked;
- settlement_exposure.png: value pending (executed, not final) over time, in total and for the most exposed accounts;
- settlement_blocks.png: batches and gas per block.

They follow the run-wide conventions of `market_sim.simulation.plots` (simulated time with its unit on the x axis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from market_sim.simulation.plots import png_bytes, subplots

__all__ = ["latency_png", "exposure_png", "blocks_png", "STAGE_TITLES"]


STAGE_TITLES = {"executed_to_certified": "executed → certified (quorum certificate)",
                "certified_to_included": "certified → included in a block",
                "included_to_final": "included → final (confirmations)",
                "executed_to_final": "executed → final (end to end)"}


def _latency_unit(max_ns: float) -> tuple[float, str]:
    if max_ns < 10_000_000:
        return 1e3, "µs"
    if max_ns < 10_000_000_000:
        return 1e6, "ms"
    if max_ns < 600_000_000_000:
        return 1e9, "s"
    return 60e9, "min"


def latency_png(latencies: Mapping[str, Sequence[int]]) -> bytes:
    """One histogram per stage (ns samples, each panel in its own unit), p50 and p99 as vertical lines."""
    from market_sim.consensus.cluster import percentiles

    fig, axes = subplots(2, 2, figsize=(11, 6.5))
    for ax, (name, title) in zip(axes.flat, STAGE_TITLES.items()):
        values = list(latencies.get(name, ()))
        ax.set_title(title, fontsize=10)
        if not values:
            ax.text(0.5, 0.5, "no trade went through this stage", ha="center", va="center", transform=ax.transAxes,
                    color="tab:gray")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        if max(values) == 0:
            ax.text(0.5, 0.5, f"all {len(values):,} trades: 0 (no simulated time passes in this stage)",
                    ha="center", va="center", transform=ax.transAxes, color="tab:gray", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        scale, unit = _latency_unit(max(values))
        x = [v / scale for v in values]
        ax.hist(x, bins=min(60, max(5, len(set(x)))), color="tab:blue", alpha=0.75)
        p = percentiles(values)
        for key, style in (("p50", "-"), ("p99", "--")):
            ax.axvline(p[key] / scale, color="black", ls=style, lw=1,
                       label=f"{key} {p[key] / scale:,.3g} {unit}")
        ax.set_xlim(left=0)
        ax.set_xlabel(f"latency (simulated {unit})")
        ax.set_ylabel("trades")
        ax.legend(fontsize=8, loc="best", framealpha=0.9, title=f"{len(values):,} trades", title_fontsize=8)
    fig.suptitle("Settlement latency per stage (simulated time)", fontsize=11)
    return png_bytes(fig)


def _steps(ts: Sequence[int], values: Sequence[float], end: int) -> tuple[list[float], list[float]]:
    """A step function starting at 0 at time 0 and held to `end`."""
    xs, ys = [0.0], [0.0]
    for t, v in zip(ts, values):
        xs.append(float(t))
        ys.append(float(v))
    xs.append(float(max(end, xs[-1])))
    ys.append(ys[-1])
    return xs, ys


def exposure_png(pending: Mapping[str, Sequence[Any]], exposure: Mapping[str, Sequence[Any]], end_ns: int,
                 top: int = 5, trading_end_ns: int | None = None) -> bytes:
    """Total value pending over time per quote asset (top) and the `top` most exposed accounts' exposure (bottom).

    `pending`: the settlement_pending table; `exposure`: the settlement_exposure table (column dicts);
    `trading_end_ns`: where the trading horizon ended (the drain follows), marked on both panels."""
    from market_sim.simulation.plots import time_axis

    unit, xlabel = time_axis(float(end_ns))
    assets = sorted(set(pending["asset"]))
    fig, axes = subplots(2, 1, figsize=(10, 6.5), sharex=True)
    upper, lower = axes
    for asset in assets:
        rows = [(t, v, n) for t, a, v, n in zip(pending["ts"], pending["asset"], pending["pending_value"],
                                                pending["pending_trades"]) if a == asset]
        xs, ys = _steps([r[0] for r in rows], [r[1] for r in rows], end_ns)
        upper.step([x / unit for x in xs], ys, where="post", lw=1.2, label=f"{asset} pending")
    upper.set_title("Value executed but not yet final (each trade once)", fontsize=10)
    upper.set_ylabel(f"pending ({', '.join(assets) or 'quote'})")
    upper.set_ylim(bottom=0)
    if assets:
        upper.legend(fontsize=8, loc="upper left")
    peaks: dict[tuple[str, str], float] = {}
    for account, asset, value in zip(exposure["account"], exposure["asset"], exposure["exposure_value"]):
        peaks[(account, asset)] = max(peaks.get((account, asset), 0.0), float(value))
    chosen = sorted(peaks, key=lambda k: (-peaks[k], k))[:top]
    for account, asset in chosen:
        rows = [(t, v) for t, a, s, v in zip(exposure["ts"], exposure["account"], exposure["asset"],
                                              exposure["exposure_value"]) if a == account and s == asset]
        xs, ys = _steps([r[0] for r in rows], [r[1] for r in rows], end_ns)
        lower.step([x / unit for x in xs], ys, where="post", lw=1, label=f"{account} ({asset})")
    lower.set_title(f"Pending exposure of the {len(chosen)} most exposed accounts (as buyer or seller)", fontsize=10)
    lower.set_ylabel(f"exposure ({', '.join(sorted({a for _, a in chosen})) or 'quote'})")
    lower.set_ylim(bottom=0)
    if chosen:
        lower.legend(fontsize=8, loc="upper left", ncol=min(3, len(chosen)))
    lower.set_xlabel(xlabel)
    for ax in axes:
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        if trading_end_ns is not None and trading_end_ns < end_ns:
            ax.axvline(trading_end_ns / unit, color="grey", ls=":", lw=1)
    if trading_end_ns is not None and trading_end_ns < end_ns:
        upper.annotate("trading ends; settlement drains ", (trading_end_ns / unit, upper.get_ylim()[1] * 0.85),
                       fontsize=8, color="grey", ha="right")
    return png_bytes(fig)


def blocks_png(blocks: Mapping[str, Sequence[int]], gas_limit: int | None = None) -> bytes:
    """Settlement batches and gas per block that holds any (the settlement_blocks table), by block number."""
    fig, axes = subplots(2, 1, figsize=(10, 5.5), sharex=True)
    upper, lower = axes
    numbers = list(blocks["block"])
    if not numbers:
        for ax in axes:
            ax.text(0.5, 0.5, "no batch was included in a block", ha="center", va="center", transform=ax.transAxes,
                    color="tab:gray")
    width = 0.8 if len(numbers) < 200 else 1.0
    upper.bar(numbers, blocks["batches"], width=width, color="tab:blue")
    upper.set_ylabel("batches")
    upper.set_title(f"Settlement batches per block ({len(numbers):,} blocks hold any)", fontsize=10)
    upper.yaxis.get_major_locator().set_params(integer=True)
    lower.bar(numbers, [g / 1e6 for g in blocks["gas_used"]], width=width, color="tab:orange")
    if gas_limit:
        lower.axhline(gas_limit / 1e6, color="black", ls="--", lw=0.9, label=f"block gas limit {gas_limit / 1e6:g} M")
        lower.legend(fontsize=8)
    lower.set_ylabel("gas used by settlement (M)")
    lower.set_title("Settlement gas per block", fontsize=10)
    lower.set_xlabel("block number")
    lower.set_ylim(bottom=0)
    lower.xaxis.get_major_locator().set_params(integer=True)
    if numbers and len(numbers) <= 30:  # few blocks: label each
        lower.set_xticks(numbers)
        for n, trades, gas in zip(numbers, blocks["trades"], blocks["gas_used"]):
            lower.annotate(f"{trades:,} trades", (n, gas / 1e6), ha="center", va="bottom", fontsize=7)
    return png_bytes(fig)
