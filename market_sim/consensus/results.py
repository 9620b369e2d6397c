"""The [consensus] section's typed result (rendered into metrics.json and the run summary)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from market_sim.simulation.metrics import RESULT_TYPES, SectionResult, figure, yes

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

    @classmethod
    def from_legacy(cls, flat: Mapping[str, Any]) -> tuple["ConsensusSectionResult", set[str]] | None:
        """The figures of a version-1 metrics.json ('consensus_protocol' marks a [consensus] run)."""
        if "consensus_protocol" not in flat:
            return None
        text = str(flat.get("validators", ""))
        size = re.match(r"\s*(\d+)", text)
        quorum = re.search(r"quorum (\d+)", text)
        byzantine = {node.strip(): behaviour for _, behaviour, nodes in re.findall(r"(\d+) ([\w-]+) \(([^)]*)\)", text)
                     for node in nodes.split(",")}
        keys = {"validators": None, "consensus_protocol": None, "trades_finalized": 0, "batches_finalized": 0,
                "trades_rejected_by_validators": 0, "finality_latency_ms_p50": None, "trade_log_verified": None,
                "trades_pending_at_end": 0, "finality_latency_ms_p99": None, "pretrade_vote_ms_p50": None,
                "consensus_messages_per_batch": 0.0, "consensus_rounds": 0, "equivocations_detected": 0,
                "honest_logs_agree": None, "trade_log_head": ""}
        g = {k: flat.get(k, d) for k, d in keys.items()}
        return cls(trades_finalized=g["trades_finalized"], batches_finalized=g["batches_finalized"],
                   trades_rejected_by_validators=g["trades_rejected_by_validators"],
                   finality_latency_ms_p50=g["finality_latency_ms_p50"],
                   trade_log_verified=yes(g["trade_log_verified"]), protocol=str(g["consensus_protocol"]),
                   validators=int(size.group(1)) if size else 0, quorum=int(quorum.group(1)) if quorum else 0,
                   byzantine=byzantine, trades_pending_at_end=g["trades_pending_at_end"],
                   finality_latency_ms_p99=g["finality_latency_ms_p99"],
                   pretrade_vote_ms_p50=g["pretrade_vote_ms_p50"],
                   messages_per_batch=float(g["consensus_messages_per_batch"]), rounds=g["consensus_rounds"],
                   equivocations_detected=g["equivocations_detected"],
                   honest_logs_agree=yes(g["honest_logs_agree"]), trade_log_head=str(g["trade_log_head"])), \
            {k for k in keys if k in flat}


RESULT_TYPES.register(ConsensusSectionResult)
