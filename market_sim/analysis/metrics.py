"""Performance metrics on an equity curve, its returns and a trade list (floats: this is analytics, not accounting).

Conventions (carried by a frozen `Conventions` value and printed by every report, see docs/analytics.md):

- Returns are per bar: simple r_t = E_t / E_{t-1} - 1, log l_t = ln(E_t / E_{t-1}).
- `periods_per_year` annualises: 252 for daily equity bars, 52 weekly, 12 monthly; intraday bars use
  trading_days * hours_per_day * 60 / bar_minutes (`Conventions.for_interval`).
- CAGR = (E_end / E_0) ** (periods_per_year / n) - 1 with n = number of returns (bars, not calendar days).
- Volatility = std(r, ddof) * sqrt(periods_per_year); ddof=1 (sample) by default, 0 for population.
- The risk-free rate is an annual effective rate; per bar rf = (1 + rf_annual) ** (1 / periods_per_year) - 1.
- Sharpe = mean(r - rf) / std(r - rf, ddof) * sqrt(periods_per_year).
- Sortino = mean(r - T) / DD * sqrt(periods_per_year), target T = rf per bar, downside deviation
  DD = sqrt(sum(min(r - T, 0)^2) / N) over ALL N returns (Sortino & Price target semideviation; ddof not applied).
- Calmar = CAGR / maximum drawdown (over the whole series).
- Alpha/beta: OLS of the strategy's excess returns on the benchmark's excess returns on common dates;
  alpha is annualised arithmetically (alpha_per_bar * periods_per_year).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from market_sim.analysis.errors import AnalyticsError, SeriesError, ZeroVolatilityError

__all__ = [
    "Conventions", "Drawdown", "Fill", "Trade", "PerformanceReport",
    "validate_equity", "validate_returns", "simple_returns", "log_returns", "cagr", "annualised_volatility",
    "sharpe", "downside_deviation", "sortino", "calmar", "AlphaBeta", "drawdown_series", "max_drawdown",
    "hit_rate", "profit_factor",
    "average_win_loss", "turnover", "exposure_time", "gross_exposure", "alpha_beta", "trade_list",
    "performance_report", "pnl_to_equity", "performance_table",
]

_ZERO = 1e-12  # a standard deviation at most this (relative to 1 and |mean|) counts as zero: float noise of a
#                constant series, e.g. the returns of 100 * 1.01 ** t

_BAR_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240}
_BAR_PER_YEAR = {"1w": 52, "1mo": 12, "1q": 4, "1y": 1}


@dataclass(frozen=True, slots=True)
class Conventions:
    """How every metric here is annualised and which deviation it uses; printed by every report."""

    periods_per_year: float = 252.0
    risk_free_rate: float = 0.0     # annual effective rate
    ddof: int = 1                   # 1: sample std, 0: population std
    interval: str = "1d"            # the bar interval the factor was chosen for (informational)

    def __post_init__(self) -> None:
        if not (isinstance(self.periods_per_year, (int, float)) and math.isfinite(self.periods_per_year)
                and self.periods_per_year > 0):
            raise AnalyticsError(f"Conventions.periods_per_year must be a positive number, got "
                                 f"{self.periods_per_year!r}")
        if not (isinstance(self.risk_free_rate, (int, float)) and math.isfinite(self.risk_free_rate)
                and self.risk_free_rate > -1):
            raise AnalyticsError(f"Conventions.risk_free_rate must be a finite annual rate > -1, got "
                                 f"{self.risk_free_rate!r}")
        if self.ddof not in (0, 1):
            raise AnalyticsError(f"Conventions.ddof must be 0 (population) or 1 (sample), got {self.ddof!r}")

    @classmethod
    def for_interval(cls, interval: str, *, risk_free_rate: float = 0.0, ddof: int = 1,
                     trading_days: float = 252, hours_per_day: float = 6.5) -> Conventions:
        """Conventions for bars of `interval` ("1d", "1h", "5m", "1w", ...). Crypto (24/7): trading_days=365,
        hours_per_day=24."""
        if interval == "1d":
            ppy = float(trading_days)
        elif interval in _BAR_PER_YEAR:
            ppy = float(_BAR_PER_YEAR[interval])
        elif interval in _BAR_MINUTES:
            ppy = trading_days * hours_per_day * 60 / _BAR_MINUTES[interval]
        else:
            known = ", ".join([*_BAR_MINUTES, "1d", *_BAR_PER_YEAR])
            raise AnalyticsError(f"unknown bar interval {interval!r}; known: {known}")
        return cls(periods_per_year=ppy, risk_free_rate=risk_free_rate, ddof=ddof, interval=interval)

    @property
    def risk_free_per_period(self) -> float:
        return (1.0 + self.risk_free_rate) ** (1.0 / self.periods_per_year) - 1.0

    def describe(self) -> str:
        std = "sample (ddof=1)" if self.ddof == 1 else "population (ddof=0)"
        return (f"bars {self.interval}, annualisation factor {self.periods_per_year:g} periods/year, "
                f"risk-free {self.risk_free_rate:.4%} p.a. (effective), std {std}, "
                "Sortino downside deviation over all returns below the risk-free target, "
                "CAGR over bars, alpha annualised arithmetically")


DEFAULT = Conventions()


# ---- validation ------------------------------------------------------------------------------------------------

def _as_series(values: Any, name: str) -> pd.Series:
    if isinstance(values, pd.DataFrame):
        raise SeriesError(name, "expected one series, got a DataFrame")
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    try:
        s = s.astype("float64")
    except (TypeError, ValueError):
        raise SeriesError(name, "values are not numbers") from None
    return s


def _label(s: pd.Series, pos: int) -> Any:
    return s.index[pos]


def validate_equity(equity: Any, name: str = "equity", min_length: int = 2) -> pd.Series:
    """The equity curve as a float Series; rejects NaN/inf, zero or negative values and fewer than `min_length`."""
    s = _as_series(equity, name)
    bad = ~np.isfinite(s.to_numpy())
    if bad.any():
        pos = int(np.argmax(bad))
        raise SeriesError(name, f"value at {_label(s, pos)} is {float(s.iloc[pos])!r}; equity must be finite")
    nonpos = s.to_numpy() <= 0
    if nonpos.any():
        pos = int(np.argmax(nonpos))
        raise SeriesError(name, f"value at {_label(s, pos)} is {float(s.iloc[pos])!r}; equity must be positive")
    if len(s) < min_length:
        raise SeriesError(name, f"has {len(s)} points; at least {min_length} are needed")
    return s


def validate_returns(returns: Any, name: str = "returns", min_length: int = 2) -> pd.Series:
    """Per-bar simple returns as a float Series; rejects NaN/inf, returns <= -100 % and too short series."""
    s = _as_series(returns, name)
    bad = ~np.isfinite(s.to_numpy())
    if bad.any():
        pos = int(np.argmax(bad))
        raise SeriesError(name, f"return at {_label(s, pos)} is {float(s.iloc[pos])!r}; returns must be finite")
    ruin = s.to_numpy() <= -1
    if ruin.any():
        pos = int(np.argmax(ruin))
        raise SeriesError(name, f"return at {_label(s, pos)} is {float(s.iloc[pos])!r}; a return <= -100 % "
                                "means non-positive equity")
    if len(s) < min_length:
        raise SeriesError(name, f"has {len(s)} returns; at least {min_length} are needed")
    return s


# ---- returns and their statistics ------------------------------------------------------------------------------

def simple_returns(equity: Any, name: str = "equity") -> pd.Series:
    s = validate_equity(equity, name)
    return (s / s.shift(1) - 1.0).iloc[1:].rename(name)


def log_returns(equity: Any, name: str = "equity") -> pd.Series:
    s = validate_equity(equity, name)
    return np.log(s / s.shift(1)).iloc[1:].rename(name)


def cagr(equity: Any, conventions: Conventions = DEFAULT, name: str = "equity") -> float:
    """Compound annual growth rate over the bars of the curve: (E_end/E_0) ** (periods_per_year / n) - 1."""
    s = validate_equity(equity, name)
    n = len(s) - 1
    try:
        return float(s.iloc[-1] / s.iloc[0]) ** (conventions.periods_per_year / n) - 1.0
    except OverflowError:  # a few intraday bars of growth, annualised
        return math.inf


def _std(r: pd.Series, ddof: int, name: str) -> float:
    if len(r) <= ddof:
        raise SeriesError(name, f"has {len(r)} returns; at least {ddof + 1} are needed for a std with ddof={ddof}")
    return float(np.std(r.to_numpy(), ddof=ddof))


def _is_zero(std: float, mean: float) -> bool:
    return std <= _ZERO * max(1.0, abs(mean))


def annualised_volatility(returns: Any, conventions: Conventions = DEFAULT, name: str = "returns") -> float:
    r = validate_returns(returns, name)
    sd = _std(r, conventions.ddof, name)
    return 0.0 if _is_zero(sd, float(r.mean())) else sd * math.sqrt(conventions.periods_per_year)


def sharpe(returns: Any, conventions: Conventions = DEFAULT, name: str = "returns") -> float:
    """Annualised Sharpe ratio; raises ZeroVolatilityError for a constant series."""
    r = validate_returns(returns, name)
    ex = r - conventions.risk_free_per_period
    mean, sd = float(ex.mean()), _std(ex, conventions.ddof, name)
    if _is_zero(sd, mean):
        raise ZeroVolatilityError(name, "Sharpe ratio")
    return mean / sd * math.sqrt(conventions.periods_per_year)


def downside_deviation(returns: Any, conventions: Conventions = DEFAULT, name: str = "returns") -> float:
    """Per-bar target semideviation: sqrt(sum(min(r - rf, 0)^2) / N) over all N returns."""
    r = validate_returns(returns, name)
    below = np.minimum(r.to_numpy() - conventions.risk_free_per_period, 0.0)
    return float(math.sqrt(float(np.mean(below * below))))


def sortino(returns: Any, conventions: Conventions = DEFAULT, name: str = "returns") -> float:
    """Annualised Sortino ratio (target = risk-free per bar); raises ZeroVolatilityError without downside."""
    r = validate_returns(returns, name)
    dd = downside_deviation(r, conventions, name)
    mean = float((r - conventions.risk_free_per_period).mean())
    if _is_zero(dd, mean):
        raise ZeroVolatilityError(name, "Sortino ratio", "downside deviation")
    return mean / dd * math.sqrt(conventions.periods_per_year)


# ---- drawdowns -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest peak-to-trough fall of an equity curve.

    `depth` is a positive fraction (0.25 = a 25 % fall). `peak`, `trough`, `recovery` are index labels (dates for a
    dated curve); `recovery` is the first label at or above the peak's value after the trough, None if never.
    `duration_bars` counts bars from peak to recovery (to the last bar if not recovered); `duration` is the same
    span as an index difference (a Timedelta for dated curves). depth 0 means the curve never fell.
    """

    depth: float
    peak: Any
    trough: Any
    recovery: Any
    duration_bars: int
    duration: Any
    recovered: bool


def drawdown_series(equity: Any, name: str = "equity") -> pd.Series:
    """Drawdown at each bar as a non-positive fraction: E_t / max(E_0..E_t) - 1."""
    s = validate_equity(equity, name, min_length=1)
    return (s / s.cummax() - 1.0).rename(name)


def max_drawdown(equity: Any, name: str = "equity") -> Drawdown:
    s = validate_equity(equity, name)
    values = s.to_numpy()
    running = np.maximum.accumulate(values)
    dd = values / running - 1.0
    trough = int(np.argmin(dd))
    if dd[trough] == 0.0:
        return Drawdown(0.0, s.index[0], s.index[0], s.index[0], 0, s.index[0] - s.index[0]
                        if _subtractable(s.index) else 0, True)
    peak = int(np.flatnonzero(values[: trough + 1] == running[trough])[0])
    after = np.flatnonzero(values[trough:] >= running[trough])
    recovered = after.size > 0
    end = trough + int(after[0]) if recovered else len(values) - 1
    span = s.index[end] - s.index[peak] if _subtractable(s.index) else end - peak
    return Drawdown(float(-dd[trough]), s.index[peak], s.index[trough], s.index[end] if recovered else None,
                    end - peak, span, recovered)


def _subtractable(index: pd.Index) -> bool:
    return isinstance(index, (pd.DatetimeIndex, pd.RangeIndex)) or pd.api.types.is_numeric_dtype(index)


def calmar(equity: Any, conventions: Conventions = DEFAULT, name: str = "equity") -> float:
    dd = max_drawdown(equity, name)
    if dd.depth == 0.0:
        raise ZeroVolatilityError(name, "Calmar ratio", "maximum drawdown")
    return cagr(equity, conventions, name) / dd.depth


# ---- trade statistics ------------------------------------------------------------------------------------------

def _pnls(trades_or_pnls: Iterable[Any], name: str) -> np.ndarray:
    values = [t.pnl if isinstance(t, Trade) else t for t in trades_or_pnls]
    arr = np.asarray(values, dtype="float64")
    if arr.size == 0:
        raise SeriesError(name, "has no trades")
    if not np.isfinite(arr).all():
        raise SeriesError(name, "trade PnL must be finite")
    return arr


def hit_rate(trades: Iterable[Any], name: str = "trades") -> float:
    """Winning trades / all trades (a trade with PnL exactly 0 is not a win)."""
    p = _pnls(trades, name)
    return float(np.count_nonzero(p > 0) / p.size)


def profit_factor(trades: Iterable[Any], name: str = "trades") -> float:
    """Gross profit / gross loss; inf if there is no losing trade (and 0 without winners)."""
    p = _pnls(trades, name)
    gains, losses = float(p[p > 0].sum()), float(-p[p < 0].sum())
    if losses == 0.0:
        return math.inf if gains > 0 else 0.0
    return gains / losses


def average_win_loss(trades: Iterable[Any], name: str = "trades") -> tuple[float, float]:
    """(mean PnL of winners, mean PnL of losers, a negative number); 0.0 for a side without trades."""
    p = _pnls(trades, name)
    w, lo = p[p > 0], p[p < 0]
    return (float(w.mean()) if w.size else 0.0, float(lo.mean()) if lo.size else 0.0)


def turnover(traded_notional: Any, equity: Any, conventions: Conventions = DEFAULT,
             name: str = "equity") -> float:
    """Annualised one-way turnover: sum(|traded notional|) / 2 / mean(equity) * periods_per_year / bars.

    `traded_notional` is the traded value per bar (or per fill, summed); both sides of a round trip count once.
    """
    e = validate_equity(equity, name)
    t = _as_series(traded_notional, "traded_notional")
    if not np.isfinite(t.to_numpy()).all():
        raise SeriesError("traded_notional", "values must be finite")
    bars = len(e) - 1
    return float(t.abs().sum() / 2.0 / e.mean() * conventions.periods_per_year / bars)


def exposure_time(positions: Any, name: str = "positions") -> float:
    """Fraction of bars with a non-zero position."""
    p = _as_series(positions, name)
    if len(p) == 0:
        raise SeriesError(name, "is empty")
    return float(np.count_nonzero(p.to_numpy() != 0) / len(p))


def gross_exposure(position_values: Any, equity: Any, name: str = "equity") -> pd.Series:
    """|position value| / equity per bar (a DataFrame of several instruments is summed by absolute value)."""
    e = validate_equity(equity, name, min_length=1)
    v = position_values.abs().sum(axis=1) if isinstance(position_values, pd.DataFrame) else \
        _as_series(position_values, "position_values").abs()
    return (v / e).rename("gross_exposure")


@dataclass(frozen=True, slots=True)
class AlphaBeta:
    alpha: float            # annualised, arithmetic
    beta: float
    alpha_per_period: float
    correlation: float
    observations: int


def alpha_beta(returns: Any, benchmark: Any, conventions: Conventions = DEFAULT, name: str = "returns",
               benchmark_name: str = "benchmark") -> AlphaBeta:
    """OLS regression of excess returns on the benchmark's excess returns over their common index."""
    r = validate_returns(returns, name)
    b = validate_returns(benchmark, benchmark_name)
    r, b = r.align(b, join="inner")
    if len(r) < 3:
        raise SeriesError(name, f"shares {len(r)} dates with {benchmark_name!r}; at least 3 are needed")
    rf = conventions.risk_free_per_period
    x, y = b.to_numpy() - rf, r.to_numpy() - rf
    vx = float(np.var(x, ddof=conventions.ddof))
    if _is_zero(math.sqrt(vx), float(x.mean())):
        raise ZeroVolatilityError(benchmark_name, "beta against the benchmark", "variance")
    cov = float(np.cov(x, y, ddof=conventions.ddof)[0, 1])
    beta = cov / vx
    a = float(y.mean() - beta * x.mean())
    vy = float(np.var(y, ddof=conventions.ddof))
    corr = cov / math.sqrt(vx * vy) if vy > 0 else 0.0
    return AlphaBeta(a * conventions.periods_per_year, beta, a, corr, len(r))


# ---- trade list ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Fill:
    """One execution for the trade list: signed quantity (+ buy, - sell), price, fee paid (>= 0)."""

    time: Any
    quantity: float
    price: float
    fee: float = 0.0


@dataclass(frozen=True, slots=True)
class Trade:
    """A round trip: from a flat position to flat again (a fill that flips the side closes one and opens another).

    `entry_price`/`exit_price` are quantity-weighted averages; `quantity` the largest absolute position held;
    `pnl` is realised PnL net of fees; `mae`/`mfe` (maximum adverse / favourable excursion) are the worst and best
    unrealised PnL per unit of the position against the average entry price over the bars of the holding period
    (lows/highs when the price data has them); `mae` <= 0 <= `mfe` unless the trade had no bar in between.
    """

    side: int                 # +1 long, -1 short
    entry_time: Any
    exit_time: Any
    quantity: float
    entry_price: float
    exit_price: float
    pnl: float
    fees: float
    holding_time: Any
    mae: float
    mfe: float
    open: bool = False


def trade_list(fills: Iterable[Fill] | pd.DataFrame, prices: pd.Series | pd.DataFrame | None = None,
               *, mark_open: bool = False) -> list[Trade]:
    """Round trips from fills in time order. `prices`: a close Series or a DataFrame with close (and high/low)
    indexed by time, for MAE/MFE. An open position at the end is returned only with mark_open=True, marked to the
    last price."""
    if isinstance(fills, pd.DataFrame):
        fills = [Fill(r.time, float(r.quantity), float(r.price), float(getattr(r, "fee", 0.0)))
                 for r in fills.itertuples(index=False)]
    fills = list(fills)
    for i, f in enumerate(fills):
        if not (math.isfinite(f.quantity) and math.isfinite(f.price) and f.price > 0 and math.isfinite(f.fee)):
            raise SeriesError("fills", f"fill {i} at {f.time!r} has a non-finite or non-positive number")
        if i and f.time < fills[i - 1].time:
            raise SeriesError("fills", f"fill {i} at {f.time!r} is earlier than the fill before it")
    trades: list[Trade] = []
    pos = 0.0
    cur: dict[str, Any] = {}

    def open_(f: Fill, q: float, fee: float) -> None:
        cur.clear()
        cur.update(side=1 if q > 0 else -1, entry_time=f.time, cost=abs(q) * f.price, entry_qty=abs(q),
                   exit_value=0.0, exit_qty=0.0, fees=fee, max_qty=abs(q))

    def close_(t: Any, mark: bool = False) -> None:
        entry = cur["cost"] / cur["entry_qty"]
        exit_ = cur["exit_value"] / cur["exit_qty"] if cur["exit_qty"] else entry
        gross = cur["side"] * (cur["exit_value"] - cur["exit_qty"] * entry)
        mae, mfe = _excursions(prices, cur["entry_time"], t, entry, cur["side"])
        trades.append(Trade(cur["side"], cur["entry_time"], t, cur["max_qty"], entry, exit_, gross - cur["fees"],
                            cur["fees"], t - cur["entry_time"], mae, mfe, mark))

    for f in fills:
        q = f.quantity
        if q == 0:
            continue
        if pos == 0:
            open_(f, q, f.fee)
            pos = q
            continue
        if (pos > 0) == (q > 0):  # adding
            cur["cost"] += abs(q) * f.price
            cur["entry_qty"] += abs(q)
            cur["fees"] += f.fee
            pos += q
            cur["max_qty"] = max(cur["max_qty"], abs(pos))
            continue
        closing = min(abs(q), abs(pos))
        share = closing / abs(q)
        cur["exit_value"] += closing * f.price
        cur["exit_qty"] += closing
        cur["fees"] += f.fee * share
        pos += q
        if abs(pos) < 1e-12 * max(1.0, abs(q)):
            pos = 0.0
        if pos == 0 or (pos > 0) != (cur["side"] > 0):
            close_(f.time)
            if pos != 0:
                open_(f, pos, f.fee * (1 - share))
    if pos != 0 and mark_open:
        if prices is None:
            raise AnalyticsError("marking an open trade needs prices")
        close_series = prices["close"] if isinstance(prices, pd.DataFrame) else prices
        last = float(close_series.iloc[-1])
        cur["exit_value"] += abs(pos) * last
        cur["exit_qty"] += abs(pos)
        close_(close_series.index[-1], mark=True)
    return trades


def _excursions(prices: pd.Series | pd.DataFrame | None, start: Any, end: Any, entry: float,
                side: int) -> tuple[float, float]:
    if prices is None:
        return (math.nan, math.nan)
    window = prices.loc[start:end]
    if isinstance(window, pd.DataFrame):
        lo = window["low"] if "low" in window else window["close"]
        hi = window["high"] if "high" in window else window["close"]
    else:
        lo = hi = window
    if len(window) == 0:
        return (0.0, 0.0)
    worst = float(lo.min()) if side > 0 else float(hi.max())
    best = float(hi.max()) if side > 0 else float(lo.min())
    return (min(0.0, side * (worst - entry)), max(0.0, side * (best - entry)))


# ---- report ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PerformanceReport:
    """All headline metrics of one equity curve, with the conventions they were computed under."""

    conventions: Conventions
    name: str
    start: Any
    end: Any
    bars: int
    total_return: float
    cagr: float
    volatility: float
    sharpe: float | None          # None when undefined (zero volatility); `notes` says why
    sortino: float | None
    calmar: float | None
    max_drawdown: Drawdown
    alpha_beta: AlphaBeta | None = None
    trades: int | None = None
    hit_rate: float | None = None
    profit_factor: float | None = None
    average_win: float | None = None
    average_loss: float | None = None
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("name", "start", "end", "bars", "total_return", "cagr", "volatility",
                                           "sharpe", "sortino", "calmar", "trades", "hit_rate", "profit_factor",
                                           "average_win", "average_loss")}
        d["max_drawdown"] = self.max_drawdown.depth
        d["max_drawdown_peak"] = self.max_drawdown.peak
        d["max_drawdown_trough"] = self.max_drawdown.trough
        d["max_drawdown_recovery"] = self.max_drawdown.recovery
        d["max_drawdown_bars"] = self.max_drawdown.duration_bars
        if self.alpha_beta is not None:
            d["alpha"], d["beta"] = self.alpha_beta.alpha, self.alpha_beta.beta
        d["conventions"] = self.conventions.describe()
        return d

    def to_text(self) -> str:
        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.2%}"

        def num(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.3f}"

        dd = self.max_drawdown
        lines = [f"Performance of {self.name}: {self.start} .. {self.end} ({self.bars} bars)",
                 f"  total return      {pct(self.total_return)}",
                 f"  CAGR              {pct(self.cagr)}",
                 f"  volatility (ann.) {pct(self.volatility)}",
                 f"  Sharpe            {num(self.sharpe)}",
                 f"  Sortino           {num(self.sortino)}",
                 f"  Calmar            {num(self.calmar)}",
                 f"  max drawdown      {pct(dd.depth)}  peak {dd.peak}  trough {dd.trough}  "
                 f"recovery {dd.recovery if dd.recovered else 'not recovered'}  ({dd.duration_bars} bars)"]
        if self.alpha_beta is not None:
            lines.append(f"  alpha (ann.)      {pct(self.alpha_beta.alpha)}   beta {self.alpha_beta.beta:.3f}")
        if self.trades is not None:
            lines += [f"  trades            {self.trades}",
                      f"  hit rate          {pct(self.hit_rate)}",
                      f"  profit factor     {num(self.profit_factor)}",
                      f"  avg win / loss    {num(self.average_win)} / {num(self.average_loss)}"]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"Conventions: {self.conventions.describe()}")
        return "\n".join(lines)


def performance_report(equity: Any, conventions: Conventions = DEFAULT, *, name: str = "equity",
                       benchmark: Any = None, trades: Sequence[Trade] | None = None) -> PerformanceReport:
    """Every headline metric of `equity` (and against `benchmark` returns, and of `trades` if given)."""
    e = validate_equity(equity, name, min_length=3)
    r = simple_returns(e, name)
    notes: list[str] = []

    def maybe(fn: Any, *args: Any) -> float | None:
        try:
            return fn(*args)
        except ZeroVolatilityError as exc:
            notes.append(str(exc))
            return None

    ab = alpha_beta(r, benchmark, conventions, name) if benchmark is not None else None
    kw: dict[str, Any] = {}
    if trades is not None:
        kw["trades"] = len(trades)
        if trades:
            kw["hit_rate"] = hit_rate(trades)
            kw["profit_factor"] = profit_factor(trades)
            kw["average_win"], kw["average_loss"] = average_win_loss(trades)
    return PerformanceReport(conventions, name, e.index[0], e.index[-1], len(e) - 1,
                             float(e.iloc[-1] / e.iloc[0] - 1.0), cagr(e, conventions, name),
                             annualised_volatility(r, conventions, name), maybe(sharpe, r, conventions, name),
                             maybe(sortino, r, conventions, name), maybe(calmar, e, conventions, name),
                             max_drawdown(e, name), ab, notes=tuple(notes), **kw)


def pnl_to_equity(pnl: Any, initial_capital: float, name: str = "pnl") -> pd.Series:
    """An equity curve from a cumulative PnL series (e.g. one simulation agent's): initial_capital + pnl."""
    if not (isinstance(initial_capital, (int, float)) and math.isfinite(initial_capital) and initial_capital > 0):
        raise AnalyticsError(f"initial_capital must be a positive number, got {initial_capital!r}")
    return validate_equity(_as_series(pnl, name) + float(initial_capital), name, min_length=1)


def performance_table(equities: pd.DataFrame, conventions: Conventions = DEFAULT) -> pd.DataFrame:
    """One row of headline metrics per column of `equities` (e.g. each agent of a simulation run), with the
    conventions in every row."""
    rows = [performance_report(equities[c].dropna(), conventions, name=str(c)).as_dict() for c in equities.columns]
    return pd.DataFrame(rows).set_index("name")
