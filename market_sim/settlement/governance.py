"""Validator-set changes mid-run: the contract's validator set follows the committee's reconfigurations.

A reconfiguration (consensus.cluster.Reconfiguration) says: from log height `height` on, validator `remove`
leaves and standby `add` joins. Log height == on-chain batch sequence, so the contract must hold the new set
before batch `height` settles and the old one until batch `height - 1` did. `ValidatorSwaps` is a pipeline gate:
when batch `height` is next to be cut (the one before it is included: one batch is on its way at a time) it sends
the governance transactions (addValidator, then removeValidator; through the block producer, bidding above the
settle transactions, or at once without one) and holds the cut until both are included, then lets the pipeline
go on. A batch of the old set still unsettled then (an orphaned inclusion) is re-certified with the signers the
contract accepts, or expires and is skipped: nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from market_sim.blockchain.producer import GWEI, BlockProducer, TxDropped, TxIncluded
from market_sim.consensus.cluster import Reconfiguration
from market_sim.settlement.client import SettlementClient

__all__ = ["ValidatorSwaps", "SwapRecord"]


@dataclass(slots=True)
class SwapRecord:
    """One validator swap as it happened on chain (simulated ns; blocks)."""

    height: int
    added: str
    removed: str
    threshold: int
    sent_at: int | None = None
    included_at: int | None = None
    block: int | None = None
    pending: set[int] = field(default_factory=set)  # producer tx ids not yet included
    error: str = ""


class ValidatorSwaps:
    """A SettlementPipeline gate applying the committee's reconfigurations to the contract (module docstring)."""

    def __init__(self, client: SettlementClient, changes: Sequence[Reconfiguration], addresses: Sequence[str],
                 quorum_at: Callable[[int], int], *, producer: BlockProducer | None = None,
                 now: Callable[[], int] = lambda: 0, resume: Callable[[], None] = lambda: None,
                 priority_fee: int = 10 * GWEI) -> None:
        self.client = client
        self.producer = producer
        self.now = now
        self.resume = resume
        self.priority_fee = priority_fee
        self.records = {c.height: SwapRecord(c.height, addresses[c.add], addresses[c.remove], quorum_at(c.height))
                        for c in changes}

    def __call__(self, sequence: int) -> bool:
        record = self.records.get(sequence)
        if record is None or record.included_at is not None:
            return True
        if record.sent_at is None:
            self._send(record)
        return record.included_at is not None

    def _send(self, record: SwapRecord) -> None:
        record.sent_at = self.now()
        if self.producer is None:
            self.client.swap_validator(record.added, record.removed, record.threshold)
            record.included_at, record.block = self.now(), self.client.head
            return
        for call in self.client.swap_validator_calls(record.added, record.removed, record.threshold):
            # the gas is fixed: the estimate of removeValidator would run before addValidator is mined
            tx = self.client.chain.prepare(call, gas=200_000)
            tx_id = self.producer.submit(tx, priority_fee=self.priority_fee,
                                         label=f"validator swap for batch {record.height}",
                                         on_event=lambda event, r=record: self._event(r, event))
            record.pending.add(tx_id)

    def _event(self, record: SwapRecord, event: object) -> None:
        if type(event) is TxIncluded:
            if not event.ok:
                record.error = f"{event.label} reverted: {event.error or 'no reason given'}"
            record.pending.discard(event.tx_id)
        elif type(event) is TxDropped:
            record.error = f"{event.label} was dropped: {event.reason.value} {event.detail}"
            record.pending.discard(event.tx_id)
        else:
            return
        if not record.pending:  # done (a failed swap is reported; batches of the new set then expire and requeue)
            record.included_at, record.block = self.now(), self.client.head
            self.resume()

    def rows(self) -> list[dict]:
        return [{"height": r.height, "added": r.added, "removed": r.removed, "threshold": r.threshold,
                 "sent_ns": r.sent_at, "included_ns": r.included_at, "block": r.block, "error": r.error}
                for r in self.records.values()]
