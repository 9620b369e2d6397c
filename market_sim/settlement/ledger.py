"""The off-chain ledger: settled balances per account and token, mirroring what the contract should hold."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from market_sim.consensus.signing import GENESIS_HASH
from market_sim.core.errors import SettlementError
from market_sim.settlement.batch import SettlementBatch
from market_sim.settlement.trades import SettledTrade

__all__ = ["Ledger", "Shortfall"]

Shortfall = tuple[str, str, int, int]  # (account, token, needed, available)


class Ledger:
    """Settled balances; changes only through deposits, withdrawals and confirmed batches."""

    def __init__(self, fee_account: str) -> None:
        self.fee_account = fee_account
        self._balances: dict[tuple[str, str], int] = defaultdict(int)
        self.settled_batches: dict[int, SettlementBatch] = {}
        self.settled_trade_ids: set[int] = set()
        self.last_sequence = 0
        self.last_batch_hash = GENESIS_HASH

    def balance(self, account: str, token: str) -> int:
        return self._balances.get((account, token), 0)

    def balances(self) -> dict[tuple[str, str], int]:
        """Every (account, token) the ledger has seen, with its balance."""
        return dict(self._balances)

    def deposit(self, account: str, token: str, amount: int) -> None:
        if amount <= 0:
            raise SettlementError(f"deposit amount must be positive, got {amount}")
        self._balances[(account, token)] += amount

    def withdraw(self, account: str, token: str, amount: int) -> None:
        available = self.balance(account, token)
        if amount <= 0 or amount > available:
            raise SettlementError(f"cannot withdraw {amount} base units of token {token} for {account}: "
                                  f"{available} available")
        self._balances[(account, token)] = available - amount

    def correct(self, account: str, token: str, amount: int) -> None:
        """Adopt the chain's value for one balance (after the contract reported a different one)."""
        self._balances[(account, token)] = amount

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
                before = trial.get(key, scratch.get(key, self.balance(account, token)))
                if before + amount < 0 and shortfall is None:
                    shortfall = (account, token, -amount, before)
                trial[key] = before + amount
            if shortfall is None:
                scratch.update(trial)
                kept.append(trade)
            else:
                refused.append((trade, shortfall))
        return kept, refused

    def apply(self, batch: SettlementBatch) -> None:
        """Book a batch confirmed on chain; a batch is booked at most once."""
        if batch.sequence != self.last_sequence + 1 or batch.header.prev_hash != self.last_batch_hash:
            raise SettlementError(f"batch {batch.sequence} does not follow the ledger's last batch "
                                  f"{self.last_sequence} ({self.last_batch_hash.hex()})")
        doubles = [t.trade_id for t in batch.trades if t.trade_id in self.settled_trade_ids]
        if doubles:
            raise SettlementError(f"batch {batch.sequence} would settle trades twice: {doubles[:10]}")
        for trade in batch.trades:
            for account, token, amount in trade.deltas(self.fee_account):
                self._balances[(account, token)] += amount
        self.settled_batches[batch.sequence] = batch
        self.last_sequence = batch.sequence
        self.last_batch_hash = batch.batch_hash
        self.settled_trade_ids.update(t.trade_id for t in batch.trades)
