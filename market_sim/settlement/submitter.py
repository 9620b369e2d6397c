"""Submitters: how a certified batch's settle transaction reaches the chain, reported back through callbacks.

`submit(batch, signatures, skipped, callbacks)` hands the transaction over; the submitter then calls back, now or
later: `on_included(info)` (in a block of the canonical chain), `on_final(info)` (enough confirmations),
`on_orphaned(info)` (its block was reorganised away; it waits to be included again: a later `on_included`) or
`on_reverted(exc)` (the contract refused it: a ContractRevertError with the decoded custom error, or a
SettlementError). A submitter that loses the transaction simply never calls back: the pipeline gives the batch up
once its certificate expired, when it can provably never settle.

DirectSubmitter sends and waits (eth-tester mines at once; a node with automine too) and calls back before
returning, so included and final coincide. ProducerSubmitter hands the transaction to a kernel-driven
BlockProducer (market_sim.blockchain.producer: mempool, gas price, gas limit, confirmations, reorgs), so a batch is
included at its block's simulated time and final `confirmations` blocks later; a transaction the producer drops
(ttl, eviction) gets no callback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from market_sim.blockchain.clients import Receipt
from market_sim.blockchain.producer import GWEI, BlockProducer, TxIncluded, TxFinal, TxOrphaned
from market_sim.core.errors import ContractRevertError, SettlementError
from market_sim.settlement.batch import BatchHeader, SettlementBatch
from market_sim.settlement.client import SettledBatchInfo, SettlementClient

__all__ = ["SubmitCallbacks", "Submitter", "DirectSubmitter", "ProducerSubmitter"]


@dataclass(frozen=True, slots=True)
class SubmitCallbacks:
    """What a submitter reports about one settle transaction."""

    on_included: Callable[[SettledBatchInfo], None]
    on_final: Callable[[SettledBatchInfo], None]
    on_reverted: Callable[[ContractRevertError | SettlementError], None]
    on_orphaned: Callable[[SettledBatchInfo], None]


class Submitter(Protocol):
    def submit(self, batch: SettlementBatch, signatures: bytes, skipped: Sequence[BatchHeader],
               callbacks: SubmitCallbacks) -> None:
        """Send the settle transaction of `batch` (after skipping the expired `skipped`); report via callbacks."""
        ...


class DirectSubmitter:
    """Sends the settle transaction and waits for its receipt; calls back at once (included == final)."""

    def __init__(self, client: SettlementClient) -> None:
        self.client = client

    def submit(self, batch: SettlementBatch, signatures: bytes, skipped: Sequence[BatchHeader],
               callbacks: SubmitCallbacks) -> None:
        try:
            info = self.client.submit(batch, signatures, skipped)
        except (ContractRevertError, SettlementError) as exc:
            callbacks.on_reverted(exc)
            return
        callbacks.on_included(info)
        callbacks.on_final(info)


class ProducerSubmitter:
    """Sends settle transactions through a BlockProducer and reports them as the producer does, in simulated time.

    The gas limit is estimated when the transaction is handed over (the pipeline sends one batch at a time, after
    the previous one is included) unless `gas` is given; the bid is EIP-1559 with `priority_fee` (wei)."""

    def __init__(self, client: SettlementClient, producer: BlockProducer, *, priority_fee: int = GWEI,
                 gas: int | None = None) -> None:
        self.client = client
        self.producer = producer
        self.priority_fee = priority_fee
        self.gas = gas

    def submit(self, batch: SettlementBatch, signatures: bytes, skipped: Sequence[BatchHeader],
               callbacks: SubmitCallbacks) -> None:
        try:
            tx = self.client.chain.prepare(self.client.settle_call(batch, signatures, skipped),
                                           sender=self.client.submitter, gas=self.gas)
        except (ContractRevertError, SettlementError) as exc:  # the estimate already reverts
            callbacks.on_reverted(exc)
            return
        info: list[SettledBatchInfo] = []  # the batch as last included

        def on_event(event: object) -> None:
            if type(event) is TxIncluded:
                if not event.ok:
                    callbacks.on_reverted(event.error or SettlementError(
                        f"batch {batch.sequence}: settle transaction {event.tx_hash} reverted"))
                    return
                info[:] = [self.client.settled_info(Receipt.of(event.receipt), event.tx_hash)]
                callbacks.on_included(info[0])
            elif type(event) is TxFinal and info and event.status == 1:
                callbacks.on_final(info[0])
            elif type(event) is TxOrphaned and info:
                callbacks.on_orphaned(info[0])

        self.producer.submit(tx, priority_fee=self.priority_fee, label=f"settle #{batch.sequence}",
                             on_event=on_event)
