"""A trade's path to finality, as events in simulated time.

Every trade the settlement path receives moves through

    executed ──▶ certified (quorum certificate) ──▶ included (in a block) ──▶ final (k confirmations)

and may also be `orphaned` (its block left the canonical chain in a reorg: it waits to be included again),
`requeued` (its batch expired unsettled and can never settle: the trade goes into a later batch) or `failed`
(it will never settle, with the reason). Batches move through the same stages plus `cut` (built from pending
trades) and `expired`. The pipeline publishes one event per transition on the simulation's bus under the topic
`("settlement", venue)`; the lifecycle tracker, the recorder, plots and the API consume them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Stage", "TradeStageEvent", "BatchStageEvent", "settlement_topic"]


class Stage(StrEnum):
    CUT = "cut"                # batches only: built from pending trades
    EXECUTED = "executed"      # trades only: matched (and approved pre-trade) on the venue
    CERTIFIED = "certified"    # the committee's quorum certificate exists
    SUBMITTED = "submitted"    # the settle transaction is in the mempool
    INCLUDED = "included"      # in a block of the canonical chain
    FINAL = "final"            # `confirmations` blocks deep
    ORPHANED = "orphaned"      # its block was reorganised away; waiting to be included again
    EXPIRED = "expired"        # batches only: past its certificate's expiry block, unsettled; can never settle
    REQUEUED = "requeued"      # trades only: out of an expired batch, into a later one
    FAILED = "failed"          # will never settle (detail says why)


@dataclass(frozen=True, slots=True)
class TradeStageEvent:
    """Trade `trade_id` reached `stage` at simulated time `ts` (ns)."""

    trade_id: int
    stage: Stage
    ts: int
    sequence: int | None = None   # the batch it is in, once it is in one
    block: int | None = None      # the block, for included / final / orphaned
    detail: str = ""              # for failed / requeued: why


@dataclass(frozen=True, slots=True)
class BatchStageEvent:
    """Batch `sequence` reached `stage` at simulated time `ts` (ns)."""

    sequence: int
    stage: Stage
    ts: int
    trade_count: int
    block: int | None = None
    gas_used: int = 0
    tx_hash: str = ""
    detail: str = ""


def settlement_topic(venue: str) -> tuple[str, str]:
    """The bus topic of a settlement venue's lifecycle events."""
    return ("settlement", venue)
