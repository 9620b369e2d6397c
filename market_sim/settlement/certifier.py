"""Certifiers: where the pipeline gets a batch's quorum certificate (the consensus committee, or plain keys)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from market_sim.consensus.committee import Committee
from market_sim.consensus.log import LogBlock
from market_sim.consensus.signing import ValidatorKey, batch_digest
from market_sim.core.errors import ConsensusError, SettlementError
from market_sim.core.events import Trade
from market_sim.settlement.batch import SettlementBatch, pack_signatures
from market_sim.settlement.client import SettlementClient

__all__ = ["CommitteeCertifier", "KeyCertifier"]


class CommitteeCertifier:
    """The BFT committee certifies each batch (log height == on-chain sequence); returns its packed QC.

    With `threshold` (the contract's, read when needed) only that many signatures are sent: every extra one costs an
    ecrecover and 65 bytes of calldata. Asked again for a batch it already certified (after a certificate revert),
    it returns the committee's whole certificate: a certified height is final and cannot be certified twice.
    """

    def __init__(self, committee: Committee, threshold: Callable[[], int] | None = None) -> None:
        self.committee = committee
        self.threshold = threshold
        self._certified: dict[int, LogBlock] = {}

    def certify(self, batch: SettlementBatch, trades: Sequence[Trade]) -> bytes:
        done = self._certified.get(batch.sequence)
        if done is not None and done.merkle_root == batch.header.merkle_root:
            return pack_signatures(done.qc.signatures)
        log = self.committee.log
        if log.height + 1 != batch.sequence or log.head_hash != batch.header.prev_hash:
            raise ConsensusError(f"the trade log is at height {log.height} but the chain expects batch "
                                 f"{batch.sequence}: log and chain have diverged")
        block = self.committee.certify_batch(trades)
        if block.merkle_root != batch.header.merkle_root:
            raise SettlementError(f"batch {batch.sequence}: the committee certified root {block.merkle_root.hex()}, "
                                  f"settlement built {batch.header.merkle_root.hex()} (leaf encoders differ)")
        self._certified = {batch.sequence: block}
        signatures = block.qc.signatures
        if self.threshold is not None:
            signatures = signatures[:max(self.threshold(), 1)]
        return pack_signatures(signatures)


class KeyCertifier:
    """Signs with a fixed set of validator keys: for benchmarks that measure settlement alone, and tools."""

    def __init__(self, client: SettlementClient, keys: Sequence[ValidatorKey]) -> None:
        self.client = client
        self.keys = tuple(keys)

    def certify(self, batch: SettlementBatch, trades: Sequence[Trade]) -> bytes:
        h = batch.header
        digest = batch_digest(self.client.domain, h.sequence, h.prev_hash, h.merkle_root)
        return pack_signatures([(k.address, k.sign(digest)) for k in self.keys])
