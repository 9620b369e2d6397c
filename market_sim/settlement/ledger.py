"""The off-chain ledger: settled balances per account and token, mirroring what the contract should hold.

The balances are a core `Accounts` (`accounts`: one Account per account address, its balances keyed by token
address); `_balances` is the same balances keyed by (account, token) pairs (a KeyedBalances view, no second copy).

Besides balances it mirrors the contract's batch chain (settled batches, and the expired ones a later batch skipped),
the pending withdrawal requests (`reserved`: unavailable to new batches from the request's block on, as the
validators count them) and `followed_block`, the last block whose requests and claims it has taken in (persisted, so
a restarted pipeline resumes following where it stopped).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from market_sim.consensus.signing import GENESIS_HASH
from market_sim.core.accounts import Accounts, KeyedBalances
from market_sim.core.errors import SettlementError
from market_sim.settlement.batch import BatchHeader, SettlementBatch
from market_sim.settlement.trades import SettledTrade

__all__ = ["Ledger", "Shortfall"]

Shortfall = tuple[str, str, int, int]  # (account, token, needed, available)


class Ledger:
    """Settled balances; changes only through deposits, withdrawals and confirmed batches."""

    def __init__(self, fee_account: str) -> None:
        self.fee_account = fee_account
        self.accounts = Accounts()  # address -> Account, balances by token address
        self._balances = KeyedBalances(self.accounts)  # (account, token) -> balance, reading 0 when unseen
        self.settled_batches: dict[int, SettlementBatch] = {}
        self.settled_trade_ids: set[int] = set()
        self.skipped: dict[int, BatchHeader] = {}   # expired certified batches a later batch skipped on chain
        self.reserved: dict[tuple[str, str], int] = {}  # pending withdrawal requests
        self.locked: dict[tuple[str, str], int] = {}    # option writers' collateral (settlement.options; not saved)
        # margin batches (issue 16): what an account owes a token's pool (principal plus fees), the negative part of
        # its signed balance on chain; an account's balance and debt in one token are never both above zero
        self.debts: dict[tuple[str, str], int] = {}
        self.marks: dict[str, int] = {}  # token -> mark of the last settled margin batch
        self.last_sequence = 0
        self.last_batch_hash = GENESIS_HASH
        self.last_state_block = 0
        self.followed_block = 0

    def balance(self, account: str, token: str) -> int:
        return self.accounts.balance(account, token)

    def debt(self, account: str, token: str) -> int:
        """What `account` owes the lending pool of `token` (margin batches): principal and fees."""
        return self.debts.get((account, token), 0)

    def available(self, account: str, token: str) -> int:
        """The balance new batches may spend: the settled balance minus the pending withdrawal request and any
        collateral locked for written options."""
        return self.balance(account, token) - self.reserved.get((account, token), 0) \
            - self.locked.get((account, token), 0)

    def reserve(self, account: str, token: str, requested: int) -> None:
        """A withdrawal request is pending: `requested` (the account's whole request) is unavailable from now on."""
        if requested:
            self.reserved[(account, token)] = requested
        else:
            self.reserved.pop((account, token), None)

    def claimed(self, account: str, token: str, amount: int) -> None:
        """A request was paid out: the balance falls by `amount`, the request is gone."""
        self.reserved.pop((account, token), None)
        if amount:
            self.accounts.credit(account, token, -amount)

    def balances(self) -> dict[tuple[str, str], int]:
        """Every (account, token) the ledger has seen, with its balance."""
        return {(acct.id, token): v for acct in self.accounts for token, v in acct.balances.items()}

    def deposit(self, account: str, token: str, amount: int) -> None:
        """A deposit; into a token the account owes (a negative balance on chain) it repays the debt first."""
        if amount <= 0:
            raise SettlementError(f"deposit amount must be positive, got {amount}")
        self._set_signed((account, token), self._signed((account, token)) + amount)

    def withdraw(self, account: str, token: str, amount: int) -> None:
        available = self.balance(account, token)
        if amount <= 0 or amount > available:
            raise SettlementError(f"cannot withdraw {amount} base units of token {token} for {account}: "
                                  f"{available} available")
        self.accounts.credit(account, token, -amount)

    def correct(self, account: str, token: str, amount: int) -> None:
        """Adopt the chain's value for one balance (after the contract reported a different one)."""
        self._balances[account, token] = amount

    def split_solvent(self, trades: Iterable[SettledTrade]
                      ) -> tuple[list[SettledTrade], list[tuple[SettledTrade, Shortfall]]]:
        """Trades in order that keep every balance non-negative, and the ones that would not (with the shortfall)."""
        scratch: dict[tuple[str, str], int] = {}
        kept, refused = [], []
        for trade in trades:
            changes = trade.deltas(self.fee_account)
            trial = dict()
            shortfall = None
            for account, token, amount in changes:
                key = (account, token)
                before = trial.get(key, scratch.get(key, self.available(account, token)))
                if before + amount < 0 and shortfall is None:
                    shortfall = (account, token, -amount, before)
                trial[key] = before + amount
            if shortfall is None:
                scratch.update(trial)
                kept.append(trade)
            else:
                refused.append((trade, shortfall))
        return kept, refused

    def apply(self, batch: SettlementBatch, skipped: Iterable[BatchHeader] = ()) -> None:
        """Book a batch confirmed on chain, after the expired batches its transaction skipped; a batch is booked at
        most once."""
        sequence, prev = self.last_sequence, self.last_batch_hash
        skipped = tuple(skipped)
        for header in (*skipped, batch.header):
            if header.sequence != sequence + 1 or header.prev_hash != prev:
                raise SettlementError(f"batch {header.sequence} does not follow the ledger's last batch "
                                      f"{sequence} ({prev.hex()})")
            sequence, prev = header.sequence, header.struct_hash()
        doubles = [t.trade_id for t in batch.trades if t.trade_id in self.settled_trade_ids]
        if doubles:
            raise SettlementError(f"batch {batch.sequence} would settle trades twice: {doubles[:10]}")
        if batch.margin is not None:
            self._apply_margin(batch)
        else:
            for trade in batch.trades:
                for account, token, amount in trade.deltas(self.fee_account):
                    self._balances[(account, token)] += amount
        for header in skipped:
            self.skipped[header.sequence] = header
        self.settled_batches[batch.sequence] = batch
        self.last_sequence = batch.sequence
        self.last_batch_hash = batch.batch_hash
        self.last_state_block = batch.header.state_block
        self.settled_trade_ids.update(t.trade_id for t in batch.trades)

    def apply_cash(self, changes: Iterable[tuple[str, str, int]]) -> None:
        """Book (account, token, amount) changes a booked batch carried besides its trades' (option premiums and
        expiry payouts: settlement.options); call right after apply()."""
        for account, token, amount in changes:
            self.accounts.credit(account, token, amount)

    def _signed(self, key: tuple[str, str]) -> int:
        return self._balances.get(key, 0) - self.debts.get(key, 0)

    def _set_signed(self, key: tuple[str, str], signed: int) -> None:
        self._balances[key] = max(0, signed)
        if signed < 0:
            self.debts[key] = -signed
        else:
            self.debts.pop(key, None)

    def _apply_margin(self, batch: SettlementBatch) -> None:
        """A margin batch on the signed balances (balance - debt): the trades' deltas (going below zero borrows,
        raising a negative balance repays), then each fee debited; its marks become the ledger's."""
        address = dict(batch.deltas.tokens)
        changes: dict[tuple[str, str], int] = defaultdict(int)
        for trade in batch.trades:
            for account, token, amount in trade.deltas(self.fee_account):
                changes[(account, token)] += amount
        for change in batch.margin.borrows:
            token = address.get(change.token)
            if token is None:
                raise SettlementError(f"batch {batch.sequence} charges a fee in token #{change.token}, which none "
                                      f"of its trades moves")
            changes[(change.account, token)] -= change.fee
        for key, amount in changes.items():
            self._set_signed(key, self._signed(key) + amount)
        self.marks.update({token: batch.margin.marks[index - 1] for index, token in address.items()
                           if index <= len(batch.margin.marks)})
