"""The [consensus] scenario section: every trade on the exchange passes a validator committee with Byzantine
members (signed pre-trade votes), and the approved trades are ordered and certified on the simulated network.

prepare: build the Cluster on the simulation's kernel, add it as the venues' final trade validator and return it
(the section's state: `sim.state("consensus")` is the Cluster).
install: start the protocol's timers.
finish: results tables consensus_batches, consensus_rejections, consensus_latency; files trade_log.json and
consensus_summary.json; metrics (finalized, rejected, latency percentiles, messages per batch, log checks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from market_sim.consensus.cluster import Cluster
from market_sim.consensus.config import PROTOCOLS, ConsensusConfig
from market_sim.consensus.results import ConsensusSectionResult
from market_sim.consensus.network import Partition
from market_sim.simulation.params import build_params, param
from market_sim.simulation.scenario import ParseContext, Section, register_section

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = ["ConsensusParams", "ConsensusSection", "cluster_of"]


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    validators: int = param(7, min=1, help="committee size n")
    byzantine: int = param(2, min=0, help="Byzantine validators (BFT protocols need n >= 3f + 1)")
    behaviour: str = param("equivocate", help="crashed, reject, approve-all, equivocate, delayed, malicious-leader")
    protocol: str = param("streamlet", choices=PROTOCOLS, help="how approved trades are ordered and certified")
    latency: str = param("lognormal:20ms", help="validator network latency: fixed:D, uniform:LO-HI, lognormal:M")
    loss: float = param(0.0, min=0.0, max=0.99, help="message loss probability before GST")
    gst: int = param("0s", duration=True, min=0, help="global stabilisation time")
    partition_until: int = param("0s", duration=True, min=0, help="split the committee in halves until then")
    batch_size: int = param(100, min=1, help="most trades per batch")


_COLUMNS = {
    "consensus_batches": ("height", "trades", "merkle_root", "hash", "signers", "certified_at_ns"),
    "consensus_rejections": ("ts", "trade_id", "symbol", "buyer", "seller", "price", "quantity", "reason"),
    "consensus_latency": ("trade_id", "submitted_ns", "certified_ns", "latency_ms"),
}


def cluster_of(sim: "Simulation") -> Cluster | None:
    """The committee of a simulation that has a [consensus] section (its section state)."""
    state = sim.state(ConsensusSection.name)
    return state if isinstance(state, Cluster) else None


def _config(cfg: ConsensusParams, seed: int) -> ConsensusConfig:
    names = [f"v{i}" for i in range(cfg.validators)]
    half = cfg.validators // 2
    partitions = (Partition((frozenset(names[:half]), frozenset(names[half:])), 0, cfg.partition_until),) \
        if cfg.partition_until else ()
    return ConsensusConfig(nodes=cfg.validators, byzantine=cfg.byzantine, behaviour=cfg.behaviour,
                           protocol=cfg.protocol, latency=cfg.latency, loss=cfg.loss, gst=cfg.gst,
                           partitions=partitions, batch_size=cfg.batch_size, seed=seed)


class ConsensusSection(Section):
    name = "consensus"
    description = "every trade approved by a validator committee with Byzantine members, then ordered and certified"
    result = ConsensusSectionResult  # what finish() reports (sim.metrics["consensus"])
    params = ConsensusParams

    def parse(self, raw: Any, ctx: ParseContext) -> ConsensusParams:
        cfg = build_params(ConsensusParams, raw, "consensus")
        _config(cfg, 0)  # ConfigError / ConsensusError now, naming the bad value
        return cfg

    def prepare(self, sim: "Simulation", cfg: ConsensusParams) -> Cluster:
        traders = [f"{ac.name}-{i}" for ac in sim.scenario.agents for i in range(1, ac.count + 1)]
        cluster = Cluster(_config(cfg, sim.seed), accounts=traders, balances=None, kernel=sim.kernel,
                          stop_when_done=False)  # no balances are known to the validators: solvency check off
        sim.add_trade_validator(self.name, cluster, final=True)  # it orders and certifies what it approves
        return cluster

    def install(self, sim: "Simulation", cfg: ConsensusParams, cluster: Cluster) -> None:
        cluster.protocol.start()

    def finish(self, sim: "Simulation", cfg: ConsensusParams, cluster: Cluster) -> None:
        result = cluster.result()
        log = result.reference_log
        for block in log.blocks:
            sim.record("consensus_batches", {
                "height": block.height, "trades": len(block.trades), "merkle_root": "0x" + block.merkle_root.hex(),
                "hash": "0x" + block.hash.hex(), "signers": len(block.qc.signatures),
                "certified_at_ns": max(result.certified_at.get(t.trade_id, 0) for t in block.trades)})
        for at, claim, reason in result.refused:
            t = claim.trade
            sim.record("consensus_rejections", {"ts": at, "trade_id": t.trade_id, "symbol": t.symbol,
                                                "buyer": t.buyer, "seller": t.seller, "price": t.price,
                                                "quantity": t.quantity, "reason": reason})
        for tid, at in sorted(result.certified_at.items()):
            sim.record("consensus_latency", {"trade_id": tid, "submitted_ns": result.submitted.get(tid),
                                             "certified_ns": at, "latency_ms": (at - result.submitted[tid]) / 1e6})
        for table, columns in _COLUMNS.items():  # an empty table still gets its file, with its columns
            if table not in sim.tables:
                sim.tables[table] = {c: [] for c in columns}
        summary = result.summary()
        pending = len(cluster.expected - result.certified_at.keys())
        sim.extra_files["trade_log.json"] = log.dumps().encode()
        sim.extra_files["consensus_summary.json"] = json.dumps(summary, indent=2).encode()
        lat = summary["latency_ms"]
        sim.metrics["consensus"] = ConsensusSectionResult(
            trades_finalized=summary["finalized"], batches_finalized=summary["batches"],
            trades_rejected_by_validators=len(result.refused), finality_latency_ms_p50=lat.get("p50"),
            trade_log_verified=bool(summary["logs_verified"]), protocol=cfg.protocol, validators=cfg.validators,
            quorum=summary["quorum"], byzantine=dict(summary["behaviours"]), trades_pending_at_end=pending,
            finality_latency_ms_p99=lat.get("p99"), pretrade_vote_ms_p50=summary["pretrade_latency_ms"].get("p50"),
            messages_per_batch=float(summary["messages_per_batch"]), rounds=summary["rounds"],
            equivocations_detected=summary["equivocations_seen"],
            honest_logs_agree=bool(summary["honest_logs_agree"]), trade_log_head=summary["head_hash"])


register_section(ConsensusSection())
