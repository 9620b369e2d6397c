"""Per-account net balance changes of a batch, in the contract's calldata encoding, and their Merkle leaf."""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from market_sim.blockchain.abi import abi_encode, keccak, to_checksum_address

from market_sim.consensus.merkle import leaf_hash
from market_sim.core.errors import SettlementError
from market_sim.settlement.trades import SettledTrade

__all__ = ["NetDeltas", "TokenIndex", "DELTAS_LEAF_TAG", "deltas_leaf"]

DELTAS_LEAF_TAG = keccak(b"MarketSimSettlement.Deltas")
_INT128 = 1 << 127
_U128 = 1 << 128

TokenIndex = Callable[[str], int]  # token address -> its index in the contract (Settlement.tokenIndex)
_checksum = lru_cache(maxsize=65_536)(to_checksum_address)  # a run has few addresses and checks them per batch


@dataclass(frozen=True, slots=True)
class NetDeltas:
    """Net change per (account, token index), accounts sorted by address, indices ascending, zero changes left out."""

    groups: tuple[tuple[str, tuple[tuple[int, int], ...]], ...]
    tokens: tuple[tuple[int, str], ...]  # (index, token address) of every token that appears

    @classmethod
    def from_trades(cls, trades: Iterable[SettledTrade], fee_account: str, token_index: TokenIndex) -> NetDeltas:
        """Sum every trade's balance changes into one net change per account and token."""
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for trade in trades:
            for account, token, amount in trade.deltas(fee_account):
                totals[account][token] += amount
        return cls.from_mapping(totals, token_index)

    @classmethod
    def from_mapping(cls, totals: Mapping[str, Mapping[str, int]], token_index: TokenIndex) -> NetDeltas:
        """Canonical form of {account: {token: delta}}."""
        groups, tokens = [], {}
        indices: dict[str, int] = {}  # token -> index, asked once per token
        for account in sorted(totals, key=lambda a: int(a, 16)):
            entries = []
            for token, delta in totals[account].items():
                if delta:
                    index = indices.get(token)
                    if index is None:
                        index = indices[token] = token_index(token)
                        tokens[index] = _checksum(token)
                    entries.append((index, delta))
            if entries:
                groups.append((_checksum(account), tuple(sorted(entries))))
        return cls(tuple(groups), tuple(sorted(tokens.items())))

    def __len__(self) -> int:
        return sum(len(entries) for _, entries in self.groups)

    def as_mapping(self) -> dict[str, dict[str, int]]:
        """{account: {token address: delta}}."""
        address = dict(self.tokens)
        return {account: {address[i]: d for i, d in entries} for account, entries in self.groups}

    def encode(self) -> bytes:
        """The `deltas` calldata: per account `account << 96 | count`, then words `index << 128 | uint128(delta)`."""
        words = []
        for account, entries in self.groups:
            words.append((int(account, 16) << 96 | len(entries)).to_bytes(32, "big"))
            for index, delta in entries:
                if not -_INT128 <= delta < _INT128:
                    raise SettlementError(f"net delta {delta} of {account} in token #{index} does not fit int128")
                words.append((index << 128 | (delta % _U128)).to_bytes(32, "big"))
        return b"".join(words)


def deltas_leaf(trade_count: int, encoded: bytes) -> bytes:
    """The Merkle leaf binding a batch's trade count and encoded deltas (Settlement.deltasLeaf)."""
    return leaf_hash(abi_encode(("bytes32", "uint256", "bytes32"), (DELTAS_LEAF_TAG, trade_count, keccak(encoded))))
