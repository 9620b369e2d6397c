"""PNG plots of a run (matplotlib, Agg backend): price per venue, spread and depth, agent PnL.

Conventions shared by every figure of a run (the DeFi figures use them too, through `run_colours` and `time_axis`):
- the x axis is simulated time, in seconds, minutes or hours depending on the run's length, and says so;
- one colour per series across all figures: a venue, an instrument or an agent group keeps its colour in every
  figure (`run_colours`); the fundamental (external) price is always black and dashed;
- only panels that apply are drawn: spread and depth only for venues with an order book (an AMM has neither).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import os

import matplotlib

if "inline" not in os.environ.get("MPLBACKEND", ""):  # a notebook's inline backend (tutorials/) is kept
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from market_sim.core.clock import NS_PER_SECOND  # noqa: E402

__all__ = ["write_plots", "subplots", "png_bytes", "run_colours", "time_axis", "series_colour", "FUNDAMENTAL_STYLE"]

FUNDAMENTAL_STYLE = {"color": "black", "ls": "--", "lw": 0.9}
# tab10 without its grey (grey and black are kept for references: zero lines, the fundamental, the AMM gap), then
# dark colours far from tab10's hues.
_PALETTE = [*plt.get_cmap("tab10").colors[:7], *plt.get_cmap("tab10").colors[8:],
            "#000075", "#f032e6", "#469990", "#800000", "#808000", "#42d4f4", "#ffd700", "#aaffc3"]


def subplots(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """matplotlib.pyplot.subplots on the Agg backend (the sections' figures use it too)."""
    return plt.subplots(*args, **kwargs)


def png_bytes(fig: Any) -> bytes:
    """Lay out, render and close a figure: its PNG bytes."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def run_colours(venues: Iterable[str] = (), symbols: Iterable[str] = (), groups: Iterable[str] = ()) -> dict[str, tuple]:
    """Colour of every named series of a run: venues first, then instruments, then agent groups, each sorted, so
    any figure that knows the run's venues (or venues and instruments) assigns the same colours."""
    names: list[str] = []
    for group in (venues, symbols, groups):
        names += [n for n in sorted(set(group)) if n not in names]
    return {n: _PALETTE[i % len(_PALETTE)] for i, n in enumerate(names)}


def series_colour(colours: dict[str, tuple], venue: str, symbol: str, n_venues: int) -> tuple:
    """A (venue, instrument) series is the venue's colour when the run has several venues, else the instrument's."""
    return colours[venue] if n_venues > 1 else colours[symbol]


def time_axis(end_ns: float) -> tuple[float, str]:
    """(ns per unit, axis label) for a run lasting `end_ns`: seconds up to 3 min, minutes up to 3 h, else hours."""
    if end_ns <= 180 * NS_PER_SECOND:
        return float(NS_PER_SECOND), "simulated time (s)"
    if end_ns <= 3 * 3600 * NS_PER_SECOND:
        return 60.0 * NS_PER_SECOND, "simulated time (min)"
    return 3600.0 * NS_PER_SECOND, "simulated time (h)"


def _x(ts: pd.Series | pd.Index, unit: float) -> pd.Series:
    return pd.Series(ts, copy=False).astype("float64").to_numpy() / unit


def _book_venues(snaps: pd.DataFrame) -> list[tuple[str, str]]:
    """(venue, symbol) pairs whose snapshots ever show resting quantity: the ones with an order book."""
    qty = snaps[["bid_qty", "ask_qty", "bid_depth", "ask_depth"]].fillna(0).astype("float64").abs().sum(axis=1)
    has = snaps.assign(_q=qty).groupby(["venue", "symbol"])["_q"].max()
    return sorted(k for k, v in has.items() if v > 0)


def plot_prices(snaps: pd.DataFrame, trades: pd.DataFrame, path: Path, colours: dict[str, tuple],
                unit: float, xlabel: str) -> None:
    """Mid price per venue and symbol over time, trades behind it, the fundamental value dashed on top."""
    symbols = sorted(snaps["symbol"].unique())
    n_venues = snaps["venue"].nunique()
    fig, axes = plt.subplots(len(symbols), 1, figsize=(10, 2.8 * len(symbols) + 0.6), squeeze=False, sharex=True)
    for ax, symbol in zip(axes[:, 0], symbols):
        s = snaps[snaps["symbol"] == symbol]
        for venue, v in s.groupby("venue"):
            c = series_colour(colours, venue, symbol, n_venues)
            t = trades[(trades["symbol"] == symbol) & (trades["venue"] == venue)] if "venue" in trades else \
                trades.iloc[0:0]
            if len(t):
                few = len(t) < 2000  # a few trades are dots worth seeing; many would hide the mid
                ax.plot(_x(t["ts"], unit), t["price_value"], ".", ms=3 if few else 1.5, alpha=0.5 if few else 0.15,
                        color=c, zorder=1, label=f"{venue} trades")
            ax.plot(_x(v["ts"], unit), v["mid_value"], lw=1, color=c, zorder=2, label=f"{venue} mid")
        f = s.drop_duplicates("ts")
        if f["fundamental"].notna().any():
            ax.plot(_x(f["ts"], unit), f["fundamental"], zorder=3, label="fundamental", **FUNDAMENTAL_STYLE)
        ax.set_title(symbol, fontsize=10)
        ax.set_ylabel("price")
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        ax.legend(loc="best", fontsize=7, markerscale=4)
    axes[-1, 0].set_xlabel(xlabel)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _rolling(values: pd.Series, n: int) -> pd.core.window.Rolling:
    return values.astype("float64").reset_index(drop=True).rolling(max(1, n // 60), min_periods=1, center=True)


def _smooth(values: pd.Series, n: int) -> pd.Series:
    return _rolling(values, n).mean()


def plot_spread_depth(snaps: pd.DataFrame, path: Path, colours: dict[str, tuple], unit: float, xlabel: str,
                      books: list[tuple[str, str]], levels: int = 5) -> None:
    """Small multiples, one row per order-book instrument (shared time axis): bid-ask spread in ticks (rolling mean
    and ± 1 standard deviation over windows of 1/60 of the run) and resting lots in the best `levels` levels (bids up, asks
    down; rolling mean)."""
    symbols = sorted({s for _, s in books})
    n_venues = len({v for v, _ in books})
    fig, axes = plt.subplots(len(symbols), 2, figsize=(12, 2.4 * len(symbols) + 0.8), squeeze=False, sharex=True)
    for row, symbol in enumerate(symbols):
        ax1, ax2 = axes[row]
        for venue in sorted(v for v, s in books if s == symbol):
            d = snaps[(snaps["venue"] == venue) & (snaps["symbol"] == symbol)]
            x, c = _x(d["ts"], unit), series_colour(colours, venue, symbol, n_venues)
            name = f"{venue} " if n_venues > 1 else ""
            roll = _rolling(d["spread"], len(d))
            mean, sd = roll.mean(), roll.std().fillna(0)
            ax1.fill_between(x, mean - sd, mean + sd, color=c, alpha=0.2, lw=0, label=f"{name}± 1 s.d.")
            ax1.plot(x, mean, lw=1.2, color=c, label=f"{name}mean")
            ax2.plot(x, _smooth(d["bid_depth"], len(d)), lw=1, color=c, label=f"{name}bids")
            ax2.plot(x, -_smooth(d["ask_depth"], len(d)), lw=1, color=c, ls=":", label=f"{name}asks (shown < 0)")
        ax2.axhline(0, color="grey", lw=0.5)
        ax1.set_title(f"{symbol}: bid-ask spread", fontsize=10)
        ax2.set_title(f"{symbol}: resting lots in the best {levels} levels", fontsize=10)
        ax1.set_ylabel("spread (ticks)")
        ax2.set_ylabel("depth (lots)")
        ax1.set_ylim(bottom=0)
        ax1.legend(loc="lower right", fontsize=7, ncol=2)
        ax2.legend(loc="center right", fontsize=7, ncol=2)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_pnl(series: pd.DataFrame, path: Path, colours: dict[str, tuple], unit: float, xlabel: str) -> None:
    """Total mark-to-market PnL per agent group over time."""
    fig, ax = plt.subplots(figsize=(10, 4))
    if len(series):
        total = series.groupby(["ts", "group"])["pnl_value"].sum().unstack("group")
        for group in total.columns:
            ax.plot(_x(total.index, unit), total[group].to_numpy(), lw=1.2, color=colours.get(group), label=group)
        ax.legend(loc="best", fontsize=7)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title("mark-to-market PnL by agent group", fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("PnL (quote currency)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _end_ns(tables: dict[str, pd.DataFrame]) -> float:
    ends = [float(t["ts"].max()) for t in tables.values() if t is not None and len(t) and "ts" in t]
    return max(ends, default=0.0)


def _depth_levels(folder: Path) -> int:
    """output.depth_levels of the run (from its scenario.json when present), else the default 5."""
    import json

    try:
        levels = json.loads((folder / "scenario.json").read_text()).get("output", {}).get("depth_levels", 5)
    except (OSError, ValueError, AttributeError):
        return 5
    return levels if isinstance(levels, int) else 5


def write_plots(tables: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    """Write prices.png, spread_depth.png (only when a venue has an order book) and pnl.png into `folder`; returns
    the files written."""
    out = []
    snaps = tables.get("book_snapshots")
    pnl = tables.get("pnl_series")
    unit, xlabel = time_axis(_end_ns(tables))
    colours = run_colours(snaps["venue"] if snaps is not None and len(snaps) else (),
                          snaps["symbol"] if snaps is not None and len(snaps) else (),
                          pnl["group"] if pnl is not None and len(pnl) else ())
    if snaps is not None and len(snaps):
        trades = tables.get("trades")
        if trades is None or not len(trades):
            trades = pd.DataFrame(columns=["ts", "venue", "symbol", "price_value"])
        plot_prices(snaps, trades, folder / "prices.png", colours, unit, xlabel)
        out.append(folder / "prices.png")
        books = _book_venues(snaps)
        if books:
            plot_spread_depth(snaps, folder / "spread_depth.png", colours, unit, xlabel, books,
                              _depth_levels(folder))
            out.append(folder / "spread_depth.png")
    if pnl is not None:
        plot_pnl(pnl, folder / "pnl.png", colours, unit, xlabel)
        out.append(folder / "pnl.png")
    return out
