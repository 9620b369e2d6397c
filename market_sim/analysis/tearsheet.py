"""Tear sheets: PNG figures and one self-contained HTML file (figures embedded as base64, no network needed).

Figures: equity and drawdown, rolling Sharpe and volatility, the calendar heat map of returns (year x month; for
runs shorter than two months: minute x 10-second bucket), the return distribution with historical VaR/ES marked,
and exposure over time. The HTML adds the headline metrics, the VaR table, the trade list and, in every report,
the conventions the figures were computed under (annualisation, risk-free rate, sample/population, VaR method).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from market_sim.analysis.errors import AnalyticsError
from market_sim.analysis.metrics import Conventions, PerformanceReport, drawdown_series, simple_returns

__all__ = ["TearSheet", "write_tearsheet", "stress_windows_table", "FIGURES"]

FIGURES = ("equity_drawdown", "rolling", "calendar_returns", "return_distribution", "exposure")


@dataclass(slots=True)
class TearSheet:
    """What a tear sheet shows. `equity` is in `currency` units, indexed by time."""

    title: str
    equity: pd.Series
    conventions: Conventions
    currency: str = ""
    report: PerformanceReport | None = None
    benchmark: pd.Series | None = None       # a price or equity series to compare with (rescaled to equity[0])
    benchmark_name: str = "benchmark"
    exposure: pd.DataFrame | None = None     # columns gross / net (fractions of equity)
    trades: pd.DataFrame | None = None
    notes: Sequence[str] = ()
    extra_tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)


def stress_windows_table(equity: pd.Series, benchmark: pd.Series | None = None) -> pd.DataFrame:
    """The strategy's (and the benchmark's) return and maximum drawdown over each historical stress window of
    `analysis.risk.STRESS_WINDOWS` that the equity curve covers."""
    from market_sim.analysis.risk import STRESS_WINDOWS

    rows = []
    idx = pd.DatetimeIndex(equity.index)
    for name, (a, b) in STRESS_WINDOWS.items():
        lo, hi = pd.Timestamp(a), pd.Timestamp(b)
        if idx[0] > lo or idx[-1] < hi:
            continue
        w = equity[(idx >= lo) & (idx <= hi)]
        if len(w) < 2:
            continue
        row = {"window": name, "from": a, "to": b, "return": float(w.iloc[-1] / w.iloc[0] - 1),
               "max_drawdown": float(-(w / w.cummax() - 1).min())}
        if benchmark is not None:
            bw = benchmark[(benchmark.index >= lo) & (benchmark.index <= hi)].dropna()
            if len(bw) >= 2:
                row["benchmark_return"] = float(bw.iloc[-1] / bw.iloc[0] - 1)
                row["benchmark_max_drawdown"] = float(-(bw / bw.cummax() - 1).min())
        rows.append(row)
    return pd.DataFrame(rows)


def _time_axis(ax: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    loc = AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(loc))


def _plt():
    import os

    import matplotlib

    if "inline" not in os.environ.get("MPLBACKEND", ""):  # a notebook's inline backend is kept
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pct_axis(ax: Any, axis: str = "y", decimals: int | None = None) -> None:
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def _money_axis(ax: Any) -> None:
    from matplotlib.ticker import NullFormatter, StrMethodFormatter

    lo, hi = ax.get_ylim()
    span = abs(hi - lo) or abs(hi) or 1.0
    decimals = max(0, min(6, math.ceil(-math.log10(span / 5)))) if span < 5 else 0
    ax.yaxis.set_major_formatter(StrMethodFormatter(f"{{x:,.{decimals}f}}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _window(n: int, conventions: Conventions) -> int:
    w = int(round(conventions.periods_per_year / 2))  # half a year of bars
    return max(5, min(w, max(5, n // 5)))


def _fig_equity(ts: TearSheet, plt: Any) -> Any:
    e = ts.equity
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    ax1.plot(e.index, e.to_numpy(), color="#1f4e9c", lw=1.3, label="strategy")
    if ts.benchmark is not None and len(ts.benchmark.dropna()) > 1:
        b = ts.benchmark.reindex(e.index).ffill().dropna()
        if len(b) > 1 and b.iloc[0] != 0:
            ax1.plot(b.index, b.to_numpy() / b.iloc[0] * e.loc[b.index[0]], color="#888888", lw=1.0,
                     label=f"{ts.benchmark_name} (rescaled)")
    ax1.set_ylabel(f"equity ({ts.currency})" if ts.currency else "equity")
    lo, hi = ax1.get_ylim()
    if lo > 0 and hi / lo > 20:
        ax1.set_yscale("log")
        ax1.set_ylabel(ax1.get_ylabel() + ", log scale")
    _money_axis(ax1)
    ax1.grid(alpha=0.3)
    ax1.legend(loc="best", frameon=True, framealpha=0.85)
    ax1.set_title(f"{ts.title}: equity and drawdown")
    dd = drawdown_series(e)
    ax2.fill_between(dd.index, dd.to_numpy(), 0, color="#c0392b", alpha=0.45, lw=0)
    ax2.plot(dd.index, dd.to_numpy(), color="#c0392b", lw=0.8)
    ax2.set_ylabel("drawdown")
    _pct_axis(ax2)
    ax2.grid(alpha=0.3)
    if ts.report is not None:
        d = ts.report.max_drawdown
        fmt = "%Y-%m-%d" if e.index[-1] - e.index[0] >= pd.Timedelta(days=5) else "%H:%M:%S"
        ax2.annotate(f"max drawdown {d.depth:.2%} ({d.peak:{fmt}} to {d.trough:{fmt}})"
                     if hasattr(d.peak, "strftime") else f"max drawdown {d.depth:.2%}",
                     xy=(d.trough, -d.depth), xytext=(0.01, 0.08), textcoords="axes fraction", fontsize=9,
                     color="#7b241c", bbox={"boxstyle": "round", "fc": "white", "ec": "#c0392b", "alpha": 0.9},
                     arrowprops={"arrowstyle": "->", "color": "#7b241c"})
    ax2.set_xlabel("time")
    _time_axis(ax2)
    fig.tight_layout()
    return fig


def _fig_rolling(ts: TearSheet, plt: Any, r: pd.Series) -> Any:
    c = ts.conventions
    w = _window(len(r), c)
    rf = c.risk_free_per_period
    ex = r - rf
    mean = ex.rolling(w).mean()
    std = r.rolling(w).std(ddof=c.ddof)
    sharpe = (mean / std.where(std > 1e-12)) * math.sqrt(c.periods_per_year)
    vol = std * math.sqrt(c.periods_per_year)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    ax1.plot(sharpe.index, sharpe.to_numpy(), color="#1f4e9c", lw=1.1)
    ax1.axhline(0, color="black", lw=0.7)
    ax1.set_ylabel(f"Sharpe (rolling {w} bars)")
    ax1.grid(alpha=0.3)
    ax1.set_title(f"{ts.title}: rolling Sharpe and annualised volatility ({w}-bar window)")
    ax2.plot(vol.index, vol.to_numpy(), color="#d35400", lw=1.1)
    ax2.set_ylabel("volatility (ann.)")
    _pct_axis(ax2)
    ax2.grid(alpha=0.3)
    ax2.set_xlabel("time")
    _time_axis(ax2)
    fig.tight_layout()
    return fig


_UNITS = (("day", "1D", "hour", "1h", "%Y-%m-%d", "h"), ("hour", "1h", "10 minutes", "10min", "%m-%d %H:00", "min"),
          ("10 minutes", "10min", "minute", "1min", "%H:%M", "min"), ("minute", "1min", "10 seconds", "10s", "%H:%M",
                                                                       "s"))


def calendar_table(equity: pd.Series) -> tuple[pd.DataFrame, str, str]:
    """Compounded returns per calendar cell: (table, row label, column label). Year x month for runs of two months
    or more; shorter runs use the largest of day x hour, hour x 10 minutes, 10 minutes x minute, minute x
    10 seconds that gives at least two rows."""
    e = equity
    idx = pd.DatetimeIndex(e.index)
    span = idx[-1] - idx[0]
    if span >= pd.Timedelta(days=60):
        m = e.groupby([idx.year, idx.month]).last()
        prev = m.shift(1)
        prev.iloc[0] = e.iloc[0]
        ret = (m / prev - 1.0)
        table = ret.unstack()
        table = table.reindex(columns=range(1, 13))
        table.columns = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        table["Year"] = e.groupby(idx.year).last() / pd.concat(
            [pd.Series([e.iloc[0]], index=[idx.year[0]]), e.groupby(idx.year).last().shift(1).dropna()]) - 1.0
        return table, "year", "month"
    for row_name, row_freq, col_name, col_freq, row_fmt, col_fmt in _UNITS:
        if span >= 2 * pd.Timedelta(row_freq) or row_name == "minute":
            break
    cells = idx.floor(col_freq)
    m = e.groupby(cells).last()
    prev = m.shift(1)
    prev.iloc[0] = e.iloc[0]
    ret = m / prev - 1.0
    cell_rows = pd.DatetimeIndex(m.index).floor(row_freq)
    step = pd.Timedelta(col_freq)
    shown = {"h": pd.Timedelta("1h"), "min": pd.Timedelta("1min"), "s": pd.Timedelta("1s")}[col_fmt]
    offsets = (pd.DatetimeIndex(m.index) - cell_rows) // step
    cols = [int(k) * int(step / shown) for k in offsets]
    table = pd.DataFrame({"row": cell_rows, "col": cols, "r": ret.to_numpy()}).pivot_table(
        index="row", columns="col", values="r", aggfunc="last", sort=True)
    table.index = [t.strftime(row_fmt) for t in table.index]
    table.columns = [f"+{c}{col_fmt}" for c in table.columns]
    return table, row_name, f"{col_name} from the start of the row"


def _fig_calendar(ts: TearSheet, plt: Any) -> Any:
    table, rows, cols = calendar_table(ts.equity)
    vals = table.to_numpy(dtype=float)
    finite = vals[np.isfinite(vals)]
    lim = float(np.nanpercentile(np.abs(finite), 98)) if finite.size else 0.01
    lim = lim if lim > 0 else 0.01
    bp = lim < 0.002  # small moves read in basis points
    scale, unit = (10_000, "bp") if bp else (100, "%")
    h = max(3.0, min(0.32 * len(table) + 1.6, 14.0))
    fig, ax = plt.subplots(figsize=(11, h))
    im = ax.imshow(vals, cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(table.columns)), labels=list(table.columns))
    ax.set_yticks(range(len(table.index)), labels=[str(x) for x in table.index])
    small = len(table) * len(table.columns) <= 400
    if small:
        for i in range(vals.shape[0]):
            for j in range(vals.shape[1]):
                v = vals[i, j]
                if np.isfinite(v):
                    label = f"{v * scale:.1f}"
                    ax.text(j, i, "0.0" if label == "-0.0" else label, ha="center", va="center", fontsize=7,
                            color="black" if abs(v) < 0.6 * lim else "white")
    if table.columns[-1] == "Year":
        ax.axvline(len(table.columns) - 1.5, color="black", lw=1.2)
    cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    from matplotlib.ticker import FuncFormatter

    cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * scale:.1f} {unit}"))
    ax.set_xlabel(cols)
    ax.set_ylabel(rows)
    ax.set_title(f"{ts.title}: returns by {rows} and {cols} ({unit}, compounded)")
    fig.tight_layout()
    return fig


def _loss(v: float) -> str:
    return f"{v:.2%}" if abs(v) >= 0.001 else f"{v * 10_000:.2f} bp"


def _fig_distribution(ts: TearSheet, plt: Any, r: pd.Series) -> Any:
    from market_sim.analysis.risk import historical_var

    fig, ax = plt.subplots(figsize=(11, 5))
    x = r.to_numpy()
    nz = x[x != 0]
    bins = min(120, max(20, int(np.sqrt(len(x)) * 2)))
    lo, hi = np.percentile(x, [0.2, 99.8])
    pad = (hi - lo) * 0.15 or 0.01
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    ax.hist(np.clip(nz, edges[0], edges[-1]), bins=edges, color="#5d6d7e", alpha=0.75,
            label=f"{len(nz):,} non-zero bar returns" + (f" ({len(x) - len(nz):,} flat bars not shown)"
                                                        if len(nz) < len(x) else ""))
    mu, sd = float(np.mean(x)), float(np.std(x, ddof=ts.conventions.ddof))
    if sd > 0:
        g = np.linspace(edges[0], edges[-1], 300)
        width = edges[1] - edges[0]
        ax.plot(g, len(x) * width * np.exp(-0.5 * ((g - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)),
                color="black", lw=1, label="normal, same mean and std (all bars)")
    colors = {0.95: "#e67e22", 0.99: "#c0392b"}
    for conf, col in colors.items():
        est = historical_var(r, conf)
        ax.axvline(-est.var, color=col, lw=1.6, ls="--", label=f"historical VaR {conf:.0%}: {_loss(est.var)}")
        if conf == 0.99:
            ax.axvline(-est.es, color=col, lw=1.2, ls=":", label=f"ES 99%: {_loss(est.es)}")
    ax.set_xlim(edges[0], edges[-1])
    _pct_axis(ax, "x")
    ax.set_xlabel("return per bar (the outermost bins hold everything beyond them)")
    ax.set_ylabel("number of bars")
    ax.set_title(f"{ts.title}: distribution of bar returns, 1-bar VaR and ES over all bars (losses)")
    ax.legend(frameon=False, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _fig_exposure(ts: TearSheet, plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(11, 3.8))
    ex = ts.exposure
    if ex is None or ex.empty:
        ax.text(0.5, 0.5, "no exposure data", ha="center", va="center", transform=ax.transAxes)
    else:
        if "gross" in ex:
            ax.fill_between(ex.index, ex["gross"].to_numpy(), 0, color="#aed6f1", alpha=0.7, lw=0, step="post",
                            label="gross (|positions| / equity)")
        if "net" in ex:
            ax.plot(ex.index, ex["net"].to_numpy(), color="#1f4e9c", lw=1.0, drawstyle="steps-post",
                    label="net (positions / equity)")
        ax.axhline(0, color="black", lw=0.7)
        _pct_axis(ax)
        held = float((ex["gross"].abs() > 1e-12).mean()) if "gross" in ex else float("nan")
        top = float(np.nanmax(ex.abs().to_numpy())) if ex.size else 1.0
        bottom = float(np.nanmin(ex["net"].to_numpy())) if "net" in ex else 0.0
        top = top if math.isfinite(top) and top > 0 else 1.0
        ax.set_ylim(min(0.0, bottom * 1.1), top * 1.45)
        ax.legend(loc="upper left", frameon=False, fontsize=9, ncol=2,
                  title=f"invested {held:.0%} of the time" if math.isfinite(held) else None)
    ax.set_ylabel("exposure")
    ax.set_xlabel("time")
    if ex is not None and not ex.empty:
        _time_axis(ax)
    ax.grid(alpha=0.3)
    ax.set_title(f"{ts.title}: exposure over time")
    fig.tight_layout()
    return fig


def _footer(ts: TearSheet) -> str:
    c = ts.conventions
    return (f"{c.interval} returns, {c.periods_per_year:,.6g} periods/year, risk-free {c.risk_free_rate:.2%} p.a., "
            f"{'sample' if c.ddof == 1 else 'population'} std; VaR historical (empirical quantile)")


def _png(fig: Any, path: Path, plt: Any, footer: str = "") -> bytes:
    if footer:
        fig.subplots_adjust(bottom=fig.subplotpars.bottom + 0.04)
        fig.text(0.01, 0.005, footer, fontsize=7.5, color="#666666", ha="left", va="bottom")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    data = buf.getvalue()
    path.write_bytes(data)
    return data


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "n/a"
        return f"{v:,.4f}" if abs(v) < 1e6 else f"{v:,.0f}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, pct: Sequence[str] = (), max_rows: int = 200) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.head(max_rows).iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            cells.append(f"<td>{v:.2%}</td>" if c in pct and isinstance(v, float) and math.isfinite(v)
                         else f"<td>{_fmt(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='note'>{len(df) - max_rows} more rows in the run folder.</p>" if len(df) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:24px auto;
padding:0 16px;color:#222}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:0.85em;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}th{background:#f4f6f8}td:first-child,th:first-child{text-align:left}img{max-width:100%;
border:1px solid #eee;margin:6px 0}.note{color:#555;font-size:0.9em}.conv{background:#f8f9fa;padding:8px 12px;
border-left:3px solid #1f4e9c;font-size:0.9em}"""


def write_tearsheet(ts: TearSheet, folder: str | Path, *, html_name: str = "report.html") -> dict[str, Path]:
    """Write the PNGs and the HTML into `folder`; returns name -> path."""
    from market_sim.analysis.risk import var_table

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    e = ts.equity.dropna()
    if len(e) < 3:
        raise AnalyticsError(f"{ts.title}: a tear sheet needs an equity curve of at least 3 points, got {len(e)}")
    ts.equity = e
    r = simple_returns(e)
    plt = _plt()
    paths: dict[str, Path] = {}
    images: dict[str, bytes] = {}
    builders = {"equity_drawdown": lambda: _fig_equity(ts, plt), "rolling": lambda: _fig_rolling(ts, plt, r),
                "calendar_returns": lambda: _fig_calendar(ts, plt),
                "return_distribution": lambda: _fig_distribution(ts, plt, r),
                "exposure": lambda: _fig_exposure(ts, plt)}
    with plt.rc_context({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False}):
        for name, build in builders.items():
            p = folder / f"{name}.png"
            images[name] = _png(build(), p, plt, _footer(ts))
            paths[name] = p
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(ts.title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(ts.title)}</h1>"]
    parts.append("<div class='conv'><b>Conventions.</b> " + html.escape(ts.conventions.describe()) +
                 ". Returns are simple, per bar, of the equity curve"
                 + (f" in {html.escape(ts.currency)}" if ts.currency else "") +
                 ". VaR/ES are losses as fractions of equity: historical = empirical quantile (linear "
                 "interpolation), normal and Cornish-Fisher from the sample moments, Monte Carlo from 100,000 "
                 "normal paths (seed 0); 10-bar figures scale one bar by the square root of time.</div>")
    for n in ts.notes:
        parts.append(f"<p class='note'>{html.escape(n)}</p>")
    if ts.report is not None:
        d = ts.report.as_dict()
        d.pop("conventions", None)
        pct = {"total_return", "cagr", "volatility", "max_drawdown", "hit_rate", "alpha"}
        rows = "".join(f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>"
                       f"{(f'{v:.2%}' if k in pct and isinstance(v, float) and math.isfinite(v) else _fmt(v))}"
                       "</td></tr>" for k, v in d.items())
        parts.append(f"<h2>Headline figures</h2><table><tbody>{rows}</tbody></table>")
        for note in ts.report.notes:
            parts.append(f"<p class='note'>{html.escape(note)}</p>")
    titles = {"equity_drawdown": "Equity and drawdown", "rolling": "Rolling Sharpe and volatility",
              "calendar_returns": "Calendar returns", "return_distribution": "Return distribution and VaR",
              "exposure": "Exposure over time"}
    for name, data in images.items():
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(f"<h2>{titles[name]}</h2><img alt='{titles[name]}' src='data:image/png;base64,{b64}'>")
    try:
        vt = var_table(r, (0.95, 0.99), (1, 10), seed=0)
        parts.append("<h2>Value at risk and expected shortfall</h2>" + _table(vt, pct=("var", "es")))
    except AnalyticsError as exc:
        parts.append(f"<h2>Value at risk</h2><p class='note'>{html.escape(str(exc))}</p>")
    stress = stress_windows_table(e, ts.benchmark)
    if len(stress):
        parts.append("<h2>Historical stress windows</h2>" + _table(
            stress, pct=("return", "max_drawdown", "benchmark_return", "benchmark_max_drawdown")))
    if ts.trades is not None:
        parts.append(f"<h2>Trades ({len(ts.trades)})</h2>" + (_table(ts.trades) if len(ts.trades) else
                                                              "<p class='note'>no round trips</p>"))
    for name, t in ts.extra_tables.items():
        parts.append(f"<h2>{html.escape(name)}</h2>" + _table(t.reset_index()))
    parts.append("</body></html>")
    out = folder / html_name
    out.write_text("\n".join(parts), encoding="utf-8")
    paths["html"] = out
    return paths
