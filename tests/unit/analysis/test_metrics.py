"""Performance metrics: closed-form cases, conventions, errors, properties and figures on the real ORCL data."""

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

from market_sim.analysis.errors import SeriesError, ZeroVolatilityError
from market_sim.analysis.metrics import (
    Conventions, Fill, alpha_beta, annualised_volatility, average_win_loss, cagr, calmar, downside_deviation,
    drawdown_series, exposure_time, gross_exposure, hit_rate, log_returns, max_drawdown, performance_report,
    performance_table, pnl_to_equity, profit_factor, sharpe, simple_returns, sortino, trade_list, turnover,
    validate_equity)
from market_sim.core.errors import MarketSimError

ORCL = Path(__file__).resolve().parents[3] / "examples" / "data" / "orcl-1995-2014.txt"
YEARLY = Conventions(periods_per_year=1, interval="1y")


def _dates(n, start="2020-01-01"):
    return pd.date_range(start, periods=n, freq="D")


# ---- conventions -----------------------------------------------------------------------------------------------

def test_conventions_per_interval():
    assert Conventions.for_interval("1d").periods_per_year == 252
    assert Conventions.for_interval("5m").periods_per_year == 252 * 6.5 * 12
    assert Conventions.for_interval("1h", trading_days=365, hours_per_day=24).periods_per_year == 8760
    assert Conventions.for_interval("1w").periods_per_year == 52


def test_conventions_reject_bad_values():
    with pytest.raises(MarketSimError, match=r"unknown bar interval '2d'"):
        Conventions.for_interval("2d")
    with pytest.raises(MarketSimError, match=r"ddof must be 0 \(population\) or 1 \(sample\), got 2"):
        Conventions(ddof=2)
    with pytest.raises(MarketSimError, match="periods_per_year must be a positive number, got 0"):
        Conventions(periods_per_year=0)


def test_risk_free_rate_is_annual_effective():
    c = Conventions(periods_per_year=12, risk_free_rate=0.12)
    assert (1 + c.risk_free_per_period) ** 12 == pytest.approx(1.12, rel=1e-14)


# ---- closed forms ----------------------------------------------------------------------------------------------

def test_doubling_every_period_has_exact_cagr_and_zero_volatility():
    equity = [1.0, 2.0, 4.0, 8.0]
    assert list(simple_returns(equity)) == [1.0, 1.0, 1.0]
    assert list(log_returns(equity)) == [math.log(2)] * 3
    assert cagr(equity, YEARLY) == 1.0
    assert annualised_volatility(simple_returns(equity), YEARLY) == 0.0


def test_constant_daily_growth():
    equity = pd.Series(100 * 1.001 ** np.arange(253), index=_dates(253))
    assert cagr(equity) == pytest.approx(1.001 ** 252 - 1, rel=1e-12)
    assert annualised_volatility(simple_returns(equity)) == 0.0


def test_zero_volatility_sharpe_raises_naming_the_series():
    r = pd.Series([0.01] * 10)
    with pytest.raises(ZeroVolatilityError) as err:
        sharpe(r, name="flat strategy")
    assert str(err.value) == "Sharpe ratio of series 'flat strategy' is undefined: its volatility is zero"
    assert err.value.series == "flat strategy"
    assert isinstance(err.value, MarketSimError)


def test_sharpe_and_sortino_closed_form():
    c = Conventions(periods_per_year=4)
    r = [0.01, 0.03]
    assert sharpe(r, c) == pytest.approx(0.02 / math.sqrt(2e-4) * 2, rel=1e-12)        # sample std, ddof=1
    assert sharpe(r, Conventions(periods_per_year=4, ddof=0)) == pytest.approx(0.02 / 0.01 * 2, rel=1e-12)
    r = [0.2, -0.1]   # downside deviation over ALL returns: sqrt((0 + 0.01) / 2)
    assert downside_deviation(r, YEARLY) == pytest.approx(math.sqrt(0.005), rel=1e-12)
    assert sortino(r, YEARLY) == pytest.approx(0.05 / math.sqrt(0.005), rel=1e-12)
    with pytest.raises(ZeroVolatilityError, match="Sortino ratio of series 'returns' is undefined: its downside "
                                                  "deviation is zero"):
        sortino([0.01, 0.02, 0.03])


def test_sharpe_subtracts_the_risk_free_rate_per_period():
    c = Conventions(periods_per_year=1, risk_free_rate=0.02)
    assert sharpe([0.01, 0.03, 0.05], c) == pytest.approx((0.03 - 0.02) / 0.02, rel=1e-12)


def test_known_drawdown_path():
    equity = pd.Series([100, 120, 90, 60, 80, 120, 130], index=_dates(7), dtype=float)
    dd = max_drawdown(equity)
    assert dd.depth == 0.5
    assert (dd.peak, dd.trough, dd.recovery) == (equity.index[1], equity.index[3], equity.index[5])
    assert dd.duration_bars == 4 and dd.duration == pd.Timedelta(days=4) and dd.recovered
    assert drawdown_series(equity).tolist() == [0.0, 0.0, -0.25, -0.5, 80 / 120 - 1, 0.0, 0.0]
    assert calmar(equity, YEARLY) == pytest.approx((1.3 ** (1 / 6) - 1) / 0.5)


def test_drawdown_not_recovered_runs_to_the_end():
    dd = max_drawdown([100.0, 80.0, 90.0])
    assert (dd.depth, dd.peak, dd.trough, dd.recovery, dd.duration_bars, dd.recovered) == \
        (pytest.approx(0.2), 0, 1, None, 2, False)


def test_no_drawdown_and_calmar_error():
    dd = max_drawdown([1.0, 2.0, 3.0])
    assert (dd.depth, dd.duration_bars) == (0.0, 0)
    with pytest.raises(ZeroVolatilityError, match="Calmar ratio of series 'equity' is undefined: its maximum "
                                                  "drawdown is zero"):
        calmar([1.0, 2.0, 3.0])


# ---- bad input -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, message", [
    ([100.0, float("nan"), 101.0], "series 'equity': value at 1 is nan; equity must be finite"),
    ([100.0, float("inf")], "series 'equity': value at 1 is inf; equity must be finite"),
    ([100.0, -5.0, 101.0], "series 'equity': value at 1 is -5.0; equity must be positive"),
    ([100.0, 0.0], "series 'equity': value at 1 is 0.0; equity must be positive"),
    ([100.0], "series 'equity': has 1 points; at least 2 are needed"),
    (["a", "b"], "series 'equity': values are not numbers"),
])
def test_bad_equity_is_rejected_with_a_message(values, message):
    with pytest.raises(SeriesError) as err:
        validate_equity(values)
    assert str(err.value) == message


def test_bad_returns_are_rejected():
    with pytest.raises(SeriesError, match=r"return at 1 is -1.5; a return <= -100 % means non-positive equity"):
        sharpe([0.1, -1.5, 0.2])
    with pytest.raises(SeriesError, match=r"series 'r': has 1 returns; at least 2 are needed"):
        sharpe([0.1], name="r")


# ---- trades, exposure, benchmark -------------------------------------------------------------------------------

def test_trade_statistics():
    pnls = [10.0, -5.0, 0.0, 20.0, -5.0]
    assert hit_rate(pnls) == 0.4
    assert profit_factor(pnls) == 3.0
    assert average_win_loss(pnls) == (15.0, -5.0)
    assert profit_factor([1.0, 2.0]) == math.inf
    with pytest.raises(SeriesError, match="series 'trades': has no trades"):
        hit_rate([])


def test_trade_list_round_trips_holding_time_mae_mfe():
    t = _dates(8)
    prices = pd.DataFrame({"high": [101, 112, 113, 121, 118, 116, 108, 107],
                           "low": [99, 104, 98, 110, 112, 106, 103, 100],
                           "close": [100, 110, 100, 120, 115, 110, 105, 101]}, index=t, dtype=float)
    fills = [Fill(t[0], 10, 100.0, fee=1.0), Fill(t[1], 10, 110.0, fee=1.0), Fill(t[3], -20, 120.0, fee=2.0),
             Fill(t[4], -5, 115.0), Fill(t[6], 5, 105.0)]
    long, short = trade_list(fills, prices)
    assert (long.side, long.quantity, long.entry_price, long.exit_price) == (1, 20, 105.0, 120.0)
    assert (long.pnl, long.fees, long.holding_time) == (300.0 - 4.0, 4.0, pd.Timedelta(days=3))
    assert (long.mae, long.mfe) == (98.0 - 105.0, 121.0 - 105.0)     # lows/highs of t0..t3
    assert (short.side, short.entry_price, short.exit_price, short.pnl) == (-1, 115.0, 105.0, 50.0)
    assert (short.mae, short.mfe) == (-(118.0 - 115.0), 115.0 - 103.0)


def test_trade_list_flip_closes_and_reopens():
    t = _dates(3)
    trades = trade_list([Fill(t[0], 10, 100.0), Fill(t[1], -15, 110.0), Fill(t[2], 5, 100.0)])
    assert [(x.side, x.quantity, x.entry_time, x.exit_time, x.pnl) for x in trades] == [
        (1, 10, t[0], t[1], 100.0), (-1, 5, t[1], t[2], 50.0)]
    assert math.isnan(trades[0].mae)    # no prices: no excursions


def test_turnover_and_exposure():
    equity = pd.Series([100.0] * 5)
    # 100 bought and 100 sold over 4 bars of a 4-bar year: one round trip of the whole equity
    assert turnover([100.0, 0, 0, -100.0, 0], equity, Conventions(periods_per_year=4)) == 1.0
    assert exposure_time([0, 5, 5, 0, -2]) == 0.6
    assert gross_exposure(pd.Series([50.0, -100.0]), pd.Series([100.0, 100.0])).tolist() == [0.5, 1.0]


def test_alpha_beta_recovers_a_linear_relation():
    rng = np.random.default_rng(7)
    b = pd.Series(rng.normal(0, 0.01, 500), index=_dates(500))
    r = 0.0002 + 1.5 * b
    ab = alpha_beta(r, b)
    assert ab.beta == pytest.approx(1.5, rel=1e-12)
    assert ab.alpha == pytest.approx(0.0002 * 252, rel=1e-9)
    assert ab.correlation == pytest.approx(1.0)
    with pytest.raises(ZeroVolatilityError, match="beta against the benchmark of series 'benchmark' is undefined"):
        alpha_beta(r, pd.Series(0.001, index=b.index))


def test_report_prints_its_conventions():
    equity = pd.Series([100, 120, 90, 60, 80, 120, 130], index=_dates(7), dtype=float)
    report = performance_report(equity, Conventions(risk_free_rate=0.01), name="demo")
    text = report.to_text()
    assert "Conventions: bars 1d, annualisation factor 252 periods/year, risk-free 1.0000% p.a. (effective), " \
           "std sample (ddof=1)" in text
    assert "max drawdown      50.00%" in text
    assert report.as_dict()["conventions"] == report.conventions.describe()
    flat = performance_report([1.0, 2.0, 4.0, 8.0], YEARLY)
    assert flat.sharpe is None and flat.notes == (
        "Sharpe ratio of series 'equity' is undefined: its volatility is zero",
        "Sortino ratio of series 'equity' is undefined: its downside deviation is zero",
        "Calmar ratio of series 'equity' is undefined: its maximum drawdown is zero")


# ---- properties ------------------------------------------------------------------------------------------------

@given(st.lists(st.floats(0.01, 1e6), min_size=2, max_size=60), st.floats(1e-3, 1e3))
def test_max_drawdown_is_invariant_to_scaling(values, k):
    assert max_drawdown([v * k for v in values]).depth == pytest.approx(max_drawdown(values).depth, abs=1e-12)


@given(st.lists(st.floats(-0.5, 0.5), min_size=3, max_size=60))
def test_drawdown_depth_is_in_unit_interval(rets):
    equity = np.cumprod([1.0] + [1 + r for r in rets])
    assert 0.0 <= max_drawdown(equity).depth < 1.0


# ---- the real ORCL data against independent computations ---------------------------------------------------------

def _orcl_adj_close_text():
    with ORCL.open(newline="") as fh:
        return {row["Date"]: float(row["Adj Close"]) for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def orcl():
    df = pd.read_csv(ORCL, index_col="Date", parse_dates=True)
    return df["Adj Close"]


def test_orcl_returns_on_a_few_dates(orcl):
    text = _orcl_adj_close_text()
    r = simple_returns(orcl)
    for prev, day in (("2008-09-26", "2008-09-29"), ("2000-12-29", "2001-01-02"), ("2014-12-30", "2014-12-31")):
        assert r[day] == pytest.approx(text[day] / text[prev] - 1, rel=1e-12)


def test_orcl_headline_figures(orcl):
    r = orcl.pct_change().dropna()
    assert annualised_volatility(simple_returns(orcl)) == pytest.approx(r.std() * math.sqrt(252), rel=1e-12)
    assert sharpe(simple_returns(orcl)) == pytest.approx(r.mean() / r.std() * math.sqrt(252), rel=1e-12)
    assert cagr(orcl) == pytest.approx((orcl.iloc[-1] / orcl.iloc[0]) ** (252 / (len(orcl) - 1)) - 1, rel=1e-12)
    dd = max_drawdown(orcl)
    pandas_dd = orcl / orcl.cummax() - 1
    assert dd.depth == pytest.approx(-pandas_dd.min(), rel=1e-12)
    assert dd.trough == pandas_dd.idxmin() == pd.Timestamp("2002-06-03")
    assert dd.peak == orcl[:dd.trough].idxmax() == pd.Timestamp("2000-09-01")
    assert dd.recovery == orcl[dd.trough:][orcl[dd.trough:] >= orcl[dd.peak]].index[0]
    assert dd.duration_bars == len(orcl[dd.peak:dd.recovery]) - 1


def test_per_agent_table_from_pnl_series():
    pnl = pd.DataFrame({"maker": [0.0, 10.0, -20.0, 30.0], "taker": [0.0, -5.0, -10.0, -15.0]}, index=_dates(4))
    equities = pd.DataFrame({c: pnl_to_equity(pnl[c], 100.0, c) for c in pnl})
    table = performance_table(equities)
    assert table.index.tolist() == ["maker", "taker"]
    assert table.loc["maker", "total_return"] == pytest.approx(0.3)
    assert table.loc["taker", "max_drawdown"] == pytest.approx(0.15)
    assert table.loc["taker", "sharpe"] < 0 and "ddof=1" in table.loc["maker", "conventions"]
    with pytest.raises(SeriesError, match="series 'x': value at 1 is -10.0; equity must be positive"):
        pnl_to_equity([0.0, -110.0], 100.0, "x")


def test_trade_list_from_a_frame_and_an_open_position_marked_to_market():
    t = _dates(4)
    closes = pd.Series([100.0, 104.0, 96.0, 102.0], index=t)
    fills = pd.DataFrame({"time": [t[0], t[1]], "quantity": [10.0, -4.0], "price": [100.0, 104.0]})
    assert trade_list(fills, closes) == []           # still 6 long at the end
    (open_trade,) = trade_list(fills, closes, mark_open=True)
    assert (open_trade.open, open_trade.exit_time, open_trade.exit_price) == (True, t[3], (4 * 104 + 6 * 102) / 10)
    assert open_trade.pnl == 4 * 4.0 + 6 * 2.0
    assert (open_trade.mae, open_trade.mfe) == (-4.0, 4.0)
    with pytest.raises(SeriesError, match="series 'fills': fill 1 at .* is earlier than the fill before it"):
        trade_list([Fill(t[1], 1, 100.0), Fill(t[0], -1, 100.0)])


def test_cagr_of_a_few_intraday_bars_overflows_to_inf():
    assert cagr([1.0, 2.0, 4.0], Conventions.for_interval("5m")) == math.inf
