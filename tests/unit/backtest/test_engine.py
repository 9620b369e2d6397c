"""The bar backtest end to end: SMA crossover on the daily ORCL data checked by hand, the same agent class in a
simulation, equity against the exact accounts, multi-asset portfolios, grids and walk-forward splits."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings, strategies as st

from market_sim.backtest import BacktestResult, BarBacktest, BarSeries, FillRules, load_bars, synthetic_bars
from market_sim.backtest.engine import cash_units
from market_sim.backtest.grid import param_grid, run_grid, slice_bars, walk_forward
from market_sim.backtest.sizing import fraction_of_equity, risk_per_trade, volatility_target
from market_sim.core.errors import ConfigError
from market_sim.core.instruments import Instrument
from market_sim.core.orders import OrderType, Side
from market_sim.simulation.agents import agent_types
from market_sim.simulation.agents.base import Agent
from market_sim.simulation.agents.sma_crossover import SmaCrossover, SmaCrossoverParams, sma_states

ROOT = Path(__file__).resolve().parents[3]
ORCL_FILE = ROOT / "examples" / "data" / "orcl-1995-2014.txt"
ORCL = Instrument("ORCL", tick_size="0.000001", lot_size="1", base_decimals=0, quote_decimals=6)


@pytest.fixture(scope="module")
def orcl() -> BarSeries:
    return load_bars(ORCL_FILE, ORCL)


def sma_run(series, precompute=True, **params):
    agent = SmaCrossover("sma", SmaCrossoverParams(**params))
    raw = BarBacktest(series, agent, cash={"USD": cash_units(100_000, 6)}, precompute=precompute).run()
    return BacktestResult(raw)


def test_sma_crossover_on_orcl_trades_checked_by_hand(orcl):
    res = sma_run(orcl, fast=20, slow=50, quantity=100)
    f = res.fills
    assert len(f) == 107
    first = f.iloc[0]
    # 1995-03-14 close: SMA20 = 2.340741 > SMA50 = 2.218704 (the first day with 50 closes and a crossover state);
    # the market buy fills at the next open, 1995-03-15 open 2.481482 (file line 52).
    assert (str(first.time.date()), first.side, first.quantity, first.price_ticks) == ("1995-03-15", 1, 100, 2_481_482)
    # 1995-04-19 close: SMA20 2.332176 < SMA50 2.334722 -> sell at 1995-04-20 open 2.259259 (line 77)
    second = f.iloc[1]
    assert (str(second.time.date()), second.side, second.price_ticks) == ("1995-04-20", -1, 2_259_259)
    # the last entry: 2014-11-17 close SMA20 39.355 > SMA50 39.2634 -> buy at 2014-11-18 open 41.189999 (line 5008)
    last = f.iloc[-1]
    assert (str(last.time.date()), last.side, last.price_ticks) == ("2014-11-18", 1, 41_189_999)
    # round trip 1 PnL: 100 * (2.259259 - 2.481482), exactly, in USD micro-units
    assert res.raw.accounts["sma"].positions["ORCL"].fills == 107
    trades = res.trades_frame()
    assert trades.iloc[0].pnl == pytest.approx(100 * (2.259259 - 2.481482), abs=1e-9)
    assert str(trades.iloc[0].entry_time.date()) == "1995-03-15" and trades.iloc[0].holding_days == 36
    assert trades.iloc[0].mae <= 0 <= trades.iloc[0].mfe
    assert bool(trades.iloc[-1].open)  # still long at the end, marked to the last close
    res.check_accounts()


def test_signals_match_an_independent_pandas_rolling_mean(orcl):
    closes = pd.Series(orcl.close / 1e6)
    fast, slow = closes.rolling(20).mean(), closes.rolling(50).mean()
    expected = np.sign(fast - slow).fillna(0).to_numpy()
    got = sma_states(orcl.close, 20, 50)
    differ = np.flatnonzero(expected != got)
    # floats may disagree only where the two averages are equal to the last digits
    assert all(abs(fast[i] - slow[i]) < 1e-9 for i in differ)


def test_precomputed_and_rolling_paths_give_the_same_trades(orcl):
    a = sma_run(orcl, precompute=True, fast=10, slow=30, quantity=10, allow_short=True)
    b = sma_run(orcl, precompute=False, fast=10, slow=30, quantity=10, allow_short=True)
    assert a.raw.fills == b.raw.fills and len(a.raw.fills) > 100


def test_the_same_class_runs_unchanged_in_a_simulation():
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import parse_scenario

    assert agent_types()["sma_crossover"] is SmaCrossover
    raw = {
        "scenario": {"name": "sma-sim", "seed": 5, "duration": "90s"},
        "instruments": [{"symbol": "XYZ", "tick_size": "0.01", "initial_price": 100.0}],
        "processes": {"XYZ": {"kind": "gbm", "s0": 100.0, "sigma": 2.0, "dt": "1s"}},
        "venues": [{"name": "exchange", "kind": "orderbook"}],
        "latency": {"default": "fixed:1ms"},
        "agents": [{"type": "market_maker", "count": 2, "half_spread_ticks": 2, "quantity": 20, "levels": 3,
                    "interval": "1s"},
                   {"type": "fundamental", "count": 4, "interval": "1s", "threshold_ticks": 1},
                   {"type": "sma_crossover", "count": 1, "fast": 3, "slow": 8, "quantity": 5, "allow_short": True,
                    "interval": "1s"}],
        "output": {"plots": False},
    }
    sim = Simulation(parse_scenario(copy.deepcopy(raw))).build()
    sim.run()
    sma = [a for a in sim.agents if isinstance(a, SmaCrossover)]
    assert len(sma) == 1 and sma[0].fills > 0
    assert abs(sma[0].position("XYZ")) <= 5 + 5   # target +-5; an order in flight at most one more
    # and the very same class in a bar backtest
    series = synthetic_bars(500, Instrument("XYZ", tick_size="0.01", quote_decimals=2, base_decimals=0), seed=2)
    res = sma_run(series, fast=3, slow=8, quantity=5, allow_short=True)
    assert len(res.fills) > 10 and set(res.positions()["XYZ"].unique()) <= {-5, 0, 5}


class RandomOrders(Agent):
    kind = "random-orders-test"

    def __init__(self, plan):
        super().__init__("r")
        self.plan = plan

    def on_start(self):
        self.wake_up_in(0)

    def on_wakeup(self):
        step = self.plan.get(self._sim.bar_index)
        if step:
            sym, side, qty, kind, off = step
            ref = self.reference_ticks(sym)
            if kind == "market":
                self.submit(sym, side, qty, order_type=OrderType.MARKET)
            else:
                self.submit(sym, side, qty, max(1, ref + off))
        self.wake_up_in(1)


@settings(max_examples=30)
@given(st.integers(0, 10_000), st.dictionaries(
    st.integers(0, 60), st.tuples(st.sampled_from(["AAA", "BBB"]), st.sampled_from([Side.BUY, Side.SELL]),
                                  st.integers(1, 50), st.sampled_from(["market", "limit"]), st.integers(-30, 30)),
    max_size=25), st.sampled_from([None, 0.05, 1.0]))
def test_equity_curve_matches_the_exact_accounts(seed, plan, cap):
    """Any orders on two instruments with gaps in one series: the vectorised equity ends where the integer account
    state marked at the last closes ends; cash and positions are conserved fill by fill."""
    a = synthetic_bars(64, Instrument("AAA", quote_decimals=2, base_decimals=0), seed=seed, step_ns=10**9)
    b = synthetic_bars(64, Instrument("BBB", quote_decimals=2, base_decimals=0), seed=seed + 1, step_ns=10**9,
                       start_price=5_000)
    keep = np.arange(64) % 3 != 1
    b = BarSeries(b.instrument, b.ts[keep], b.open[keep], b.high[keep], b.low[keep], b.close[keep], b.volume[keep])
    agent = RandomOrders(plan)
    raw = BarBacktest([a, b], agent, cash={"USD": 10**9}, rules=FillRules(participation=cap)).run()
    res = BacktestResult(raw)
    res.check_accounts()
    acct = raw.accounts["r"]
    pos = res.positions()
    assert pos["AAA"].iloc[-1] == acct.balance("AAA") and pos["BBB"].iloc[-1] == acct.balance("BBB")
    flows = sum(-s * q for (_, _, _, _, s, _, _, q, _, _, _) in raw.fills)
    assert acct.balance("USD") == 10**9 + flows


def test_multi_currency_portfolio_keeps_cash_per_currency():
    usd = synthetic_bars(30, Instrument("AAA", quote_asset="USD", quote_decimals=2, base_decimals=0), seed=1)
    eur = synthetic_bars(30, Instrument("SAP", quote_asset="EUR", quote_decimals=2, base_decimals=0), seed=2)
    agent = RandomOrders({0: ("AAA", Side.BUY, 3, "market", 0), 1: ("SAP", Side.BUY, 2, "market", 0)})
    raw = BarBacktest([usd, eur], agent, cash={"USD": 100_000_000, "EUR": 50_000_000}).run()
    res = BacktestResult(raw)
    assert res.currencies() == ["EUR", "USD"]
    assert raw.accounts["r"].balance("USD") == 100_000_000 - 3 * int(usd.open[1])
    assert raw.accounts["r"].balance("EUR") == 50_000_000 - 2 * int(eur.open[2])
    with pytest.raises(ConfigError, match="several currencies"):
        res.equity()
    assert res.equity(currency="EUR").iloc[-1] == pytest.approx((50_000_000 - 2 * int(eur.open[2])
                                                                 + 2 * int(eur.close[-1])) / 100)


def test_adjusted_prices_scale_by_adj_close(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,10,11,9,10,5,100\n2020-01-03,10,12,10,12,6,100\n")
    ins = Instrument("X", tick_size="0.01", base_decimals=0, quote_decimals=2)
    raw, adj = load_bars(p, ins), load_bars(p, ins, adjusted=True)
    assert raw.close.tolist() == [1000, 1200] and adj.close.tolist() == [500, 600]
    assert adj.open.tolist() == [500, 500] and adj.high.tolist() == [550, 600]
    p.write_text("Date,Open,High,Low,Close,Volume\n2020-01-02,10,11,9,10,100\n")
    with pytest.raises(ConfigError, match="adj_close"):
        load_bars(p, ins, adjusted=True)


def test_param_grid_walk_forward_and_run_grid(orcl):
    grid = param_grid({"fast": [10, 20], "slow": [50, 100]})
    assert grid == [{"fast": 10, "slow": 50}, {"fast": 10, "slow": 100}, {"fast": 20, "slow": 50},
                    {"fast": 20, "slow": 100}]
    folds = walk_forward(100, train=50, test=20)
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in folds] == [(0, 50, 50, 70), (20, 70, 70, 90)]
    anchored = walk_forward(100, train=50, test=25, anchored=True)
    assert [(f.train.start, f.test.stop) for f in anchored] == [(0, 75), (0, 100)]
    with pytest.raises(ConfigError, match="exceed"):
        walk_forward(10, train=8, test=5)
    part = slice_bars(orcl, folds[0].test)
    assert len(part) == 20 and part.ts[0] == orcl.ts[50]
    table = run_grid(SmaCrossover, orcl, grid, base={"quantity": 100}, cash={"USD": cash_units(100_000, 6)})
    assert list(table[["fast", "slow"]].itertuples(index=False, name=None)) == [(10, 50), (10, 100), (20, 50), (20, 100)]
    one = sma_run(orcl, fast=20, slow=50, quantity=100)
    assert table.iloc[2].final_equity == pytest.approx(float(one.equity().iloc[-1]))


def test_sizing_helpers_round_down():
    assert fraction_of_equity(100_000, 333, 1, 0.5) == 150
    assert volatility_target(100_000, 100, 1, 0.10, 0.40) == 250
    assert volatility_target(100_000, 100, 1, 0.40, 0.10) == 1000  # capped at 1x equity
    assert risk_per_trade(100_000, 1000, 950, 1, 0.01) == 20
    with pytest.raises(ConfigError, match="stop"):
        risk_per_trade(100_000, 1000, 1000, 1, 0.01)


def test_sma_params_are_validated():
    with pytest.raises(ConfigError, match="fast must be shorter"):
        SmaCrossoverParams(fast=50, slow=20)


def test_conventions_follow_the_bar_interval(orcl):
    assert sma_run(orcl, fast=20, slow=50).conventions.periods_per_year == 252
    mins = synthetic_bars(100, Instrument("M", quote_decimals=2, base_decimals=0), step_ns=5 * 60 * 10**9)
    assert sma_run(mins, fast=2, slow=5).conventions.interval == "5m"
    assert Decimal(ORCL.tick_size) == Decimal("0.000001")


def test_walk_forward_optimisation_picks_in_sample_and_scores_out_of_sample(orcl):
    from market_sim.backtest.grid import walk_forward_optimise

    grid = param_grid({"fast": [10, 20], "slow": [50, 100]})
    folds = walk_forward(len(orcl), train=1500, test=500, step=1000)
    table = walk_forward_optimise(SmaCrossover, orcl, grid, folds, base={"fraction": 1.0},
                                  cash={"USD": cash_units(100_000, 6)})
    assert list(table["fold"]) == [f.fold for f in folds] and len(folds) == 4
    for row, fold in zip(table.itertuples(index=False), folds):
        train = run_grid(SmaCrossover, slice_bars(orcl, fold.train), grid, base={"fraction": 1.0},
                         cash={"USD": cash_units(100_000, 6)})
        assert row.in_sample_sharpe == pytest.approx(train["sharpe"].max())
        assert (row.fast, row.slow) in {(g["fast"], g["slow"]) for g in grid}
        assert str(row.test_start.date()) == str(pd.Timestamp(int(orcl.ts[fold.test_start])).date())


def test_two_agents_in_one_backtest_trade_as_they_would_alone(orcl):
    a = SmaCrossover("a", SmaCrossoverParams(10, 30, quantity=10))
    b = SmaCrossover("b", SmaCrossoverParams(20, 50, quantity=10))
    raw = BarBacktest(orcl, [a, b], cash={"USD": cash_units(100_000, 6)}).run()
    both = BacktestResult(raw)
    alone = sma_run(orcl, fast=20, slow=50, quantity=10)
    mine = both.fills[both.fills["agent"] == "b"]
    assert mine["price_ticks"].tolist() == alone.fills["price_ticks"].tolist()
    assert both.equity("b").iloc[-1] == pytest.approx(alone.equity().iloc[-1])
    assert raw.accounts["a"].positions["ORCL"].fills != raw.accounts["b"].positions["ORCL"].fills


@settings(max_examples=40)
@given(st.integers(0, 10_000), st.lists(st.tuples(st.integers(0, 40), st.sampled_from([Side.BUY, Side.SELL]),
                                                  st.sampled_from(["market", "limit", "stop"]), st.integers(-40, 40)),
                                        max_size=20), st.booleans(), st.sampled_from([0, 3]))
@example(0, [(0, Side.BUY, "limit", 0)], False, 3)  # a limit filled at the open was slipped through its limit
def test_fills_stay_inside_their_bar_and_their_limits(seed, orders, touch, slip):
    """Whatever is sent: every fill price lies in its bar's [low, high]; a limit buy never pays more than its
    limit, a limit sell never gets less; a stop buy never fills below its stop (sell: above)."""
    from market_sim.backtest import FixedTicks

    ins = Instrument("AAA", quote_decimals=2, base_decimals=0)
    series = synthetic_bars(48, ins, seed=seed, vol=0.02, step_ns=10**9)
    plan: dict[int, list] = {}
    for step, side, kind, off in orders:
        plan.setdefault(step, []).append((side, kind, off))

    class Sender(Agent):
        kind = "sender-prop-test"

        def on_start(self):
            self.limits = {}
            self.wake_up_in(0)

        def on_wakeup(self):
            ref = self.reference_ticks("AAA")
            for side, kind, off in plan.get(self._sim.bar_index, []):
                px = max(1, ref + off)
                if kind == "market":
                    self.submit("AAA", side, 1, order_type=OrderType.MARKET)
                elif kind == "limit":
                    self.limits[self.submit("AAA", side, 1, px)] = ("limit", side, px)
                else:
                    self.limits[self.submit("AAA", side, 1, order_type=OrderType.STOP, stop_price=px)] = \
                        ("stop", side, px)
            self.wake_up_in(1)

    agent = Sender("p")
    raw = BarBacktest(series, agent, cash={"USD": 10**9},
                      rules=FillRules(fill_on_touch=touch, slippage=FixedTicks(slip))).run()
    for step, _, _, _, side, _, price, _, _, _, oid in raw.fills:
        assert series.low[step] <= price <= series.high[step]
        kind = agent.limits.get(oid)
        if kind is not None and kind[0] == "limit":
            assert price <= kind[2] if side > 0 else price >= kind[2]
        if kind is not None and kind[0] == "stop":
            assert price >= min(kind[2], series.high[step]) if side > 0 else price <= max(kind[2], series.low[step])
