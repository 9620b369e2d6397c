"""SettlementClient: deposit, withdraw (request, then claim), build and send settle transactions for certified
batches (skipping expired ones), read balances and prove trades on the contract."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from market_sim.blockchain import Chain
from market_sim.blockchain.clients import (
    DEFAULT_MAX_VALIDITY, ERC20, Deposited, SettlementContract, WithdrawalRequested, Withdrawn, checksum,
)
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
    block: int = 0                       # the block it was included in
    skipped: tuple[int, ...] = ()        # sequences of the expired batches this transaction skipped


class SettlementClient:
    """The settlement application's view of one deployed Settlement contract (a typed SettlementContract client
    underneath); reverts surface as ContractRevertError."""

    def __init__(self, chain: Chain, contract: SettlementContract, *, submitter: str = "deployer") -> None:
        self.chain = chain
        self.contract = contract
        self.submitter = submitter
        self.domain = SigningDomain(chain_id=chain.chain_id, verifying_contract=contract.address)
        self._token_index: dict[str, int] = {}
        self._max_validity: int | None = None

    @classmethod
    def deploy(cls, chain: Chain, validators: Sequence[str], threshold: int, fee_account: str, *,
               owner: str = "deployer", submitter: str = "deployer",
               max_validity: int = DEFAULT_MAX_VALIDITY) -> SettlementClient:
        """Deploy a Settlement contract owned by `owner` with this validator set, threshold and max validity."""
        contract = SettlementContract.deploy(chain, chain.address(owner), validators, threshold, fee_account,
                                             max_validity=max_validity, sender=owner)
        return cls(chain, contract, submitter=submitter)

    @classmethod
    def at(cls, chain: Chain, address: str, *, submitter: str = "deployer") -> SettlementClient:
        """The client of a Settlement contract deployed at `address`."""
        return cls(chain, SettlementContract.at(chain, address), submitter=submitter)

    @property
    def address(self) -> str:
        return self.contract.address

    @property
    def fee_account(self) -> str:
        return self.contract.fee_account()

    # ---- custody ------------------------------------------------------------------------------------------------
    def token(self, address: str) -> ERC20:
        """ERC20 client for a token address."""
        return ERC20.at(self.chain, address)

    def approve(self, token: str, *, sender: str) -> None:
        """Let the contract pull `token` from `sender` (unlimited allowance, set once)."""
        self.token(token).ensure_allowance(self.address, owner=sender, minimum=2**255)

    def deposit(self, token: str, amount: int, *, sender: str) -> Deposited:
        """Deposit from `sender` (an account name) into its own balance; returns the Deposited event."""
        self.approve(token, sender=sender)
        return self.contract.deposit(token, amount, sender=sender)

    def deposit_for(self, account: str, token: str, amount: int, *, sender: str = "deployer") -> Deposited:
        """Deposit from `sender` into `account`'s balance; returns the Deposited event."""
        self.approve(token, sender=sender)
        return self.contract.deposit_for(account, token, amount, sender=sender)

    def deposit_for_many(self, token: str, amounts: Sequence[tuple[str, int]], *,
                         sender: str = "deployer") -> list[Deposited]:
        """Deposit from `sender` into each (account, amount) in one transaction; returns the Deposited events."""
        self.approve(token, sender=sender)
        return self.contract.deposit_for_many(token, amounts, sender=sender)

    def request_withdrawal(self, token: str, amount: int, *, sender: str) -> WithdrawalRequested:
        """Step 1 of a withdrawal: from this block on the amount is unavailable to new batches."""
        return self.contract.request_withdrawal(token, amount, sender=sender)

    def claim_withdrawal(self, token: str, *, sender: str) -> Withdrawn:
        """Step 2: pay out the pending request (WithdrawalNotReady until a batch certified after it settled, or
        max_validity blocks passed)."""
        return self.contract.claim_withdrawal(token, sender=sender)

    def withdrawal_request(self, account: str, token: str) -> tuple[int, int]:
        """(amount, request block) of `account`'s pending request in `token` ((0, 0) if none)."""
        return self.contract.withdrawal_request(account, token)

    def balance(self, account: str, token: str) -> int:
        """Custodied balance of `account` in `token`."""
        return self.contract.balance_of(account, token)

    def list_token(self, token: str, *, sender: str = "deployer") -> int:
        """List a token in the contract (owner only); returns its index."""
        self.contract.list_token(token, sender=sender)
        return self.token_index(token)

    def token_index(self, token: str) -> int:
        """The contract's index of a listed token (fixed once listed, so cached); SettlementError if unlisted."""
        token = checksum(token)
        index = self._token_index.get(token)
        if index is None:
            index = self.contract.token_index(token)
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
        return self.contract.last_sequence()

    @property
    def last_batch_hash(self) -> bytes:
        return self.contract.last_batch_hash()

    @property
    def last_state_block(self) -> int:
        return self.contract.last_state_block()

    @property
    def max_validity(self) -> int:
        """Most blocks a certificate may stay valid past its stateBlock (fixed at deployment; cached)."""
        if self._max_validity is None:
            self._max_validity = self.contract.max_validity()
        return self._max_validity

    @property
    def head(self) -> int:
        """The latest block number."""
        return self.chain.block_number

    def batch_root(self, sequence: int) -> bytes:
        """Merkle root of settled batch `sequence` (zero bytes if not settled)."""
        return self.contract.batch_root(sequence)

    def batch_roots(self, sequences: Sequence[int]) -> list[bytes]:
        """batch_root of each sequence, read together."""
        return self.contract.batch_roots(sequences)

    def digest(self, header: BatchHeader) -> bytes:
        """The EIP-712 digest the contract checks signatures against."""
        return self.contract.batch_digest(header.as_tuple())

    def withdrawals(self, from_block: int, to_block: int) -> list[tuple[str, str]]:
        """(account, token) of every Withdrawn event in blocks from_block..to_block, oldest first."""
        return [(log.event.account, log.event.token) for log in self.contract.withdrawals(from_block, to_block)]

    def custody_events(self, from_block: int, to_block: int) -> list[tuple[int, int, str, str, str, int]]:
        """Withdrawal requests and claims in blocks from_block..to_block in chain order, as
        (block, log index, "requested" | "withdrawn", account, token, amount); for "requested" the amount is the
        account's whole pending request."""
        out = [(log.block_number, log.log_index, "requested", log.event.account, log.event.token, log.event.requested)
               for log in self.contract.withdrawal_requests(from_block, to_block)]
        out += [(log.block_number, log.log_index, "withdrawn", log.event.account, log.event.token, log.event.amount)
                for log in self.contract.withdrawals(from_block, to_block)]
        return sorted(out)

    def skipped_sequences(self, from_block: int = 0) -> list[int]:
        """Sequences the contract recorded as skipped (expired, never applied), oldest first."""
        return [log.event.sequence for log in self.contract.skips(from_block)]

    def settle_call(self, batch: SettlementBatch, signatures: bytes, skipped: Sequence[BatchHeader] = ()) -> Any:
        """The settle transaction of a certified batch, built but not sent (a block producer sends it later with
        send_call); `skipped`: headers of the expired batches between the chain's last one and `batch`."""
        skips = [h.as_tuple() for h in skipped]
        if batch.mode is SettlementMode.MARGIN:
            return self.contract.settle_margin_call(batch.header.as_tuple(), skips, batch.margin.as_tuple(),
                                                    batch.deltas_proof(), signatures)
        if batch.mode is SettlementMode.NET:
            return self.contract.settle_call(batch.header.as_tuple(), skips, len(batch.trades), batch.encoded_deltas(),
                                             batch.deltas_proof(), signatures)
        return self.contract.settle_trades_call(batch.header.as_tuple(), skips, [t.as_tuple() for t in batch.trades],
                                                signatures)

    def send_call(self, call: Any) -> str:
        """Send a call built by settle_call from the submitter account; returns the transaction hash."""
        return self.contract.send_call(call, sender=self.submitter)

    def submit(self, batch: SettlementBatch, signatures: bytes,
               skipped: Sequence[BatchHeader] = ()) -> SettledBatchInfo:
        """Settle `batch` and wait for it; a revert raises ContractRevertError with the decoded custom error."""
        return self.confirm(self.send(batch, signatures, skipped))

    def send(self, batch: SettlementBatch, signatures: bytes, skipped: Sequence[BatchHeader] = ()) -> str:
        """Send the settle transaction without waiting; returns its hash (confirm() it later)."""
        return self.send_call(self.settle_call(batch, signatures, skipped))

    def confirm(self, tx_hash: str) -> SettledBatchInfo:
        """Wait for a settle transaction; returns the settled batch's event data or raises its decoded revert."""
        return self.settled_info(self.contract.wait(tx_hash), tx_hash)

    def settled_info(self, receipt: Any, tx_hash: str) -> SettledBatchInfo:
        """The settled batch's event data in the receipt of a mined settle transaction."""
        events = self.contract.settled(receipt)
        if not events:
            raise SettlementError(f"transaction {tx_hash} settled no batch")
        ev = events[0]
        skipped = tuple(e.sequence for e in self.contract.skipped(receipt))
        return SettledBatchInfo(ev.sequence, ev.batch_hash, ev.merkle_root, ev.trade_count, ev.delta_count,
                                receipt.gas_used, tx_hash, receipt.block_number, skipped)

    def verify_trade(self, sequence: int, trade: SettledTrade, proof: Sequence[bytes]) -> bool:
        """Whether the contract accepts `proof` that `trade` is in settled batch `sequence`."""
        return self.contract.verify_trade(sequence, trade.as_tuple(), proof)

    def verify_trades(self, sequence: int, trades: Sequence[SettledTrade],
                      proofs: Sequence[Sequence[bytes]]) -> list[bool]:
        """verify_trade for many trades of one batch in one call."""
        return self.contract.verify_trades(sequence, [t.as_tuple() for t in trades], proofs)

    # ---- governance ---------------------------------------------------------------------------------------------
    @property
    def threshold(self) -> int:
        return self.contract.threshold()

    def is_validator(self, address: str) -> bool:
        return self.contract.is_validator(address)

    def governance(self, addresses: Sequence[str]) -> tuple[int, list[bool]]:
        """(threshold, [is_validator(a) for a in addresses]) read at once at the latest block."""
        return self.contract.governance(addresses)

    @property
    def validator_count(self) -> int:
        return self.contract.validator_count()

    @staticmethod
    def minimum_threshold(validators: int) -> int:
        """The smallest threshold governance may set for n validators: floor(2n/3) + 1 (as the contract)."""
        return 2 * validators // 3 + 1

    def add_validator(self, address: str, *, threshold: int | None = None, sender: str = "deployer") -> None:
        """Register a validator and set the threshold for the grown set (default: the current threshold, raised to
        the minimum floor(2n/3)+1 for the new count if it is below)."""
        if threshold is None:
            threshold = max(self.threshold, self.minimum_threshold(self.validator_count + 1))
        self.contract.add_validator(address, threshold, sender=sender)

    def remove_validator(self, address: str, *, threshold: int | None = None, sender: str = "deployer") -> None:
        """Deregister a validator and set the threshold for the smaller set (default: the current threshold, capped
        at the new count)."""
        if threshold is None:
            threshold = min(self.threshold, self.validator_count - 1)
        self.contract.remove_validator(address, threshold, sender=sender)

    def swap_validator_calls(self, add: str, remove: str, threshold: int) -> list[Any]:
        """The governance transactions that swap validator `remove` for `add` and leave `threshold`: addValidator
        (at the grown set's minimum threshold or more), then removeValidator; built, not sent."""
        grown = self._grown_threshold(threshold)
        return [self.contract.add_validator_call(add, grown), self.contract.remove_validator_call(remove, threshold)]

    def swap_validator(self, add: str, remove: str, threshold: int, *, sender: str = "deployer") -> None:
        """swap_validator_calls, sent and waited for."""
        self.contract.add_validator(add, self._grown_threshold(threshold), sender=sender)
        self.contract.remove_validator(remove, threshold, sender=sender)

    def _grown_threshold(self, threshold: int) -> int:
        return max(self.threshold, self.minimum_threshold(self.validator_count + 1), threshold)

    def set_threshold(self, threshold: int, *, sender: str = "deployer") -> None:
        self.contract.set_threshold(threshold, sender=sender)
