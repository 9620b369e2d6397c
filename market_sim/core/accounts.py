"""Accounts: the one record of who owns what.

Every participant (agent, LP, validator, external API trader) has an `Account` holding integer balances per asset,
in the asset's base units (USD cents at 2 decimals, wei at 18). An asset id is a plain string: `"USD"`, `"AAPL"`,
`"ETH"`; holdings in a particular place carry the place after `@` (`"USDC@chain-a"` on a chain, `"USDC@bridge"`
in transit on a bridge), so DeFi inventory and tokens in transit are account entries like any other.

A `Fill` is one execution for one account — an order-book trade side or an AMM swap — stated in asset units: the
base asset received (BUY) or delivered (SELL), the quote asset paid or received, and the fee. `Account.apply(fill)`
moves the balances and updates the instrument's `Position`: signed quantity in base units, cost basis, realized PnL
and fees, all integers in quote units. Unrealized PnL is marked to a price the caller supplies (a `Mark`: an exact
rational price in quote units per base unit), so the same code marks at a book mid, an AMM spot price or a
settlement price.

Balances may go negative: that is a short (base asset) or a loan (quote asset). Nothing here forbids it; the pre-trade
risk engine and the margin rules decide what is allowed, and `borrowed()` reports what is owed, for borrow fees.

The same model holds every other record of balances: the validators' solvency view (consensus.state.BalanceView:
settled balances per trader and asset symbol) and the settlement Ledger (per account address and token address)
keep theirs in an `Accounts`, copied with `Accounts.copy()` (one copy per validator).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from market_sim.core.errors import ValidationError
from market_sim.core.events import Event
from market_sim.core.instruments import Instrument
from market_sim.core.orders import Side
from market_sim.core.values import fast_init

__all__ = ["Liquidity", "Fill", "Transfer", "Position", "Account", "Accounts", "KeyedBalances", "Mark", "book_fill"]

_BUY = Side.BUY

Mark = Fraction  # quote base units per base-asset base unit


class Liquidity(StrEnum):
    MAKER = "maker"  # the account's order rested in the book
    TAKER = "taker"  # the account's order took liquidity
    POOL = "pool"    # a swap against an AMM pool


@fast_init
@dataclass(frozen=True, slots=True)
class Fill(Event):
    """One execution for one account. Amounts are positive integers in each asset's base units."""

    account: str
    venue: str
    symbol: str          # the instrument (book) or pool symbol traded
    side: Side           # BUY: receive base, pay quote; SELL: deliver base, receive quote
    base_asset: str
    base_amount: int
    quote_asset: str
    quote_amount: int
    fee_asset: str = ""
    fee: int = 0         # paid by the account, in fee_asset base units (negative: a rebate)
    liquidity: Liquidity = Liquidity.TAKER
    order_id: int = 0    # book fills: the account's order
    trade_id: int = 0    # book fills: the venue's trade id; swaps: 0
    price: int = 0       # book fills: the trade price in ticks
    quantity: int = 0    # book fills: lots

    def __post_init__(self) -> None:
        if self.base_amount <= 0 or self.quote_amount < 0:
            raise ValidationError(f"fill {self.symbol} for {self.account}: amounts must be positive, got "
                                  f"base {self.base_amount}, quote {self.quote_amount}")

    @property
    def maker(self) -> bool:
        return self.liquidity is Liquidity.MAKER

    @property
    def signed_base(self) -> int:
        return self.base_amount if self.side is Side.BUY else -self.base_amount

    @property
    def signed_quote(self) -> int:
        return -self.quote_amount if self.side is Side.BUY else self.quote_amount


def book_fill(ts: int, account: str, venue: str, instrument: Instrument, side: Side, price: int, quantity: int, *,
              order_id: int, trade_id: int, maker: bool, fee: int = 0) -> Fill:
    """The Fill of one side of an order-book trade of `quantity` lots at `price` ticks (fee in quote units)."""
    return Fill(ts, account, venue, instrument.symbol, side, instrument.base_asset,
                quantity * instrument.base_units_per_lot, instrument.quote_asset,
                quantity * price * instrument.quote_units_per_lot_tick, instrument.quote_asset if fee else "", fee,
                Liquidity.MAKER if maker else Liquidity.TAKER, order_id, trade_id, price, quantity)


@dataclass(frozen=True, slots=True)
class Transfer(Event):
    """Units of an asset moved into (positive) or out of (negative) an account outside trading: a deposit, a
    bridge hop, gas, a borrow fee, a dividend. `reason` says which."""

    account: str
    asset: str
    amount: int
    reason: str


@dataclass(slots=True)
class Position:
    """An account's position in one instrument, from its fills. Integers: base units and quote units."""

    symbol: str
    base_asset: str
    quote_asset: str
    quantity: int = 0        # signed base units: > 0 long, < 0 short
    cost: int = 0            # quote units paid for the open quantity (negative for a short: proceeds received)
    realized: int = 0        # quote units realized by closing trades
    fees: int = 0            # quote-asset fees paid on this instrument
    volume: int = 0          # base units traded
    fills: int = 0
    opened_at: int | None = None

    def apply(self, fill: Fill) -> int:
        """Book a fill; returns the PnL it realized (quote units).

        Exact: over any sequence of fills, realized - cost equals the sum of the fills' quote cash flows, so a flat
        position's realized PnL is exactly what it received minus what it paid (before fees)."""
        if fill.side is _BUY:  # signed_base / signed_quote, without the property calls (once per fill)
            q, cash = fill.base_amount, -fill.quote_amount
        else:
            q, cash = -fill.base_amount, fill.quote_amount
        realized = 0
        if self.quantity == 0 or (self.quantity > 0) == (q > 0):  # opening or adding
            self.quantity += q
            self.cost -= cash
        else:  # reducing, closing or flipping through zero
            closing = min(abs(q), abs(self.quantity))
            basis = self.cost * closing // abs(self.quantity)   # == cost when the whole position closes
            proceeds = cash * closing // abs(q)                 # == cash when the whole fill closes
            realized = proceeds - basis
            self.quantity += q
            self.cost = self.cost - basis - (cash - proceeds)   # a flip opens the rest at the fill's price
        self.realized += realized
        if fill.fee and fill.fee_asset == self.quote_asset:
            self.fees += fill.fee
        self.volume += fill.base_amount
        self.fills += 1
        if self.quantity == 0:
            self.opened_at = None
        elif self.opened_at is None or (self.quantity > 0) != (self.quantity - q > 0):
            self.opened_at = fill.ts
        return realized

    def copy(self) -> Position:
        """An independent copy."""
        return Position(self.symbol, self.base_asset, self.quote_asset, self.quantity, self.cost, self.realized,
                        self.fees, self.volume, self.fills, self.opened_at)

    def unrealized(self, mark: Mark | None) -> int:
        """Quote units the open quantity would realize at `mark` (0 when flat or unmarked)."""
        if self.quantity == 0 or mark is None:
            return 0
        return int(self.quantity * mark) - self.cost  # value of the open quantity (truncated) minus its basis

    def average_price(self) -> Fraction | None:
        """Average entry price in quote units per base unit (None when flat)."""
        return None if self.quantity == 0 else Fraction(self.cost, self.quantity)

    def pnl(self, mark: Mark | None) -> int:
        """Realized + unrealized - fees, in quote units."""
        return self.realized + self.unrealized(mark) - self.fees


@dataclass(slots=True)
class Account:
    """Balances per asset and positions per instrument of one owner."""

    id: str
    balances: dict[str, int] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    fees_paid: dict[str, int] = field(default_factory=dict)

    def balance(self, asset: str) -> int:
        return self.balances.get(asset, 0)

    def copy(self) -> Account:
        """An independent copy: balances, positions and fees (nothing mutable is shared)."""
        positions = self.positions
        return Account(self.id, self.balances.copy(),
                       {s: p.copy() for s, p in positions.items()} if positions else {}, self.fees_paid.copy())

    def credit(self, asset: str, amount: int) -> None:
        """Add (or with a negative amount, remove) base units of an asset."""
        if type(amount) is not int:
            raise ValidationError(f"account {self.id}: {asset} amount must be an integer, got {amount!r}")
        self.balances[asset] = self.balances.get(asset, 0) + amount

    def move(self, asset_from: str, asset_to: str, amount: int) -> None:
        """Move units between two holdings of the same asset (a chain and a bridge in transit, say)."""
        self.credit(asset_from, -amount)
        self.credit(asset_to, amount)

    def apply(self, fill: Fill) -> int:
        """Book a fill: balances move, the position updates; returns realized PnL (quote units)."""
        if fill.account != self.id:
            raise ValidationError(f"fill for {fill.account} applied to account {self.id}")
        b = self.balances
        if fill.side is _BUY:
            b[fill.base_asset] = b.get(fill.base_asset, 0) + fill.base_amount
            b[fill.quote_asset] = b.get(fill.quote_asset, 0) - fill.quote_amount
        else:
            b[fill.base_asset] = b.get(fill.base_asset, 0) - fill.base_amount
            b[fill.quote_asset] = b.get(fill.quote_asset, 0) + fill.quote_amount
        if fill.fee:
            b[fill.fee_asset] = b.get(fill.fee_asset, 0) - fill.fee
            self.fees_paid[fill.fee_asset] = self.fees_paid.get(fill.fee_asset, 0) + fill.fee
        pos = self.positions.get(fill.symbol)
        if pos is None:
            pos = self.positions[fill.symbol] = Position(fill.symbol, fill.base_asset, fill.quote_asset)
        return pos.apply(fill)

    def transfer(self, t: Transfer) -> None:
        """Book a transfer into or out of the account."""
        self.credit(t.asset, t.amount)

    def position(self, symbol: str) -> Position | None:
        return self.positions.get(symbol)

    def borrowed(self) -> dict[str, int]:
        """Assets owed (negative balances), as positive amounts: shorts and loans, for borrow fees and margin."""
        return {a: -v for a, v in self.balances.items() if v < 0}

    def value(self, price_of: Callable[[str], Mark | None], numeraire: str) -> Fraction:
        """Net value of every balance in `numeraire` units; price_of(asset) is the numeraire price of one base unit
        (the numeraire itself and unpriced zero balances need none). Raises ValidationError for a non-zero balance
        with no price, rather than valuing it at zero."""
        total = Fraction(0)
        for asset, amount in sorted(self.balances.items()):
            if amount == 0:
                continue
            if asset == numeraire:
                total += amount
                continue
            price = price_of(asset)
            if price is None:
                raise ValidationError(f"account {self.id}: no price for {asset} to value {amount} units in {numeraire}")
            total += amount * price
        return total


class Accounts:
    """Every account of a simulation, by id; created on first use."""

    __slots__ = ("_accounts",)

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}

    def __getitem__(self, account_id: str) -> Account:
        acct = self._accounts.get(account_id)
        if acct is None:
            acct = self._accounts[account_id] = Account(account_id)
        return acct

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def balance(self, account_id: str, asset: str) -> int:
        """The account's balance of `asset` (0 for an account or asset never seen; creates nothing)."""
        acct = self._accounts.get(account_id)
        return 0 if acct is None else acct.balances.get(asset, 0)

    def credit(self, account_id: str, asset: str, amount: int) -> None:
        """Account.credit on the account (created on first use)."""
        self[account_id].credit(asset, amount)

    def copy(self) -> Accounts:
        """An independent copy of every account (Account.copy each)."""
        other = Accounts()
        other._accounts = {k: a.copy() for k, a in self._accounts.items()}
        return other

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._accounts

    def __iter__(self) -> Iterator[Account]:
        return iter(self._accounts.values())

    def __len__(self) -> int:
        return len(self._accounts)

    def apply(self, fill: Fill) -> int:
        """Book a fill on its account; returns realized PnL."""
        return self[fill.account].apply(fill)

    def transfer(self, t: Transfer) -> None:
        self[t.account].transfer(t)

    def totals(self, assets: Iterable[str] | None = None) -> dict[str, int]:
        """Sum of every account's balance per asset (conservation checks: trading moves, never creates)."""
        out: dict[str, int] = {}
        for acct in self._accounts.values():
            for a, v in acct.balances.items():
                if assets is None or a in assets:
                    out[a] = out.get(a, 0) + v
        return out


class KeyedBalances(MutableMapping):
    """The balances of an `Accounts` as one mapping (account id, asset) -> base units, for code that keys balances by
    pairs. Reads and writes go to the accounts: a missing pair reads 0 (so `m[key] += amount` works, like a
    defaultdict(int)); iteration is by account, then asset, in first-seen order."""

    __slots__ = ("accounts",)

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self.accounts.balance(key[0], key[1])

    def get(self, key: tuple[str, str], default: int | None = None) -> int | None:
        acct = self.accounts.get(key[0])
        return default if acct is None else acct.balances.get(key[1], default)

    def __setitem__(self, key: tuple[str, str], amount: int) -> None:
        if type(amount) is not int:
            raise ValidationError(f"account {key[0]}: {key[1]} amount must be an integer, got {amount!r}")
        self.accounts[key[0]].balances[key[1]] = amount

    def __delitem__(self, key: tuple[str, str]) -> None:
        acct = self.accounts.get(key[0])
        if acct is None or key[1] not in acct.balances:
            raise KeyError(key)
        del acct.balances[key[1]]

    def pop(self, key: tuple[str, str], *default: int) -> int:
        acct = self.accounts.get(key[0])
        if acct is None or key[1] not in acct.balances:
            if default:
                return default[0]
            raise KeyError(key)
        return acct.balances.pop(key[1])

    def setdefault(self, key: tuple[str, str], default: int = 0) -> int:
        if key not in self:
            self[key] = default
        return self[key]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        acct = self.accounts.get(key[0])
        return acct is not None and key[1] in acct.balances

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for acct in self.accounts:
            for asset in acct.balances:
                yield acct.id, asset

    def __len__(self) -> int:
        return sum(len(acct.balances) for acct in self.accounts)
