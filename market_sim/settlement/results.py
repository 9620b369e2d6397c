"""The [settlement] section's typed result (rendered into metrics.json and the run summary)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from market_sim.settlement.tracker import StageLatency
from market_sim.simulation.metrics import RESULT_TYPES, SectionResult, figure, yes

__all__ = ["SettlementSectionResult", "StageLatency"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementSectionResult(SectionResult):
    """Trades settled on chain in batches, then the ledger reconciled against the chain.

    The lifecycle figures lead: settlement latency in simulated time (executed -> final) and the largest value
    pending (executed, not final) at any time, in the quote asset `pending_exposure_asset` (None with no lifecycle
    events, or with several quote assets: see the settlement_pending table)."""

    section = "settlement"

    latency_ms_p50_executed_to_final: float | None = figure("settlement latency p50, executed -> final (ms)",
                                                           headline=True, default=None)
    latency_ms_p99_executed_to_final: float | None = figure("settlement latency p99, executed -> final (ms)",
                                                           headline=True, default=None)
    max_pending_exposure: float | None = figure("max pending exposure (quote)", headline=True, default=None)
    pending_exposure_asset: str = figure("pending exposure asset", default="")
    max_account_exposure: float | None = figure("max pending exposure of one account (quote)", default=None)
    max_exposure_account: str = figure("account with the max pending exposure", default="")
    trades_final: int = figure("trades final", default=0)
    trades_requeued: int = figure("trades requeued (expired batch)", default=0)
    trades_unsettled_at_end: int = figure("trades not final at the end", default=0)
    stage_latency: dict[str, StageLatency] = field(default_factory=dict, metadata={"label": "latency"})
    blocks_with_batches: int = figure("blocks with batches", default=0)
    max_gas_per_block: int | None = figure("max gas in one block", default=None)
    heights_skipped: int = figure("heights skipped on chain (expired, log agrees)", default=0)
    trades_proven_off_chain: int = figure("trades proven off chain", default=0)
    proofs_checked_on_chain: int = figure("off-chain proofs checked on chain (sample)", default=0)
    trades_settled: int = figure("settled trades", headline=True)
    settlement_batches: int = figure("settled batches", headline=True)
    reconciled: bool = figure("reconciliation ok", headline=True)
    trades_rejected_by_validators: int = figure("rejected by validators", headline=True)
    gas_per_settled_trade: int | None = figure("gas per settled trade", headline=True)
    reconciliation_differences: int = figure("reconciliation differences", default=0)
    chain: str = figure("settlement chain", default="")
    contract: str = figure("settlement contract", default="")
    validators: int = figure("validators", default=0)
    byzantine: int = figure("Byzantine validators", default=0)
    behaviour: str = figure("Byzantine behaviour", default="")
    quorum: int = figure("quorum", default=0)
    trades_failed_settlement: int = figure("trades failed settlement", default=0)
    settlement_reverts: int = figure("settlement reverts", default=0)
    ledger_corrections: int = figure("ledger corrections", default=0)
    settled_trades_per_second: float | None = figure("settled trades / s (wall)", default=None)
    trade_log_verified: bool = figure("trade log verified", default=True)
    log_roots_equal_chain_roots: bool = figure("log roots = chain roots", default=True)
    certification: str = figure("certification protocol", default="")
    batch_certification_ms_p50: float | None = figure("batch certification p50, cut -> QC (ms)", default=None)
    batch_certification_ms_p99: float | None = figure("batch certification p99, cut -> QC (ms)", default=None)
    certification_stalls: int = figure("certification stalls (> 10 block times without a QC)", default=0)
    block_time_ms: int = figure("block time (ms; 0 = settled at once)", default=0)
    confirmations: int = figure("confirmations until final", default=0)
    blocks_produced: int = figure("blocks produced", default=0)
    reorgs: int = figure("reorgs", default=0)
    orphaned_settle_txs: int = figure("settle transactions orphaned and re-included", default=0)
    mempool_wait_ms_p50: float | None = figure("settle tx mempool wait p50 (ms)", default=None)
    base_fee_max_gwei: float | None = figure("max base fee (gwei)", default=None)
    node_outages: int = figure("node outages (RPC unreachable)", default=0)
    validator_swaps: int = figure("validator swaps applied on chain", default=0)
    drained_ms: int = figure("ran on after trading ended (ms)", default=0)
    borrow_fees_paid: str = figure("borrow fees paid to the lending pools (margin)", default="")
    borrow_fees_accrued: str = figure("borrow fees accrued, not charged yet (margin; exact)", default="")

    @classmethod
    def from_legacy(cls, flat: Mapping[str, Any]) -> tuple["SettlementSectionResult", set[str]] | None:
        """The figures of a version-1 metrics.json ('settlement_chain' marks a [settlement] run)."""
        if "settlement_chain" not in flat:
            return None
        text = str(flat.get("validators", ""))
        committee = re.match(r"\s*(\d+) \((\d+) ([\w-]+)\), quorum (\d+)", text)
        recon = str(flat.get("reconciliation", ""))
        differences = re.search(r"(\d+) differences", recon)
        keys = {"settlement_chain", "settlement_contract", "validators", "trades_rejected_by_validators",
                "trades_settled", "trades_failed_settlement", "settlement_batches", "settlement_reverts",
                "ledger_corrections", "gas_per_settled_trade", "settled_trades_per_second", "trade_log_verified",
                "log_roots_equal_chain_roots", "reconciliation"}
        return cls(trades_settled=flat.get("trades_settled", 0), settlement_batches=flat.get("settlement_batches", 0),
                   reconciled=yes(recon), trades_rejected_by_validators=flat.get("trades_rejected_by_validators", 0),
                   gas_per_settled_trade=flat.get("gas_per_settled_trade"),
                   reconciliation_differences=int(differences.group(1)) if differences else 0,
                   chain=str(flat.get("settlement_chain", "")), contract=str(flat.get("settlement_contract", "")),
                   validators=int(committee.group(1)) if committee else 0,
                   byzantine=int(committee.group(2)) if committee else 0,
                   behaviour=committee.group(3) if committee else "",
                   quorum=int(committee.group(4)) if committee else 0,
                   trades_failed_settlement=flat.get("trades_failed_settlement", 0),
                   settlement_reverts=flat.get("settlement_reverts", 0),
                   ledger_corrections=flat.get("ledger_corrections", 0),
                   settled_trades_per_second=flat.get("settled_trades_per_second"),
                   trade_log_verified=yes(flat.get("trade_log_verified")),
                   log_roots_equal_chain_roots=yes(flat.get("log_roots_equal_chain_roots"))), \
            {k for k in keys if k in flat}


RESULT_TYPES.register(SettlementSectionResult)
