"""Per-account net balance changes of a batch, in the contract's calldata encoding, and their Merkle leaf."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from market_sim.consensus.merkle import leaf_hash
from market_sim.core.errors import SettlementError
from market_sim.settlement.trades import SettledTrade

__all__ = ["NetDeltas", "DELTAS_LEAF_TAG", "deltas_leaf"]

DELTAS_LEAF_TAG = keccak(text="MarketSimSettlement.Deltas")
_INT96_MIN = -(1 << 95)
_INT96_MAX = (1 << 95) - 1
_U96 = 1 << 96


@dataclass(frozen=True, slots=True)
class NetDeltas:
    """Net change per (token, account), tokens and accounts sorted by address, zero changes left out."""

    groups: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]

    @classmethod
    def from_trades(cls, trades: Iterable[SettledTrade], fee_account: str) -> NetDeltas:
        """Sum every trade's balance changes into one net change per account and token."""
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for trade in trades:
            for account, token, amount in trade.deltas(fee_account):
                totals[token][account] += amount
        return cls.from_mapping(totals)

    @classmethod
    def from_mapping(cls, totals: Mapping[str, Mapping[str, int]]) -> NetDeltas:
        """Canonical form of {token: {account: delta}}."""
        groups = []
        for token in sorted(totals, key=lambda a: int(a, 16)):
            entries = tuple(sorted(((to_checksum_address(a), d) for a, d in totals[token].items() if d),
                                   key=lambda e: int(e[0], 16)))
            if entries:
                groups.append((to_checksum_address(token), entries))
        return cls(tuple(groups))

    def __len__(self) -> int:
        return sum(len(entries) for _, entries in self.groups)

    def as_mapping(self) -> dict[str, dict[str, int]]:
        """{token: {account: delta}}."""
        return {token: dict(entries) for token, entries in self.groups}

    def encode(self) -> bytes:
        """The `deltas` calldata: per token a word `token << 96 | count`, then words `account << 96 | uint96(delta)`."""
        words = []
        for token, entries in self.groups:
            words.append((int(token, 16) << 96 | len(entries)).to_bytes(32, "big"))
            for account, delta in entries:
                if not _INT96_MIN <= delta <= _INT96_MAX:
                    raise SettlementError(
                        f"net delta {delta} of {account} in token {token} does not fit int96; use smaller batches")
                words.append((int(account, 16) << 96 | (delta % _U96)).to_bytes(32, "big"))
        return b"".join(words)


def deltas_leaf(trade_count: int, encoded: bytes) -> bytes:
    """The Merkle leaf binding a batch's trade count and encoded deltas (Settlement.deltasLeaf)."""
    return leaf_hash(abi_encode(("bytes32", "uint256", "bytes32"), (DELTAS_LEAF_TAG, trade_count, keccak(encoded))))
