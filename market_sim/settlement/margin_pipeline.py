"""Margin batches in the settlement pipeline and the validator committee (issue 16, "On chain").

With margin enabled ([settlement] `margin = true`) the pipeline settles every batch with `Settlement.settleMargin`:

- **Pre-trade** the validators approve a sale (purchase) the seller (buyer) cannot cover from its settled balance
  when the shortfall fits in the lending pool of that token (`MarginBalanceView`: available = settled - requested
  withdrawals + the pool's cash as of the last settled batch). Whether the account stays above maintenance is
  decided when the batch is built, at the batch's marks.
- **Marks** (the rule validators compute them by, from the certified trades alone): per listed token, the mark of
  the last settled margin batch, replaced for a base token by the last trade of the batch that moves it:
  floor(quote_amount / base_amount), at least 1 (value units = quote-token base units per base-token base unit).
  Quote tokens, and tokens never traded, have mark 1.
- **Borrow plan** (MarginBook.plan): balances are signed (a negative balance is a debt to that token's pool), so a
  seller without inventory borrows the shortfall and a buyer without cash the quote token just by going below zero,
  and an account with debt in a token it receives repays from it; the plan reports those debt changes and carries
  the batch's borrow fees (fee entries: debited from the balance, paid to the pool).
- **Borrow fees** (`BorrowAccrual`): a debt pays its pool's annual rate (`[settlement] borrow_bps`, per asset; 25 bps,
  general collateral, by default) in kind, in the borrowed token's base units, on simulated time: the batch's time is
  its last trade's timestamp (the validators see every trade's), and each batch charges the accounts it touches, in
  the tokens its trades move, the fee accrued since their debt last changed (`core.borrowing.accrue_borrow_fee`: floor of the exact amount, the
  fraction carried). The fee is a certified fee entry of the margin leaf; on chain it grows the debt and the pool's
  assets, so lenders earn it through their shares. A debt is charged when its account next settles a trade; what has
  accrued on debts not touched since is reported at the end (`borrow_fees_accrued`), not charged.
- **Liquidation**: an account already below maintenance at the batch's marks before the batch, for which the batch
  borrows nothing, is listed as liquidated: its closing trades settle even if it stays below (the contract's
  LiquidatedBelowMaintenance). Any other account the batch would leave below maintenance is refused.
- **Admission** (`MarginPlanner.admit`): the pipeline keeps the batch's trades in order while the whole batch still
  settles (MarginBook.apply, the contract's rules); a trade that would make it revert is refused with the reason
  ("below maintenance: ...", "pool exhausted: ...", "insufficient balance: ..."), like the spot refusals.
- **Certification**: the committee builds the same margin leaf from the trades (`extra_leaves`, the planner's
  deterministic data) and signs it under the batch root; a batch the book refuses is not certified (ConsensusError,
  the pipeline's "not certified: ..." refusal).
- **Booking**: a settled batch is applied to the planner's book (the validators' mirror of the signed balances and
  pools); the Ledger books balances, debts and marks; `reconcile_margin` checks debts and pools against the chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from market_sim.blockchain.clients import TestToken
from market_sim.consensus.state import BalanceView
from market_sim.core.borrowing import GENERAL_COLLATERAL_BPS, accrue_borrow_fee
from market_sim.core.errors import ConsensusError, SettlementError
from market_sim.core.events import Trade
from market_sim.settlement.deltas import NetDeltas
from market_sim.settlement.margin import MarginBook, MarginData, MarginRefusal
from market_sim.settlement.trades import SettledTrade, TradeEncoder

__all__ = ["MarginSettings", "MarginPlanner", "MarginBalanceView", "MarginDifference", "reconcile_margin",
           "setup_margin", "pool_cash", "record_margin", "BorrowAccrual", "FeeCharge"]


@dataclass(frozen=True, slots=True)
class MarginSettings:
    """What the [settlement] section's margin keys configure, in token base units / bps, per asset symbol."""

    maintenance_bps: Mapping[str, int]
    pools: Mapping[str, Mapping[str, int]]  # asset -> {lender: base units it lends into that token's pool}
    borrow_bps: Mapping[str, int] = field(default_factory=dict)  # asset -> annual rate (GENERAL_COLLATERAL_BPS)

    def rate(self, asset: str) -> int:
        return self.borrow_bps.get(asset, GENERAL_COLLATERAL_BPS)


@dataclass(frozen=True, slots=True)
class FeeCharge:
    """One borrow fee a settled margin batch charged: `debt` base units of token #`token` borrowed from `since` to
    `at` (ns of simulated time) at `rate_bps` a year."""

    sequence: int
    account: str
    token: int
    debt: int
    since: int
    at: int
    rate_bps: int
    fee: int


class BorrowAccrual:
    """Per (account, token index): since when its debt has been what it is, and the fee fraction carried. The
    validators' deterministic rule: a batch at time `at` charges each account it touches the fee on its debt for
    [since, at); settling it restarts the interval at `at`."""

    __slots__ = ("rates", "state")

    def __init__(self, rates: Mapping[int, int]) -> None:
        self.rates = dict(rates)  # token index -> annual bps
        self.state: dict[tuple[str, int], tuple[int, Fraction]] = {}

    def fees(self, book: MarginBook, accounts: Iterable[str], at: int, tokens: Iterable[int] | None = None
             ) -> tuple[dict[tuple[str, int], int], list[tuple[tuple[str, int], int, int, Fraction]]]:
        """({(account, index): fee > 0}, every accrual: (key, debt, since, carry after)) at time `at`, over the
        token indices `tokens` (every listed token by default)."""
        fees: dict[tuple[str, int], int] = {}
        accruals = []
        indices = range(1, book.tokens + 1) if tokens is None else sorted(tokens)
        for account in accounts:
            for index in indices:
                debt = book.debt(account, index)
                key = (account, index)
                if not debt:
                    continue
                since, carry = self.state.get(key, (at, Fraction(0)))
                fee, carry = accrue_borrow_fee(debt, 1, self.rates.get(index, 0), max(0, at - since), carry)
                if fee:
                    fees[key] = fee
                accruals.append((key, debt, since, carry))
        return fees, accruals

    def settled(self, book: MarginBook, accounts: Iterable[str], tokens: Iterable[int], at: int,
                accruals: Iterable[tuple[tuple[str, int], int, int, Fraction]]) -> None:
        """A batch at `at` touching `accounts` in `tokens` settled (and `book` has applied it): their intervals
        restart at `at`."""
        carried = {key: carry for key, _, _, carry in accruals}
        for account in accounts:
            for index in tokens:
                key = (account, index)
                if key in carried or book.debt(account, index):
                    self.state[key] = (at, carried.get(key, self.state.get(key, (at, Fraction(0)))[1]))

    def outstanding(self, book: MarginBook, at: int) -> dict[int, Fraction]:
        """Per token index: the fees accrued up to `at` and not charged yet, exact (base units and fractions carried):
        on every debt since its interval began, and the fractions of debts repaid since."""
        out: dict[int, Fraction] = {}
        for (account, index), (since, carry) in self.state.items():
            debt = book.debt(account, index)
            fee, rest = accrue_borrow_fee(debt, 1, self.rates.get(index, 0), max(0, at - since), carry)
            out[index] = out.get(index, Fraction(0)) + fee + rest
        return out


class MarginBalanceView(BalanceView):
    """BalanceView whose available balance includes what the account could borrow from the token's pool.

    `credit` (asset -> pool cash) is shared by every validator's copy and refreshed after each settled batch."""

    __slots__ = ("credit",)

    def __init__(self, instruments, balances=None, *, taker_fee_bps: int = 0,
                 credit: dict[str, int] | None = None) -> None:
        super().__init__(instruments, balances, taker_fee_bps=taker_fee_bps)
        self.credit: dict[str, int] = credit if credit is not None else {}

    def copy(self) -> MarginBalanceView:
        other = super().copy()
        other.credit = self.credit  # shared, not copied
        return other

    def available(self, key: tuple[str, str]) -> int:
        return super().available(key) + max(0, self.credit.get(key[1], 0))


class MarginPlanner:
    """The validators' margin state and rules: marks, borrow plan, liquidations, admission, the margin leaf."""

    def __init__(self, book: MarginBook, encoder: TradeEncoder, fee_account: str, token_index: Mapping[str, int],
                 assets: Mapping[str, str], credit: dict[str, int] | None = None,
                 rates: Mapping[int, int] | None = None) -> None:
        self.book = book
        self.encoder = encoder
        self.fee_account = fee_account
        self.token_index = dict(token_index)           # token address -> contract index
        self.assets = dict(assets)                     # token address -> asset symbol
        self.marks = [1] * book.tokens                 # of the last settled margin batch
        self.credit = credit if credit is not None else {}
        self._leaves: dict[tuple[int, ...], bytes] = {}  # trade ids -> the margin leaf signed for them
        self.liquidations: list[tuple[int, str]] = []  # (batch sequence, account) of every settled liquidation
        self.accrual = BorrowAccrual(rates or {})
        self.times: dict[int, int] = {}                # trade id -> its timestamp (the batch time's source)
        self.charges: list[FeeCharge] = []             # every borrow fee settled on chain
        self.refresh_credit()

    # ---- the batch's margin data ---------------------------------------------------------------------------------
    def batch_marks(self, trades: Sequence[SettledTrade]) -> tuple[int, ...]:
        marks = list(self.marks)
        for t in trades:
            if t.base_amount > 0:
                marks[self.token_index[t.base_token] - 1] = max(1, t.quote_amount // t.base_amount)
        return tuple(marks)

    def note(self, trades: Iterable[Trade]) -> None:
        """Remember the trades' timestamps: a batch's time is its last trade's."""
        self.times.update((t.trade_id, t.ts) for t in trades)

    def batch_time(self, trades: Sequence[SettledTrade]) -> int:
        """The batch's time: its last trade's timestamp (0 when no pool charges a fee: time is then unused)."""
        if not any(self.accrual.rates.values()):
            return 0
        try:
            return max((self.times[t.trade_id] for t in trades), default=0)
        except KeyError as exc:
            raise SettlementError(f"margin batch: no timestamp for trade {exc.args[0]} (MarginPlanner.note)") from None

    def data(self, trades: Sequence[SettledTrade]) -> MarginData:
        """The margin data of a batch of these trades (deterministic in the book's state and the trades)."""
        trades = tuple(trades)
        deltas = NetDeltas.from_trades(trades, self.fee_account, self.token_index.__getitem__)
        marks = self.batch_marks(trades)
        touched = [a for a, _ in deltas.groups]
        fees, _ = self.accrual.fees(self.book, touched, self.batch_time(trades), dict(deltas.tokens))
        borrows = self.book.plan(deltas, fees)
        borrowing = {b.account for b in borrows if b.principal > 0}
        liquidated = tuple(sorted((a for a in touched if a not in borrowing
                                   and self.book.below_maintenance(a, marks, fees)), key=lambda a: int(a, 16)))
        return MarginData(len(trades), deltas, borrows, marks, liquidated)

    def trial(self, trades: Sequence[SettledTrade]) -> MarginData:
        """The batch's data, checked as the contract would settle it (raises MarginRefusal; nothing changes)."""
        data = self.data(trades)
        saved = self.book.snapshot()
        try:
            self.book.apply(data)
        finally:
            self.book.restore(saved)
        return data

    def batch_options(self, trades: Sequence[SettledTrade]) -> dict:
        """SettlementBatch.build keywords (borrows, marks, liquidated) for an admitted batch."""
        data = self.data(trades)
        return dict(borrows=data.borrows, marks=data.marks, liquidated=data.liquidated)

    def admit(self, trades: Sequence[SettledTrade]) -> tuple[list[SettledTrade], list[tuple[SettledTrade, str]]]:
        """The trades, in order, whose batch settles; the refused ones with the reason."""
        try:
            self.trial(trades)
            return list(trades), []
        except MarginRefusal:
            pass
        kept: list[SettledTrade] = []
        refused: list[tuple[SettledTrade, str]] = []
        for trade in trades:
            try:
                self.trial([*kept, trade])
            except MarginRefusal as exc:
                refused.append((trade, self.reason(exc)))
                self.times.pop(trade.trade_id, None)
                continue
            kept.append(trade)
        return kept, refused

    def reason(self, exc: MarginRefusal) -> str:
        a = exc.args_decoded
        if exc.error == "BelowMaintenance":
            return (f"below maintenance: {a[0]} requires {a[1]} of margin at the batch's marks, has {a[2]} "
                    "(value units: quote base units)")
        if exc.error == "PoolExhausted":
            token = self._token(a[0])
            return (f"pool exhausted: borrowing {self.encoder.amount_text(token, a[1])}, the pool holds "
                    f"{self.encoder.amount_text(token, a[2])}")
        if exc.error == "InsufficientBalance":
            token = self._token(a[1])
            return (f"insufficient balance: {a[0]} needs {self.encoder.amount_text(token, a[2])}, has "
                    f"{self.encoder.amount_text(token, a[3])} (no lending pool)")
        return f"margin refused: {exc}"

    def _token(self, index: int) -> str:
        return next(t for t, i in self.token_index.items() if i == index)

    # ---- the committee's hook ------------------------------------------------------------------------------------
    def extra_leaves(self, trades: Sequence[Trade]) -> list[bytes]:
        """The margin leaf the validators sign under the batch root; a batch the contract would refuse is not
        certified. A batch's leaf is remembered (by its trade ids): the log verifies certified blocks later, when the
        book has moved on."""
        key = tuple(t.trade_id for t in trades)
        leaf = self._leaves.get(key)
        if leaf is not None:
            return [leaf]
        self.note(trades)
        try:
            data = self.trial([self.encoder.settled(t) for t in trades])
        except MarginRefusal as exc:
            raise ConsensusError(self.reason(exc)) from exc
        self._leaves[key] = leaf = data.leaf()
        return [leaf]

    # ---- after settlement ----------------------------------------------------------------------------------------
    def booked(self, batch) -> None:
        """A margin batch settled on chain: the validators' book follows it."""
        if batch.margin is None:
            return
        at = self.batch_time(batch.trades)
        touched = [a for a, _ in batch.margin.deltas.groups]
        tokens = [i for i, _ in batch.margin.deltas.tokens]
        fees, accruals = self.accrual.fees(self.book, touched, at, tokens)
        certified = {(b.account, b.token): b.fee for b in batch.margin.borrows if b.fee}
        if certified != fees:
            raise SettlementError(f"batch {batch.sequence} charged borrow fees {certified}, the validators' accrual "
                                  f"gives {fees}")
        self.book.apply(batch.margin)
        self.accrual.settled(self.book, touched, tokens, at, accruals)
        self.charges.extend(FeeCharge(batch.sequence, key[0], key[1], debt, since, at, self.accrual.rates.get(key[1], 0),
                                      fees[key]) for key, debt, since, _ in accruals if key in fees)
        for t in batch.trades:
            self.times.pop(t.trade_id, None)
        self.marks = list(batch.margin.marks)
        self.liquidations.extend((batch.sequence, a) for a in batch.margin.liquidated)
        self.refresh_credit()

    def refresh_credit(self) -> None:
        for token, index in self.token_index.items():
            asset = self.assets.get(token)
            if asset is not None:
                self.credit[asset] = self.book.pool(index).cash

    def withdrawn(self, account: str, token: str, amount: int) -> None:
        index = self.token_index.get(token)
        if index is not None and amount:
            self.book.balances[account, index] = self.book.balances.get((account, index), 0) - amount
            self.book.held[index] = self.book.held.get(index, 0) - amount


def setup_margin(venue, encoder: TradeEncoder, settings: MarginSettings, deposits: Iterable[tuple[str, str, int]]
                 ) -> MarginPlanner:
    """Set the maintenance rates and fund the pools on chain (the lender mints, approves, lends); a planner whose
    book holds `deposits` ((address, token address, amount)) and the pools."""
    client = venue.client
    chain = venue.chain
    token_index = {token: client.token_index(token) for token in venue.tokens.values()}
    book = MarginBook(len(token_index))
    for asset, bps in settings.maintenance_bps.items():
        token = venue.tokens.get(asset)
        if token is None:
            raise SettlementError(f"margin maintenance names unknown asset {asset!r}")
        client.contract.set_maintenance(token, bps)
        book.maintenance_bps[token_index[token]] = bps
    for asset, lenders in settings.pools.items():
        token = venue.tokens.get(asset)
        if token is None:
            raise SettlementError(f"margin pool names unknown asset {asset!r}")
        for name, amount in sorted(lenders.items()):
            if amount <= 0:
                continue
            lender = chain.accounts.get(name) or chain.add_account(name)  # a chain account of its own: it holds shares
            TestToken(chain, token).mint(lender, amount)
            client.approve(token, sender=name)
            client.contract.lend(token, amount, sender=name)
            book.lend(lender, token_index[token], amount)
    for account, token, amount in deposits:
        book.deposit(account, token_index[token], amount)
    assets = {token: asset for asset, token in venue.tokens.items()}
    rates = {index: settings.rate(assets[token]) for token, index in token_index.items()}
    return MarginPlanner(book, encoder, client.fee_account, token_index, assets, rates=rates)


@dataclass(frozen=True, slots=True)
class MarginDifference:
    kind: str       # "debt" or "pool"
    where: str
    ours: object
    chain: object

    def __str__(self) -> str:
        return f"{self.kind} {self.where}: ledger {self.ours}, chain {self.chain}"


def pool_cash(planner: MarginPlanner) -> dict[str, int]:
    """token address -> its pool's cash in the validators' book (reconcile's `pool_cash`)."""
    return {token: planner.book.pool(index).cash for token, index in planner.token_index.items()}


def reconcile_margin(ledger, planner: MarginPlanner, client, accounts: Iterable[str]) -> list[MarginDifference]:
    """Debts (the ledger's and the validators' book) and pools (cash, borrowed, shares) against the contract, and
    custody: per token the contract holds at least every positive balance plus the pool's cash."""
    diffs: list[MarginDifference] = []
    accounts = sorted(set(accounts) | {a for a, _ in ledger.debts})
    for token, index in sorted(planner.token_index.items(), key=lambda kv: kv[1]):
        for account in accounts:
            chain_debt = client.contract.debt_of(account, token)
            if ledger.debt(account, token) != chain_debt:
                diffs.append(MarginDifference("debt", f"{account} in {token}", ledger.debt(account, token),
                                              chain_debt))
            if planner.book.debt(account, index) != chain_debt:
                diffs.append(MarginDifference("book debt", f"{account} in {token}",
                                              planner.book.debt(account, index), chain_debt))
        p = planner.book.pool(index)
        chain_pool = client.contract.pool(index)
        if (p.cash, p.borrowed, p.shares) != chain_pool:
            diffs.append(MarginDifference("pool", f"token {token}", (p.cash, p.borrowed, p.shares), chain_pool))
        held = client.token(token).balance_of(client.address)
        owed = sum(ledger.balance(a, token) for a in accounts) + chain_pool[0]
        if owed > held:
            diffs.append(MarginDifference("custody", f"token {token}", owed, held))
    return diffs


def record_margin(sim, pipeline, venue) -> tuple[list[MarginDifference], dict[str, str]]:
    """The [settlement] section's margin tables (settlement_debts: every debt on chain at the end, with the ledger's;
    settlement_pools: per lender its shares, on chain too, and their exit value; settlement_liquidations;
    settlement_borrow_fees: every fee charged; margin_reconciliation: differences) and its check; returns the
    differences and the fee figures (borrow_fees_paid, borrow_fees_accrued: per asset, whole tokens)."""
    planner: MarginPlanner = pipeline.margin
    client = venue.client
    names = {address: trader for trader, address in venue.accounts.items()}
    diffs = reconcile_margin(pipeline.ledger, planner, client, [*venue.accounts.values(), venue.fee_account])
    for (account, index), debt in sorted(planner.book.debts.items()):
        token = planner._token(index)
        sim.record("settlement_debts", {"account": names.get(account, account), "asset": planner.assets[token],
                                        "book_debt": debt, "ledger_debt": pipeline.ledger.debt(account, token),
                                        "chain_debt": client.contract.debt_of(account, token)})
    lenders = {address: name for name, address in venue.chain.accounts.items()}
    for (lender, index), shares in sorted(planner.book.shares.items()):
        token = planner._token(index)
        sim.record("settlement_pools", {"lender": lenders.get(lender, lender), "asset": planner.assets[token],
                                        "shares": shares, "chain_shares": client.contract.pool_shares(lender, index),
                                        "exit_value": planner.book.exit_value(index, shares),
                                        "pool_cash": planner.book.pool(index).cash,
                                        "pool_borrowed": planner.book.pool(index).borrowed})
    for sequence, account in planner.liquidations:
        sim.record("settlement_liquidations", {"batch": sequence, "account": names.get(account, account)})
    paid: dict[int, int] = {}
    for c in planner.charges:
        token = planner._token(c.token)
        paid[c.token] = paid.get(c.token, 0) + c.fee
        sim.record("settlement_borrow_fees", {"batch": c.sequence, "account": names.get(c.account, c.account),
                                              "asset": planner.assets[token], "debt": c.debt, "since_ns": c.since,
                                              "at_ns": c.at, "rate_bps": c.rate_bps, "fee": c.fee})
    if "settlement_borrow_fees" not in sim.tables:
        sim.tables["settlement_borrow_fees"] = {c: [] for c in ("batch", "account", "asset", "debt", "since_ns",
                                                                "at_ns", "rate_bps", "fee")}

    def text(amounts: Mapping[int, int | Fraction]) -> str:
        out = []
        for index, units in sorted(amounts.items()):
            if units:
                asset = planner.assets[planner._token(index)]
                out.append(f"{float(units) / 10 ** planner.encoder.decimals(asset):.6g} {asset}")
        return ", ".join(out) or "none"

    figures = {"borrow_fees_paid": f"{text(paid)} ({len(planner.charges)} charges)",
               "borrow_fees_accrued": text(planner.accrual.outstanding(planner.book, sim.now))}
    for d in diffs:
        sim.record("margin_reconciliation", {"kind": d.kind, "where": d.where, "ledger": str(d.ours),
                                             "chain": str(d.chain)})
    sim.extra_files["margin_reconciliation.txt"] = ("\n".join(map(str, diffs)) or "margin: debts, pools and "
                                                    "custody agree with the chain").encode() + b"\n"
    return diffs, figures
