"""Reconciliation: the off-chain ledger against the contract, balance by balance and trade by trade."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from market_sim.settlement.client import SettlementClient
from market_sim.settlement.ledger import Ledger

__all__ = ["Difference", "ReconciliationReport", "reconcile"]

_PROOFS_PER_CALL = 250  # trades proven per verifyTrades eth_call


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement between the ledger and the chain."""

    kind: str  # "balance" | "batch" | "trade" | "custody"
    subject: str
    ledger: object
    chain: object

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}: ledger {self.ledger!r} != chain {self.chain!r}"


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """What was compared and every difference found; ok when there is none."""

    balances_checked: int
    batches_checked: int
    trades_checked: int
    tokens_checked: int
    differences: tuple[Difference, ...]

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        head = (f"{self.balances_checked} balances, {self.batches_checked} batches, {self.trades_checked} trade "
                f"proofs, {self.tokens_checked} token custody totals checked")
        if self.ok:
            return f"reconciliation OK: {head}"
        return "\n".join([f"reconciliation FAILED ({len(self.differences)} differences): {head}",
                          *(f"  - {d}" for d in self.differences)])


def reconcile(ledger: Ledger, client: SettlementClient, *, accounts: Iterable[str] = (),
              tokens: Iterable[str] = (), prove_trades: bool = True) -> ReconciliationReport:
    """Compare every (account, token) balance, every settled batch root and (optionally) every trade's proof.

    Also checks custody: per token, the contract's ERC20 holdings equal the sum of the ledger's balances.
    """
    diffs: list[Difference] = []
    known = ledger.balances()
    accounts = set(accounts) | {a for a, _ in known}
    tokens = set(tokens) | {t for _, t in known}
    pairs = sorted((a, t) for a in accounts for t in tokens)
    for account, token in pairs:
        mine, theirs = ledger.balance(account, token), client.balance(account, token)
        if mine != theirs:
            diffs.append(Difference("balance", f"{account} in {token}", mine, theirs))
    trades_checked = 0
    for sequence, batch in sorted(ledger.settled_batches.items()):
        root = client.batch_root(sequence)
        if root != batch.header.merkle_root:
            diffs.append(Difference("batch", f"#{sequence} root", batch.header.merkle_root.hex(), root.hex()))
            continue
        if prove_trades:
            for start in range(0, len(batch.trades), _PROOFS_PER_CALL):
                trades = batch.trades[start:start + _PROOFS_PER_CALL]
                proofs = [batch.trade_proof(start + i) for i in range(len(trades))]
                for trade, ok in zip(trades, client.verify_trades(sequence, trades, proofs)):
                    trades_checked += 1
                    if not ok:
                        diffs.append(Difference("trade", f"#{trade.trade_id} in batch {sequence}", "settled",
                                                "unprovable"))
    if client.last_sequence != ledger.last_sequence:  # settled and skipped (expired) batches both count
        diffs.append(Difference("batch", "last sequence", ledger.last_sequence, client.last_sequence))
    for token in sorted(tokens):
        held = client.token(token).balance_of(client.address)
        owed = sum(ledger.balance(a, token) for a in accounts)
        if held != owed:
            diffs.append(Difference("custody", f"token {token} held by the contract", owed, held))
    return ReconciliationReport(len(pairs), len(ledger.settled_batches), trades_checked, len(tokens), tuple(diffs))
