"""SettlementClient: deposit, withdraw, submit certified batches, read balances and prove trades on the contract."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from market_sim.blockchain import Chain
from market_sim.consensus.signing import SigningDomain
from market_sim.core.errors import SettlementError
from market_sim.settlement.batch import BatchHeader, SettlementBatch, SettlementMode
from market_sim.settlement.trades import SettledTrade

__all__ = ["SettlementClient", "SettledBatchInfo"]

MAX_UINT256 = 2**256 - 1


@dataclass(frozen=True, slots=True)
class SettledBatchInfo:
    """What the chain says about a settled batch (from its BatchSettled event)."""

    sequence: int
    batch_hash: bytes
    merkle_root: bytes
    trade_count: int
    delta_count: int
    gas_used: int
    tx_hash: str


class SettlementClient:
    """Thin typed access to one deployed Settlement contract; reverts surface as ContractRevertError."""

    def __init__(self, chain: Chain, contract: Contract, *, submitter: str = "deployer") -> None:
        self.chain = chain
        self.contract = contract
        self.submitter = submitter
        self.domain = SigningDomain(chain_id=chain.chain_id, verifying_contract=contract.address)
        self._token_index: dict[str, int] = {}

    @classmethod
    def deploy(cls, chain: Chain, validators: Sequence[str], threshold: int, fee_account: str, *,
               owner: str = "deployer", submitter: str = "deployer") -> SettlementClient:
        """Deploy a Settlement contract owned by `owner` with this validator set and threshold."""
        contract = chain.deploy("Settlement", chain.address(owner), [to_checksum_address(v) for v in validators],
                                threshold, to_checksum_address(fee_account), sender=owner)
        return cls(chain, contract, submitter=submitter)

    @property
    def address(self) -> str:
        return self.contract.address

    # ---- custody ------------------------------------------------------------------------------------------------
    def token(self, address: str) -> Contract:
        """ERC20 handle (TestToken ABI) for a token address."""
        return self.chain.contract("TestToken", address)

    def approve(self, token: str, *, sender: str) -> None:
        """Let the contract pull `token` from `sender` (unlimited allowance, set once)."""
        erc20 = self.token(token)
        owner = self.chain.address(sender)
        if self.chain.call(erc20.functions.allowance(owner, self.address)) < 2**255:
            self.chain.transact(erc20.functions.approve(self.address, MAX_UINT256), sender=sender)

    def deposit(self, token: str, amount: int, *, sender: str) -> dict[str, Any]:
        """Deposit from `sender` (an account name) into its own balance; returns the Deposited event."""
        self.approve(token, sender=sender)
        call = self.contract.functions.deposit(to_checksum_address(token), amount)
        receipt = self.chain.transact(call, sender=sender)
        return self.chain.events(receipt, self.contract, "Deposited")[0]

    def deposit_for(self, account: str, token: str, amount: int, *, sender: str = "deployer") -> dict[str, Any]:
        """Deposit from `sender` into `account`'s balance; returns the Deposited event."""
        self.approve(token, sender=sender)
        receipt = self.chain.transact(self.contract.functions.depositFor(
            to_checksum_address(account), to_checksum_address(token), amount), sender=sender)
        return self.chain.events(receipt, self.contract, "Deposited")[0]

    def withdraw(self, token: str, amount: int, *, sender: str) -> dict[str, Any]:
        """Withdraw to `sender` from its balance; returns the Withdrawn event."""
        call = self.contract.functions.withdraw(to_checksum_address(token), amount)
        receipt = self.chain.transact(call, sender=sender)
        return self.chain.events(receipt, self.contract, "Withdrawn")[0]

    def balance(self, account: str, token: str) -> int:
        """Custodied balance of `account` in `token`."""
        return int(self.chain.call(self.contract.functions.balanceOf(to_checksum_address(account),
                                                                     to_checksum_address(token))))

    def list_token(self, token: str, *, sender: str = "deployer") -> int:
        """List a token in the contract (owner only); returns its index."""
        self.chain.transact(self.contract.functions.listToken(to_checksum_address(token)), sender=sender)
        return self.token_index(token)

    def token_index(self, token: str) -> int:
        """The contract's index of a listed token (fixed once listed, so cached); SettlementError if unlisted."""
        token = to_checksum_address(token)
        index = self._token_index.get(token)
        if index is None:
            index = int(self.chain.call(self.contract.functions.tokenIndex(token)))
            if index == 0:
                raise SettlementError(f"token {token} is not listed in the settlement contract")
            self._token_index[token] = index
        return index

    def balances(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Balances for many (account, token) pairs."""
        return {(a, t): self.balance(a, t) for a, t in pairs}

    # ---- batches ------------------------------------------------------------------------------------------------
    @property
    def last_sequence(self) -> int:
        return int(self.chain.call(self.contract.functions.lastSequence()))

    @property
    def last_batch_hash(self) -> bytes:
        return bytes(self.chain.call(self.contract.functions.lastBatchHash()))

    def batch_root(self, sequence: int) -> bytes:
        """Merkle root of settled batch `sequence` (zero bytes if not settled)."""
        return bytes(self.chain.call(self.contract.functions.batchRoot(sequence)))

    def digest(self, header: BatchHeader) -> bytes:
        """The EIP-712 digest the contract checks signatures against."""
        return bytes(self.chain.call(self.contract.functions.batchDigest(header.as_tuple())))

    def withdrawals(self, from_block: int, to_block: int) -> list[tuple[str, str]]:
        """(account, token) of every Withdrawn event in blocks from_block..to_block, oldest first."""
        logs = self.chain.event_logs(self.contract, "Withdrawn", from_block=from_block, to_block=to_block)
        return [(log["account"], log["token"]) for log in logs]

    def settle_call(self, batch: SettlementBatch, signatures: bytes) -> ContractFunction:
        """The contract function call that settles `batch` with these packed signatures."""
        fns = self.contract.functions
        if batch.mode is SettlementMode.NET:
            return fns.settle(batch.header.as_tuple(), len(batch.trades), batch.encoded_deltas(),
                              batch.deltas_proof(), signatures)
        return fns.settleTrades(batch.header.as_tuple(), [t.as_tuple() for t in batch.trades], signatures)

    def submit(self, batch: SettlementBatch, signatures: bytes) -> SettledBatchInfo:
        """Settle `batch` and wait for it; a revert raises ContractRevertError with the decoded custom error."""
        return self.confirm(self.send(batch, signatures))

    def send(self, batch: SettlementBatch, signatures: bytes) -> str:
        """Send the settle transaction without waiting; returns its hash (confirm() it later)."""
        tx_hash = self.chain.send(self.settle_call(batch, signatures), sender=self.submitter)
        return tx_hash if isinstance(tx_hash, str) else "0x" + bytes(tx_hash).hex()

    def confirm(self, tx_hash: str) -> SettledBatchInfo:
        """Wait for a settle transaction; returns the settled batch's event data or raises its decoded revert."""
        receipt = self.chain.wait(tx_hash)
        events = self.chain.events(receipt, self.contract, "BatchSettled")
        if not events:
            raise SettlementError(f"transaction {tx_hash} settled no batch")
        ev = events[0]
        return SettledBatchInfo(int(ev["sequence"]), bytes(ev["batchHash"]), bytes(ev["merkleRoot"]),
                                int(ev["tradeCount"]), int(ev["deltaCount"]), int(receipt["gasUsed"]), tx_hash)

    def verify_trade(self, sequence: int, trade: SettledTrade, proof: Sequence[bytes]) -> bool:
        """Whether the contract accepts `proof` that `trade` is in settled batch `sequence`."""
        return bool(self.chain.call(self.contract.functions.verifyTrade(sequence, trade.as_tuple(), list(proof))))

    def verify_trades(self, sequence: int, trades: Sequence[SettledTrade],
                      proofs: Sequence[Sequence[bytes]]) -> list[bool]:
        """verify_trade for many trades of one batch in one call."""
        return [bool(x) for x in self.chain.call(self.contract.functions.verifyTrades(
            sequence, [t.as_tuple() for t in trades], [list(p) for p in proofs]))]

    # ---- governance ---------------------------------------------------------------------------------------------
    @property
    def threshold(self) -> int:
        return int(self.chain.call(self.contract.functions.threshold()))

    def is_validator(self, address: str) -> bool:
        return bool(self.chain.call(self.contract.functions.isValidator(to_checksum_address(address))))

    @property
    def validator_count(self) -> int:
        return int(self.chain.call(self.contract.functions.validatorCount()))

    @staticmethod
    def minimum_threshold(validators: int) -> int:
        """The smallest threshold governance may set for n validators: floor(2n/3) + 1 (as the contract)."""
        return 2 * validators // 3 + 1

    def add_validator(self, address: str, *, threshold: int | None = None, sender: str = "deployer") -> None:
        """Register a validator and set the threshold for the grown set (default: the current threshold, raised to
        the minimum floor(2n/3)+1 for the new count if it is below)."""
        if threshold is None:
            threshold = max(self.threshold, self.minimum_threshold(self.validator_count + 1))
        self.chain.transact(self.contract.functions.addValidator(to_checksum_address(address), threshold),
                            sender=sender)

    def remove_validator(self, address: str, *, threshold: int | None = None, sender: str = "deployer") -> None:
        """Deregister a validator and set the threshold for the smaller set (default: the current threshold, capped
        at the new count)."""
        if threshold is None:
            threshold = min(self.threshold, self.validator_count - 1)
        self.chain.transact(self.contract.functions.removeValidator(to_checksum_address(address), threshold),
                            sender=sender)

    def set_threshold(self, threshold: int, *, sender: str = "deployer") -> None:
        self.chain.transact(self.contract.functions.setThreshold(threshold), sender=sender)

