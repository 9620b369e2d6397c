"""Certifiers: where the pipeline gets a batch's quorum certificate (the consensus committee, or plain keys).

The pipeline talks to a certifier through `request(batch, trades, on_certified, on_refused)`: the certifier calls
`on_certified(signatures)` (packed 65-byte signatures, signers ascending) or `on_refused(reason)` exactly once, now
or later (a networked committee on the simulation's kernel answers when its protocol decides). It also learns when a
certified batch expired unsettled (`expired(batch)`), so the validators free its trades for a later batch.
The synchronous certifiers here answer at once; ProtocolCertifier answers when the networked protocol (bft,
streamlet, majority, raft) running on the simulation's kernel certifies the batch's height.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from market_sim.consensus.certification import BatchCertifier
from market_sim.consensus.committee import Committee
from market_sim.consensus.log import LogBlock, TradeLog
from market_sim.consensus.signing import ValidatorKey, batch_digest
from market_sim.core.errors import ConsensusError, SettlementError
from market_sim.core.events import Trade
from market_sim.core.orders import NewOrder
from market_sim.settlement.batch import SettlementBatch, pack_signatures
from market_sim.settlement.client import SettlementClient

__all__ = ["CommitteeCertifier", "ProtocolCertifier", "KeyCertifier", "OnCertified", "OnRefused"]

OnCertified = Callable[[bytes], None]
OnRefused = Callable[[str], None]
Governance = Callable[[Sequence[str]], tuple[int, list[bool]]]  # signers -> (threshold, accepted)


def _packed_certificate(block: LogBlock, accepts: Callable[[str], bool] | None,
                        threshold: Callable[[], int] | None, governance: Governance | None = None) -> bytes:
    """A block's quorum certificate as the contract takes it: the signers it accepts now, at most its threshold.

    `governance` (e.g. SettlementClient.governance) reads the threshold and which signers are validators in one
    go; it replaces `accepts` and `threshold` when given."""
    signatures = block.qc.signatures if block.qc is not None else ()
    if governance is not None:
        limit, ok = governance([signer for signer, _ in signatures])
        signatures = tuple(s for s, accepted in zip(signatures, ok) if accepted)[:max(limit, 1)]
        return pack_signatures(signatures)
    if accepts is not None:
        signatures = tuple(s for s in signatures if accepts(s[0]))
    if threshold is not None:
        signatures = signatures[:max(threshold(), 1)]
    return pack_signatures(signatures)


class _Synchronous:
    """request() in terms of a synchronous certify(): answers at once."""

    def certify(self, batch: SettlementBatch, trades: Sequence[Trade]) -> bytes:
        raise NotImplementedError

    def request(self, batch: SettlementBatch, trades: Sequence[Trade], on_certified: OnCertified,
                on_refused: OnRefused) -> None:
        try:
            signatures = self.certify(batch, trades)
        except ConsensusError as exc:
            on_refused(str(exc))
            return
        on_certified(signatures)

    def expired(self, batch: SettlementBatch) -> None:
        """Batch `batch` expired unsettled (nothing to do for a certifier without state)."""


class CommitteeCertifier(_Synchronous):
    """The BFT committee certifies each batch (log height == on-chain sequence); returns its packed QC.

    The batch's stateBlock and expiresAt are part of what the committee signs. Only signers the contract accepts
    now are sent (`accepts`, e.g. SettlementClient.is_validator: a validator removed on chain after certifying is
    left out) and, with `threshold` (the contract's, read when needed), only that many: every extra one costs an
    ecrecover and 65 bytes of calldata. Asked again for a batch it already certified, it returns the same
    certificate (filtered again): a certified height is final and cannot be certified twice; if too few accepted
    signers remain, the batch expires and a later batch skips it.
    """

    def __init__(self, committee: Committee, threshold: Callable[[], int] | None = None,
                 accepts: Callable[[str], bool] | None = None, governance: Governance | None = None) -> None:
        self.committee = committee
        self.threshold = threshold
        self.accepts = accepts
        self.governance = governance
        self._certified: dict[int, LogBlock] = {}

    def certify(self, batch: SettlementBatch, trades: Sequence[Trade]) -> bytes:
        h = batch.header
        done = self._certified.get(batch.sequence)
        if done is None and batch.sequence <= self.committee.log.height:
            done = self.committee.log.block(batch.sequence)
        if done is not None:
            if done.hash != h.struct_hash():
                raise ConsensusError(f"batch {batch.sequence} differs from the block the committee certified at that "
                                     "height")
            return self._packed(done)
        log = self.committee.log
        if log.height + 1 != batch.sequence or log.head_hash != h.prev_hash:
            raise ConsensusError(f"the trade log is at height {log.height} but the chain expects batch "
                                 f"{batch.sequence}: log and chain have diverged")
        block = self.committee.certify_batch(trades, state_block=h.state_block, expires_at=h.expires_at)
        if block.merkle_root != h.merkle_root:
            raise SettlementError(f"batch {batch.sequence}: the committee certified root {block.merkle_root.hex()}, "
                                  f"settlement built {h.merkle_root.hex()} (leaf encoders differ)")
        self._certified = {batch.sequence: block}
        return self._packed(block)

    def _packed(self, block: LogBlock) -> bytes:
        return _packed_certificate(block, self.accepts, self.threshold, self.governance)

    def expired(self, batch: SettlementBatch) -> None:
        if batch.sequence <= self.committee.log.height and batch.sequence not in self.committee.log.expired:
            self.committee.expire(batch.sequence)


class ProtocolCertifier:
    """The networked committee on the simulation's kernel as the pipeline's certifier and the venues' trade validator.

    Pre-trade approval is the cluster's signed vote at the engine's trade boundary (`validate_trade`); a batch is
    certified when the protocol's leader for its height proposes exactly that batch, the honest validators check it
    (solvency at its stateBlock, its expiry) and a quorum certificate forms, at that simulated time, with the
    scenario's latency, loss, partitions and Byzantine behaviours. Certificates go out filtered like
    CommitteeCertifier's; asked again for a certified height (a certificate revert), the same certificate is
    re-filtered at once. An expired batch's trades are handed back to the validators (requeue), to be certified at
    a later height.
    """

    def __init__(self, certifier: BatchCertifier, threshold: Callable[[], int] | None = None,
                 accepts: Callable[[str], bool] | None = None, governance: Governance | None = None) -> None:
        self.net = certifier
        self.threshold = threshold
        self.accepts = accepts
        self.governance = governance
        self._blocks: dict[int, LogBlock] = {}   # sequence -> the block certified for it
        self._requeued: set[int] = set()         # expired sequences whose trades went back to the validators

    def validate_trade(self, trade: Trade, buy: NewOrder, sell: NewOrder) -> str | None:
        return self.net.validate_trade(trade, buy, sell)

    def request(self, batch: SettlementBatch, trades: Sequence[Trade], on_certified: OnCertified,
                on_refused: OnRefused) -> None:
        done = self._blocks.get(batch.sequence)
        if done is not None:
            if done.hash != batch.header.struct_hash():
                on_refused(f"batch {batch.sequence} differs from the block the committee certified at that height")
            else:
                on_certified(self._packed(done))
            return

        def certified(block: LogBlock) -> None:
            self._blocks[block.height] = block
            on_certified(self._packed(block))

        self.net.request(batch, trades, certified, on_refused)

    def expired(self, batch: SettlementBatch) -> None:
        block = self._blocks.get(batch.sequence)
        if block is not None and batch.sequence not in self._requeued:
            self._requeued.add(batch.sequence)
            self.net.requeue(block.trades)

    def _packed(self, block: LogBlock) -> bytes:
        return _packed_certificate(block, self.accepts, self.threshold, self.governance)

    # -- what reports read ------------------------------------------------------------------------------
    @property
    def log(self) -> TradeLog:
        """The most advanced honest validator's trade log (the committee's record of certified heights)."""
        return self.net._honest_head().log

    @property
    def decisions(self) -> list:
        """The pre-trade decisions (every trade voted on at the trade boundary)."""
        committee = self.net.cluster.committee
        return committee.decisions if committee is not None else []

    @property
    def quorum(self) -> int:
        return self.net.cluster.quorum


class KeyCertifier(_Synchronous):
    """Signs with a fixed set of validator keys: for benchmarks that measure settlement alone, and tools."""

    def __init__(self, client: SettlementClient, keys: Sequence[ValidatorKey]) -> None:
        self.client = client
        self.keys = tuple(keys)

    def certify(self, batch: SettlementBatch, trades: Sequence[Trade]) -> bytes:
        h = batch.header
        digest = batch_digest(self.client.domain, *h.as_tuple())
        return pack_signatures([(k.address, k.sign(digest)) for k in self.keys])
