"""After an options run: the implied-vol smile recovered from traded prices, the market maker's PnL attribution,
the result figures and the two plots (options.png, options_pnl.png)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from market_sim.core.errors import MarketSimError
from market_sim.derivatives import bsm_implied_vol_array, fit_svi
from market_sim.options.section import OptionsResult

if TYPE_CHECKING:
    from market_sim.options.section import OptionsMarket
    from market_sim.simulation.runner import Simulation

__all__ = ["finish_options", "trade_smile"]

_PARTS = ("delta", "gamma", "vega", "theta", "vanna_volga", "edge", "unexplained")


def trade_smile(market: "OptionsMarket", bucket: float = 0.02) -> list[dict[str, Any]]:
    """The implied-vol smile of the traded prices: the implied vol of every option trade (from its price, the
    underlying mid and the time to expiry at the trade), grouped per expiry into log-moneyness buckets
    ``ln(K / S)`` of width `bucket` at the trade (the underlying moves during a run, so a strike is not one point
    of the smile), each point the contract-weighted mean vol and moneyness of its trades. Calls and puts are one
    smile (no dividend, the model's rate: put-call parity)."""
    trades = market.trades
    if not trades:
        return []
    insts = [market.series[t["symbol"]] for t in trades]
    price = np.array([t["price"] * float(i.tick_size) for t, i in zip(trades, insts)])
    spot = np.array([t["underlying_mid"] for t in trades])
    strike = np.array([float(i.option.strike) for i in insts])
    tau = np.array([max(market.tau(t["symbol"], t["ts"]), 1e-9) for t in trades])
    call = np.array([i.option.is_call for i in insts])
    iv = bsm_implied_vol_array(price, spot, strike, tau, market.config.rate, 0.0, call, on_error="nan")
    k = np.log(strike / spot)
    groups: dict[tuple[str, int, int], list[tuple[float, int, float]]] = {}
    for t, i, v, x in zip(trades, insts, iv, k):
        if np.isfinite(v):
            key = (i.option.underlying, i.option.expiry, int(np.floor(x / bucket + 0.5)))
            groups.setdefault(key, []).append((float(v), t["quantity"], float(x)))
    rows = []
    for (und, expiry, _), pts in sorted(groups.items()):
        w = sum(q for _, q, _ in pts)
        rows.append({"underlying": und, "expiry": expiry,
                     "log_moneyness": round(sum(x * q for _, q, x in pts) / w, 6),
                     "implied_vol": round(sum(v * q for v, q, _ in pts) / w, 6), "contracts": w,
                     "trades": len(pts)})
    return rows


def finish_options(sim: "Simulation", market: "OptionsMarket") -> None:
    for t in market.trades:
        sim.record("option_trades", t)
    for r in market.settlements:
        sim.record("option_settlements", {"ts": r.ts, "symbol": r.symbol, "account": r.account, "kind": r.kind,
                                          "contracts": r.contracts, "settle_ticks": r.settle_ticks,
                                          "intrinsic_ticks": r.intrinsic_ticks, "cash": r.cash,
                                          "underlying": r.underlying})
    for r in market.refused:
        sim.record("option_exercises_refused", r)
    book = market.warrant_book
    if book is not None and book.configs:
        for r in book.settlements:
            sim.record("warrant_settlements", {"ts": r.ts, "symbol": r.symbol, "account": r.account, "kind": r.kind,
                                               "warrants": r.contracts, "settle_ticks": r.settle_ticks,
                                               "intrinsic_ticks": r.intrinsic_ticks, "cash": r.cash,
                                               "underlying": r.underlying})
        for e in book.exercises:
            sim.record("warrant_exercises", {f: getattr(e, f) for f in e.__slots__})
        for r in book.supply_rows:
            sim.record("share_supply", r)
        for r in market.warrant_model:
            sim.record("warrant_model", r)
        for r in market.warrant_underlying:
            sim.record("warrant_underlying", r)
        for t in market.warrant_trades:
            sim.record("warrant_trades", t)
    smile = trade_smile(market)
    for r in smile:
        sim.record("implied_smile", r)
    rmse = _maker_rmse(sim, market, smile)
    pnl_rows = sim.tables.get("mm_pnl", [])
    totals = {k: round(sum(r[k] for r in pnl_rows), 2) for k in (*_PARTS, "total")} if pnl_rows else None
    share = None
    if pnl_rows:
        moves = sum(abs(r[k]) for r in pnl_rows for k in _PARTS if k != "unexplained")
        share = round(sum(abs(r["unexplained"]) for r in pnl_rows) / moves, 4) if moves else None
    qd = 10 ** next(iter(market.series.values())).quote_decimals if market.series else 1
    smile_fig: dict[str, dict[str, float]] = {}
    for r in smile:
        label = next(lbl for c in market.config.chains if c.underlying == r["underlying"]
                     for lbl, ns in c.expiries if ns == r["expiry"])
        smile_fig.setdefault(f"{r['underlying']} {label}", {})[f"{r['log_moneyness']:+.3f}"] = \
            round(r["implied_vol"], 4)
    sim.metrics["options"] = OptionsResult(
        series=len(market.series), option_trades=len(market.trades),
        contracts_traded=sum(t["quantity"] for t in market.trades),
        exercised_contracts=sum(r.contracts for r in market.settlements if r.kind == "exercise"),
        expired_worthless=sum(r.contracts for r in market.settlements if r.kind == "expiry") // 2,  # longs
        open_after_expiry=market.open_after_expiry(),
        settlement_cash=round(sum(r.cash for r in market.settlements if r.kind == "exercise" and not r.underlying)
                              / qd, 2),
        smile_points=len(smile), smile_rmse_vs_maker=rmse, smile=smile_fig or None, mm_pnl=totals,
        mm_unexplained_share=share, **_warrant_figures(market))
    if not sim.scenario.output.plots:
        return
    if smile:
        sim.extra_files["options.png"] = smile_png(sim, market, smile)
    if pnl_rows:
        sim.extra_files["options_pnl.png"] = pnl_png(sim, pnl_rows)
    if market.warrants:
        sim.extra_files["warrants.png"] = warrants_png(sim, market)


def _warrant_figures(market: "OptionsMarket") -> dict[str, Any]:
    book = market.warrant_book
    if book is None or not book.configs:
        return {}
    dilution: dict[str, float] = {}
    for e in book.exercises:
        if e.shares_minted and e.fundamental_before:
            und = book.configs[e.symbol].underlying
            dilution.setdefault(und, {})[e.ts] = e.fundamental_after / e.fundamental_before
    return {"warrants_issued": sum(book.issued.values()),
            "warrants_exercised": sum(e.warrants for e in book.exercises),
            "shares_minted": dict(sorted(book.minted.items())) or None,
            "share_supply": dict(sorted(book.supply.items())) or None,
            "fundamental_dilution": {u: round(float(np.prod(list(f.values()))), 6)
                                     for u, f in sorted(dilution.items())} or None}


def warrants_png(sim: "Simulation", market: "OptionsMarket") -> bytes:
    """The underlying's mid and fundamental with the exercises marked, its supply, and each warrant's model value
    with dilution against the plain call."""
    plt = _plt()
    book = market.warrant_book
    unds = sorted({w.underlying for w in book.configs.values()})
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    for und in unds:
        rows = [r for r in market.warrant_underlying if r["underlying"] == und]
        axes[0].plot([r["ts"] / 60e9 for r in rows], [r["mid"] for r in rows], lw=1, label=f"{und} mid")
        axes[0].plot([r["ts"] / 60e9 for r in rows], [r["fundamental"] for r in rows], "k--", lw=1,
                     label=f"{und} fundamental (V/N)")
    for e in book.exercises:
        if e.shares_minted:
            axes[0].axvline(e.ts / 60e9, color="tab:red", lw=0.8, alpha=0.6)
    for sym, w in book.configs.items():
        axes[0].axhline(float(w.strike), color="grey", ls=":", lw=0.8)
        axes[0].annotate(f"{sym} strike", (0, float(w.strike)), fontsize=7, color="grey")
    axes[0].set_ylabel("price")
    axes[0].set_title(f"{sim.scenario.name}: the underlying (red lines: exercises that minted shares)")
    axes[0].legend(fontsize=8)
    for und in unds:
        rows = [r for r in book.supply_rows if r["underlying"] == und]
        if rows:
            end = sim.scenario.duration / 60e9
            xs = [r["ts"] / 60e9 for r in rows] + [end]
            ys = [r["supply"] for r in rows] + [rows[-1]["supply"]]
            axes[1].step(xs, ys, where="post", label=f"{und} shares outstanding (base units)")
    axes[1].set_ylabel("supply")
    axes[1].legend(fontsize=8)
    for sym in book.configs:
        rows = [r for r in market.warrant_model if r["symbol"] == sym]
        if rows:
            xs = [r["ts"] / 60e9 for r in rows]
            if book.configs[sym].dilutive:
                axes[2].plot(xs, [r["warrant_value"] for r in rows], lw=1.2,
                             label=f"{sym}: dilution-adjusted value per share")
                axes[2].plot(xs, [r["call_value"] for r in rows], lw=0.8, ls="--",
                             label=f"{sym}: the plain call (no dilution)")
            else:
                axes[2].plot(xs, [r["warrant_value"] for r in rows], lw=1.2, label=f"{sym} (covered): the option value")
        tr = [t for t in market.warrant_trades if t["symbol"] == sym]
        if tr:
            tick = float(market.warrants[sym].tick_size)
            axes[2].scatter([t["ts"] / 60e9 for t in tr], [t["price"] * tick for t in tr], s=6,
                            label=f"{sym}: trades")
    axes[2].set_ylabel("value per share")
    axes[2].set_xlabel("simulated time (min)")
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    return _png(plt, fig)


def _maker_rmse(sim: "Simulation", market: "OptionsMarket", smile: list[dict[str, Any]]) -> float | None:
    """RMSE between the traded smile and the options market maker's surface without inventory shift (its
    parameters), at each point's mean log-moneyness and the expiry's mid-life."""
    from market_sim.options.agents import OptionsMarketMaker

    maker = next((a for a in sim.agents if isinstance(a, OptionsMarketMaker)), None)
    if maker is None or not smile:
        return None
    p = maker.params
    a = p.atm_vol ** 2 - p.svi_b * p.svi_sigma
    err = []
    for r in smile:
        x = r["log_moneyness"]
        var = a + p.svi_b * (p.svi_rho * x + np.sqrt(x * x + p.svi_sigma ** 2))
        err.append(r["implied_vol"] - float(np.sqrt(max(var, 1e-12))))
    return round(float(np.sqrt(np.mean(np.square(err)))), 5)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def smile_png(sim: "Simulation", market: "OptionsMarket", smile: list[dict[str, Any]]) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5))
    from market_sim.options.agents import OptionsMarketMaker

    maker = next((a for a in sim.agents if isinstance(a, OptionsMarketMaker)), None)
    keys = sorted({(r["underlying"], r["expiry"]) for r in smile})
    for und, expiry in keys:
        pts = [r for r in smile if r["underlying"] == und and r["expiry"] == expiry]
        label = next(lbl for c in market.config.chains if c.underlying == und for lbl, ns in c.expiries
                     if ns == expiry)
        ax.scatter([r["log_moneyness"] for r in pts], [r["implied_vol"] for r in pts],
                   s=[8 + 60 * r["contracts"] / max(q["contracts"] for q in smile) for r in pts],
                   label=f"{und} {label}: implied vol of traded prices (size: contracts)")
        if len(pts) >= 5:
            t = max(market.years(expiry) / 2, 1e-9)
            try:
                fit = fit_svi(t, [r["log_moneyness"] for r in pts], [r["implied_vol"] for r in pts])
            except MarketSimError:
                fit = None
            if fit is not None:
                x = np.linspace(min(r["log_moneyness"] for r in pts), max(r["log_moneyness"] for r in pts), 200)
                ax.plot(x, fit.implied_vol(x), lw=1, label=f"{und} {label}: SVI fit to the traded smile")
    if maker is not None:
        p = maker.params
        a = p.atm_vol ** 2 - p.svi_b * p.svi_sigma
        lo = min(r["log_moneyness"] for r in smile)
        hi = max(r["log_moneyness"] for r in smile)
        x = np.linspace(lo, hi, 200)
        var = a + p.svi_b * (p.svi_rho * x + np.sqrt(x * x + p.svi_sigma ** 2))
        ax.plot(x, np.sqrt(np.maximum(var, 0)), "k--", lw=1, label="market maker's SVI surface (mid)")
    ax.set_xlabel("log-moneyness ln(K / S) at the trades")
    ax.set_ylabel("implied volatility (per [options] year)")
    ax.set_title(f"{sim.scenario.name}: implied-volatility smile from traded option prices")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(plt, fig)


def pnl_png(sim: "Simulation", rows: list[dict[str, Any]]) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 5))
    ts = np.array([r["ts"] for r in rows]) / 60e9
    agents = sorted({r["agent"] for r in rows})
    for part, colour in zip((*_PARTS, "total"), ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:olive",
                                                  "tab:purple", "tab:gray", "black")):
        series = np.zeros(len(rows))
        for i, r in enumerate(rows):
            series[i] = r[part]
        ax.plot(ts, np.cumsum(series), lw=2 if part == "total" else 1.2, color=colour,
                ls=":" if part == "unexplained" else "-", label=f"{part} (cumulative)")
    ax.set_xlabel("simulated time (min)")
    ax.set_ylabel("PnL (quote currency)")
    ax.set_title(f"{sim.scenario.name}: options market maker PnL attribution ({', '.join(agents)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    return _png(plt, fig)


def _png(plt: Any, fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
