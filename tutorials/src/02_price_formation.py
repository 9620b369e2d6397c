# Source of tutorials/02_price_formation.ipynb (python scripts/build_tutorials.py rebuilds it).

# %% [markdown]
# # 2. Agents and price formation: a flash crash
#
# **Goal:** see a price *form* out of many agents' orders, then break it: the shipped `flash-crash` scenario
# (`market-sim list` shows it) sends a 6,000-lot sell program into a thin book five minutes in. You will measure how far
# the price falls, how wide the spread gets, who provides the liquidity, and how long the recovery takes.
#
# The agents: **market makers** quote both sides around the mid; **noise** traders send random small orders;
# **fundamental** (value) traders buy below and sell above a private estimate of the fundamental value (a GBM);
# **momentum** traders follow recent moves; the **sell program** sells 200 lots every second. Time is simulated
# (integer nanoseconds) and the same seed gives the same run, trade for trade.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from market_sim.learn import check_answer
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

NS = 10**9
scenario = load_scenario(resolve_scenario("flash-crash"), ["scenario.duration=12min"])
print(scenario.name, "seed", scenario.seed, "-", scenario.description)
sim = Simulation(scenario).build()
outcome = sim.run()
trades = pd.DataFrame(outcome.tables["trades"])
books = pd.DataFrame(outcome.tables["book_snapshots"])
pnl = pd.DataFrame(outcome.tables["agent_pnl"])
print(f"{outcome.metrics['trades']} trades, {outcome.metrics['volume']} lots, {outcome.events} events")

# %% [markdown]
# ## The picture
# The price, the fundamental value the value traders estimate, and the spread (ask - bid, in ticks of 0.01), every
# half second of simulated time. The shaded band is the sell program.

# %%
books["minute"] = books["ts"] / (60 * NS)
trades["minute"] = trades["ts"] / (60 * NS)
seller = trades[trades["seller"].str.startswith("seller")]
start, end = seller["minute"].min(), seller["minute"].max()

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
ax1.plot(trades["minute"], trades["price_value"], lw=0.6, label="trade price")
ax1.plot(books["minute"], books["fundamental"], lw=1.2, color="k", label="fundamental value")
ax1.axvspan(start, end, color="tab:red", alpha=0.15, label="sell program")
ax1.set_ylabel("price")
ax1.legend()
ax1.set_title("flash-crash: price impact and recovery")
ax2.plot(books["minute"], books["spread"], lw=0.6, color="tab:purple")
ax2.set_ylabel("spread (ticks)")
ax2.set_xlabel("simulated minutes")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 1
# From `trades`, find the lowest trade price of the run, and the drawdown from the last trade price before the sell
# program started (in percent, positive for a fall).

# %%
before = trades[trades["minute"] < start]["price_value"].iloc[-1]
lowest = trades["price_value"].min()                   # your answer
drawdown_pct = (before - lowest) / before * 100        # your answer
print(f"last price before {before:.2f}, lowest {lowest:.2f}, drawdown {drawdown_pct:.2f} %")

# %%
check_answer("lowest trade price", lowest, float(trades.price_value.min()))
check_answer("drawdown (%)", drawdown_pct, float((before - trades.price_value.min()) / before * 100), rel=1e-9)

# %% [markdown]
# ## Who bought?
# Every lot the program sold was bought by someone. `agent_pnl` has each agent's final position; grouping by agent
# type shows who absorbed the selling, and at what profit.

# %%
by_group = pnl.groupby("group")[["position", "pnl_value", "volume"]].sum().sort_values("position")
print(by_group)
by_group["position"].plot.barh(figsize=(7, 3), title="final position by agent group (lots)")
plt.xlabel("lots")
plt.show()

# %% [markdown]
# ### Exercise 2
# Positions net to zero: whatever the seller sold, the others bought. Which group (other than the seller) ended with
# the largest long position? And what is the sum of all final positions?

# %%
largest_buyer = by_group.drop("seller")["position"].idxmax()   # your answer
total_position = int(pnl["position"].sum())                    # your answer

# %%
check_answer("largest buyer", largest_buyer, "value", hint="who buys when the price is far below its value?")
check_answer("sum of positions", total_position, 0)

# %% [markdown]
# ## Recovery
# How long after the program's last trade does the price come back to within 1 % of the fundamental value?

# %%
after = books[(books["minute"] > end) & books["mid_value"].notna()]
near = after[(after["mid_value"] - after["fundamental"]).abs() / after["fundamental"] < 0.01]
recovery_min = float(near["minute"].iloc[0] - end) if len(near) else float("nan")
print(f"the mid is within 1 % of the fundamental value {recovery_min:.2f} simulated minutes after the program ended")

# %% [markdown]
# ## Try it
# * `market-sim run flash-crash --set agents.seller.total_quantity=12000` doubles the program. Does the fall double?
# * `--set agents.maker.quantity=20` thickens the book.
# * `--set agents.value.count=0` removes the value traders: what happens to the recovery?
