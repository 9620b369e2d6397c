"""The [consensus] section's typed result (rendered into metrics.json and the run summary)."""

from __future__ import annotations

from dataclasses import dataclass, field

from market_sim.simulation.metrics import RESULT_TYPES, SectionResult, figure

__all__ = ["ConsensusSectionResult"]


@dataclass(frozen=True, slots=True)
class ConsensusSectionResult(SectionResult):
    """Trades approved by the validator committee, ordered and certified; latencies in milliseconds."""

    section = "consensus"

    trades_finalized: int = figure("trades finalized", headline=True)
    batches_finalized: int = figure("batches finalized", headline=True)
    trades_rejected_by_validators: int = figure("rejected by validators", headline=True)
    finality_latency_ms_p50: float | None = figure("finality p50 (ms)", headline=True)
    trade_log_verified: bool = figure("trade log verified", headline=True)
    protocol: str = figure("consensus protocol")
    validators: int = figure("validators")
    quorum: int = figure("quorum")
    byzantine: dict[str, str] = field(default_factory=dict, metadata={"label": "Byzantine validators"})
    trades_pending_at_end: int = figure("trades pending at end", default=0)
    finality_latency_ms_p99: float | None = figure("finality p99 (ms)", default=None)
    pretrade_vote_ms_p50: float | None = figure("pre-trade vote p50 (ms)", default=None)
    messages_per_batch: float = figure("messages per batch", default=0.0)
    rounds: int = figure("consensus rounds", default=0)
    equivocations_detected: int = figure("equivocations detected", default=0)
    honest_logs_agree: bool = figure("honest logs agree", default=True)
    trade_log_head: str = figure("trade log head", default="")


RESULT_TYPES.register(ConsensusSectionResult)
