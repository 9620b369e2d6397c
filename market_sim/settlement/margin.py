"""Margin batches on chain (issue 16): borrows from the contract's lending pools, certified marks, maintenance.

A margin batch settles like a net-deltas batch (`Settlement.settleMargin`), but its last Merkle leaf, the margin
leaf, also commits to the batch's borrow changes, its mark prices (one per listed token, in one unit of value per
token base unit) and the accounts it liquidates. The validators sign the tree's root, so the marks are certified by
the same quorum as the trades. After applying the batch the contract refuses it when an account it touched holds
less than its marked debt times (1 + maintenance rate) (`BelowMaintenance(account, required, available)`), or when a
borrow exceeds its pool's cash (`PoolExhausted(token, requested, available)`).

`MarginBook` is the validators' and the ledger's view of the same state: balances, debts, pools and maintenance
rates, with `apply` doing exactly what the contract does (same order, same errors, same rounding), so a batch the
book accepts settles on chain and one it refuses would revert with the same error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from market_sim.blockchain.abi import abi_encode, keccak, to_checksum_address
from market_sim.consensus.merkle import leaf_hash
from market_sim.core.errors import SettlementError
from market_sim.settlement.deltas import NetDeltas

__all__ = ["MARGIN_LEAF_TAG", "MAX_MARK", "BPS", "BorrowChange", "MarginData", "margin_leaf", "MarginBook",
           "MarginRefusal", "Pool"]

MARGIN_LEAF_TAG = keccak(b"MarketSimSettlement.Margin")
MAX_MARK = 2**96
BPS = 10_000
_U128 = 2**128
BORROW_TYPE = "(address,uint32,int128,uint128)[]"


@dataclass(frozen=True, slots=True)
class BorrowChange:
    """Debt change of one account in one token (by contract index): fee (the borrow fee accrued since the last
    batch) adds to the debt first; then principal > 0 borrows (before the deltas), < 0 repays (after them)."""

    account: str
    token: int
    principal: int
    fee: int = 0

    def __post_init__(self) -> None:
        if not -(_U128 // 2) <= self.principal < _U128 // 2:
            raise SettlementError(f"borrow principal {self.principal} does not fit int128")
        if not 0 <= self.fee < _U128:
            raise SettlementError(f"borrow fee {self.fee} must be in 0..2**128-1")
        if self.token < 1:
            raise SettlementError(f"token index must be >= 1, got {self.token}")

    def as_tuple(self) -> tuple[str, int, int, int]:
        return (to_checksum_address(self.account), self.token, self.principal, self.fee)


@dataclass(frozen=True, slots=True)
class MarginData:
    """The MarginBatch struct's content beyond the header: deltas, borrows, marks (index order), liquidated."""

    trade_count: int
    deltas: NetDeltas
    borrows: tuple[BorrowChange, ...] = ()
    marks: tuple[int, ...] = ()
    liquidated: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for i, mark in enumerate(self.marks, 1):
            if not 0 < mark <= MAX_MARK:
                raise SettlementError(f"mark of token #{i} is {mark}; must be in 1..2**96")
        ordered = sorted(self.liquidated, key=lambda a: int(a, 16))
        if list(self.liquidated) != ordered or len(set(ordered)) != len(ordered):
            raise SettlementError("liquidated accounts must be distinct and ascending")

    def as_tuple(self) -> tuple:
        """The MarginBatch struct tuple for web3."""
        return (self.trade_count, self.deltas.encode(), [b.as_tuple() for b in self.borrows], list(self.marks),
                [to_checksum_address(a) for a in self.liquidated])

    def leaf(self) -> bytes:
        """Settlement.marginLeaf of this batch."""
        return margin_leaf(self.trade_count, self.deltas.encode(), self.borrows, self.marks, self.liquidated)


def margin_leaf(trade_count: int, encoded_deltas: bytes, borrows: Sequence[BorrowChange], marks: Sequence[int],
                liquidated: Sequence[str]) -> bytes:
    """keccak256(keccak256(abi.encode(tag, tradeCount, keccak(deltas), keccak(abi.encode(borrows)),
    keccak(abi.encode(marks)), keccak(abi.encode(liquidated))))) as Settlement.marginLeaf."""
    borrows_hash = keccak(abi_encode((BORROW_TYPE,), ([b.as_tuple() for b in borrows],)))
    marks_hash = keccak(abi_encode(("uint256[]",), (list(marks),)))
    liquidated_hash = keccak(abi_encode(("address[]",), ([to_checksum_address(a) for a in liquidated],)))
    return leaf_hash(abi_encode(("bytes32", "uint256", "bytes32", "bytes32", "bytes32", "bytes32"),
                                (MARGIN_LEAF_TAG, trade_count, keccak(encoded_deltas), borrows_hash, marks_hash,
                                 liquidated_hash)))


class MarginRefusal(SettlementError):
    """The batch would revert on chain; `error` and `args` are the contract's custom error and its values."""

    def __init__(self, error: str, *args: object) -> None:
        super().__init__(f"{error}{args}")
        self.error = error
        self.args_decoded = tuple(args)


@dataclass(slots=True)
class Pool:
    cash: int = 0
    borrowed: int = 0
    shares: int = 0

    @property
    def assets(self) -> int:
        return self.cash + self.borrowed


@dataclass(slots=True)
class MarginBook:
    """Balances, debts, pools and maintenance rates keyed by (account, token index): the contract's margin state
    mirrored off chain. `apply` settles a margin batch with the contract's rules or raises MarginRefusal."""

    tokens: int
    balances: dict[tuple[str, int], int] = field(default_factory=dict)
    debts: dict[tuple[str, int], int] = field(default_factory=dict)
    pools: dict[int, Pool] = field(default_factory=dict)
    shares: dict[tuple[str, int], int] = field(default_factory=dict)
    maintenance_bps: dict[int, int] = field(default_factory=dict)
    held: dict[int, int] = field(default_factory=dict)  # tokens the contract holds, per index

    # ---- custody and pools ---------------------------------------------------------------------------------------
    def deposit(self, account: str, index: int, amount: int) -> None:
        self.balances[account, index] = self.balances.get((account, index), 0) + amount
        self.held[index] = self.held.get(index, 0) + amount

    def withdraw(self, account: str, index: int, amount: int) -> None:
        if self.has_debt(account):
            raise MarginRefusal("DebtOutstanding", account)
        have = self.balances.get((account, index), 0)
        if amount > have:
            raise MarginRefusal("InsufficientBalance", account, index, amount, have)
        self.balances[account, index] = have - amount
        self.held[index] -= amount

    def pool(self, index: int) -> Pool:
        return self.pools.setdefault(index, Pool())

    def lend(self, lender: str, index: int, amount: int) -> int:
        """Shares minted for `amount` (Settlement.lend's rounding)."""
        p = self.pool(index)
        minted = amount if p.shares == 0 or p.assets == 0 else amount * p.shares // p.assets
        if amount == 0 or minted == 0:
            raise MarginRefusal("ZeroAmount")
        p.cash += amount
        p.shares += minted
        self.shares[lender, index] = self.shares.get((lender, index), 0) + minted
        self.held[index] = self.held.get(index, 0) + amount
        return minted

    def exit_value(self, index: int, shares: int) -> int:
        p = self.pool(index)
        return shares * p.assets // p.shares if p.shares else 0

    def exit(self, lender: str, index: int, shares: int) -> int:
        """Redeem shares (Settlement.claimPoolExit); returns the amount paid."""
        p = self.pool(index)
        held = self.shares.get((lender, index), 0)
        if not 0 < shares <= held:
            raise MarginRefusal("InsufficientShares", lender, index, shares, held)
        amount = self.exit_value(index, shares)
        if amount > p.cash:
            raise MarginRefusal("PoolExhausted", index, amount, p.cash)
        self.shares[lender, index] = held - shares
        p.shares -= shares
        p.cash -= amount
        self.held[index] -= amount
        return amount

    def has_debt(self, account: str) -> bool:
        return any(self.debts.get((account, i), 0) for i in range(1, self.tokens + 1))

    # ---- margin --------------------------------------------------------------------------------------------------
    def margin(self, account: str, marks: Sequence[int]) -> tuple[int, int]:
        """(required, available) as Settlement.marginOf: marked debt * (1 + rate) rounded up, marked balances."""
        required, available = self._scaled(account, marks)
        return (-(-required // BPS), available // BPS)

    def below_maintenance(self, account: str, marks: Sequence[int]) -> bool:
        required, available = self._scaled(account, marks)
        return available < required

    def _scaled(self, account: str, marks: Sequence[int]) -> tuple[int, int]:
        if not self.has_debt(account):
            return (0, 0)
        required = sum(self.debts.get((account, i), 0) * marks[i - 1] * (BPS + self.maintenance_bps.get(i, 0))
                       for i in range(1, self.tokens + 1))
        available = sum(self.balances.get((account, i), 0) * marks[i - 1] * BPS for i in range(1, self.tokens + 1))
        return required, available

    def apply(self, data: MarginData) -> list[str]:
        """Settle `data` as Settlement.settleMargin (all or nothing); returns the liquidated accounts left below
        maintenance (the contract's LiquidatedBelowMaintenance events). Raises MarginRefusal like the contract."""
        if len(data.marks) != self.tokens:
            raise MarginRefusal("MarksLength", self.tokens, len(data.marks))
        saved = (dict(self.balances), dict(self.debts), {i: Pool(p.cash, p.borrowed, p.shares)
                                                         for i, p in self.pools.items()})
        try:
            return self._apply(data)
        except MarginRefusal:
            self.balances, self.debts, self.pools = saved
            raise

    def _apply(self, data: MarginData) -> list[str]:
        for change in data.borrows:
            if change.principal > 0:
                if change.account in data.liquidated:
                    raise MarginRefusal("LiquidatedBorrows", change.account)
                self._change_debt(change)
        touched = []
        for account, entries in data.deltas.groups:
            touched.append(account)
            for index, delta in entries:
                self._credit(account, index, delta)
        for index in range(1, self.tokens + 1):
            total = sum(d for _, entries in data.deltas.groups for i, d in entries if i == index)
            if total:
                raise MarginRefusal("ValueNotConserved", index, total)
        for change in data.borrows:
            if change.principal <= 0:
                self._change_debt(change)
        left_below = []
        for account in touched + [c.account for c in data.borrows]:
            required, available = self._scaled(account, data.marks)
            if available < required:
                if account not in data.liquidated:
                    raise MarginRefusal("BelowMaintenance", account, -(-required // BPS), available // BPS)
                if account not in left_below:
                    left_below.append(account)
        return left_below

    def _credit(self, account: str, index: int, delta: int) -> None:
        have = self.balances.get((account, index), 0)
        if have + delta < 0:
            raise MarginRefusal("InsufficientBalance", account, index, -delta, have)
        self.balances[account, index] = have + delta

    def _change_debt(self, change: BorrowChange) -> None:
        key = (change.account, change.token)
        if not 1 <= change.token <= self.tokens:
            raise MarginRefusal("UnknownTokenIndex", 0, change.token)
        p = self.pool(change.token)
        debt = self.debts.get(key, 0) + change.fee
        p.borrowed += change.fee
        if change.principal > 0:
            if change.principal > p.cash:
                raise MarginRefusal("PoolExhausted", change.token, change.principal, p.cash)
            p.cash -= change.principal
            p.borrowed += change.principal
            debt += change.principal
            self._credit(change.account, change.token, change.principal)
        elif change.principal < 0:
            if -change.principal > debt:
                raise MarginRefusal("RepayExceedsDebt", change.account, change.token, -change.principal, debt)
            self._credit(change.account, change.token, change.principal)
            debt += change.principal
            p.cash -= change.principal
            p.borrowed += change.principal
        self.debts[key] = debt

    # ---- the custody invariant -----------------------------------------------------------------------------------
    def withdrawable(self, index: int, accounts: Iterable[str]) -> int:
        """What every account and lender could take out of token `index`: balances of accounts without debt (those
        with debt cannot withdraw) plus the pool's cash (lenders together get at most that)."""
        free = sum(self.balances.get((a, index), 0) for a in set(accounts) if not self.has_debt(a))
        return free + self.pool(index).cash


def borrows_for(net: Mapping[tuple[str, int], int], fees: Mapping[tuple[str, int], int] | None = None
                ) -> tuple[BorrowChange, ...]:
    """Borrow changes from {(account, index): principal} and accrued {(account, index): fee}, in canonical order
    (accounts ascending by address, then index)."""
    fees = fees or {}
    keys = sorted(set(net) | set(fees), key=lambda k: (int(k[0], 16), k[1]))
    return tuple(BorrowChange(to_checksum_address(a), i, net.get((a, i), 0), fees.get((a, i), 0)) for a, i in keys
                 if net.get((a, i), 0) or fees.get((a, i), 0))
