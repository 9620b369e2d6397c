# Source of tutorials/07_margin_cascade.ipynb (python scripts/build_tutorials.py rebuilds it).

# %% [markdown]
# # 7. Margin and a liquidation cascade
#
# **Goal:** compute margin the way a broker does (Reg T style: an *initial* requirement to open a position, a
# *maintenance* requirement to keep it), find the price at which a leveraged long gets a margin call, then watch the
# shipped `margin-cascade` scenario: 15 accounts long at 5x leverage, a 12 % fundamental shock, and forced selling
# by the liquidation engine that pushes the price further down -- which puts more accounts below maintenance.
#
# All margin arithmetic is in integers (`market_sim.risk.margin`): quote base units (cents here) and basis points.

# %%
from fractions import Fraction

import matplotlib.pyplot as plt
import pandas as pd

from market_sim.learn import check_answer
from market_sim.risk.margin import Holding, MarginRate, MarginRules, margin_state
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

# %% [markdown]
# ## Margin by hand
# A long account deposits 1,000 USD and buys 100 shares at 50 USD: it borrows 4,000 USD, so its cash is -4,000 and
# its equity is cash + position value. The scenario's rule for XYZ: 20 % initial (5x leverage), 10 % maintenance.

# %%
rules = MarginRules(overrides={"XYZ": MarginRate(initial_long_bps=2000, maintenance_long_bps=1000)})
cash = -4_000_00                                   # cents


def state_at(price_usd):
    return margin_state(cash, [Holding("XYZ", 100, Fraction(round(price_usd * 100)))], rules)


for price in (50, 46, 44):
    s = state_at(price)
    print(f"price {price}: equity {s.equity / 100:8.2f}  maintenance {s.maintenance / 100:7.2f}  "
          f"below maintenance: {s.below_maintenance}")

# %%
prices = [p / 10 for p in range(400, 521)]
states = [state_at(p) for p in prices]
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(prices, [st.equity / 100 for st in states], label="equity = 100 P - 4,000")
ax.plot(prices, [st.maintenance / 100 for st in states], label="maintenance = 10 % of 100 P")
ax.plot(prices, [st.initial / 100 for st in states], ":", label="initial = 20 % of 100 P")
ax.fill_between(prices, 0, 1, where=[st.below_maintenance for st in states], color="tab:red", alpha=0.15,
                transform=ax.get_xaxis_transform(), label="margin call")
ax.set_xlabel("price (USD)")
ax.set_ylabel("USD")
ax.set_title("A 5x long: where equity crosses maintenance")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ### Exercise 1
# Equity is 100 P - 4,000 and maintenance is 10 % of 100 P. Solve for the price P* at which they are equal: below
# it, the account gets a margin call.

# %%
p_star = 4_000 / (100 * (1 - 0.10))     # your answer (USD)

# %%
check_answer("margin-call price", p_star, 4_000 / 90, rel=1e-9)
check_answer("above P*: no call", state_at(44.45).below_maintenance, False)
check_answer("below P*: a call", state_at(44.44).below_maintenance, True)

# %% [markdown]
# A fall from 50 to 44.44 is only 11 %: at 5x leverage, a 12 % shock is enough. Accounts that bought at different
# prices with different cash have different P*, so liquidations come in waves -- and each wave's selling moves the
# price towards the next accounts' P*.
#
# ## The cascade

# %%
def run(overrides=()):
    sim = Simulation(load_scenario(resolve_scenario("margin-cascade"), ["scenario.duration=10min", *overrides]))
    sim.build()
    return sim.run()


outcome = run()
risk = outcome.metrics["risk"]
trades = pd.DataFrame(outcome.tables["trades"])
books = pd.DataFrame(outcome.tables["book_snapshots"])
liq = pd.DataFrame(outcome.tables["liquidations"])
calls = pd.DataFrame(outcome.tables["margin_calls"])
print(risk)

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
ax1.plot(trades.ts / 60e9, trades.price_value, lw=0.6, label="trade price")
ax1.plot(books.ts / 60e9, books.fundamental, color="k", lw=1, label="fundamental (shock at 5 min)")
ax1.axhline(4_000 / 90, color="tab:red", ls=":", label="P* of a 1,000 USD account at 50")
ax1.set_ylabel("price")
ax1.legend()
ax1.set_title("margin-cascade: a shock, margin calls, forced selling")
issued = calls[calls.status == "issued"]
ax2.hist([issued.ts / 60e9, liq.ts / 60e9], bins=60, label=["margin calls issued", "liquidation orders"],
         weights=[[1] * len(issued), liq.filled.tolist()], stacked=False)
ax2.set_xlabel("simulated minutes")
ax2.set_ylabel("count / lots liquidated")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 2
# (a) How many lots did the liquidation engine sell in total (column `filled` of `liquidations`)? (b) Which group of
# accounts (`longs-a` with 850 USD each, `longs-b` with 1,000, `longs-c` with 1,200) was liquidated first?

# %%
liquidated_lots = int(liq["filled"].sum())                                   # your answer (a)
first_group = liq.sort_values("ts").iloc[0]["account"].rsplit("-", 1)[0]    # your answer (b)
print(liq.groupby(liq.account.str.rsplit("-", n=1).str[0])["filled"].sum())

# %%
check_answer("lots liquidated", liquidated_lots, risk.liquidated_lots)
check_answer("first group liquidated", first_group, liq.loc[liq.ts.idxmin(), "account"].rsplit("-", 1)[0])

# %% [markdown]
# ## Without the leverage
# The same seed, with every long account given enough cash (100,000 USD) that no margin call can happen. The
# difference in the lowest price is what the forced selling added to the shock.

# %%
rich = run([f"risk.accounts.longs-{g}.cash=100000.0" for g in "abc"])
low_levered = trades.price_value.min()
low_rich = pd.DataFrame(rich.tables["trades"]).price_value.min()
print(f"lowest price: {low_levered:.2f} with 5x leverage, {low_rich:.2f} without; liquidations without: "
      f"{rich.metrics['risk'].liquidations}")

# %% [markdown]
# ### Exercise 3
# Did the cascade deepen the fall? Answer True or False.

# %%
deepened = bool(low_levered < low_rich)     # your answer

# %%
check_answer("forced selling deepened the fall", deepened, bool(low_levered < low_rich))
check_answer("no liquidations without leverage", rich.metrics["risk"].liquidations, 0)

# %% [markdown]
# ## Try it
# * `--set risk.margin.liquidation_lots=5`: smaller liquidation orders. Less impact per order, more orders.
# * `--set risk.margin.order=limit`: aggressive limit orders instead of market orders.
# * `market-sim run short-squeeze`: the other side -- limited borrow, a recall, and forced buy-ins.
