"""Merkle trees that OpenZeppelin's MerkleProof.verify accepts: double-hashed leaves, sorted-pair keccak256 nodes.

Layout: leaves in the given order, hashed level by level; a level's odd last node is carried up unchanged
(so a proof may be shorter than the tree's depth, which MerkleProof.verify handles).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from market_sim.core.errors import ConsensusError
from market_sim.core.events import Trade
from market_sim.core.orders import Side
from market_sim.consensus.signing import keccak

__all__ = ["LeafEncoder", "MerkleTree", "leaf_hash", "hash_pair", "verify_proof", "default_leaf_encoder",
           "DEFAULT_LEAF_TYPES", "EMPTY_ROOT"]

LeafEncoder = Callable[[Trade], bytes]  # Trade -> abi.encode(...) bytes, the leaf's pre-image
EMPTY_ROOT = bytes(32)

# abi.encode(uint64 tradeId, bytes32 keccak(symbol), uint256 price, uint256 quantity, uint256 buyOrderId,
#            uint256 sellOrderId, bytes32 keccak(buyer), bytes32 keccak(seller), bool buyerIsAggressor, uint64 ts)
DEFAULT_LEAF_TYPES = ("uint64", "bytes32", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32",
                      "bool", "uint64")


def _word(value: int) -> bytes:
    # Two's complement for negatives (only invalid trades have them), so even a bad trade has a leaf.
    return (value % 2**256).to_bytes(32, "big")


def default_leaf_encoder(trade: Trade) -> bytes:
    """abi.encode of the trade's fields (DEFAULT_LEAF_TYPES); strings enter as their keccak256."""
    return b"".join((
        _word(trade.trade_id), keccak(trade.symbol.encode()), _word(trade.price), _word(trade.quantity),
        _word(trade.buy_order_id), _word(trade.sell_order_id), keccak(trade.buyer.encode()),
        keccak(trade.seller.encode()), _word(int(trade.aggressor is Side.BUY)), _word(trade.ts)))


def leaf_hash(encoded: bytes) -> bytes:
    """keccak256(bytes.concat(keccak256(encoded))): the OpenZeppelin StandardMerkleTree leaf of abi-encoded data."""
    return keccak(keccak(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin Hashes.commutativeKeccak256: keccak256 of the two nodes in ascending order."""
    return keccak(a + b) if a < b else keccak(b + a)


class MerkleTree:
    """A tree over 32-byte leaf hashes; `root` and `proof(i)` are what Solidity's MerkleProof.verify checks."""

    __slots__ = ("leaves", "_levels")

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise ConsensusError("a Merkle tree needs at least one leaf")
        for i, leaf in enumerate(leaves):
            if len(leaf) != 32:
                raise ConsensusError(f"leaf {i} must be a 32-byte hash, got {len(leaf)} bytes")
        self.leaves: tuple[bytes, ...] = tuple(leaves)
        levels = [list(self.leaves)]
        level = levels[0]
        while len(level) > 1:
            nxt = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            levels.append(nxt)
            level = nxt
        self._levels = levels

    @classmethod
    def of_trades(cls, trades: Sequence[Trade], leaf_encoder: LeafEncoder = default_leaf_encoder,
                  extra_leaves: Sequence[bytes] = ()) -> MerkleTree:
        """The tree of a batch: one leaf per trade (leaf_hash(leaf_encoder(trade))), then `extra_leaves` hashes."""
        return cls([leaf_hash(leaf_encoder(t)) for t in trades] + list(extra_leaves))

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf `index` up to the root."""
        if not 0 <= index < len(self.leaves):
            raise ConsensusError(f"leaf index {index} out of range 0..{len(self.leaves) - 1}")
        out = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                out.append(level[sibling])
            index //= 2
        return out


def verify_proof(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """MerkleProof.verify in Python."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root
