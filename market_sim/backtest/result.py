"""A bar backtest's results: equity curves per agent and currency, positions, exposure, fills, round-trip trades
and the headline metrics (market_sim.analysis.metrics) under stated conventions.

Equity is computed after the run, vectorised: cash (initial + every fill's quote flow - fees - borrow fees) plus
each open position marked at the step's close (carried forward over missing bars), in currency units (floats: analytics).
The exact integer state is the accounts' (`RawResult.accounts`); `check_accounts` confirms both agree at the end.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from market_sim.analysis.metrics import (
    Conventions, Fill as MFill, PerformanceReport, Trade, performance_report, simple_returns, trade_list, turnover,
)
from market_sim.backtest.engine import RawResult
from market_sim.core.errors import ConfigError

__all__ = ["BacktestResult", "infer_conventions", "FILL_COLUMNS"]

FILL_COLUMNS = ("step", "ts", "agent", "symbol", "side", "quantity", "price_ticks", "quote_amount", "fee",
                "liquidity", "order_id")

_DAY = 86_400 * 10**9


def infer_conventions(ts: np.ndarray, *, risk_free_rate: float = 0.0, crypto: bool = False) -> Conventions:
    """Conventions from the bar spacing: daily (252/yr; 365 for crypto), weekly, monthly, or intraday minutes."""
    if len(ts) < 2:
        return Conventions(risk_free_rate=risk_free_rate)
    step = float(np.median(np.diff(ts)))
    days = 365 if crypto else 252
    hours = 24 if crypto else 6.5
    if step >= 25 * _DAY:
        return Conventions.for_interval("1mo", risk_free_rate=risk_free_rate)
    if step >= 5 * _DAY:
        return Conventions.for_interval("1w", risk_free_rate=risk_free_rate)
    if step >= 0.5 * _DAY:
        return Conventions.for_interval("1d", risk_free_rate=risk_free_rate, trading_days=days)
    minutes = step / 60e9
    for label, m in (("1m", 1), ("5m", 5), ("15m", 15), ("30m", 30), ("1h", 60), ("4h", 240)):
        if minutes <= m * 1.5:
            return Conventions.for_interval(label, risk_free_rate=risk_free_rate, trading_days=days,
                                            hours_per_day=hours)
    return Conventions.for_interval("4h", risk_free_rate=risk_free_rate, trading_days=days, hours_per_day=hours)


class BacktestResult:
    """Equity, positions, exposure, fills, trades and metrics of one bar backtest."""

    def __init__(self, raw: RawResult, conventions: Conventions | None = None) -> None:
        self.raw = raw
        crypto = any(s.instrument.asset_class.value == "crypto" for s in raw.series)
        self.conventions = conventions or infer_conventions(raw.timeline, crypto=crypto)

    # ----- basic tables -----
    @cached_property
    def index(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(pd.to_datetime(self.raw.timeline, unit="ns"), name="time")

    @cached_property
    def fills(self) -> pd.DataFrame:
        """Every fill: time, agent, symbol, side (+1/-1), quantity (lots), price (decimal), fee (currency units)..."""
        f = pd.DataFrame(self.raw.fills, columns=list(FILL_COLUMNS))
        if f.empty:
            f = pd.DataFrame({c: pd.Series(dtype="int64" if c not in ("agent", "symbol", "liquidity") else "object")
                              for c in FILL_COLUMNS})
        ins = {s.symbol: s.instrument for s in self.raw.series}
        f.insert(2, "time", pd.to_datetime(f["ts"], unit="ns"))
        f["price"] = [float(ins[s].tick_size) * p for s, p in zip(f["symbol"], f["price_ticks"])]
        f["currency"] = [ins[s].quote_asset for s in f["symbol"]]
        scale = [10.0 ** ins[s].quote_decimals for s in f["symbol"]]
        f["notional"] = f["quote_amount"] / scale if len(f) else f["quote_amount"].astype(float)
        f["fee_value"] = f["fee"] / scale if len(f) else f["fee"].astype(float)
        return f

    @cached_property
    def borrow_fees(self) -> pd.DataFrame:
        """Every borrow-fee charge of a short: step, time, agent, symbol, currency, amount (quote base units) and
        value (currency units)."""
        f = pd.DataFrame(self.raw.borrow_fees, columns=["step", "ts", "agent", "symbol", "currency", "amount"])
        f = f.astype({"step": "int64", "ts": "int64", "amount": "int64"})
        f.insert(2, "time", pd.to_datetime(f["ts"], unit="ns"))
        f["value"] = [a / 10.0 ** self._decimals(c) for a, c in zip(f["amount"], f["currency"])]
        return f

    @property
    def agents(self) -> list[str]:
        return [a.id for a in self.raw.agents]

    def _agent(self, agent: str | None) -> str:
        if agent is None:
            return self.agents[0]
        if agent not in self.agents:
            raise ConfigError(f"no such agent in this backtest (agents: {', '.join(self.agents)})", key="agent",
                              value=agent)
        return agent

    def currencies(self, agent: str | None = None) -> list[str]:
        agent = self._agent(agent)
        out = {s.instrument.quote_asset for s in self.raw.series}
        out |= set(self.raw.initial_cash.get(agent, {}))
        return sorted(out)

    def _currency(self, agent: str, currency: str | None) -> str:
        cs = self.currencies(agent)
        if currency is None:
            if len(cs) != 1:
                raise ConfigError(f"the portfolio holds several currencies ({', '.join(cs)}); name one", key="currency",
                                  value=None)
            return cs[0]
        if currency not in cs:
            raise ConfigError(f"not a currency of this portfolio ({', '.join(cs)})", key="currency", value=currency)
        return currency

    def _decimals(self, currency: str) -> int:
        for s in self.raw.series:
            if s.instrument.quote_asset == currency:
                return s.instrument.quote_decimals
        return 2

    # ----- positions and equity -----
    def positions(self, agent: str | None = None) -> pd.DataFrame:
        """Lots held per symbol at each step's close."""
        agent = self._agent(agent)
        n = len(self.raw.timeline)
        f = self.fills[self.fills["agent"] == agent]
        out = {}
        for s in self.raw.series:
            d = np.zeros(n, dtype=np.int64)
            g = f[f["symbol"] == s.symbol]
            np.add.at(d, g["step"].to_numpy(np.int64), (g["side"] * g["quantity"]).to_numpy(np.int64))
            out[s.symbol] = np.cumsum(d)
        return pd.DataFrame(out, index=self.index)

    def position_values(self, agent: str | None = None, currency: str | None = None) -> pd.DataFrame:
        """Signed market value of each position (currency units) at each step's close."""
        agent = self._agent(agent)
        ccy = self._currency(agent, currency)
        pos = self.positions(agent)
        out = {}
        for s, c in zip(self.raw.series, self.raw.closes):
            ins = s.instrument
            if ins.quote_asset != ccy:
                continue
            unit = ins.quote_units_per_lot_tick / 10.0 ** ins.quote_decimals
            out[s.symbol] = pos[s.symbol].to_numpy(np.float64) * c.astype(np.float64) * unit
        return pd.DataFrame(out, index=self.index)

    def cash(self, agent: str | None = None, currency: str | None = None) -> pd.Series:
        agent = self._agent(agent)
        ccy = self._currency(agent, currency)
        n = len(self.raw.timeline)
        f = self.fills[(self.fills["agent"] == agent) & (self.fills["currency"] == ccy)]
        d = np.zeros(n, dtype=np.float64)
        flow = (-f["side"] * f["quote_amount"] - f["fee"]).to_numpy(np.float64)
        np.add.at(d, f["step"].to_numpy(np.int64), flow)
        if self.raw.borrow_fees:
            b = self.borrow_fees[(self.borrow_fees["agent"] == agent) & (self.borrow_fees["currency"] == ccy)]
            np.add.at(d, b["step"].to_numpy(np.int64), -b["amount"].to_numpy(np.float64))
        dec = self._decimals(ccy)
        initial = self.raw.initial_cash.get(agent, {}).get(ccy, 0)
        return pd.Series((initial + np.cumsum(d)) / 10.0 ** dec, index=self.index, name="cash")

    def equity(self, agent: str | None = None, currency: str | None = None) -> pd.Series:
        """Cash plus positions marked at the close, per step (currency units)."""
        agent = self._agent(agent)
        values = self.position_values(agent, currency)
        e = self.cash(agent, currency) + values.sum(axis=1)
        return e.rename("equity")

    def exposure(self, agent: str | None = None, currency: str | None = None) -> pd.DataFrame:
        """Gross and net exposure (position value / equity) at each step."""
        values = self.position_values(agent, currency)
        e = self.equity(agent, currency)
        return pd.DataFrame({"gross": values.abs().sum(axis=1) / e, "net": values.sum(axis=1) / e},
                            index=self.index)

    def check_accounts(self, agent: str | None = None) -> None:
        """The final equity from the fills equals the exact account state marked at the last closes."""
        agent = self._agent(agent)
        acct = self.raw.accounts[agent]
        for ccy in self.currencies(agent):
            exact = acct.balance(ccy)
            for s, c in zip(self.raw.series, self.raw.closes):
                ins = s.instrument
                if ins.quote_asset == ccy:
                    pos = acct.positions.get(s.symbol)
                    q = 0 if pos is None else pos.quantity // ins.base_units_per_lot
                    exact += q * int(c[-1]) * ins.quote_units_per_lot_tick
            curve = float(self.equity(agent, ccy).iloc[-1])
            value = exact / 10.0 ** self._decimals(ccy)
            if not math.isclose(curve, value, rel_tol=1e-9, abs_tol=1e-6):
                raise AssertionError(f"equity curve ends at {curve}, accounts say {value} {ccy}")

    # ----- trades and metrics -----
    def bars_frame(self, symbol: str) -> pd.DataFrame:
        for s in self.raw.series:
            if s.symbol == symbol:
                return s.frame()
        raise ConfigError("no bars for this symbol", key="symbol", value=symbol)

    def trades(self, agent: str | None = None, *, mark_open: bool = True) -> list[Trade]:
        """Round trips per symbol (entry/exit, holding time, PnL net of fees, MAE/MFE per unit from bar highs/lows);
        a position still open at the end is marked to the last close (open=True)."""
        agent = self._agent(agent)
        f = self.fills[self.fills["agent"] == agent]
        out: list[Trade] = []
        for s in self.raw.series:
            g = f[f["symbol"] == s.symbol]
            if g.empty:
                continue
            dec = 10.0 ** s.instrument.quote_decimals
            fills = [MFill(r.time, float(r.side * r.quantity * float(s.instrument.lot_size)), float(r.price),
                           float(r.fee) / dec) for r in g.itertuples(index=False)]
            out += trade_list(fills, s.frame(), mark_open=mark_open)
        return sorted(out, key=lambda t: t.entry_time)

    def trades_frame(self, agent: str | None = None) -> pd.DataFrame:
        rows = []
        agent = self._agent(agent)
        for t in self.trades(agent):
            rows.append({"side": "long" if t.side > 0 else "short", "entry_time": t.entry_time,
                         "exit_time": t.exit_time, "quantity": t.quantity, "entry_price": t.entry_price,
                         "exit_price": t.exit_price, "pnl": t.pnl, "fees": t.fees,
                         "holding_days": t.holding_time / pd.Timedelta(days=1), "mae": t.mae, "mfe": t.mfe,
                         "open": t.open})
        cols = ["side", "entry_time", "exit_time", "quantity", "entry_price", "exit_price", "pnl", "fees",
                "holding_days", "mae", "mfe", "open"]
        return pd.DataFrame(rows, columns=cols)

    def benchmark_returns(self) -> pd.Series:
        """Buy and hold of the first symbol (close to close), the default benchmark for alpha and beta."""
        s = self.raw.series[0]
        return simple_returns(pd.Series(self.raw.closes[0].astype(np.float64), index=self.index), s.symbol)

    def report(self, agent: str | None = None, currency: str | None = None, *, benchmark: Any = "buy_and_hold"
               ) -> PerformanceReport:
        agent = self._agent(agent)
        bench = self.benchmark_returns() if isinstance(benchmark, str) and benchmark == "buy_and_hold" else benchmark
        return performance_report(self.equity(agent, currency), self.conventions, name=agent, benchmark=bench,
                                  trades=[t for t in self.trades(agent) if not t.open])

    def summary(self, agent: str | None = None) -> dict[str, Any]:
        agent = self._agent(agent)
        rep = self.report(agent)
        d = rep.as_dict()
        e = self.equity(agent)
        f = self.fills[self.fills["agent"] == agent]
        b = self.borrow_fees[self.borrow_fees["agent"] == agent]
        fees, borrow = float(f["fee_value"].sum()), float(b["value"].sum())
        d.update(initial_equity=float(e.iloc[0]) if len(e) else None, final_equity=float(e.iloc[-1]),
                 fills=int(len(f)), fees=fees, borrow_fees=borrow, costs={"fees": fees, "borrow_fees": borrow,
                                                                          "total": fees + borrow},
                 traded_notional=float(f["notional"].sum()),
                 orders_cancelled=self.raw.cancelled, orders_rejected=self.raw.rejected,
                 exposure_time=float((self.positions(agent) != 0).any(axis=1).mean()),
                 turnover=turnover(f["notional"], e, self.conventions) if len(f) else 0.0,
                 fill_rules=self.raw.rules.describe(), fees_model=repr(self.raw.fees),
                 borrow_model=self.raw.borrow.describe() if self.raw.borrow is not None else "none (shorts pay no "
                                                                                               "borrow fee)")
        for k in ("start", "end", "max_drawdown_peak", "max_drawdown_trough", "max_drawdown_recovery"):
            if d.get(k) is not None:
                d[k] = str(d[k])
        return d
