"""A settlement batch: its signed header, its trades, its Merkle tree and (in net mode) its net deltas."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from market_sim.core.errors import SettlementError
from market_sim.consensus.signing import GENESIS_HASH, batch_struct_hash
from market_sim.consensus.merkle import MerkleTree
from market_sim.settlement.deltas import NetDeltas, TokenIndex, deltas_leaf
from market_sim.settlement.margin import BorrowChange, MarginData
from market_sim.core.events import Trade
from market_sim.settlement.trades import SettledTrade, TradeEncoder

__all__ = ["SettlementMode", "BatchHeader", "SettlementBatch", "BatchCommitment", "GENESIS_HASH", "pack_signatures"]

_EXTRA_MEMO = 256  # BatchCommitment: deltas leaves remembered (as many batches as consensus.log remembers trees)


class SettlementMode(StrEnum):
    NET = "net"              # Settlement.settle: per-account net deltas, deltas leaf appended to the tree
    PER_TRADE = "per-trade"  # Settlement.settleTrades: trades in calldata, applied one by one
    MARGIN = "margin"        # Settlement.settleMargin: signed net deltas plus borrow fees, certified marks, liquidations


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """The EIP-712 `Batch(uint64 sequence,bytes32 prevHash,bytes32 merkleRoot,uint64 stateBlock,uint64 expiresAt)`
    validators sign: checked against the balances at chain block `state_block`, settleable up to block `expires_at`."""

    sequence: int
    prev_hash: bytes
    merkle_root: bytes
    state_block: int = 0
    expires_at: int = 0

    def struct_hash(self) -> bytes:
        """EIP-712 struct hash; the next batch's prev_hash."""
        return batch_struct_hash(self.sequence, self.prev_hash, self.merkle_root, self.state_block, self.expires_at)

    def as_tuple(self) -> tuple[int, bytes, bytes, int, int]:
        return (self.sequence, self.prev_hash, self.merkle_root, self.state_block, self.expires_at)

    def expired(self, block: int) -> bool:
        """Whether the certificate can no longer settle in block `block` (or any later one)."""
        return block > self.expires_at


@dataclass(frozen=True, slots=True)
class SettlementBatch:
    """Trades settled together; the tree's leaves are the trade leaves, then (NET mode) the deltas leaf."""

    header: BatchHeader
    trades: tuple[SettledTrade, ...]
    mode: SettlementMode
    deltas: NetDeltas | None
    tree: MerkleTree = field(repr=False)
    margin: MarginData | None = None  # MARGIN mode: borrow changes (fees), marks and liquidated accounts (issue 16)

    @classmethod
    def build(cls, sequence: int, prev_hash: bytes, trades: Iterable[SettledTrade], *, fee_account: str,
              token_index: TokenIndex | None = None, mode: SettlementMode = SettlementMode.NET,
              state_block: int = 0, expires_at: int = 0, borrows: Iterable[BorrowChange] = (),
              marks: Sequence[int] = (), liquidated: Sequence[str] = ()) -> SettlementBatch:
        """Derive leaves, deltas and root deterministically from the trades (NET and MARGIN modes need the token
        indices; MARGIN also the borrows, one mark per listed token and the liquidated accounts, ascending)."""
        trades = tuple(trades)
        if not trades:
            raise SettlementError(f"batch {sequence} has no trades")
        if sequence < 1:
            raise SettlementError(f"batch sequence must be >= 1, got {sequence}")
        leaves = [t.leaf() for t in trades]
        deltas = margin = None
        mode = SettlementMode(mode)
        if mode is not SettlementMode.PER_TRADE:
            if token_index is None:
                raise SettlementError("a net-deltas batch needs the contract's token indices")
            deltas = NetDeltas.from_trades(trades, fee_account, token_index)
        if mode is SettlementMode.NET:
            leaves.append(deltas_leaf(len(trades), deltas.encode()))
        elif mode is SettlementMode.MARGIN:
            margin = MarginData(len(trades), deltas, tuple(borrows), tuple(marks), tuple(liquidated))
            leaves.append(margin.leaf())
        tree = MerkleTree(leaves)
        return cls(BatchHeader(sequence, prev_hash, tree.root, state_block, expires_at), trades, mode, deltas, tree,
                   margin)

    @property
    def sequence(self) -> int:
        return self.header.sequence

    @property
    def batch_hash(self) -> bytes:
        return self.header.struct_hash()

    def encoded_deltas(self) -> bytes:
        if self.deltas is None:
            raise SettlementError(f"batch {self.sequence} is a {self.mode} batch and has no deltas")
        return self.deltas.encode()

    def deltas_proof(self) -> list[bytes]:
        """Merkle proof of the deltas leaf (the last leaf; the margin leaf in MARGIN mode)."""
        self.encoded_deltas()
        return self.tree.proof(len(self.tree.leaves) - 1)

    def trade_proof(self, index: int) -> list[bytes]:
        """Merkle proof of the index-th trade's leaf."""
        if not 0 <= index < len(self.trades):
            raise SettlementError(f"batch {self.sequence} has no trade at index {index}")
        return self.tree.proof(index)


def pack_signatures(signatures: Sequence[tuple[str, bytes]]) -> bytes:
    """(signer, 65-byte signature) pairs as the contract wants them: concatenated, signers strictly ascending."""
    ordered = sorted(signatures, key=lambda p: int(p[0], 16))
    for (a, _), (b, _) in zip(ordered, ordered[1:]):
        if int(a, 16) == int(b, 16):
            raise SettlementError(f"duplicate signer {a} in certificate")
    for signer, sig in ordered:
        if len(sig) != 65:
            raise SettlementError(f"signature of {signer} is {len(sig)} bytes, expected 65")
    return b"".join(sig for _, sig in ordered)


class BatchCommitment:
    """The hooks that make a consensus trade log commit to exactly what the contract settles.

    Give `leaf_encoder` and `extra_leaves` to consensus (TradeLog / committee): its batch roots then equal the
    roots of SettlementBatch.build for the same trades, deltas leaf included.
    """

    def __init__(self, encoder: TradeEncoder, fee_account: str, token_index: TokenIndex,
                 mode: SettlementMode = SettlementMode.NET) -> None:
        self.encoder = encoder
        self.fee_account = fee_account
        self.token_index = token_index
        self.mode = SettlementMode(mode)
        self._extra: dict[tuple[Trade, ...], bytes] = {}  # the last batches' deltas leaves (every validator asks)

    def leaf_encoder(self, trade: Trade) -> bytes:
        """abi.encode of the trade's on-chain form."""
        return self.encoder.encode(trade)

    def extra_leaves(self, trades: Sequence[Trade]) -> list[bytes]:
        """[the deltas leaf] in NET mode, nothing in PER_TRADE mode."""
        if self.mode is not SettlementMode.NET:
            return []
        key = tuple(trades)
        leaf = self._extra.get(key)
        if leaf is None:
            deltas = NetDeltas.from_trades((self.encoder.settled(t) for t in key), self.fee_account,
                                           self.token_index)
            leaf = deltas_leaf(len(key), deltas.encode())
            if len(self._extra) >= _EXTRA_MEMO:
                del self._extra[next(iter(self._extra))]
            self._extra[key] = leaf
        return [leaf]

    def build(self, sequence: int, prev_hash: bytes, trades: Sequence[Trade], *, state_block: int = 0,
              expires_at: int = 0, borrows: Iterable[BorrowChange] = (), marks: Sequence[int] = (),
              liquidated: Sequence[str] = ()) -> SettlementBatch:
        """The settlement batch of these engine trades (MARGIN mode: with its borrows, marks and liquidations)."""
        return SettlementBatch.build(sequence, prev_hash, (self.encoder.settled(t) for t in trades),
                                     fee_account=self.fee_account, token_index=self.token_index, mode=self.mode,
                                     state_block=state_block, expires_at=expires_at, borrows=borrows, marks=marks,
                                     liquidated=liquidated)
