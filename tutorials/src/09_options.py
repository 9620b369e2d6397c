# Source of tutorials/09_options.ipynb (python scripts/build_tutorials.py rebuilds it).

# %% [markdown]
# # 9. Options: pricing, Greeks and a delta-hedged market maker
#
# **Goal:** price a European option with Black-Scholes-Merton (`market_sim.derivatives`, checked against QuantLib in
# the tests), read its Greeks as the slopes they are, recover an implied volatility from a price, and see why an
# options market maker **delta-hedges**: selling a call and hedging it with the underlying turns a wide, directional
# PnL into a narrow one that depends on the volatility that was realised.

# %%
import matplotlib.pyplot as plt
import numpy as np

from market_sim.derivatives import ArbitrageBoundsError, bsm_greeks, bsm_greeks_array, bsm_implied_vol, bsm_price, bsm_price_array
from market_sim.learn import check_answer

S, K, T, R, VOL = 100.0, 105.0, 0.5, 0.03, 0.25
price = bsm_price(S, K, T, R, VOL)
g = bsm_greeks(S, K, T, R, VOL)
print(f"call price {price:.4f}; delta {g.delta:.4f}, gamma {g.gamma:.5f}, vega {g.vega:.4f}, theta {g.theta:.4f}")

# %% [markdown]
# ## Price and delta against the spot

# %%
spots = np.linspace(60, 150, 181)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
for t in (0.05, 0.5, 2.0):
    ax1.plot(spots, bsm_price_array(spots, K, t, R, VOL), label=f"T = {t} y")
    ax2.plot(spots, bsm_greeks_array(spots, K, t, R, VOL).delta, label=f"T = {t} y")
ax1.plot(spots, np.maximum(spots - K, 0), "k:", label="payoff at expiry")
ax1.set_xlabel("spot")
ax1.set_ylabel("call price")
ax1.legend()
ax1.set_title("BSM call price, K = 105")
ax2.set_xlabel("spot")
ax2.set_ylabel("delta")
ax2.set_title("Delta: the slope of the price")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 1
# Delta is dV/dS. Estimate it with a central finite difference, (V(S+h) - V(S-h)) / 2h with h = 0.01, and check it
# against the analytic `g.delta`. Do the same for vega (dV/dvol, per 1.00 of volatility).

# %%
h = 0.01
delta_fd = (bsm_price(S + h, K, T, R, VOL) - bsm_price(S - h, K, T, R, VOL)) / (2 * h)     # your answer
vega_fd = (bsm_price(S, K, T, R, VOL + h) - bsm_price(S, K, T, R, VOL - h)) / (2 * h)      # your answer

# %%
check_answer("delta", delta_fd, g.delta, rel=1e-5)
check_answer("vega", vega_fd, g.vega, rel=1e-4)

# %% [markdown]
# ### Exercise 2: implied volatility
# A market quotes this call at 6.00. Which volatility makes BSM give that price? (`bsm_implied_vol`)

# %%
iv = bsm_implied_vol(6.00, S, K, T, R)       # your answer

# %%
check_answer("price at the implied vol", bsm_price(S, K, T, R, iv), 6.00, rel=1e-8)
print(f"implied vol {iv:.4%}")
try:
    bsm_implied_vol(0.01, S, 50.0, T, R)      # below intrinsic value: no volatility gives it
except ArbitrageBoundsError as exc:
    print(type(exc).__name__, "-", exc)

# %% [markdown]
# ## A delta-hedged market maker
# A maker sells 1 call at the BSM price for VOL = 25 % and then either does nothing, or holds delta shares, rebalanced
# n times over the option's life (financed at R). 2,000 GBM paths whose realised volatility is also 25 %.

# %%
rng = np.random.default_rng(7)
PATHS = 2_000


def maker_pnl(steps, hedge=True, realised=VOL):
    dt = T / steps
    z = rng.standard_normal((PATHS, steps))
    s = np.full(PATHS, S)
    cash = np.full(PATHS, price)                 # premium received
    shares = np.zeros(PATHS)
    for i in range(steps):
        if hedge:
            target = bsm_greeks_array(s, K, T - i * dt, R, VOL).delta
            cash -= (target - shares) * s
            shares = target
        cash *= np.exp(R * dt)
        s = s * np.exp((R - realised**2 / 2) * dt + realised * np.sqrt(dt) * z[:, i])
    return cash + shares * s - np.maximum(s - K, 0)


unhedged = maker_pnl(50, hedge=False)
hedged = {n: maker_pnl(n) for n in (5, 20, 100)}
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.hist(unhedged, bins=80, alpha=0.5, label=f"unhedged (std {unhedged.std():.2f})", density=True)
for n, pnl in hedged.items():
    ax.hist(pnl, bins=80, histtype="step", lw=1.5, label=f"hedged {n}x (std {pnl.std():.2f})", density=True)
ax.set_xlim(-20, 10)
ax.set_xlabel("PnL at expiry per call sold")
ax.set_ylabel("density")
ax.set_title("Selling a call: delta hedging narrows the PnL")
ax.legend()
plt.show()

# %% [markdown]
# ### Exercise 3
# (a) Does hedging 100 times give a smaller PnL standard deviation than hedging 5 times? (b) The hedged PnL's mean
# is close to 0 when the realised volatility equals the one the call was sold at. What happens to the mean PnL of a
# maker hedging 100 times when the realised volatility is 35 % instead? Answer "loss" or "profit".

# %%
finer_is_tighter = bool(hedged[100].std() < hedged[5].std())     # your answer (a)
high_vol = maker_pnl(100, realised=0.35)
outcome_high_vol = "loss" if high_vol.mean() < 0 else "profit"    # your answer (b)
print(f"mean PnL hedged 100x: {hedged[100].mean():.3f} at 25 % realised, {high_vol.mean():.3f} at 35 %")

# %%
check_answer("finer hedging is tighter", finer_is_tighter, True)
check_answer("short gamma when vol is higher than sold", outcome_high_vol, "loss",
             hint="the seller of an option is short gamma: it pays for realised variance")
check_answer("hedged mean near 0 at the sold vol", abs(hedged[100].mean()) < 0.25, True)

# %% [markdown]
# **Why.** The hedged maker's PnL is, to first order, (1/2) gamma S^2 (sold variance - realised variance) dt summed
# over the life of the option: a delta hedge removes the direction, not the volatility. That is the trade an
# options market maker runs; `docs/pricing.md` covers the American models, implied volatility bounds and SVI surfaces.
