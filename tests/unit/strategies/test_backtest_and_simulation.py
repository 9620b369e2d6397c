"""A library strategy runs unchanged in the bar backtest (market_sim.backtest) and in a simulation: the same class and
the same parameter object, only the world around it differs. In the backtest every order is checked against an
independent Donchian-channel oracle on the closes; in the simulation it trades against the simulated book."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from market_sim.backtest import BacktestResult, BarBacktest, load_bars
from market_sim.backtest.engine import cash_units
from market_sim.core.instruments import Instrument
from market_sim.simulation.agents import agent_types
from market_sim.simulation.params import build_params
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario
from market_sim.strategies.traditional import Breakout

ROOT = Path(__file__).resolve().parents[3]
ORCL = Instrument("ORCL", tick_size="0.000001", lot_size="1", base_decimals=0, quote_decimals=6)
PARAMS = {"interval": "1d", "entry_lookback": 20, "exit_lookback": 10, "quantity": 10}


def donchian_fills(opens: np.ndarray, closes: np.ndarray, entry: int, exit_: int, qty: int) -> list[tuple]:
    """(bar, side, lots, price) of the orders a Donchian breakout sends, written from its definition: the price is
    sampled once per bar from bar 1 on (a wake-up every day after the start), long on a close above the highest of
    the previous `entry` samples, short below their lowest, a long exits below the lowest of the previous `exit_`
    (a short above their highest); each change of target is a market order filling at the next bar's open."""
    s = closes[1:]
    window = max(entry, exit_)
    target, out = 0, []
    for j in range(window, len(s)):
        prev = s[j - window:j]
        e, x = prev[-entry:], prev[-exit_:]
        new = target
        if s[j] > e.max():
            new = qty
        elif s[j] < e.min():
            new = -qty
        elif (target > 0 and s[j] < x.min()) or (target < 0 and s[j] > x.max()):
            new = 0
        bar = j + 2          # sampled at bar j + 1, filled at the next bar's open
        if new != target and bar < len(opens):
            out.append((bar, 1 if new > target else -1, abs(new - target), int(opens[bar])))
        target = new
    return out


def test_breakout_in_the_bar_backtest_sends_exactly_the_donchian_orders():
    series = load_bars(ROOT / "examples" / "data" / "orcl-1995-2014.txt", ORCL)
    params = build_params(Breakout.Params, PARAMS, "breakout")
    agent = Breakout("breakout", params)
    res = BacktestResult(BarBacktest(series, agent, cash={"USD": cash_units(1_000_000, 6)}).run())
    f = res.fills
    bar_of = {int(t): i for i, t in enumerate(series.ts)}
    got = [(bar_of[int(np.datetime64(t, "ns").astype(np.int64))], int(side), int(q), int(p))
           for t, side, q, p in zip(f.time, f.side, f.quantity, f.price_ticks)]
    expected = donchian_fills(series.open, series.close, 20, 10, 10)
    assert len(expected) > 100 and got == expected
    res.check_accounts()


def test_the_same_breakout_class_and_params_trade_in_a_simulation():
    assert agent_types()["breakout"] is Breakout
    raw = {
        "scenario": {"name": "breakout-sim", "seed": 4, "duration": "4min"},
        "instruments": [{"symbol": "XYZ", "tick_size": "0.01", "initial_price": 100.0}],
        "processes": {"XYZ": {"kind": "gbm", "s0": 100.0, "sigma": 1.5, "dt": "1s"}},
        "latency": {"default": "fixed:1ms"},
        "agents": [{"type": "market_maker", "count": 2, "half_spread_ticks": 2, "quantity": 20, "levels": 3,
                    "interval": "1s"},
                   {"type": "fundamental", "count": 4, "interval": "1s", "threshold_ticks": 1},
                   {"type": "breakout", "name": "breakout", **PARAMS, "interval": "2s"}],
        "output": {"plots": False},
    }
    sim = Simulation(parse_scenario(copy.deepcopy(raw)))
    sim.run()
    agent = sim.agent("breakout-1")
    assert type(agent) is Breakout
    # the simulation built its parameters from the same table the backtest test uses (bar length aside)
    assert agent.params == build_params(Breakout.Params, {**PARAMS, "interval": "2s"}, "breakout")
    assert agent.fills > 0 and agent.bars > 100
    assert abs(agent.position("XYZ")) <= 10
    net = sum(1 for _ in agent.open_orders)
    assert net == 0   # market IOC orders: nothing left resting
