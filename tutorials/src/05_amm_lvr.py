# Source of tutorials/05_amm_lvr.ipynb (python scripts/build_tutorials.py rebuilds it).

# %% [markdown]
# # 5. The AMM, arbitrage and loss-versus-rebalancing
#
# **Goal:** trade against a constant-product pool (Uniswap V2 rules, `market_sim.defi.amm_math`, the same integers
# as the Solidity `Pair`), see why an arbitrageur trades it back to the market price, and measure what that costs the
# liquidity provider: **loss-versus-rebalancing** (LVR, Milionis et al. 2022), which for a constant-product pool
# under a GBM with volatility sigma grows at sigma^2/8 of the pool's value per unit of time.

# %%
import math

import matplotlib.pyplot as plt
import pandas as pd

from market_sim.defi.amm_math import PoolState, get_amount_out, optimal_input_vs_price
from market_sim.learn import check_answer
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

# %% [markdown]
# ## x * y = k
# A pool holds reserves x (WETH) and y (USDC). A swap of dx in pays out dy such that, after the fee (0.30 % = 30 bps
# by default) is taken from the input, the product does not fall: (x + dx(1-fee)) (y - dy) >= x y. The marginal price
# is y / x. Amounts are integers in each token's base units (USDC has 6 decimals, WETH 18).

# %%
E18, E6 = 10**18, 10**6
pool = PoolState(reserve0=1_000 * E18, reserve1=3_000_000 * E6, fee_bps=30)   # 1,000 WETH, 3,000,000 USDC
print("price", pool.price() * E18 / E6, "USDC per WETH")
sizes = [1, 5, 10, 25, 50, 100, 200]
avg_prices = [(get_amount_out(s * E18, pool.reserve0, pool.reserve1, 30) / E6) / s for s in sizes]
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(sizes, avg_prices, marker="o")
ax.axhline(3000, color="grey", ls="--", label="marginal price before")
ax.set_xlabel("WETH sold into the pool")
ax.set_ylabel("average USDC per WETH received")
ax.set_title("Price impact on a constant-product pool (fee 30 bps)")
ax.legend()
plt.show()

# %% [markdown]
# ### Exercise 1
# Compute by hand (with the formula above, in integers, rounding down) the USDC base units paid out for selling
# 10 WETH into `pool`. Then compare with `get_amount_out`.

# %%
dx = 10 * E18
dx_after_fee = dx * (10_000 - 30)
usdc_out = dx_after_fee * pool.reserve1 // (pool.reserve0 * 10_000 + dx_after_fee)   # your answer

# %%
check_answer("USDC out for 10 WETH", usdc_out, get_amount_out(dx, pool.reserve0, pool.reserve1, 30))
print(f"{usdc_out / E6:,.2f} USDC: {3000 - usdc_out / E6 / 10:.2f} USDC per WETH below the marginal price")

# %% [markdown]
# ## Arbitrage
# When the market price moves to p, the pool's price y/x is stale. An arbitrageur buys the cheap side until the
# pool's marginal price, net of the fee, equals p; the optimal input has a closed form
# x* = (sqrt(gamma p R_in R_out) - R_in) / gamma with gamma = 1 - fee (`optimal_input_vs_price`).
#
# ### Exercise 2
# The market price of WETH rises to 3,030 USDC. How many USDC (base units) should the arbitrageur put in to buy WETH
# from `pool`? Use `optimal_input_vs_price(reserve_in, reserve_out, fee_bps, price_num, price_den)` with the price of
# the output (WETH) in input (USDC) base units: 3030 * E6 / E18.

# %%
usdc_in = optimal_input_vs_price(pool.reserve1, pool.reserve0, 30, 3030 * E6, E18)     # your answer
after, weth_out = pool.after_swap(usdc_in, zero_for_one=False)
print(f"arb pays {usdc_in / E6:,.2f} USDC for {weth_out / E18:.4f} WETH; pool price now "
      f"{after.price() * E18 / E6:.2f}; profit {(weth_out / E18 * 3030 - usdc_in / E6):.2f} USDC")

# %%
gamma = (10_000 - 30) / 10_000
closed_form = (math.sqrt(gamma * (3030 * E6 / E18) * pool.reserve1 * pool.reserve0) - pool.reserve1) / gamma
check_answer("arbitrage input (USDC base units)", usdc_in, closed_form, rel=1e-9)

# %% [markdown]
# ## LVR in a simulation
# The shipped `amm-lvr` scenario: one pool (no fee, 1,000 WETH), a GBM "true" price with sigma = 100 % a year, and
# an arbitrageur that trades the pool back to the true price at the top of every 12-second block. The LP's loss
# against a portfolio that rebalances to hold the same WETH at market prices is the LVR; with no fee, it is exactly
# what the arbitrageur earns. We run 20 simulated minutes (100 blocks).

# %%
scenario = load_scenario(resolve_scenario("amm-lvr"), ["scenario.duration=20min"])
sim = Simulation(scenario).build()
outcome = sim.run()
lvr = pd.DataFrame(outcome.tables["lvr"])
arb = pd.DataFrame(outcome.tables["defi_agents"]).set_index("agent").loc["arb-1"]
res = outcome.metrics["lvr"]
print(res)

fig, ax = plt.subplots(figsize=(8, 3.5))
minutes = lvr["ts"] / 60e9
ax.plot(minutes, lvr["cum_lvr"], label="measured LVR (cumulative)")
ax.plot(minutes, lvr["cum_theory"], label="theory: sigma^2/8 x pool value x time")
ax.set_xlabel("simulated minutes")
ax.set_ylabel("USDC")
ax.set_title(f"amm-lvr: measured / theory = {res.ratio:.2f} +- {res.ratio_stderr:.2f}")
ax.legend()
plt.show()

# %% [markdown]
# ### Exercise 3
# (a) Compute the theoretical LVR rate per year in USDC for the pool at the start: sigma^2/8 times the pool's value
# (1,000 WETH at 3,000 plus 3,000,000 USDC). (b) Check that the arbitrageur's profit matches the measured LVR over
# the same blocks: the last block's sample is taken after the arbitrageur's last trade, so compare
# `arb.arbitrage_profit` with the cumulative LVR one step before the end.

# %%
sigma = 1.0
lvr_per_year = sigma**2 / 8 * (1_000 * 3_000 + 3_000_000)          # your answer (a)
arb_profit = float(arb["arbitrage_profit"])                         # your answer (b)

# %%
check_answer("theoretical LVR per year (USDC)", lvr_per_year, 750_000.0)
check_answer("arbitrage profit = LVR", arb_profit, float(lvr["cum_lvr"].iloc[-2]), rel=1e-4)
check_answer("measured/theory within 2 standard errors of 1", abs(res.ratio - 1) < 2 * res.ratio_stderr, True)

# %% [markdown]
# ## Try it
# * `market-sim run amm-lvr --set venues.amm.fee_bps=30`: a fee earns the LP something back -- and the arbitrageur
#   now trades only when the gap beats the fee. Does LVR fall?
# * `market-sim run amm-lvr --set defi.chains.L1.block_time=2s`: faster blocks, smaller gaps.
# * `market-sim run cross-chain-arbitrage`: two chains, a bridge, and three kinds of arbitrageur.
