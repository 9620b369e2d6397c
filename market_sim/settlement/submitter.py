"""Submitters: how a certified batch's settle transaction reaches the chain, reported back through callbacks.

`submit(batch, signatures, skipped, callbacks)` hands the transaction over; the submitter then calls back, now or
later: `on_included(info)` (in a block of the canonical chain), `on_final(info)` (enough confirmations),
`on_orphaned(info)` (its block was reorganised away; it waits to be included again: a later `on_included`) or
`on_reverted(exc)` (the contract refused it: a ContractRevertError with the decoded custom error, or a
SettlementError). A submitter that loses the transaction simply never calls back: the pipeline gives the batch up
once its certificate expired, when it can provably never settle.

DirectSubmitter sends and waits (eth-tester mines at once; a node with automine too) and calls back before
returning, so included and final coincide. A kernel-driven block producer (mempool, gas, confirmations, reorgs)
implements the same protocol with SettlementClient.settle_call / send_call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from market_sim.core.errors import ContractRevertError, SettlementError
from market_sim.settlement.batch import BatchHeader, SettlementBatch
from market_sim.settlement.client import SettledBatchInfo, SettlementClient

__all__ = ["SubmitCallbacks", "Submitter", "DirectSubmitter"]


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
