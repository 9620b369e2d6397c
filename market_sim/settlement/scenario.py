"""The [settlement] scenario section: a validator committee approves every trade, batches settle on chain.

prepare: start the chain (in-process, or the JSON-RPC node in `rpc` / $MARKET_SIM_RPC), deploy one token per asset
and the Settlement contract, fund every agent, build the validator committee (it is the venues' final
TradeValidator: signed pre-trade votes at the engine's trade boundary) and the pipeline it certifies batches for
(with the settlement leaf encoding, so its trade log roots are the on-chain roots). With `certification` a protocol
(bft, streamlet, majority; raft for comparison) the validators run it on the simulation's kernel with the
section's latency, loss, partition and Byzantine behaviours; "committee" signs each batch at once. With a
`block_time` the chain runs on the simulation clock (market_sim.blockchain.producer: blocks, gas limit, mempool by
priority fee, confirmations, reorgs, background load); 0 settles each batch at once. Returns the SettlementRun (the
section's state, `sim.state("settlement")`).
install: subscribe the SettlementPipeline to the order-book venues' Trade events on the bus (batches cut by size
and by simulated time), and the LifecycleTracker to the settlement events (topic ("settlement", venue)) and trades.
finish: drain (agents stopped, the chain and the committee run on until every trade is final or failed, at most
`drain`), reconcile ledger, committee log and chain per height (trades proven off chain against the on-chain
roots), record tables (the trade lifecycle, batches, blocks, pending exposure, reconciliation per height, chain
blocks, validator swaps), plots and metrics (the chain_transactions table is this section's: the chain side owns
its tables).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from market_sim.blockchain import Chain
from market_sim.blockchain.producer import GWEI, BackgroundLoad, BlockMined, BlockProducer, Reorg
from market_sim.consensus.cluster import Reconfiguration
from market_sim.consensus.config import PROTOCOLS, ConsensusConfig
from market_sim.consensus.network import Partition
from market_sim.core.accounts import Transfer
from market_sim.core.defaults import DEFAULT_VALIDATORS
from market_sim.core.errors import ConfigError, SettlementError
from market_sim.core.events import Trade
from market_sim.settlement.batch import SettlementMode
from market_sim.settlement.lifecycle import settlement_topic
from market_sim.settlement.margin_pipeline import MarginSettings, pool_cash, record_margin
from market_sim.settlement.options import OptionGate, attach_options, reconcile_options, series_of
from market_sim.settlement.reconcile import ONCHAIN_SAMPLE, ReconciliationReport, reconcile
from market_sim.settlement.results import SettlementSectionResult
from market_sim.settlement.governance import ValidatorSwaps
from market_sim.settlement.setup import COMMITTEE, SettlementStack, build_stack
from market_sim.settlement.submitter import ProducerSubmitter
from market_sim.settlement.tracker import LifecycleTracker
from market_sim.simulation.latency import parse_duration
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
    # -- certification on the simulation's kernel
    certification: str = param("bft", choices=(COMMITTEE, *PROTOCOLS),
                               help="protocol the validators certify batches by, on the simulation clock (raft: crash "
                                    "faults only); committee: signed at once, zero simulated time")
    latency: str = param("uniform:5ms-20ms", help="validator network latency: fixed:D, uniform:LO-HI, lognormal:M")
    loss: float = param(0.0, min=0.0, max=0.99, help="validator message loss before gst")
    gst: int = param("0s", duration=True, min=0, help="global stabilisation time of the validator network")
    behaviours: dict = param({}, help="validator index -> behaviour, e.g. { 0 = \"malicious-leader\" }")
    partition: list[str] = param([], help="[from, until]: the validators split in two halves between these times")
    standby: int = param(0, min=0, help="extra validators that follow the log until a reconfiguration adds them")
    reconfigure: list[dict] = param([], help="[{ height, remove, add }]: from batch `height` on validator `remove` "
                                             "leaves and standby `add` joins, on chain too (bft)")
    # -- the chain on the simulation clock
    block_time: int = param("12s", duration=True, min=0, help="a block every this long; 0: settle at once")
    gas_limit: int = param(30_000_000, min=21_000, help="gas per block")
    confirmations: int = param(3, min=1, help="blocks (the including one counts) until a batch is final")
    priority_fee_gwei: int = param(2, min=0, help="the settle transactions' priority fee bid")
    validity: int = param(0, min=0, help="blocks a certificate stays valid (0: the contract's maxValidity)")
    reorgs: list[dict] = param([], help="[{ at, depth }]: orphan the last `depth` blocks at time `at`")
    load: list[dict] = param([], help="[{ start, end, txs_per_block, priority_fee_gwei, gas }]: other users' "
                                      "transactions (a full block, a gas-price spike)")
    # -- margin batches (issue 16; settlement.margin_pipeline)
    margin: bool = param(False, help="settle every batch with settleMargin: short sales and purchases without cash "
                                     "borrow from the lending pools, within maintenance at the batch's marks")
    maintenance_bps: dict = param({}, help="margin: per asset the maintenance rate on debt in it (bps over 100%)")
    pools: dict = param({}, help="margin: per asset whole tokens lent into its pool: a number (the deployer lends) "
                                 "or { lender = amount } (each lender a chain account of its own)")
    borrow_bps: dict = param({}, help="margin: per asset the annual borrow rate of its pool in bps (default 25, "
                                      "general collateral), charged in kind on simulated time and paid to the lenders")
    options_window: int = param("1min", duration=True, min=1,
                                help="listed cash-settled European options settle on chain: the settlement price is "
                                     "the VWAP of the underlying's certified trades this long before each expiry")
    drain: int = param("10m", duration=True, min=0, help="after trading ends, run the chain and the committee on "
                                                         "until every trade is final, at most this long")


@dataclass
class SettlementRun:
    """Everything the section builds for one simulation."""

    chain: Chain
    stack: SettlementStack
    started: float
    report: ReconciliationReport | None = None
    tracker: LifecycleTracker | None = None
    producer: BlockProducer | None = None   # the chain on the simulation clock (block_time > 0)
    swaps: ValidatorSwaps | None = None     # validator-set changes on chain (reconfigure)
    drained_ns: int = 0                     # simulated time the drain ran after trading ended


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
        networked = cfg.certification != COMMITTEE
        _consensus(cfg, 0)  # validates the committee settings
        if not networked:
            for key in ("behaviours", "partition", "reconfigure"):
                if getattr(cfg, key):
                    raise ConfigError(f"needs a networked certification protocol (certification = "
                                      f"{cfg.certification!r})", key=f"settlement.{key}", value=getattr(cfg, key))
        if not cfg.block_time:
            for key in ("reorgs", "load"):
                if getattr(cfg, key):
                    raise ConfigError("needs the chain on the simulation clock (block_time > 0)",
                                      key=f"settlement.{key}", value=getattr(cfg, key))
        _faults(cfg)
        _reconfigurations(cfg)
        for key in ("maintenance_bps", "pools", "borrow_bps"):
            for asset, value in getattr(cfg, key).items():
                if asset not in assets:
                    raise ConfigError(f"no instrument trades this asset; assets: {', '.join(sorted(assets))}",
                                      key=f"settlement.{key}.{asset}", value=value)
                if key == "borrow_bps" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                    raise ConfigError("must be a non-negative integer number of basis points a year",
                                      key=f"settlement.{key}.{asset}", value=value)
                amounts = value.items() if key == "pools" and isinstance(value, dict) else (("", value),)
                for lender, amount in amounts:
                    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount < 0:
                        raise ConfigError("must be a non-negative number",
                                          key=".".join(filter(None, (f"settlement.{key}.{asset}", lender))),
                                          value=amount)
            if getattr(cfg, key) and not cfg.margin:
                raise ConfigError("needs margin = true", key=f"settlement.{key}", value=getattr(cfg, key))
        return cfg

    def prepare(self, sim: "Simulation", cfg: SettlementParams) -> None:
        rpc = cfg.rpc or os.environ.get(RPC_ENV, "")
        chain = Chain.connect(rpc) if rpc else Chain.local(chain_id=cfg.chain_id)
        decimals = {a: d for inst in sim.instruments.values()
                    for a, d in ((inst.base_asset, inst.base_decimals), (inst.quote_asset, inst.quote_decimals))}
        traders = [f"{ac.name}-{i}" for ac in sim.scenario.agents for i in range(1, ac.count + 1)]
        if not chain.is_local:  # the producer retries on the simulation clock, not web3 in real time
            chain.w3.provider.exception_retry_configuration = None
        consensus = _consensus(cfg, sim.seed)
        deposit = {a: int(Decimal(str(v)).scaleb(decimals[a])) for a, v in cfg.deposit.items()}
        topic = settlement_topic(self.name)
        changes = _reconfigurations(cfg)
        stack = build_stack(chain, sim.instruments, traders, deposit, consensus, taker_fee_bps=cfg.taker_fee_bps,
                            max_batch=cfg.max_batch, max_delay=cfg.max_delay, mode=SettlementMode(cfg.mode),
                            kernel=sim.kernel, emit=lambda event: sim.bus.publish(event, topic),
                            validity=cfg.validity or None, certification=cfg.certification,
                            standby=tuple(range(cfg.validators, cfg.validators + cfg.standby)),
                            reconfigurations=changes, margin=_margin(cfg, decimals))
        validator = _on_chain_options(sim, cfg, stack)  # issue 17: listed options settle on chain too
        if cfg.margin and stack.pipeline.options is not None:
            raise ConfigError("margin batches do not carry option leaves yet: list no options, or margin = false",
                              key="settlement.margin", value=True)
        sim.add_trade_validator(self.name, validator, final=True)  # it certifies every trade it approves
        for (trader, asset), amount in sorted(stack.venue.deposits.items()):  # what agents start with
            sim.accounts.transfer(Transfer(0, trader, asset, amount, "deposit"))
        pipeline = stack.pipeline
        producer = None
        if cfg.block_time:
            producer = BlockProducer(chain, sim.kernel, block_time=cfg.block_time, gas_limit=cfg.gas_limit,
                                     confirmations=cfg.confirmations, faults=_faults(cfg))
            pipeline.submitter = ProducerSubmitter(stack.venue.client, producer,
                                                   priority_fee=cfg.priority_fee_gwei * GWEI)
            producer.subscribe(lambda event: pipeline.on_block() if type(event) is BlockMined else None)
        swaps = None
        if changes:
            cluster = stack.committee.net.cluster  # type: ignore[union-attr]
            swaps = ValidatorSwaps(stack.venue.client, changes, cluster.validators, cluster.quorum_at,
                                   producer=producer, now=lambda: sim.kernel.now, resume=pipeline.flush,
                                   priority_fee=(cfg.priority_fee_gwei + 10) * GWEI)
            pipeline.gates.append(swaps)
        if producer is not None:
            producer.start()
        return SettlementRun(chain, stack, time.perf_counter(), producer=producer, swaps=swaps)

    def install(self, sim: "Simulation", cfg: SettlementParams, run: SettlementRun) -> None:
        on_trade = run.stack.pipeline.on_trade
        desk = run.stack.pipeline.options
        books = [v.name for v in sim.venues.values() if getattr(v, "kind", None) == "orderbook"]
        if desk is not None:  # option trades settle through the desk (staged when approved), not as spot trades
            books = [b for b in books if not all(sim.instruments[s].option is not None
                                                 for s in getattr(sim.venues[b], "symbols", ()))]
        run.tracker = LifecycleTracker(", ".join(books), sim.instruments)
        run.tracker.subscribe(sim.bus, ("settlement",), [(name,) for name in books])
        for name in books:  # the venues the committee validates: the order books built from it
            sim.bus.subscribe(Trade, on_trade, (name,))

    def finish(self, sim: "Simulation", cfg: SettlementParams, run: SettlementRun) -> None:
        p, venue, committee = run.stack.pipeline, run.stack.venue, run.stack.committee
        log = committee.log
        p.flush()
        if run.producer is not None or cfg.certification != COMMITTEE:
            run.drained_ns = sim.drain(lambda: not p.settling, cfg.drain)
        if run.producer is not None:
            run.producer.stop()
        seconds = time.perf_counter() - run.started
        tracker = run.tracker
        option_diffs = _option_results(sim, p.options)
        run.report = reconcile(p.ledger, venue.client, accounts=[*venue.accounts.values(), venue.fee_account],
                               tokens=venue.tokens.values(), prove_trades=cfg.prove_trades, log=log,
                               skipped=tracker.expired_sequences(), onchain_sample=cfg.onchain_sample, seed=sim.seed,
                               pool_cash=pool_cash(p.margin) if p.margin is not None else None)
        margin_diffs, margin_figures = record_margin(sim, p, venue) if p.margin is not None else ([], {})
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
        reconciled = run.report.ok and log_ok and p.accounted() and not option_diffs and not margin_diffs
        lifecycle = _lifecycle_figures(tracker)
        lifecycle.update(_clock_figures(sim, cfg, run))
        sim.metrics["settlement"] = SettlementSectionResult(
            **lifecycle, **margin_figures,
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
        sim.extra_files["trade_log.json"] = log.dumps().encode()
        sim.extra_files["settlement_reverts.txt"] = ("\n".join(p.reverts) + "\n").encode()


def _margin(cfg: SettlementParams, decimals: dict[str, int]) -> MarginSettings | None:
    if not cfg.margin:
        return None
    pools = {a: {lender: int(Decimal(str(amount)).scaleb(decimals[a]))
                 for lender, amount in (v.items() if isinstance(v, dict) else (("deployer", v),))}
             for a, v in cfg.pools.items()}
    return MarginSettings(maintenance_bps={a: int(v) for a, v in cfg.maintenance_bps.items()}, pools=pools,
                          borrow_bps=dict(cfg.borrow_bps))


def _clock_figures(sim: "Simulation", cfg: SettlementParams, run: SettlementRun) -> dict[str, Any]:
    """Certification and chain figures (and their tables: settlement_certification, chain_blocks,
    validator_swaps)."""
    out: dict[str, Any] = {"certification": cfg.certification, "block_time_ms": cfg.block_time // 1_000_000,
                           "drained_ms": run.drained_ns // 1_000_000}
    committee = run.stack.committee
    net = getattr(committee, "net", None)
    if net is not None:
        rows = net.net.rows()
        sim.tables["settlement_certification"] = {c: [r[c] for r in rows] for c in
                                                  ("height", "trades", "requeued", "ready_ns", "certified_ns",
                                                   "latency_ms", "messages")}
        summary = net.summary()
        out["batch_certification_ms_p50"] = summary["batch_latency_ms"].get("p50") if rows else None
        out["batch_certification_ms_p99"] = summary["batch_latency_ms"].get("p99") if rows else None
        out["certification_stalls"] = len(net.net.stalls(10 * max(cfg.block_time, 1_000_000_000)))
    producer = run.producer
    if producer is not None:
        figures = producer.figures()
        blocks = producer.blocks
        sim.tables["chain_blocks"] = {
            "block": [b.number for b in blocks], "sim_time_ns": [b.sim_time for b in blocks],
            "gas_used": [b.gas_used for b in blocks], "gas_reserved": [b.gas_reserved for b in blocks],
            "gas_limit": [b.gas_limit for b in blocks], "txs": [b.txs for b in blocks],
            "load_txs": [b.load_txs for b in blocks], "base_fee_gwei": [b.base_fee / GWEI for b in blocks],
            "replacement": [b.replacement for b in blocks]}
        settle = [r for r in producer.records() if r.label.startswith("settle")]
        waits = sorted(r.wait_ns for r in settle if r.wait_ns is not None)
        out.update(confirmations=cfg.confirmations, blocks_produced=figures.blocks, reorgs=figures.reorgs,
                   orphaned_settle_txs=sum(1 for r in settle if r.orphaned),
                   mempool_wait_ms_p50=round(waits[(len(waits) - 1) // 2] / 1e6, 3) if waits else None,
                   base_fee_max_gwei=round(figures.base_fee_max / GWEI, 3), node_outages=len(figures.outages))
    if run.swaps is not None:
        rows = run.swaps.rows()
        sim.tables["validator_swaps"] = {c: [r[c] for r in rows] for c in rows[0]} if rows else {}
        out["validator_swaps"] = sum(1 for r in rows if r["included_ns"] is not None and not r["error"])
    return out


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
                                                              tables["settlement_exposure"], sim.kernel.now,
                                                              trading_end_ns=sim.scenario.duration)
    sim.extra_files["settlement_blocks.png"] = blocks_png(tables["settlement_blocks"])


def _consensus(cfg: SettlementParams, seed: int) -> ConsensusConfig:
    """The committee's configuration (raises ConfigError / ConsensusError naming the bad setting)."""
    networked = cfg.certification != COMMITTEE
    names = [f"v{i}" for i in range(cfg.validators + cfg.standby)]
    partitions: tuple[Partition, ...] = ()
    if cfg.partition:
        if len(cfg.partition) != 2:
            raise ConfigError("give [from, until], e.g. [\"1m\", \"2m\"]", key="settlement.partition",
                              value=cfg.partition)
        start, end = (parse_duration(v, "settlement.partition") for v in cfg.partition)
        half = len(names) // 2
        partitions = (Partition((frozenset(names[:half]), frozenset(names[half:])), start, end),)
    try:
        behaviours = {int(k): v for k, v in cfg.behaviours.items()}
    except ValueError:
        raise ConfigError("keys are validator indices (0, 1, ...)", key="settlement.behaviours",
                          value=cfg.behaviours) from None
    return ConsensusConfig(nodes=cfg.validators + cfg.standby, byzantine=cfg.byzantine, behaviour=cfg.behaviour,
                           behaviours=behaviours, protocol=cfg.certification if networked else "bft", seed=seed,
                           latency=cfg.latency if networked else "fixed:1ms", loss=cfg.loss, gst=cfg.gst,
                           partitions=partitions)


def _table(raw: Any, key: str, fields: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    """One entry of a list-of-tables setting: known fields only, each a "duration" (parsed to ns) or an "int"
    (non-negative), the required ones present."""
    if not isinstance(raw, dict):
        raise ConfigError("must be a table, e.g. { at = \"5m\", depth = 1 }", key=key, value=raw)
    unknown = set(raw) - set(fields)
    if unknown:
        raise ConfigError(f"unknown key {sorted(unknown)[0]!r}; known: {', '.join(fields)}", key=key, value=raw)
    out: dict[str, Any] = {}
    for name, (kind, required) in fields.items():
        if name not in raw:
            if required:
                raise ConfigError(f"missing {name!r}", key=key, value=raw)
            continue
        value = raw[name]
        if kind == "duration":
            out[name] = parse_duration(value, f"{key}.{name}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{name} must be a non-negative integer", key=f"{key}.{name}", value=value)
        else:
            out[name] = value
    return out


def _faults(cfg: SettlementParams) -> list[BackgroundLoad | Reorg]:
    """The chain faults of the section (reorgs, background load), validated."""
    out: list[BackgroundLoad | Reorg] = []
    for i, raw in enumerate(cfg.reorgs):
        t = _table(raw, f"settlement.reorgs[{i}]", {"at": ("duration", True), "depth": ("int", True)})
        if not 1 <= t["depth"] < cfg.confirmations:
            raise ConfigError(f"depth must be 1..{cfg.confirmations - 1}: a reorg must not orphan final blocks "
                              "(raise confirmations)", key=f"settlement.reorgs[{i}].depth", value=t["depth"])
        out.append(Reorg(t["at"], t["depth"]))
    for i, raw in enumerate(cfg.load):
        key = f"settlement.load[{i}]"
        t = _table(raw, key, {"start": ("duration", True), "end": ("duration", True),
                              "txs_per_block": ("int", True), "priority_fee_gwei": ("int", False),
                              "gas": ("int", False)})
        if t["end"] <= t["start"] or t["txs_per_block"] < 1 or not 21_000 <= t.get("gas", 21_000) <= cfg.gas_limit:
            raise ConfigError("needs start < end, txs_per_block >= 1 and 21000 <= gas <= gas_limit", key=key,
                              value=raw)
        out.append(BackgroundLoad(t["start"], t["end"], t["txs_per_block"], t.get("priority_fee_gwei", 1) * GWEI,
                                  t.get("gas", 21_000)))
    return out


def _reconfigurations(cfg: SettlementParams) -> tuple[Reconfiguration, ...]:
    out = []
    for i, raw in enumerate(cfg.reconfigure):
        key = f"settlement.reconfigure[{i}]"
        t = _table(raw, key, {"height": ("int", True), "remove": ("int", True), "add": ("int", True)})
        n = cfg.validators + cfg.standby
        if t["height"] < 2 or t["remove"] >= n or t["add"] >= n:
            raise ConfigError(f"needs height >= 2 and validator indices 0..{n - 1} (add a standby validator to "
                              "swap in)", key=key, value=raw)
        out.append(Reconfiguration(t["height"], t["remove"], t["add"]))
    if out and cfg.certification != "bft":
        raise ConfigError("validator-set changes are supported with certification = \"bft\"",
                          key="settlement.reconfigure", value=cfg.reconfigure)
    return tuple(out)


def _assets(ctx: ParseContext) -> set[str]:
    out = set()
    for ic in ctx.parsed.get("instruments", ()):
        out.update((ic.instrument.base_asset, ic.instrument.quote_asset))
    return out


register_section(SettlementSection())


def _on_chain_options(sim: "Simulation", cfg: SettlementParams, stack: SettlementStack):
    """With listed options (issue 17): attach the option desk to the pipeline and return the trade validator that
    stages option trades with it (the committee for the rest); expiries are scheduled on the kernel."""
    listed = {sym: inst for sym, inst in sim.instruments.items() if inst.option is not None}
    if not listed:
        return stack.committee
    if cfg.certification != COMMITTEE or cfg.block_time or cfg.mode != "net":
        raise ConfigError("listed options settle on chain with the synchronous committee, at once, in net mode "
                          "(certification = \"committee\", block_time = \"0s\", mode = \"net\")",
                          key="settlement.certification", value=cfg.certification)
    try:
        series = {sym: series_of(inst, sim.instruments[inst.option.underlying], cfg.options_window)
                  for sym, inst in listed.items()}
        desk = attach_options(stack)
        for s in series.values():
            desk.list_series(s)
    except SettlementError as exc:
        raise ConfigError(str(exc), key="settlement", value="options") from None
    for s in sorted(set(series.values()), key=lambda s: (s.expiry, s.label)):
        sim.kernel.schedule_at(s.expiry, desk.expire, s)
    return OptionGate(stack.committee, desk, sim.instruments, series)


def _option_results(sim: "Simulation", desk) -> list:
    """Tables of the on-chain options (premium trades, expiries, payouts) and their reconciliation differences."""
    if desk is None:
        return []
    for sequence, content in desk.settled:
        for ot in content.trades:
            sim.record("options_on_chain", {"batch": sequence, "kind": "premium", "series": ot.series.label,
                                            "account": ot.buyer, "counterparty": ot.seller,
                                            "contracts": ot.contracts, "amount": -ot.premium - ot.fee,
                                            "settlement_price": None})
        for e in content.expiries:
            for account, amount in e.payouts:
                sim.record("options_on_chain", {"batch": sequence, "kind": "payout", "series": e.series.label,
                                                "account": account, "counterparty": "", "contracts": None,
                                                "amount": amount, "settlement_price": e.settlement_price})
    diffs = reconcile_options(desk)
    sim.extra_files["options_reconciliation.txt"] = (
        "\n".join(f"{d.kind}: {d.subject}: {d.detail}" for d in diffs) or
        f"clean: {len(desk.series)} series, {sum(len(c.trades) for _, c in desk.settled)} premium trades, "
        f"{sum(len(c.expiries) for _, c in desk.settled)} expiries settled on chain, every option leaf proven "
        "against the on-chain root").encode() + b"\n"
    return diffs
