"""Backtesting on historical data: the simulator's agents, unchanged, on bars, and on replayed L2 books
(market_sim.backtest.l2).

    from market_sim.backtest import BarBacktest, BacktestResult, load_bars, FillRules
    bars = load_bars("examples/data/orcl-1995-2014.txt", Instrument("ORCL", tick_size="0.000001", ...))
    raw = BarBacktest(bars, SmaCrossover("sma", SmaCrossoverParams(20, 50)), cash={"USD": ...}).run()
    result = BacktestResult(raw); print(result.report().to_text())
"""

from market_sim.backtest.bars import BarSeries, load_bars, synthetic_bars
from market_sim.backtest.costs import (
    BpsSlippage, FeeSchedule, FixedTicks, NO_FEES, NO_SLIPPAGE, NoSlippage, Slippage,
    VolumeImpact,
)
from market_sim.backtest.engine import BarBacktest, BarContext, FillRules, RawResult, cash_units
from market_sim.backtest.result import BacktestResult, infer_conventions
from market_sim.risk.borrow import BorrowFees

__all__ = [
    "BarSeries", "load_bars", "synthetic_bars", "FeeSchedule", "NO_FEES", "Slippage",
    "NoSlippage", "FixedTicks", "BpsSlippage", "VolumeImpact", "NO_SLIPPAGE", "BarBacktest", "BarContext",
    "FillRules", "RawResult", "cash_units", "BacktestResult", "infer_conventions", "BorrowFees",
]
