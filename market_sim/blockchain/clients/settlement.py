"""The Settlement contract: custody (deposit, withdraw), batch settlement, proofs and validator governance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from market_sim.blockchain.chain import Chain
from market_sim.blockchain.clients.base import ContractClient, ContractEvent, LogEntry, Receipt, addresses, checksum
from market_sim.blockchain.reverts import ContractErrors
from hexbytes import HexBytes

__all__ = ["SettlementContract", "SettlementErrors", "Deposited", "Withdrawn", "WithdrawalRequested", "BatchSettled",
           "BatchSkipped", "TokenListed", "PoolChanged", "DebtRepaid", "DEFAULT_MAX_VALIDITY"]

DEFAULT_MAX_VALIDITY = 256  # blocks a certificate may stay valid past its stateBlock (about 51 minutes at 12 s)
_MANY_PER_CALL = 512  # pairs or sequences per balancesOf / batchRoots call (bounded calldata and gas)

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
class WithdrawalRequested(ContractEvent):
    EVENT: ClassVar[str] = "WithdrawalRequested"
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("account", "token", "amount", "requested", "requestBlock")
    account: str
    token: str
    amount: int
    requested: int      # the whole pending request of (account, token)
    request_block: int


@dataclass(frozen=True, slots=True)
class BatchSkipped(ContractEvent):
    EVENT: ClassVar[str] = "BatchSkipped"
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("sequence", "batchHash", "expiresAt")
    sequence: int
    batch_hash: bytes
    expires_at: int


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


@dataclass(frozen=True, slots=True)
class PoolChanged(ContractEvent):
    """A margin batch or a repaying deposit left `token`'s pool with `cash` and `borrowed` (issue 16)."""

    EVENT: ClassVar[str] = "PoolChanged"
    token: str
    cash: int
    borrowed: int


@dataclass(frozen=True, slots=True)
class DebtRepaid(ContractEvent):
    """A deposit into `account`'s negative balance of `token` repaid `repaid` to the pool; `debt` is left."""

    EVENT: ClassVar[str] = "DebtRepaid"
    account: str
    token: str
    repaid: int
    debt: int


class SettlementContract(ContractClient):
    """Typed access to one deployed Settlement contract."""

    ARTIFACT: ClassVar[str] = "Settlement"

    @classmethod
    def deploy(cls, chain: Chain, owner: str, validators: Sequence[str], threshold: int, fee_account: str, *,
               max_validity: int = DEFAULT_MAX_VALIDITY, sender: str = "deployer") -> SettlementContract:
        """Deploy a Settlement contract owned by `owner` with this validator set, threshold, fee account and
        certificate validity bound (blocks)."""
        return cls._deploy(chain, checksum(owner), addresses(validators), threshold, checksum(fee_account),
                           max_validity, sender=sender)[0]

    # ---- custody ------------------------------------------------------------------------------------------------
    def deposit(self, token: str, amount: int, *, sender: str) -> Deposited:
        receipt = self._tx("deposit", checksum(token), amount, sender=sender)
        return self.events(receipt, Deposited)[0]

    def deposit_for(self, account: str, token: str, amount: int, *, sender: str = "deployer") -> Deposited:
        receipt = self._tx("depositFor", checksum(account), checksum(token), amount, sender=sender)
        return self.events(receipt, Deposited)[0]

    def deposit_for_many(self, token: str, amounts: Sequence[tuple[str, int]], *,
                         sender: str = "deployer") -> list[Deposited]:
        """depositForMany: credit each (account, amount) with `token`, their sum pulled from `sender` at once."""
        receipt = self._tx("depositForMany", checksum(token), [checksum(a) for a, _ in amounts],
                           [n for _, n in amounts], sender=sender)
        return self.events(receipt, Deposited)

    def request_withdrawal(self, token: str, amount: int, *, sender: str) -> WithdrawalRequested:
        receipt = self._tx("requestWithdrawal", checksum(token), amount, sender=sender)
        return self.events(receipt, WithdrawalRequested)[0]

    def claim_withdrawal(self, token: str, *, sender: str) -> Withdrawn:
        receipt = self._tx("claimWithdrawal", checksum(token), sender=sender)
        return self.events(receipt, Withdrawn)[0]

    def withdrawal_request(self, account: str, token: str) -> tuple[int, int]:
        """(amount, request block) of the pending request ((0, 0) if none)."""
        amount, block = self._call("withdrawalRequest", checksum(account), checksum(token))
        return int(amount), int(block)

    def max_validity(self) -> int:
        return int(self._call("maxValidity"))

    def balance_of(self, account: str, token: str) -> int:
        return int(self._call("balanceOf", checksum(account), checksum(token)))

    def balances_of(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """balance_of for many (account, token) pairs at the latest block, in order (balancesOf, one call per
        _MANY_PER_CALL pairs)."""
        out: list[int] = []
        for i in range(0, len(pairs), _MANY_PER_CALL):
            chunk = pairs[i:i + _MANY_PER_CALL]
            out += [int(v) for v in self._call("balancesOf", [checksum(a) for a, _ in chunk],
                                               [checksum(t) for _, t in chunk])]
        return out

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

    def withdrawal_requests(self, from_block: int, to_block: int | str) -> list[LogEntry[WithdrawalRequested]]:
        return self.logs(WithdrawalRequested, from_block=from_block, to_block=to_block)

    # ---- batches ------------------------------------------------------------------------------------------------
    def last_sequence(self) -> int:
        return int(self._call("lastSequence"))

    def last_batch_hash(self) -> bytes:
        return bytes(self._call("lastBatchHash"))

    def last_state_block(self) -> int:
        return int(self._call("lastStateBlock"))

    def batch_root(self, sequence: int) -> bytes:
        return bytes(self._call("batchRoot", sequence))

    def batch_roots(self, sequences: Sequence[int]) -> list[bytes]:
        """batch_root of each sequence, in order (batchRoots, one call per _MANY_PER_CALL sequences)."""
        out: list[bytes] = []
        for i in range(0, len(sequences), _MANY_PER_CALL):
            out += [bytes(r) for r in self._call("batchRoots", list(sequences[i:i + _MANY_PER_CALL]))]
        return out

    def batch_digest(self, header: StructTuple) -> bytes:
        return bytes(self._call("batchDigest", header))

    def settle_call(self, header: StructTuple, skipped: Sequence[StructTuple], trade_count: int, deltas: bytes,
                    deltas_proof: Sequence[bytes], signatures: bytes) -> Any:
        """The settle (net mode) call, built but not sent (send it with send_call)."""
        return self._fn("settle", header, list(skipped), trade_count, deltas, list(deltas_proof), signatures)

    def settle_margin_call(self, header: StructTuple, skipped: Sequence[StructTuple], margin: StructTuple,
                           proof: Sequence[bytes], signatures: bytes) -> Any:
        """The settleMargin call (net deltas, borrows, certified marks, liquidations), built but not sent."""
        return self._fn("settleMargin", header, list(skipped), margin, list(proof), signatures)

    def margin_leaf(self, margin: StructTuple) -> bytes:
        return bytes(self._call("marginLeaf", margin))

    # ---- lending pools and margin (issue 16) --------------------------------------------------------------------
    def lend(self, token: str, amount: int, *, sender: str) -> Receipt:
        return self._tx("lend", checksum(token), amount, sender=sender)

    def request_pool_exit(self, token: str, shares: int, *, sender: str) -> Receipt:
        return self._tx("requestPoolExit", checksum(token), shares, sender=sender)

    def claim_pool_exit(self, token: str, *, sender: str) -> Receipt:
        return self._tx("claimPoolExit", checksum(token), sender=sender)

    def pool(self, index: int) -> tuple[int, int, int]:
        """(cash, borrowed, shares) of the pool of token `index`."""
        cash, borrowed, shares = self._call("pool", index)
        return int(cash), int(borrowed), int(shares)

    def pool_shares(self, lender: str, index: int) -> int:
        return int(self._call("poolShares", checksum(lender), index))

    def debt_of(self, account: str, token: str) -> int:
        """max(0, -signed balance): what `account` owes the pool of `token`."""
        return int(self._call("debtOf", checksum(account), checksum(token)))

    def signed_balance_of(self, account: str, token: str) -> int:
        """The signed balance (negative: a debt to the token's pool)."""
        return int(self._call("signedBalanceOf", checksum(account), checksum(token)))

    def has_debt(self, account: str) -> bool:
        return bool(self._call("hasDebt", checksum(account)))

    def margin_of(self, account: str, marks: Sequence[int]) -> tuple[int, int]:
        """(required, available) of `account` at `marks` (one per listed token)."""
        required, available = self._call("marginOf", checksum(account), list(marks))
        return int(required), int(available)

    def set_maintenance(self, token: str, bps: int, *, sender: str = "deployer") -> Receipt:
        return self._tx("setMaintenance", checksum(token), bps, sender=sender)

    def settle_trades_call(self, header: StructTuple, skipped: Sequence[StructTuple], trades: Sequence[StructTuple],
                           signatures: bytes) -> Any:
        """The settleTrades (gross mode) call, built but not sent."""
        return self._fn("settleTrades", header, list(skipped), list(trades), signatures)

    def send_call(self, call: Any, *, sender: str = "deployer", gas: int | None = None) -> str:
        """Send a call built by settle_call / settle_trades_call; returns the transaction hash."""
        tx_hash = self.chain.send(call, sender=sender, gas=gas)
        return tx_hash if isinstance(tx_hash, str) else HexBytes(tx_hash).to_0x_hex()

    def send_settle(self, header: StructTuple, trade_count: int, deltas: bytes, deltas_proof: Sequence[bytes],
                    signatures: bytes, *, skipped: Sequence[StructTuple] = (), sender: str = "deployer") -> str:
        """Send settle (net mode) without waiting; returns the transaction hash."""
        return self.send_call(self.settle_call(header, skipped, trade_count, deltas, deltas_proof, signatures),
                              sender=sender)

    def send_settle_trades(self, header: StructTuple, trades: Sequence[StructTuple], signatures: bytes, *,
                           skipped: Sequence[StructTuple] = (), sender: str = "deployer") -> str:
        """Send settleTrades (gross mode) without waiting; returns the transaction hash."""
        return self.send_call(self.settle_trades_call(header, skipped, trades, signatures), sender=sender)

    def settled(self, receipt: Receipt) -> list[BatchSettled]:
        return self.events(receipt, BatchSettled)

    def skipped(self, receipt: Receipt) -> list[BatchSkipped]:
        return self.events(receipt, BatchSkipped)

    def skips(self, from_block: int = 0, to_block: int | str = "latest") -> list[LogEntry[BatchSkipped]]:
        return self.logs(BatchSkipped, from_block=from_block, to_block=to_block)

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

    def governance(self, addresses: Sequence[str]) -> tuple[int, list[bool]]:
        """threshold() and is_validator(a) for each address, read together at the latest block
        (local_calls.call_many)."""
        from market_sim.blockchain.local_calls import call_many

        values = call_many(self.chain, [self._fn("threshold"),
                                        *(self._fn("isValidator", checksum(a)) for a in addresses)])
        return int(values[0]), [bool(v) for v in values[1:]]

    def add_validator(self, address: str, threshold: int, *, sender: str = "deployer") -> Receipt:
        return self._tx("addValidator", checksum(address), threshold, sender=sender)

    def remove_validator(self, address: str, threshold: int, *, sender: str = "deployer") -> Receipt:
        return self._tx("removeValidator", checksum(address), threshold, sender=sender)

    def add_validator_call(self, address: str, threshold: int) -> Any:
        """addValidator, built but not sent (a block producer sends it)."""
        return self._fn("addValidator", checksum(address), threshold)

    def remove_validator_call(self, address: str, threshold: int) -> Any:
        """removeValidator, built but not sent (a block producer sends it)."""
        return self._fn("removeValidator", checksum(address), threshold)

    def set_threshold(self, threshold: int, *, sender: str = "deployer") -> Receipt:
        return self._tx("setThreshold", threshold, sender=sender)
