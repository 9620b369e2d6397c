"""The [settlement] section's typed result (rendered into metrics.json and the run summary)."""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.simulation.metrics import RESULT_TYPES, SectionResult, figure

__all__ = ["SettlementSectionResult"]


@dataclass(frozen=True, slots=True)
class SettlementSectionResult(SectionResult):
    """Trades settled on chain in batches, then the ledger reconciled against the chain."""

    section = "settlement"

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


RESULT_TYPES.register(SettlementSectionResult)
