# Source of tutorials/03_consensus.ipynb (python scripts/build_tutorials.py rebuilds it).

# %% [markdown]
# # 3. Consensus: quorums, Byzantine validators, and what breaks at f+1
#
# **Goal:** understand why a committee of **n = 3f+1** validators certifies a batch of trades with **2f+1**
# signatures, and see with the project's networked protocols (`market_sim.consensus`, the same code behind
# `market-sim consensus`) what happens when one validator more than the protocol tolerates misbehaves.
#
# Every trade the exchange proposes is checked by each validator (quantities, prices, self-trades, overfills,
# solvency) and voted on with an EIP-712 signature; approved trades are then ordered into batches by a BFT protocol
# on a simulated network with latency. Two properties matter:
# * **safety**: honest validators never finalize different logs, and no invalid trade is certified;
# * **liveness**: valid trades do get finalized.

# %%
import matplotlib.pyplot as plt

from market_sim.consensus.config import ConsensusConfig
from market_sim.core.errors import ConsensusError
from market_sim.consensus.workload import simulate
from market_sim.learn import check_answer

# %% [markdown]
# ## Quorum arithmetic
# With n validators of which at most f are faulty, a quorum q must (1) be reachable without the f faulty ones:
# q <= n - f, and (2) any two quorums must share an honest validator, so that two conflicting batches can never both
# be certified: 2q - n >= f + 1. Both hold for q = 2f+1 when n = 3f+1.
#
# ### Exercise 1
# For n = 7, what is the largest f a BFT protocol tolerates, and how many signatures does a certificate need?

# %%
f_max_7 = 2        # your answer
quorum_7 = 5       # your answer

# %%
config = ConsensusConfig(nodes=7, byzantine=f_max_7, protocol="bft")
check_answer("f for n=7", f_max_7, (7 - 1) // 3)
check_answer("quorum for n=7", quorum_7, config.quorum)

# %% [markdown]
# Asking for more faults than the protocol tolerates is refused (the error says why) unless `allow_unsafe=True`,
# which exists for exactly this kind of demonstration:

# %%
try:
    ConsensusConfig(nodes=4, byzantine=2, protocol="bft")
except ConsensusError as exc:
    print(type(exc).__name__, "-", exc)

# %% [markdown]
# ## A committee of 4, with 0, 1, 2 and 3 faulty validators
# 80 trades, 10 % of them invalid (self-trades, overfills...), 20 ms message latency. Faulty validators either
# **crash** (send nothing) or **approve everything** (sign invalid trades too).


# %%
def run(f, behaviour, seed=3):
    cfg = ConsensusConfig(nodes=4, byzantine=f, behaviour=behaviour, protocol="bft", latency="lognormal:20ms",
                          seed=seed, batch_size=20, allow_unsafe=True)
    workload, result = simulate(cfg, 80, invalid_rate=0.1)
    return dict(result.summary(), refused=dict(result.rejected()))


rows = {(f, b): run(f, b) for f in range(4) for b in ("crashed", "approve-all")}
for (f, b), s in rows.items():
    print(f"f={f} {b:12s} finalized {s['finalized']:3d}  rejected {s['rejected']:3d}  "
          f"p50 latency {s['latency_ms']['p50']:7.1f} ms  honest logs agree: {s['honest_logs_agree']}")

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
for b, marker in (("crashed", "o"), ("approve-all", "s")):
    ax.plot(range(4), [rows[(f, b)]["finalized"] for f in range(4)], marker=marker, label=f"faulty = {b}")
ax.axvline(1.5, color="grey", ls="--")
ax.text(1.55, 40, "f+1 = 2: beyond\nthe bound", color="grey")
ax.set_xticks(range(4))
ax.set_xlabel("faulty validators out of n = 4 (tolerated: f = 1)")
ax.set_ylabel("trades finalized (of 80)")
ax.set_title("Liveness and safety against the number of faulty validators")
ax.legend()
plt.show()

# %% [markdown]
# Before liveness is lost, a crashed validator already costs time: when it is the leader of a round, the others wait
# for a timeout and a view change.

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(["f = 0", "f = 1 crashed"], [rows[(0, "crashed")]["latency_ms"]["p50"], rows[(1, "crashed")]["latency_ms"]["p50"]],
       color=["tab:green", "tab:orange"])
ax.set_ylabel("median submit -> certified (ms)")
ax.set_title("A crashed leader costs view changes")
plt.show()

# %% [markdown]
# ### Exercise 2
# (a) With how many **crashed** validators does the committee stop finalizing anything (the first f where
# `finalized` is 0)? (b) Compare the trades refused with 1 and with 3 **approve-all** validators (`rows[(f,
# "approve-all")]["refused"]`, trade id -> reason): which trade id is refused with 1 but certified with 3?

# %%
for f in (1, 3):
    print(f, rows[(f, "approve-all")]["refused"])

# %%
first_stall = 2                                                      # your answer (a)
let_through = set(rows[(1, "approve-all")]["refused"]) - set(rows[(3, "approve-all")]["refused"])  # your answer (b)

# %%
check_answer("first f that stalls (crashed)", first_stall,
             min(f for f in range(4) if rows[(f, "crashed")]["finalized"] == 0))
check_answer("certified only with 3 approve-all", sorted(let_through), [6],
             hint="look for the reason 'duplicate_trade'")
print("refused with f=1:", rows[(1, "approve-all")]["refused"][6])

# %% [markdown]
# **What breaks at f+1.** With 2 crashed validators of 4 only 2 signatures can be collected, short of the quorum
# of 3: **liveness** is lost (every trade is refused with `no_quorum`). With enough faulty validators to form a
# quorum on their own (3 of 4 approving everything), **safety** is lost: trade 6, submitted a second time, is no
# longer refused -- a replay that an honest validator catches (`duplicate_trade`) passes the vote, and the contract
# checks only the quorum's signatures.
# (The other invalid trades of this workload are still refused: find out where in `market_sim/consensus/` as an
# extra exercise.) With 2 faulty of 4, two quorums of 3 intersect in 2 validators that may both be Byzantine, so no
# honest validator is guaranteed to see both conflicting batches: that is why the bound is f < n/3.

# %% [markdown]
# ## Try it
# ```bash
# market-sim consensus --nodes 7 --byzantine 2 --behaviour equivocate --latency lognormal:20ms --seed 1
# market-sim consensus --protocol bft --partition 2s --loss 0.2 --gst 2s --trades 500 --batch-size 100
# market-sim run byzantine-validators
# ```
