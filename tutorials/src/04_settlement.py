# Source of tutorials/04_settlement.ipynb (python scripts/build_tutorials.py rebuilds it).

# %% [markdown]
# # 4. Settlement on chain: a batch's life
#
# **Goal:** follow trades from the matching engine to a final block on an Ethereum chain, on one simulated clock:
# *executed* (matched, approved by the validators' votes) -> *certified* (a batch signed by a BFT quorum) ->
# *included* (the settle transaction mined in a block) -> *final* (3 confirmations). You will read the latency of each
# stage, the gas a batch costs, prove one trade with a Merkle proof -- off chain and with the contract itself -- and
# check the reconciliation of the off-chain ledger against the chain.
#
# The run is the shipped `settlement-demo` scenario (shortened): 20 agents on three token pairs, a 4-validator
# committee (one equivocates), the `Settlement` contract on an in-process chain (py-evm) producing a block every
# 12 simulated seconds. Batches are cut every 20 s here.

# %%
import dataclasses

import matplotlib.pyplot as plt
import pandas as pd

from market_sim.consensus.merkle import verify_proof
from market_sim.learn import check_answer
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

NS, MS = 10**9, 10**6
scenario = load_scenario(resolve_scenario("settlement-demo"),
                         ["scenario.duration=90s", "settlement.max_delay=20s", "settlement.drain=2min"])
sim = Simulation(scenario).build()
outcome = sim.run()
run = sim.state("settlement")            # the section's per-run state: chain, stack (venue, committee, pipeline)...
result = outcome.metrics["settlement"]   # the typed SettlementSectionResult
lifecycle = pd.DataFrame(outcome.tables["settlement_lifecycle"])
stages = pd.DataFrame(outcome.tables["settlement_batch_stages"])
blocks = pd.DataFrame(outcome.tables["chain_blocks"])
print(f"{result.trades_settled} trades settled in {result.settlement_batches} batches; reconciled: "
      f"{result.reconciled}; quorum {result.quorum} of {result.validators}")

# %% [markdown]
# ## One clock, four stages
# Each row of `settlement_lifecycle` is one trade with the simulated time (ns) of each stage. Each horizontal bar
# below is a batch: waiting for the cut, certification, the mempool until the next block, then confirmations.

# %%
print(stages[["sequence", "trades", "cut_ns", "certified_ns", "included_ns", "final_ns", "block", "gas_used"]])
fig, ax = plt.subplots(figsize=(10, 3.2))
colors = {"certify": "tab:orange", "mempool": "tab:blue", "confirm": "tab:green"}
for _, b in stages.iterrows():
    y = b["sequence"]
    spans = (("certify", b.cut_ns, b.certified_ns), ("mempool", b.certified_ns, b.included_ns),
             ("confirm", b.included_ns, b.final_ns))
    for label, t0, t1 in spans:
        ax.barh(y, (t1 - t0) / NS, left=t0 / NS, color=colors[label], label=label if y == 1 else None)
for t in blocks["sim_time_ns"]:
    ax.axvline(t / NS, color="grey", lw=0.5)
ax.set_xlabel("simulated seconds (grey lines: blocks)")
ax.set_ylabel("batch")
ax.set_title("A batch's life: cut -> certified -> included -> final")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# ### Exercise 1
# (a) With blocks every 12 s and 3 confirmations, how long (ms) is every trade's *included -> final* stage?
# (b) From `lifecycle`, compute the median executed -> final latency in ms.

# %%
included_to_final_ms = 24_000                                                          # your answer (a)
median_ms = float(((lifecycle.final_ns - lifecycle.executed_ns) / MS).median())        # your answer (b)

# %%
check_answer("included -> final (ms)", included_to_final_ms,
             int((lifecycle.final_ns - lifecycle.included_ns).max() // MS),
             hint="final is the block 2 blocks after inclusion: the including block is the first confirmation")
check_answer("median executed -> final (ms)", median_ms, result.latency_ms_p50_executed_to_final, rel=1e-6)

# %% [markdown]
# ## Gas
# A settle transaction carries the batch header, the quorum's signatures, and the per-account net deltas; the
# contract verifies the signatures and the Merkle root, then applies the deltas. Its cost is a fixed part plus a part
# per delta, so bigger batches are cheaper per trade.

# %%
batches = pd.DataFrame(outcome.tables["settlement_batches"])
batches["gas_per_trade"] = batches["gas_used"] / batches["trades"]
print(batches[["sequence", "trades", "deltas", "gas_used", "gas_per_trade"]])
fig, ax = plt.subplots(figsize=(6, 3))
ax.scatter(batches["trades"], batches["gas_per_trade"])
ax.set_xlabel("trades in the batch")
ax.set_ylabel("gas per trade")
ax.set_title("Settlement gas per trade")
plt.show()

# %% [markdown]
# ### Exercise 2
# What is the gas per settled trade over the whole run (total gas / total trades, rounded down to an integer)?

# %%
gas_per_trade = round(batches["gas_used"].sum() / batches["trades"].sum())   # your answer

# %%
check_answer("gas per settled trade", gas_per_trade, result.gas_per_settled_trade)

# %% [markdown]
# ## Merkle proofs
# The quorum signs only the batch's **Merkle root**. Anyone holding one trade and the log of sibling hashes up to the
# root (the *proof*, log2(trades) hashes) can show the trade was in the batch -- to us, and to the contract
# (`verifyTrade`), which stores each settled batch's root.

# %%
pipeline = run.stack.pipeline
batch = pipeline.ledger.settled_batches[1]
trade = batch.trades[0]
proof = batch.trade_proof(0)
print(f"batch 1: {len(batch.trades)} trades, root 0x{batch.header.merkle_root.hex()[:16]}..., proof of "
      f"{len(proof)} hashes")
print("off chain:", verify_proof(proof, batch.header.merkle_root, batch.tree.leaves[0]))
print("on chain: ", pipeline.client.verify_trade(1, trade, proof))

# %% [markdown]
# ### Exercise 3
# Tamper with the trade: add 1 to its `quote_amount` (`dataclasses.replace`) and ask the contract again. What does
# `verify_trade` answer?

# %%
forged = dataclasses.replace(trade, quote_amount=trade.quote_amount + 1)
forged_accepted = pipeline.client.verify_trade(1, forged, proof)    # your answer: run it

# %%
check_answer("forged trade accepted", forged_accepted, False)

# %% [markdown]
# ## Reconciliation
# After the run, the off-chain ledger (what the pipeline believes), the committee's trade log and the chain are
# compared batch by batch (roots) and account by account (balances). Any difference is listed with what differs.

# %%
report = run.report
print(f"ok={report.ok}: {report.balances_checked} balances, {report.batches_checked} batches, "
      f"{report.trades_checked} trades, {report.proofs_on_chain} proofs checked on chain")
print(pd.DataFrame(outcome.tables["settlement_reconciliation"])[["height", "status"]].T)
check_answer("ledger = log = chain at every height",
             all(h.ledger_root == h.log_root == h.chain_root for h in report.heights), True)

# %% [markdown]
# ## Try it
# ```bash
# market-sim run settlement-demo --set settlement.block_time=2s        # faster blocks: which stage shrinks?
# market-sim run settlement-faults   # a Byzantine leader, a partition, a gas spike, a reorg, a validator swap
# python -m market_sim.settlement.study --out study/   # settlement-latency: protocols x block times x behaviours
# ```
