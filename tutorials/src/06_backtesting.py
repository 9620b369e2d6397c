# Source of tutorials/06_backtesting.ipynb (python scripts/build_tutorials.py rebuilds it).

# %% [markdown]
# # 6. Backtesting on real data and reading a tear sheet
#
# **Goal:** run a strategy -- the simulator's own `SmaCrossover` agent, unchanged -- on 20 years of daily ORCL bars
# (`examples/data/orcl-1995-2014.txt`) with fees, slippage and a participation cap, then read the performance
# report the way you would read a tear sheet: return, volatility, Sharpe, drawdown, trades. You will compute some of
# its figures yourself to see exactly what they mean, and see how much of the result is costs.
#
# Fill rules (`FillRules`, printed in every report): a market order sent at a bar's close fills at the **next**
# bar's open -- a backtest must never trade on a price it could not have seen.

# %%
import matplotlib.pyplot as plt
import numpy as np

from market_sim.analysis.metrics import performance_report
from market_sim.backtest import (BacktestResult, BarBacktest, BpsSlippage, FeeSchedule, FillRules, NO_FEES,
                                 cash_units, load_bars)
from market_sim.core.instruments import Instrument
from market_sim.learn import check_answer, tutorials_dir
from market_sim.simulation.agents.sma_crossover import SmaCrossover, SmaCrossoverParams

ins = Instrument("ORCL", tick_size="0.000001", lot_size="1", base_decimals=0, quote_decimals=6)
DATA = tutorials_dir().parent / "examples" / "data"                    # the repository's examples/data
bars = load_bars(DATA / "orcl-1995-2014.txt", ins)                     # prices to exact ticks


def backtest(fast=20, slow=50, fees=FeeSchedule(taker_bps=5), slippage_bps=2):
    agent = SmaCrossover("sma", SmaCrossoverParams(fast, slow, fraction=1.0))
    raw = BarBacktest(bars, agent, cash={"USD": cash_units(100_000, 6)}, fees=fees,
                      rules=FillRules(participation=0.1, slippage=BpsSlippage(slippage_bps))).run()
    return BacktestResult(raw)


res = backtest()
report = res.report()
print(report.to_text())

# %% [markdown]
# ## The picture: equity, drawdown, benchmark
# The strategy is long when the 20-day average is above the 50-day one, flat otherwise. The benchmark is buying and
# holding ORCL with the same 100,000 USD.

# %%
equity = res.equity()
closes = res.bars_frame("ORCL")["close"]
hold = 100_000 * closes / closes.iloc[0]
drawdown = equity / equity.cummax() - 1

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
ax1.plot(equity.index, equity, label="SMA 20/50 crossover")
ax1.plot(hold.index, hold.values, label="buy and hold", alpha=0.7)
ax1.set_yscale("log")
ax1.set_ylabel("equity (USD, log scale)")
ax1.set_title("ORCL 1995-2014, daily bars, 5 bps fees + 2 bps slippage")
ax1.legend()
ax2.fill_between(drawdown.index, drawdown * 100, 0, color="tab:red", alpha=0.5)
ax2.set_ylabel("drawdown (%)")
ax2.set_xlabel("date")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 1: recompute the headline figures
# (a) total return: last equity / first equity - 1 (the report starts from the equity before the first bar, the
# initial cash); (b) maximum drawdown: the largest fall from a running peak, as a positive fraction;
# (c) the hit rate: the share of closed round-trip trades (`res.trades_frame()`, column `open` False: a position
# still open at the end is marked, not closed) with a positive PnL.

# %%
trades = res.trades_frame()
total_return = equity.iloc[-1] / 100_000 - 1                    # your answer (a)
max_drawdown = -(equity / equity.cummax() - 1).min()            # your answer (b)
hit_rate = (trades[~trades["open"]]["pnl"] > 0).mean()                           # your answer (c)

# %%
check_answer("total return", total_return, report.total_return, rel=1e-6)
check_answer("max drawdown", max_drawdown, report.max_drawdown.depth, rel=1e-6)
check_answer("hit rate", hit_rate, report.hit_rate, rel=1e-9)

# %% [markdown]
# ### Exercise 2: the Sharpe ratio
# The report states its conventions: daily bars, 252 periods a year, risk-free rate 0, sample standard deviation.
# Compute the annualised Sharpe ratio of the daily returns of `equity` under these conventions.

# %%
returns = equity.pct_change().dropna()
sharpe = returns.mean() / returns.std(ddof=1) * np.sqrt(252)     # your answer

# %%
check_answer("Sharpe", sharpe, report.sharpe, rel=1e-3,
             hint="the report's returns start from the initial cash; a small difference is that first return")

# %% [markdown]
# ## How much is costs?
# Run the same strategy without fees and slippage, and a faster pair of averages that trades more often.

# %%
rows = []
for label, kw in (("20/50, costs", {}), ("20/50, no costs", {"fees": NO_FEES, "slippage_bps": 0}),
                  ("5/20, costs", {"fast": 5, "slow": 20}), ("5/20, no costs", {"fast": 5, "slow": 20,
                                                                             "fees": NO_FEES, "slippage_bps": 0})):
    r = backtest(**kw).report()
    rows.append((label, r.trades, r.total_return, r.sharpe))
    print(f"{label:16s} trades {r.trades:4d}  total return {r.total_return:8.1%}  Sharpe {r.sharpe:6.3f}")
hold_report = performance_report(hold, name="buy and hold")
print(f"{'buy and hold':16s}              total return {hold_report.total_return:8.1%}  "
      f"Sharpe {hold_report.sharpe:6.3f}")

fig, ax = plt.subplots(figsize=(7, 3))
ax.bar([r[0] for r in rows], [r[2] * 100 for r in rows], color=["tab:blue", "tab:cyan", "tab:orange", "tab:olive"])
ax.set_ylabel("total return (%)")
ax.set_title("What costs take from a strategy")
plt.xticks(rotation=15)
plt.show()

# %% [markdown]
# ### Exercise 3
# Which strategy loses more of its growth to costs, the slow (20/50) or the fast (5/20) one, and why? Compare in
# log terms, log((1 + return without costs) / (1 + return with costs)): a difference of total returns would
# mostly measure how large the base was that the costs compounded on.

# %%
cost_slow = np.log((1 + rows[1][2]) / (1 + rows[0][2]))
cost_fast = np.log((1 + rows[3][2]) / (1 + rows[2][2]))
print(f"costs take {cost_slow:.3f} of log growth from 20/50 and {cost_fast:.3f} from 5/20")
costlier = "5/20"          # your answer: "20/50" or "5/20"

# %%
check_answer("costlier strategy", costlier, "5/20" if cost_fast > cost_slow else "20/50",
             hint="costs are paid per trade")

# %% [markdown]
# ## A tear sheet on disk
# From the command line the same backtest is a results folder, and `market-sim report` draws the tear sheet
# (offline HTML and PNGs: equity and drawdown, rolling Sharpe and volatility, monthly returns, trades):
# ```bash
# market-sim backtest sma_crossover examples/data/orcl-1995-2014.txt --set fast=20 --set slow=50 --set fraction=1.0
# market-sim report <run id>
# ```
# Reading one: a high Sharpe over few trades means little; a max drawdown that never recovered (as here, from the
# 2000 peak) says more about the risk than the volatility does; and always compare with the benchmark.
