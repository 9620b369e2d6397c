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
from dataclasses import dataclass, replace
from typing import Protocol

from market_sim.blockchain.chain import PreparedTx
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

    The gas limit: `gas` if given; else the first settle transaction's is estimated (one execution of it on the
    head state) and later ones are sized from what settle transactions used so far, per byte of calldata (the
    batch's trades or deltas, signatures and skipped headers are all in it), with `margin` headroom: estimating every
    one would execute each settle transaction twice. A transaction that still runs out of gas (status 0, every unit
    of its limit used) is estimated and sent again at once; nothing else changes on chain for a reverted
    transaction. The bid is EIP-1559 with `priority_fee` (wei)."""

    def __init__(self, client: SettlementClient, producer: BlockProducer, *, priority_fee: int = GWEI,
                 gas: int | None = None, margin: float = 1.5) -> None:
        self.client = client
        self.producer = producer
        self.priority_fee = priority_fee
        self.gas = gas
        self.margin = margin
        self.gas_per_byte: float | None = None   # most gas per calldata byte a settle transaction used so far
        self.estimates = 0                       # transactions whose gas was estimated (executed once more)
        self.out_of_gas = 0                      # transactions sent again after running out of gas

    def _prepare(self, call: object, estimate: bool) -> PreparedTx:
        chain = self.client.chain
        if self.gas is not None:
            return chain.prepare(call, sender=self.client.submitter, gas=self.gas)
        if estimate or self.gas_per_byte is None:
            self.estimates += 1
            return chain.prepare(call, sender=self.client.submitter)
        sized = chain.prepare(call, sender=self.client.submitter, gas=21_000)
        size = _calldata_bytes(sized)
        limit = max(int(self.gas_per_byte * size * self.margin), 21_000 + 16 * size) + 50_000  # >= intrinsic gas
        return replace(sized, gas=min(limit, self.producer.gas_limit))

    def submit(self, batch: SettlementBatch, signatures: bytes, skipped: Sequence[BatchHeader],
               callbacks: SubmitCallbacks) -> None:
        call = self.client.settle_call(batch, signatures, skipped)
        try:
            tx = self._prepare(call, estimate=False)
        except (ContractRevertError, SettlementError) as exc:  # the estimate already reverts
            callbacks.on_reverted(exc)
            return
        info: list[SettledBatchInfo] = []  # the batch as last included
        sent = [tx]

        def on_event(event: object) -> None:
            if type(event) is TxIncluded:
                if not event.ok:
                    if event.gas_used >= sent[-1].gas and self.gas is None:  # all gas used: out of gas
                        self.out_of_gas += 1  # sized too small: estimate it and send it again
                        try:
                            sent.append(self._prepare(call, estimate=True))
                        except (ContractRevertError, SettlementError) as exc:
                            callbacks.on_reverted(exc)
                            return
                        self.producer.submit(sent[-1], priority_fee=self.priority_fee,
                                             label=f"settle #{batch.sequence}", on_event=on_event)
                        return
                    callbacks.on_reverted(event.error or SettlementError(
                        f"batch {batch.sequence}: settle transaction {event.tx_hash} reverted"))
                    return
                per_byte = event.gas_used / _calldata_bytes(sent[-1])
                self.gas_per_byte = max(self.gas_per_byte or 0.0, per_byte)
                info[:] = [self.client.settled_info(Receipt.of(event.receipt), event.tx_hash)]
                callbacks.on_included(info[0])
            elif type(event) is TxFinal and info and event.status == 1:
                callbacks.on_final(info[0])
            elif type(event) is TxOrphaned and info:
                callbacks.on_orphaned(info[0])

        self.producer.submit(tx, priority_fee=self.priority_fee, label=f"settle #{batch.sequence}",
                             on_event=on_event)


def _calldata_bytes(tx: PreparedTx) -> int:
    return max((len(tx.data) - 2) // 2, 1)
