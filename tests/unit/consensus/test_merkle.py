from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from market_sim.core.errors import ConsensusError
from market_sim.core.events import Trade
from market_sim.core.orders import Side
from market_sim.consensus.merkle import (
    DEFAULT_LEAF_TYPES, MerkleTree, default_leaf_encoder, hash_pair, leaf_hash, verify_proof)
from market_sim.consensus.signing import keccak

TRADE = Trade(123, 7, "XYZ/USD", 10_050, 3, 11, 12, "alice", "bob", Side.SELL)


def test_default_leaf_encoder_is_abi_encode() -> None:
    expected = abi_encode(DEFAULT_LEAF_TYPES, (
        7, keccak(b"XYZ/USD"), 10_050, 3, 11, 12, keccak(b"alice"), keccak(b"bob"), False, 123))
    assert default_leaf_encoder(TRADE) == expected
    assert leaf_hash(expected) == keccak(keccak(expected))


def test_tree_shapes() -> None:
    a, b, c = (keccak(bytes([i])) for i in range(3))
    assert MerkleTree([a]).root == a and MerkleTree([a]).proof(0) == []
    assert MerkleTree([a, b]).root == hash_pair(a, b) == hash_pair(b, a)
    # odd node carried up unchanged
    assert MerkleTree([a, b, c]).root == hash_pair(hash_pair(a, b), c)
    assert MerkleTree([a, b, c]).proof(2) == [hash_pair(a, b)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=40), st.data())
def test_every_proof_verifies_and_tampering_fails(items: list[bytes], data: st.DataObject) -> None:
    leaves = [leaf_hash(x) for x in items]
    tree = MerkleTree(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.proof(i)
    assert verify_proof(proof, tree.root, leaves[i])
    assert not verify_proof(proof, tree.root, leaf_hash(items[i] + b"!"))
    assert len(proof) <= max(1, len(leaves) - 1).bit_length()


def test_extra_leaves_and_errors() -> None:
    extra = keccak(b"deltas")
    tree = MerkleTree.of_trades([TRADE], extra_leaves=[extra])
    assert tree.root == hash_pair(leaf_hash(default_leaf_encoder(TRADE)), extra)
    with pytest.raises(ConsensusError, match="a Merkle tree needs at least one leaf"):
        MerkleTree([])
    with pytest.raises(ConsensusError, match="32-byte"):
        MerkleTree([b"short"])
    with pytest.raises(ConsensusError, match="out of range"):
        tree.proof(2)
