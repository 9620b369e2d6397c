"""PNG plots of a run (matplotlib, Agg backend): price per venue, spread and depth, agent PnL."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from market_sim.core.clock import NS_PER_SECOND  # noqa: E402

__all__ = ["write_plots"]


def _minutes(ts: pd.Series) -> pd.Series:
    return ts.astype("float64") / (60 * NS_PER_SECOND)


def plot_prices(snaps: pd.DataFrame, trades: pd.DataFrame, path: Path) -> None:
    """Mid price per venue and symbol over time, with the fundamental value dashed."""
    symbols = sorted(snaps["symbol"].unique())
    fig, axes = plt.subplots(len(symbols), 1, figsize=(10, 3 * len(symbols)), squeeze=False, sharex=True)
    for ax, symbol in zip(axes[:, 0], symbols):
        s = snaps[snaps["symbol"] == symbol]
        for venue, v in s.groupby("venue"):
            ax.plot(_minutes(v["ts"]), v["mid_value"], lw=1, label=f"{venue} mid")
        f = s.drop_duplicates("ts")
        if f["fundamental"].notna().any():
            ax.plot(_minutes(f["ts"]), f["fundamental"], "k--", lw=0.8, label="fundamental")
        t = trades[trades["symbol"] == symbol]
        if len(t):
            ax.plot(_minutes(t["ts"]), t["price_value"], ".", ms=1.5, alpha=0.4, label="trades")
        ax.set_title(symbol)
        ax.set_ylabel("price")
        ax.legend(loc="best", fontsize=7)
    axes[-1, 0].set_xlabel("simulated minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_spread_depth(snaps: pd.DataFrame, path: Path) -> None:
    """Bid-ask spread (ticks) and top-of-book depth (lots) per venue and symbol."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for (venue, symbol), v in snaps.groupby(["venue", "symbol"]):
        x = _minutes(v["ts"])
        ax1.plot(x, v["spread"], lw=0.8, label=f"{venue} {symbol}")
        ax2.plot(x, v["bid_depth"], lw=0.8, label=f"{venue} {symbol} bid")
        ax2.plot(x, -v["ask_depth"].astype("float64"), lw=0.8, label=f"{venue} {symbol} ask (neg.)")
    ax1.set_ylabel("spread (ticks)")
    ax2.set_ylabel("depth (lots)")
    ax2.set_xlabel("simulated minutes")
    ax1.legend(loc="best", fontsize=7)
    ax2.legend(loc="best", fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_pnl(series: pd.DataFrame, path: Path) -> None:
    """Total mark-to-market PnL per agent group over time."""
    fig, ax = plt.subplots(figsize=(10, 4))
    if len(series):
        total = series.groupby(["ts", "group"])["pnl_value"].sum().unstack("group")
        for group in total.columns:
            ax.plot(_minutes(pd.Series(total.index)), total[group].to_numpy(), lw=1, label=group)
        ax.legend(loc="best", fontsize=7)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("PnL (quote currency)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_plots(tables: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    """Write prices.png, spread_depth.png and pnl.png into `folder`; returns the files written."""
    out = []
    snaps = tables.get("book_snapshots")
    if snaps is not None and len(snaps):
        plot_prices(snaps, tables.get("trades", pd.DataFrame(columns=["symbol"])), folder / "prices.png")
        plot_spread_depth(snaps, folder / "spread_depth.png")
        out += [folder / "prices.png", folder / "spread_depth.png"]
    if "pnl_series" in tables:
        plot_pnl(tables["pnl_series"], folder / "pnl.png")
        out.append(folder / "pnl.png")
    return out
