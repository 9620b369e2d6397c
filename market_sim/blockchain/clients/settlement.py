"""The Settlement contract: custody (deposit, withdraw), batch settlement, proofs and validator governance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from market_sim.blockchain.chain import Chain
from market_sim.blockchain.clients.base import ContractClient, ContractEvent, LogEntry, Receipt, addresses, checksum
from market_sim.blockchain.reverts import ContractErrors

__all__ = ["SettlementContract", "SettlementErrors", "Deposited", "Withdrawn", "BatchSettled", "TokenListed"]

SettlementErrors = ContractErrors("Settlement")

# A batch header / trade as the Solidity struct tuple (settlement.batch.BatchHeader.as_tuple(), SettledTrade.as_tuple()).
StructTuple = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Deposited(ContractEvent):
    EVENT: ClassVar[str] = "Deposited"
    account: str
    token: str
    amount: int
    balance: int


@dataclass(frozen=True, slots=True)
class Withdrawn(ContractEvent):
    EVENT: ClassVar[str] = "Withdrawn"
    account: str
    token: str
    amount: int
    balance: int


@dataclass(frozen=True, slots=True)
class TokenListed(ContractEvent):
    EVENT: ClassVar[str] = "TokenListed"
    token: str
    index: int


@dataclass(frozen=True, slots=True)
class BatchSettled(ContractEvent):
    EVENT: ClassVar[str] = "BatchSettled"
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("sequence", "batchHash", "merkleRoot", "tradeCount", "deltaCount")
    sequence: int
    batch_hash: bytes
    merkle_root: bytes
    trade_count: int
    delta_count: int


class SettlementContract(ContractClient):
    """Typed access to one deployed Settlement contract."""

    ARTIFACT: ClassVar[str] = "Settlement"

    @classmethod
    def deploy(cls, chain: Chain, owner: str, validators: Sequence[str], threshold: int, fee_account: str, *,
               sender: str = "deployer") -> SettlementContract:
        """Deploy a Settlement contract owned by `owner` with this validator set, threshold and fee account."""
        return cls._deploy(chain, checksum(owner), addresses(validators), threshold, checksum(fee_account),
                           sender=sender)[0]

    # ---- custody ------------------------------------------------------------------------------------------------
    def deposit(self, token: str, amount: int, *, sender: str) -> Deposited:
        receipt = self._tx("deposit", checksum(token), amount, sender=sender)
        return self.events(receipt, Deposited)[0]

    def deposit_for(self, account: str, token: str, amount: int, *, sender: str = "deployer") -> Deposited:
        receipt = self._tx("depositFor", checksum(account), checksum(token), amount, sender=sender)
        return self.events(receipt, Deposited)[0]

    def withdraw(self, token: str, amount: int, *, sender: str) -> Withdrawn:
        receipt = self._tx("withdraw", checksum(token), amount, sender=sender)
        return self.events(receipt, Withdrawn)[0]

    def balance_of(self, account: str, token: str) -> int:
        return int(self._call("balanceOf", checksum(account), checksum(token)))

    def balances_of(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """balance_of for many (account, token) pairs at the latest block, in order (local_calls.call_many)."""
        from market_sim.blockchain.local_calls import call_many

        return [int(v) for v in call_many(self.chain, [self._fn("balanceOf", checksum(a), checksum(t))
                                                       for a, t in pairs])]

    def list_token(self, token: str, *, sender: str = "deployer") -> Receipt:
        return self._tx("listToken", checksum(token), sender=sender)

    def token_index(self, token: str) -> int:
        """The 1-based index of a listed token (0 = not listed)."""
        return int(self._call("tokenIndex", checksum(token)))

    def fee_account(self) -> str:
        return str(self._call("feeAccount"))

    def set_fee_account(self, account: str, *, sender: str = "deployer") -> Receipt:
        return self._tx("setFeeAccount", checksum(account), sender=sender)

    def withdrawals(self, from_block: int, to_block: int | str) -> list[LogEntry[Withdrawn]]:
        return self.logs(Withdrawn, from_block=from_block, to_block=to_block)

    # ---- batches ------------------------------------------------------------------------------------------------
    def last_sequence(self) -> int:
        return int(self._call("lastSequence"))

    def last_batch_hash(self) -> bytes:
        return bytes(self._call("lastBatchHash"))

    def batch_root(self, sequence: int) -> bytes:
        return bytes(self._call("batchRoot", sequence))

    def batch_digest(self, header: StructTuple) -> bytes:
        return bytes(self._call("batchDigest", header))

    def send_settle(self, header: StructTuple, trade_count: int, deltas: bytes, deltas_proof: Sequence[bytes],
                    signatures: bytes, *, sender: str = "deployer") -> str:
        """Send settle (net mode) without waiting; returns the transaction hash."""
        return self._send("settle", header, trade_count, deltas, list(deltas_proof), signatures, sender=sender)

    def send_settle_trades(self, header: StructTuple, trades: Sequence[StructTuple], signatures: bytes, *,
                           sender: str = "deployer") -> str:
        """Send settleTrades (gross mode) without waiting; returns the transaction hash."""
        return self._send("settleTrades", header, list(trades), signatures, sender=sender)

    def settled(self, receipt: Receipt) -> list[BatchSettled]:
        return self.events(receipt, BatchSettled)

    def verify_trade(self, sequence: int, trade: StructTuple, proof: Sequence[bytes]) -> bool:
        return bool(self._call("verifyTrade", sequence, trade, list(proof)))

    def verify_trades(self, sequence: int, trades: Sequence[StructTuple],
                      proofs: Sequence[Sequence[bytes]]) -> list[bool]:
        return [bool(x) for x in self._call("verifyTrades", sequence, list(trades), [list(p) for p in proofs])]

    # ---- governance ---------------------------------------------------------------------------------------------
    def threshold(self) -> int:
        return int(self._call("threshold"))

    def is_validator(self, address: str) -> bool:
        return bool(self._call("isValidator", checksum(address)))

    def validator_count(self) -> int:
        return int(self._call("validatorCount"))

    def add_validator(self, address: str, threshold: int, *, sender: str = "deployer") -> Receipt:
        return self._tx("addValidator", checksum(address), threshold, sender=sender)

    def remove_validator(self, address: str, threshold: int, *, sender: str = "deployer") -> Receipt:
        return self._tx("removeValidator", checksum(address), threshold, sender=sender)

    def set_threshold(self, threshold: int, *, sender: str = "deployer") -> Receipt:
        return self._tx("setThreshold", threshold, sender=sender)
