"""Margin batches on chain (issue 16): borrows from the contract's lending pools, certified marks, maintenance.

A margin batch settles like a net-deltas batch (`Settlement.settleMargin`), but its last Merkle leaf, the margin
leaf, also commits to the batch's borrow fees, its mark prices (one per listed token, in one unit of value per
token base unit) and the accounts it liquidates. The validators sign the tree's root, so the marks are certified by
the same quorum as the trades.

Balances are signed: a negative balance is a debt to that token's lending pool (principal plus fees). Borrowing is
implicit when a batch's trade deltas take a balance below zero, repayment implicit when a credit raises a negative
balance; a fee entry debits the balance and pays the pool. Per token the pool's `borrowed` follows the change of the
debts (dNeg) and its cash by fees - dNeg. After applying the batch the contract refuses it when an account it touched
holds less than its marked debt times (1 + maintenance rate) (`BelowMaintenance(account, required, available)`), or
when the new borrowing exceeds its pool's cash (`PoolExhausted(token, requested, available)`).
A spot batch (`settle`, `settleTrades`: no marks) is refused while any pool has debt outstanding
(`SpotBatchWithDebt(token, borrowed)`; `MarginBook.check_spot`).

`MarginBook` is the validators' and the ledger's view of the same state: signed balances, pools and maintenance
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
           "MarginRefusal", "Pool", "borrows_for", "KIND_BALANCE", "KIND_FEE"]

MARGIN_LEAF_TAG = keccak(b"MarketSimSettlement.Margin")
MAX_MARK = 2**96
BPS = 10_000
_U128 = 2**128
_I128_MIN, _I128_MAX = -(2**127), 2**127 - 1


@dataclass(frozen=True, slots=True)
class BorrowChange:
    """Debt change of one account in one token (by contract index) in a margin batch: `principal` is the change of
    the debt the batch's trade deltas make (> 0 borrowed, < 0 repaid: implied by the signed balance, for reporting
    only, not encoded), `fee` the borrow fee accrued since the last batch (a fee entry: debited from the balance,
    paid to the pool)."""

    account: str
    token: int
    principal: int
    fee: int = 0

    def __post_init__(self) -> None:
        if not -(_U128 // 2) <= self.principal < _U128 // 2:
            raise SettlementError(f"borrow principal {self.principal} does not fit int128")
        if not 0 <= self.fee <= _I128_MAX:
            raise SettlementError(f"borrow fee {self.fee} must be in 0..2**127-1")
        if self.token < 1:
            raise SettlementError(f"token index must be >= 1, got {self.token}")


KIND_BALANCE, KIND_FEE = 0, 1


@dataclass(frozen=True, slots=True)
class MarginData:
    """The MarginBatch struct beyond the header: the trades' net deltas and the borrow fees, encoded together (per
    account and token: the balance entry = trade delta, then the fee entry), the marks (token index order) and the
    liquidated accounts (ascending). The borrow changes' principals are not encoded (the signed balances imply
    them)."""

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
        seen = set()
        for b in self.borrows:
            key = (to_checksum_address(b.account), b.token)
            if key in seen:
                raise SettlementError(f"two borrow changes for {key}")
            seen.add(key)

    def groups(self) -> list[tuple[str, list[tuple[int, int, int]]]]:
        """Per account (ascending address) its (token index, kind, value) entries, ascending."""
        entries: dict[str, dict[tuple[int, int], int]] = {}
        for account, items in self.deltas.groups:
            for index, delta in items:
                entries.setdefault(account, {})[index, KIND_BALANCE] = delta
        for b in self.borrows:
            if b.fee:
                entries.setdefault(to_checksum_address(b.account), {})[b.token, KIND_FEE] = b.fee
        return [(a, [(i, k, v) for (i, k), v in sorted(entries[a].items())])
                for a in sorted(entries, key=lambda a: int(a, 16)) if entries[a]]

    def encode(self) -> bytes:
        """The `deltas` calldata of settleMargin: per account `account << 96 | count`, then entry words
        `kind << 248 | index << 128 | uint128(value)`."""
        words = []
        for account, entries in self.groups():
            words.append((int(account, 16) << 96 | len(entries)).to_bytes(32, "big"))
            for index, kind, value in entries:
                if not -(_U128 // 2) <= value < _U128 // 2:
                    raise SettlementError(f"margin entry {value} of {account} in token #{index} does not fit int128")
                words.append((kind << 248 | index << 128 | (value % _U128)).to_bytes(32, "big"))
        return b"".join(words)

    def as_tuple(self) -> tuple:
        """The MarginBatch struct tuple for web3."""
        return (self.trade_count, self.encode(), list(self.marks), [to_checksum_address(a) for a in self.liquidated])

    def leaf(self) -> bytes:
        """Settlement.marginLeaf of this batch."""
        return margin_leaf(self.trade_count, self.encode(), self.marks, self.liquidated)


def margin_leaf(trade_count: int, encoded_deltas: bytes, marks: Sequence[int], liquidated: Sequence[str]) -> bytes:
    """keccak256(keccak256(abi.encode(tag, tradeCount, keccak(deltas), keccak(abi.encode(marks)),
    keccak(abi.encode(liquidated))))) as Settlement.marginLeaf."""
    marks_hash = keccak(abi_encode(("uint256[]",), (list(marks),)))
    liquidated_hash = keccak(abi_encode(("address[]",), ([to_checksum_address(a) for a in liquidated],)))
    return leaf_hash(abi_encode(("bytes32", "uint256", "bytes32", "bytes32", "bytes32"),
                                (MARGIN_LEAF_TAG, trade_count, keccak(encoded_deltas), marks_hash, liquidated_hash)))


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
    """Signed balances, pools and maintenance rates keyed by (account, token index): the contract's margin state
    mirrored off chain (a negative balance is a debt to that token's pool). `apply` settles a margin batch with the
    contract's rules or raises MarginRefusal."""

    tokens: int
    balances: dict[tuple[str, int], int] = field(default_factory=dict)  # signed
    pools: dict[int, Pool] = field(default_factory=dict)
    shares: dict[tuple[str, int], int] = field(default_factory=dict)
    maintenance_bps: dict[int, int] = field(default_factory=dict)
    held: dict[int, int] = field(default_factory=dict)  # tokens the contract holds, per index

    # ---- balances and debts --------------------------------------------------------------------------------------
    def balance(self, account: str, index: int) -> int:
        """Settlement.balanceOf: max(0, signed balance)."""
        return max(0, self.balances.get((account, index), 0))

    def debt(self, account: str, index: int) -> int:
        """Settlement.debtOf: max(0, -signed balance), principal and fees owed to the pool of token `index`."""
        return max(0, -self.balances.get((account, index), 0))

    @property
    def debts(self) -> dict[tuple[str, int], int]:
        """Every debt (derived from the signed balances, read only)."""
        return {key: -v for key, v in self.balances.items() if v < 0}

    def has_debt(self, account: str) -> bool:
        return any(self.balances.get((account, i), 0) < 0 for i in range(1, self.tokens + 1))

    def snapshot(self) -> tuple:
        return dict(self.balances), {i: Pool(p.cash, p.borrowed, p.shares) for i, p in self.pools.items()}

    def restore(self, saved: tuple) -> None:
        self.balances, self.pools = dict(saved[0]), {i: Pool(p.cash, p.borrowed, p.shares)
                                                     for i, p in saved[1].items()}

    # ---- custody and pools ---------------------------------------------------------------------------------------
    def deposit(self, account: str, index: int, amount: int) -> int:
        """Settlement.deposit: a negative balance repays the pool first; returns the repaid part."""
        have = self.balances.get((account, index), 0)
        if have + amount > _I128_MAX:
            raise MarginRefusal("BalanceOverflow", account, index, max(0, have), amount)
        repaid = min(amount, -have) if have < 0 else 0
        if repaid:
            p = self.pool(index)
            p.borrowed -= repaid
            p.cash += repaid
        self.balances[account, index] = have + amount
        self.held[index] = self.held.get(index, 0) + amount
        return repaid

    def withdraw(self, account: str, index: int, amount: int) -> None:
        if self.has_debt(account):
            raise MarginRefusal("DebtOutstanding", account)
        have = self.balance(account, index)
        if amount > have:
            raise MarginRefusal("InsufficientBalance", account, index, amount, have)
        self.balances[account, index] = have - amount
        self.held[index] -= amount

    def pool(self, index: int) -> Pool:
        return self.pools.setdefault(index, Pool())

    def check_spot(self) -> None:
        """Settlement.settle / settleTrades refuse a spot batch while any debt is outstanding: a spot batch carries
        no marks, so it could move an indebted account's collateral unchecked. Raises the contract's
        SpotBatchWithDebt for the first token index whose pool has borrowed > 0."""
        for index in range(1, self.tokens + 1):
            p = self.pools.get(index)
            if p is not None and p.borrowed:
                raise MarginRefusal("SpotBatchWithDebt", index, p.borrowed)

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

    # ---- margin --------------------------------------------------------------------------------------------------
    def margin(self, account: str, marks: Sequence[int]) -> tuple[int, int]:
        """(required, available) as Settlement.marginOf: marked debt * (1 + rate) rounded up, marked balances."""
        required, available = self._scaled(account, marks)
        return (-(-required // BPS), available // BPS)

    def below_maintenance(self, account: str, marks: Sequence[int],
                          fees: Mapping[tuple[str, int], int] | None = None) -> bool:
        """Whether `account` is below maintenance at `marks`, after the borrow fees `fees` are charged."""
        required, available = self._scaled(account, marks, fees)
        return available < required

    def _scaled(self, account: str, marks: Sequence[int],
                fees: Mapping[tuple[str, int], int] | None = None) -> tuple[int, int]:
        """Settlement._margin: over the signed balances (less the borrow fees `fees`, if given), negative ones * mark *
        (BPS + rate), positive ones * mark * BPS; (0, 0) without debt."""
        required = available = 0
        for i in range(1, self.tokens + 1):
            b = self.balances.get((account, i), 0)
            if fees:
                b -= fees.get((account, i), 0)
            if b < 0:
                required += -b * marks[i - 1] * (BPS + self.maintenance_bps.get(i, 0))
            elif b > 0:
                available += b * marks[i - 1] * BPS
        return (required, available) if required else (0, 0)

    def apply(self, data: MarginData) -> list[str]:
        """Settle `data` as Settlement.settleMargin (all or nothing); returns the liquidated accounts left below
        maintenance (the contract's LiquidatedBelowMaintenance events). Raises MarginRefusal like the contract."""
        if len(data.marks) != self.tokens:
            raise MarginRefusal("MarksLength", self.tokens, len(data.marks))
        saved = self.snapshot()
        try:
            return self._apply(data)
        except MarginRefusal:
            self.restore(saved)
            raise

    def _apply(self, data: MarginData) -> list[str]:
        changes: dict[int, int] = {}  # every balance change (kind 0 and -fee)
        fees: dict[int, int] = {}
        d_neg: dict[int, int] = {}    # change of the debts
        left_below = []
        for account, entries in data.groups():
            borrowed = False
            for index, kind, value in entries:
                if not 1 <= index <= self.tokens:
                    raise MarginRefusal("UnknownTokenIndex", 0, index)
                change = value if kind == KIND_BALANCE else -value
                if kind == KIND_FEE:
                    fees[index] = fees.get(index, 0) + value
                old = self.balances.get((account, index), 0)
                new = old + change
                if not _I128_MIN <= new <= _I128_MAX:
                    raise MarginRefusal("BalanceOutOfRange", account, index, old, change)
                d_debt = max(0, -new) - max(0, -old)
                borrowed |= kind == KIND_BALANCE and d_debt > 0
                changes[index] = changes.get(index, 0) + change
                d_neg[index] = d_neg.get(index, 0) + d_debt
                self.balances[account, index] = new
            if borrowed and account in data.liquidated:
                raise MarginRefusal("LiquidatedBorrows", account)
            required, available = self._scaled(account, data.marks)
            if available < required:
                if account not in data.liquidated:
                    raise MarginRefusal("BelowMaintenance", account, -(-required // BPS), available // BPS)
                left_below.append(account)
        for index in range(1, self.tokens + 1):
            fee, grown = fees.get(index, 0), d_neg.get(index, 0)
            imbalance = changes.get(index, 0) + fee
            if imbalance:
                raise MarginRefusal("ValueNotConserved", index, imbalance)
            if fee == 0 and grown == 0:
                continue
            p = self.pool(index)
            cash = p.cash + fee - grown
            if cash < 0:
                raise MarginRefusal("PoolExhausted", index, grown - fee, p.cash)
            borrowed = p.borrowed + grown
            if cash >= _U128 or not 0 <= borrowed < _U128:
                raise MarginRefusal("PoolOutOfRange", index, cash, borrowed)
            p.cash, p.borrowed = cash, borrowed
        return left_below

    def plan(self, deltas: NetDeltas, fees: Mapping[tuple[str, int], int] | None = None) -> tuple[BorrowChange, ...]:
        """The batch's borrow changes for these net trade deltas and accrued `fees` ({(account, index): fee}): per
        (account, token) the change of its debt the deltas make (principal: a sale without inventory borrows the
        shortfall, a purchase by an account with debt in that token repays from it; the signed balances imply it)
        and the fee, debited after the delta. Whether the pools hold enough and the accounts stay above maintenance
        is `apply`'s check (PoolExhausted / BelowMaintenance)."""
        fees = dict(fees or {})
        principal: dict[tuple[str, int], int] = {}
        for account, entries in deltas.groups:
            for index, delta in entries:
                have = self.balances.get((account, index), 0)
                change = max(0, -(have + delta)) - max(0, -have)
                if change:
                    principal[account, index] = change
        return borrows_for(principal, fees)

    # ---- the custody invariant -----------------------------------------------------------------------------------
    def withdrawable(self, index: int, accounts: Iterable[str]) -> int:
        """What every account and lender could take out of token `index`: positive balances of accounts without
        debt (those with debt cannot withdraw) plus the pool's cash (lenders together get at most that)."""
        free = sum(self.balance(a, index) for a in set(accounts) if not self.has_debt(a))
        return free + self.pool(index).cash


def borrows_for(net: Mapping[tuple[str, int], int], fees: Mapping[tuple[str, int], int] | None = None
                ) -> tuple[BorrowChange, ...]:
    """Borrow changes from {(account, index): principal} and accrued {(account, index): fee}, in canonical order
    (accounts ascending by address, then index)."""
    fees = fees or {}
    keys = sorted(set(net) | set(fees), key=lambda k: (int(k[0], 16), k[1]))
    return tuple(BorrowChange(to_checksum_address(a), i, net.get((a, i), 0), fees.get((a, i), 0)) for a, i in keys
                 if net.get((a, i), 0) or fees.get((a, i), 0))
