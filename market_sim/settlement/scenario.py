"""The [settlement] scenario section: a validator committee approves every trade, batches settle on chain.

prepare: start the chain (in-process, or the JSON-RPC node in `rpc` / $MARKET_SIM_RPC), deploy one token per asset
and the Settlement contract, fund every agent, build the BFT committee (it is the venues' TradeValidator and
certifies batches with the settlement leaf encoding, so its trade log roots are the on-chain roots); it is added
as the venues' final trade validator. Returns the SettlementRun (the section's state, `sim.state("settlement")`).
install: subscribe the SettlementPipeline to the order-book venues' Trade events on the bus (batches cut by size
and by simulated time), and the LifecycleTracker to the settlement events (topic ("settlement", venue)) and trades.
finish: settle the rest, reconcile ledger, committee log and chain per height (trades proven off chain against the
on-chain roots), record tables (the trade lifecycle, batches, blocks, pending exposure, reconciliation per height),
plots and metrics (the chain_transactions table is this section's: the chain side owns its tables).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from market_sim.blockchain import Chain
from market_sim.consensus.config import ConsensusConfig
from market_sim.core.accounts import Transfer
from market_sim.core.defaults import DEFAULT_VALIDATORS
from market_sim.core.errors import ConfigError
from market_sim.core.events import Trade
from market_sim.settlement.batch import SettlementMode
from market_sim.settlement.lifecycle import settlement_topic
from market_sim.settlement.reconcile import ONCHAIN_SAMPLE, ReconciliationReport, reconcile
from market_sim.settlement.results import SettlementSectionResult
from market_sim.settlement.setup import SettlementStack, build_stack
from market_sim.settlement.tracker import LifecycleTracker
from market_sim.simulation.params import build_params, param
from market_sim.simulation.scenario import ParseContext, Section, register_section

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = ["SettlementParams", "SettlementSection", "SettlementRun"]

RPC_ENV = "MARKET_SIM_RPC"


@dataclass(frozen=True, slots=True)
class SettlementParams:
    validators: int = param(DEFAULT_VALIDATORS, min=1, help="validator committee size n")
    byzantine: int = param(1, min=0, help="Byzantine validators (BFT needs n >= 3f + 1)")
    behaviour: str = param("equivocate", help="what the Byzantine validators do (see market-sim consensus)")
    max_batch: int = param(200, min=1, help="cut a batch at this many trades")
    max_delay: int = param("2s", duration=True, min=1, help="... or when the oldest waiting trade is this old")
    mode: str = param("net", choices=("net", "per-trade"), help="net deltas (settle) or per-trade (settleTrades)")
    taker_fee_bps: int = param(5, min=0, max=9999, help="fee charged to the aggressor, paid to the fee account")
    deposit: dict = param({}, help="per agent and asset: whole tokens deposited before trading")
    rpc: str = param("", help="settle on this JSON-RPC node instead of the in-process chain (or $MARKET_SIM_RPC)")
    chain_id: int = param(1337, min=1, help="chain id of the in-process chain")
    prove_trades: bool = param(True, help="reconciliation proves every settled trade off chain against the on-chain "
                                          "roots (OpenZeppelin MerkleProof)")
    onchain_sample: int = param(ONCHAIN_SAMPLE, min=0, help="trades (and as many tampered proofs) verifyTrades checks "
                                                            "the off-chain verifier on")


@dataclass
class SettlementRun:
    """Everything the section builds for one simulation."""

    chain: Chain
    stack: SettlementStack
    started: float
    report: ReconciliationReport | None = None
    tracker: LifecycleTracker | None = None


CHAIN_TRANSACTIONS = ("ts", "chain", "tx_hash", "kind", "batch", "gas_used", "status")


class SettlementSection(Section):
    name = "settlement"
    description = "validator committee + on-chain settlement of every trade, then reconciliation"
    result = SettlementSectionResult  # what finish() reports (sim.metrics["settlement"])
    params = SettlementParams

    def parse(self, raw: Any, ctx: ParseContext) -> SettlementParams:
        cfg = build_params(SettlementParams, raw, "settlement")
        assets = _assets(ctx)
        for asset, amount in cfg.deposit.items():
            if asset not in assets:
                raise ConfigError(f"no instrument trades this asset; assets: {', '.join(sorted(assets))}",
                                  key=f"settlement.deposit.{asset}", value=amount)
            try:
                ok = Decimal(str(amount)) > 0
            except ArithmeticError:
                ok = False
            if not ok:
                raise ConfigError("must be a positive number of whole tokens", key=f"settlement.deposit.{asset}",
                                  value=amount)
        ConsensusConfig(nodes=cfg.validators, byzantine=cfg.byzantine, behaviour=cfg.behaviour, protocol="bft")
        return cfg

    def prepare(self, sim: "Simulation", cfg: SettlementParams) -> None:
        rpc = cfg.rpc or os.environ.get(RPC_ENV, "")
        chain = Chain.connect(rpc) if rpc else Chain.local(chain_id=cfg.chain_id)
        decimals = {a: d for inst in sim.instruments.values()
                    for a, d in ((inst.base_asset, inst.base_decimals), (inst.quote_asset, inst.quote_decimals))}
        traders = [f"{ac.name}-{i}" for ac in sim.scenario.agents for i in range(1, ac.count + 1)]
        consensus = ConsensusConfig(nodes=cfg.validators, byzantine=cfg.byzantine, behaviour=cfg.behaviour,
                                    protocol="bft", seed=sim.seed, latency="fixed:1ms")
        deposit = {a: int(Decimal(str(v)).scaleb(decimals[a])) for a, v in cfg.deposit.items()}
        topic = settlement_topic(self.name)
        stack = build_stack(chain, sim.instruments, traders, deposit, consensus, taker_fee_bps=cfg.taker_fee_bps,
                            max_batch=cfg.max_batch, max_delay=cfg.max_delay, mode=SettlementMode(cfg.mode),
                            kernel=sim.kernel, emit=lambda event: sim.bus.publish(event, topic))
        sim.add_trade_validator(self.name, stack.committee, final=True)  # it certifies every trade it approves
        for (trader, asset), amount in sorted(stack.venue.deposits.items()):  # what agents start with
            sim.accounts.transfer(Transfer(0, trader, asset, amount, "deposit"))
        return SettlementRun(chain, stack, time.perf_counter())

    def install(self, sim: "Simulation", cfg: SettlementParams, run: SettlementRun) -> None:
        on_trade = run.stack.pipeline.on_trade
        books = [v.name for v in sim.venues.values() if getattr(v, "kind", None) == "orderbook"]
        run.tracker = LifecycleTracker(", ".join(books), sim.instruments)
        run.tracker.subscribe(sim.bus, ("settlement",), [(name,) for name in books])
        for name in books:  # the venues the committee validates: the order books built from it
            sim.bus.subscribe(Trade, on_trade, (name,))

    def finish(self, sim: "Simulation", cfg: SettlementParams, run: SettlementRun) -> None:
        p, venue, committee = run.stack.pipeline, run.stack.venue, run.stack.committee
        log = committee.log
        p.flush()
        seconds = time.perf_counter() - run.started
        tracker = run.tracker
        run.report = reconcile(p.ledger, venue.client, accounts=[*venue.accounts.values(), venue.fee_account],
                               tokens=venue.tokens.values(), prove_trades=cfg.prove_trades, log=log,
                               skipped=tracker.expired_sequences(), onchain_sample=cfg.onchain_sample, seed=sim.seed)
        roots_match = not any(d.kind in ("log root", "unsettled", "skipped") for d in run.report.differences)
        log_ok = log.verify().ok
        decisions = committee.decisions
        chain_name = "eth-tester" if run.chain.is_local else run.chain.url
        for b in p.batches:
            sim.record("settlement_batches", {"sequence": b.sequence, "trades": b.trade_count, "deltas": b.delta_count,
                                              "gas_used": b.gas_used, "tx_hash": b.tx_hash, "sim_time_ns": b.sim_time,
                                              "attempts": b.attempts, "wall_seconds": round(b.wall_seconds, 4)})
            sim.record("chain_transactions", {"ts": b.sim_time, "chain": chain_name, "tx_hash": b.tx_hash,
                                              "kind": "settle", "batch": b.sequence, "gas_used": b.gas_used,
                                              "status": "ok"})
        if "chain_transactions" not in sim.tables:  # an empty table still gets its file, with its columns
            sim.tables["chain_transactions"] = {c: [] for c in CHAIN_TRANSACTIONS}
        for f in p.failed:
            sim.record("settlement_failed",
                       {"trade_id": f.trade.trade_id, "symbol": f.trade.symbol, "reason": f.reason})
        for d in decisions:
            if not d.approved:
                sim.record("consensus_rejections", {"trade_id": d.trade.trade_id, "reason": d.reason})
        heights = run.report.heights  # one row per batch height (its file exists even with none)
        sim.tables["settlement_reconciliation"] = {c: [getattr(h, c) for h in heights] for c in
                                                   ("height", "status", "ledger_root", "log_root", "chain_root")}
        sim.tables.update(tracker.tables())
        settled = p.settled_count
        reconciled = run.report.ok and log_ok and p.accounted()
        lifecycle = _lifecycle_figures(tracker)
        sim.metrics["settlement"] = SettlementSectionResult(
            **lifecycle,
            trades_settled=settled, settlement_batches=len(p.batches), reconciled=bool(reconciled),
            trades_rejected_by_validators=sum(1 for d in decisions if not d.approved),
            gas_per_settled_trade=round(p.gas_used / settled) if settled else None,
            reconciliation_differences=len(run.report.differences), chain=chain_name,
            contract=venue.client.address, validators=cfg.validators, byzantine=cfg.byzantine,
            behaviour=str(cfg.behaviour), quorum=committee.quorum, trades_failed_settlement=len(p.failed),
            settlement_reverts=len(p.reverts), ledger_corrections=len(p.corrections),
            settled_trades_per_second=round(settled / seconds, 1) if seconds > 0 else None,
            trade_log_verified=bool(log_ok), log_roots_equal_chain_roots=bool(roots_match),
            heights_skipped=len(run.report.skipped), trades_proven_off_chain=run.report.trades_checked,
            proofs_checked_on_chain=run.report.proofs_on_chain)
        if sim.scenario.output.plots:
            _plots(sim, tracker)
        sim.extra_files["reconciliation.txt"] = (run.report.summary() + "\n").encode()
        sim.extra_files["trade_log.json"] = json.dumps(log.to_json(), indent=1).encode()
        sim.extra_files["settlement_reverts.txt"] = ("\n".join(p.reverts) + "\n").encode()


def _lifecycle_figures(tracker: LifecycleTracker) -> dict[str, Any]:
    """The result's lifecycle figures (exposure figures only with a single quote asset)."""
    stages = tracker.stage_latency()
    end_to_end = stages["executed_to_final"]
    counts = tracker.counts()
    assets = tracker.quote_assets()
    out: dict[str, Any] = {
        "latency_ms_p50_executed_to_final": end_to_end.p50_ms, "latency_ms_p99_executed_to_final": end_to_end.p99_ms,
        "stage_latency": stages, "trades_final": counts.get("final", 0),
        "trades_requeued": sum(1 for r in tracker.lifecycle_rows() if r["requeues"]),
        "trades_unsettled_at_end": sum(n for o, n in counts.items() if o not in ("final", "failed")),
    }
    blocks = tracker.block_rows()
    out["blocks_with_batches"] = len(blocks)
    out["max_gas_per_block"] = max((b["gas_used"] for b in blocks), default=None)
    if len(assets) == 1:
        asset = assets[0]
        most, account = tracker.max_account_exposure().get(asset, (0, ""))
        out.update(max_pending_exposure=round(tracker.value(asset, tracker.max_pending().get(asset, 0)), 2),
                   pending_exposure_asset=asset, max_account_exposure=round(tracker.value(asset, most), 2),
                   max_exposure_account=account)
    return out


def _plots(sim: "Simulation", tracker: LifecycleTracker) -> None:
    from market_sim.settlement.plots import blocks_png, exposure_png, latency_png

    tables = tracker.tables()
    sim.extra_files["settlement_latency.png"] = latency_png(tracker.latencies())
    sim.extra_files["settlement_exposure.png"] = exposure_png(tables["settlement_pending"],
                                                              tables["settlement_exposure"], sim.kernel.now)
    sim.extra_files["settlement_blocks.png"] = blocks_png(tables["settlement_blocks"])


def _assets(ctx: ParseContext) -> set[str]:
    out = set()
    for ic in ctx.parsed.get("instruments", ()):
        out.update((ic.instrument.base_asset, ic.instrument.quote_asset))
    return out


register_section(SettlementSection())
