"""`market-sim report RUN`: a tear sheet for a stored run, a backtest or a simulation.

- A backtest: its equity curve, exposure and trade list as stored; benchmark = buy and hold of its first symbol;
  the conventions it was computed under (stored in metrics.json).
- A simulation: one agent's PnL series (`pnl_series`, in its quote currency) on top of `capital` (stated in the
  report: simulation agents have no starting capital of their own), its exposure from its trades marked at the
  trade prices; annualised as if the market traded around the clock at the sampling interval of the series; a
  table of every agent's headline figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from market_sim.analysis.metrics import Conventions, performance_report, performance_table, pnl_to_equity
from market_sim.analysis.tearsheet import TearSheet, write_tearsheet
from market_sim.core.errors import ConfigError
from market_sim.simulation.results import RunData

__all__ = ["tearsheet_for_run", "write_report"]


def _backtest_sheet(run: RunData) -> TearSheet:
    m = run.metrics
    eq = run["equity"].copy()
    eq["time"] = pd.to_datetime(eq["time"])
    eq = eq.set_index("time")
    c = m.get("conventions_spec", {})
    conv = Conventions(periods_per_year=c.get("periods_per_year", 252.0), risk_free_rate=c.get("risk_free_rate", 0.0),
                       ddof=c.get("ddof", 1), interval=c.get("interval", "1d"))
    trades = run.tables.get("trades")
    closed = trades[~trades["open"].astype(bool)] if trades is not None and len(trades) else None
    bars = run.tables.get("bars")
    bench = None
    name = "benchmark"
    if bars is not None and len(bars):
        sym = bars["symbol"].iloc[0]
        b = bars[bars["symbol"] == sym]
        bench = pd.Series(b["close"].to_numpy(float), index=pd.to_datetime(b["time"]))
        name = f"buy and hold {sym}"
    bench_r = bench.pct_change().dropna() if bench is not None else None
    rep = performance_report(eq["equity"], conv, name=str(m.get("name", run.run_id)), benchmark=bench_r,
                             trades=list(closed["pnl"]) if closed is not None else None)
    sc = run.scenario
    if sc.get("mode") == "l2":
        notes = [f"L2 replay of {sc.get('data')} with {sc.get('strategy')} {sc.get('params')}.",
                 f"Fill model: {m.get('fill_rules', 'n/a')}.", f"Fees: {m.get('fees_model', 'none')}.",
                 "Equity is sampled at a fixed interval and marked at the replayed book's mid."]
        notes.insert(0, f"Run {run.run_id}.")
        return TearSheet(f"{sc.get('strategy')} on {sc.get('symbol') or 'the replayed book'} (L2 replay)",
                         eq["equity"], conv, sc.get("currency", ""), rep, None, "",
                         eq[["gross_exposure", "net_exposure"]].rename(columns={"gross_exposure": "gross",
                                                                                "net_exposure": "net"}),
                         trades, notes)
    notes = [f"Backtest of {sc.get('strategy')} with {sc.get('params')} on {sc.get('data')} "
             f"({'adjusted' if sc.get('adjusted') else 'raw'} prices; dividends "
             f"{'in the adjusted prices' if sc.get('adjusted') else 'ignored'}).",
             f"Fill rules: {m.get('fill_rules', 'n/a')}.", f"Fees: {m.get('fees_model', 'none')}.",
             f"Borrow fees: {m.get('borrow_model', 'none')}; charged {m.get('borrow_fees', 0.0):,.2f} "
             f"{sc.get('currency', '')} (trading fees {m.get('fees', 0.0):,.2f}).",
             "Alpha and beta against buy and hold of the same symbol (close to close)."]
    symbol = bars["symbol"].iloc[0] if bars is not None and len(bars) else ""
    notes.insert(0, f"Run {run.run_id}.")
    return TearSheet(f"{sc.get('strategy')} on {symbol}", eq["equity"], conv, sc.get("currency", ""), rep, bench, name,
                     eq[["gross_exposure", "net_exposure"]].rename(columns={"gross_exposure": "gross",
                                                                            "net_exposure": "net"}),
                     trades, notes)


def _sim_sheet(run: RunData, agent: str | None, capital: float) -> TearSheet:
    ps = run.tables.get("pnl_series")
    if ps is None or ps.empty:
        raise ConfigError("this run has no pnl_series table to report on", key="run", value=run.run_id)
    last = ps.sort_values("ts").groupby(["agent", "currency"])["pnl_value"].last()
    names = sorted({str(a) for a, _ in last.index})
    if agent is not None and agent not in names:
        raise ConfigError(f"no such agent in the run's pnl_series (agents: {', '.join(names)})", key="agent",
                          value=agent)
    pick = last if agent is None else last[[a == agent for a, _ in last.index]]
    agent, cur = max(pick.index, key=lambda k: (abs(float(pick[k])), k))  # the largest |PnL| (its currency)
    ps = ps[ps["currency"] == cur]
    wide = ps.pivot_table(index="ts", columns="agent", values="pnl_value", aggfunc="last").sort_index().ffill()
    wide = wide.fillna(0.0)
    agents = list(wide.columns)
    t0 = pd.Timestamp("2000-01-01")  # simulated time starts at 0 ns: shown as elapsed time from this origin
    index = t0 + pd.to_timedelta(wide.index.to_numpy(np.int64), unit="ns")
    step_ns = float(np.median(np.diff(wide.index.to_numpy(np.int64)))) if len(wide) > 1 else 1e9
    ppy = 365.25 * 86_400e9 / step_ns
    conv = Conventions(periods_per_year=ppy, interval=f"{step_ns / 1e9:g}s simulated, 24/7")
    equities = pd.DataFrame({a: pnl_to_equity(pd.Series(wide[a].to_numpy(), index=index), capital, str(a))
                             for a in agents}, index=index)
    e = equities[agent]
    rep = performance_report(e, conv, name=str(agent))
    exposure = None
    tr = run.tables.get("trades")
    if tr is not None and len(tr):
        tr = tr.sort_values("ts")
        sign = np.where(tr["buyer"] == agent, 1, np.where(tr["seller"] == agent, -1, 0))
        mine = sign != 0
        if mine.any():
            pos = pd.Series(np.cumsum(sign[mine] * tr["quantity"].to_numpy()[mine]),
                            index=t0 + pd.to_timedelta(tr["ts"].to_numpy(np.int64)[mine], unit="ns"))
            px = pd.Series(tr["price_value"].to_numpy(float), index=t0 + pd.to_timedelta(tr["ts"].to_numpy(np.int64),
                                                                                     unit="ns"))
            pos = pos.groupby(level=0).last().reindex(index, method="ffill").fillna(0)
            px = px.groupby(level=0).last().reindex(index, method="ffill").bfill()
            lot = _lot_size(run)
            value = pos * px * lot
            exposure = pd.DataFrame({"gross": value.abs() / e, "net": value / e})
    try:
        table = performance_table(equities, conv)[["total_return", "volatility", "sharpe", "max_drawdown"]]
    except Exception:  # noqa: BLE001  (an agent without a usable curve: the table is optional)
        table = None
    notes = [f"Simulation run {run.run_id} ({run.scenario.get('scenario', {}).get('name', '')}); agent {agent}, "
             f"PnL in {cur} on an assumed starting capital of {capital:,.0f} {cur} (simulation agents have none of "
             "their own). Time is simulated time elapsed, shown from an arbitrary origin (2000-01-01 00:00).",
             "Exposure: the agent's position from its trades, valued at the last trade price."]
    extra = {"Every agent (same capital and conventions)": table} if table is not None else {}
    return TearSheet(f"{agent} in {run.scenario.get('scenario', {}).get('name', 'simulation')}", e, conv, cur, rep, None, "", exposure, None, notes, extra)


def _lot_size(run: RunData) -> float:
    for ins in run.scenario.get("instruments", []) or []:
        if isinstance(ins, dict) and "lot_size" in ins:
            try:
                v = float(ins["lot_size"])
                return v if math.isfinite(v) and v > 0 else 1.0
            except (TypeError, ValueError):
                return 1.0
    return 1.0


def tearsheet_for_run(run: RunData, *, agent: str | None = None, capital: float = 1_000_000.0) -> TearSheet:
    if run.info.get("kind") == "backtest" or run.metrics.get("kind") == "backtest":
        return _backtest_sheet(run)
    if not (isinstance(capital, (int, float)) and math.isfinite(capital) and capital > 0):
        raise ConfigError("must be a positive amount", key="capital", value=capital)
    return _sim_sheet(run, agent, capital)


def write_report(run: RunData, out: str | Path | None = None, **kw: Any) -> dict[str, Path]:
    """Write the tear sheet of `run` into `out` (default: the run folder's `report/`)."""
    sheet = tearsheet_for_run(run, **kw)
    return write_tearsheet(sheet, Path(out) if out is not None else run.path / "report")
