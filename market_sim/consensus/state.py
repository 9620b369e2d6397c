"""What a validator checks a trade against: known accounts, the orders it has seen, finalized trades, balances."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from market_sim.core.accounts import Accounts
from market_sim.core.errors import ConfigError
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.money import format_units
from market_sim.core.orders import NewOrder, Side

__all__ = ["TradeClaim", "BalanceView", "Pending", "ValidationState", "Refusal", "refusal_code"]


class Refusal(StrEnum):
    """The code a validator's refusal starts with: every reason reads '<code>: <detail>'."""

    INVALID_QUANTITY = "invalid_quantity"
    INVALID_PRICE = "invalid_price"
    SELF_TRADE = "self_trade"
    UNKNOWN_ACCOUNT = "unknown_account"
    ORDER_MISMATCH = "order_mismatch"
    PRICE_OUTSIDE_LIMIT = "price_outside_limit"
    QUANTITY_EXCEEDS_ORDER = "quantity_exceeds_order"
    UNKNOWN_ORDER = "unknown_order"
    DUPLICATE_TRADE = "duplicate_trade"
    OVERFILL = "overfill"                    # the order's fills so far plus this trade exceed its size
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    INSOLVENT = "insolvent"


def refusal_code(reason: str | None) -> Refusal | None:
    """The structured code of a refusal reason ('trade 7: overfill: ...' included); None if it has none."""
    if reason is None:
        return None
    head, _, rest = reason.partition(": ")
    if head.startswith("trade ") and head[6:].isdigit():
        head = rest.partition(": ")[0]
    try:
        return Refusal(head)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class TradeClaim:
    """A trade together with the two orders it claims to match: what a validator needs to check it.

    The matching engine reports each order as it stands before the trade, as a core.validation.ReportedOrder with
    the version of that state (new on entry and on every modify; fills keep it).
    """

    trade: Trade
    buy: NewOrder
    sell: NewOrder

    @property
    def trade_id(self) -> int:
        return self.trade.trade_id


class BalanceView:
    """Settled balances per account and asset in token base units; the solvency check runs against these.

    The balances are a core `Accounts` (`settled`: one Account per trader id, its balances keyed by asset symbol), the
    one account model; what only the validators need stays here: the pending withdrawal requests (`reserved`) and
    the instruments' unit conversion. Keys in this class's API are (account, asset) pairs.

    Buyers pay quantity * price * quote_units_per_lot_tick of the quote asset (plus `taker_fee_bps` of it when
    the buyer is the aggressor), sellers deliver quantity * base_units_per_lot of the base asset. Proceeds only
    count once the trade is final.

    `reserved` holds pending on-chain withdrawal requests (Settlement.requestWithdrawal): from the request's block on
    they are unavailable to new trades and batches, so a batch the validators certify is solvent whenever it settles.
    Deposits count at once. The settlement pipeline feeds both from the contract's events up to a batch's stateBlock
    (the validators read balances at that block). Balances may go negative (a view replaying trades it did not
    check); the solvency check is what refuses overdrafts.
    """

    __slots__ = ("instruments", "settled", "reserved", "taker_fee_bps", "_units", "_decimals")

    def __init__(self, instruments: Iterable[Instrument] | Mapping[str, Instrument] = (),
                 balances: Mapping[tuple[str, str], int] | None = None, *, taker_fee_bps: int = 0) -> None:
        items = instruments.values() if isinstance(instruments, Mapping) else instruments
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in items}
        self.settled = Accounts()
        self.reserved: dict[tuple[str, str], int] = {}
        self.taker_fee_bps = taker_fee_bps
        # symbol -> (base asset, quote asset, base units per lot, quote units per lot-tick), computed once
        self._units = {s: (i.base_asset, i.quote_asset, i.base_units_per_lot, i.quote_units_per_lot_tick)
                       for s, i in self.instruments.items()}
        self._decimals: dict[str, int] = {}  # asset -> token decimals, for messages in whole tokens
        for i in self.instruments.values():
            self._decimals[i.base_asset], self._decimals[i.quote_asset] = i.base_decimals, i.quote_decimals
        for (account, asset), amount in (balances or {}).items():
            self.deposit(account, asset, amount)

    def copy(self) -> BalanceView:
        """An independent copy (each validator keeps its own): the balances and requests are copied; the
        instruments and their unit tables, never changed after construction, are shared."""
        cls = type(self)
        other = cls.__new__(cls)
        other.instruments, other._units, other._decimals = self.instruments, self._units, self._decimals
        other.taker_fee_bps = self.taker_fee_bps
        other.settled = self.settled.copy()
        other.reserved = self.reserved.copy()
        return other

    def balance(self, account: str, asset: str) -> int:
        """The settled balance (requests not deducted)."""
        return self.settled.balance(account, asset)

    def available(self, key: tuple[str, str]) -> int:
        """The settled balance minus the pending withdrawal request."""
        return self.settled.balance(key[0], key[1]) - self.reserved.get(key, 0)

    def reserve(self, account: str, asset: str, requested: int) -> None:
        """A withdrawal request of `requested` (the account's whole pending request) is on chain."""
        self.reserved[(account, asset)] = requested

    def claimed(self, account: str, asset: str, amount: int) -> None:
        """A withdrawal request was paid out: the balance falls by `amount`, the request is gone."""
        self.reserved.pop((account, asset), None)
        self.settled.credit(account, asset, -amount)

    def deposit(self, account: str, asset: str, amount: int) -> None:
        """Credit (or, with a negative amount, debit) a settled balance."""
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ConfigError("balance amounts must be integers (token base units)", key=f"{account}.{asset}",
                              value=amount)
        self.settled.credit(account, asset, amount)

    def amount_text(self, asset: str, units: int) -> str:
        """Base units of `asset` as a decimal token amount with its symbol (e.g. '96,240 USD')."""
        return format_units(units, self._decimals.get(asset, 0), asset)

    def debits(self, trade: Trade) -> tuple[tuple[tuple[str, str], int], tuple[tuple[str, str], int]] | None:
        """((buyer, quote), amount), ((seller, base), amount) the trade takes; None for an unknown instrument."""
        units = self._units.get(trade.symbol)
        if units is None:
            return None
        base_asset, quote_asset, per_lot, per_lot_tick = units
        quote = trade.quantity * trade.price * per_lot_tick
        fee = quote * self.taker_fee_bps // 10_000 if trade.aggressor is Side.BUY else 0
        return (((trade.buyer, quote_asset), quote + fee), ((trade.seller, base_asset), trade.quantity * per_lot))

    def apply(self, trade: Trade, sign: int = 1) -> None:
        """Move the trade's amounts between the two accounts' settled balances (sign=-1 undoes it)."""
        units = self._units.get(trade.symbol)
        if units is None:
            return
        base_asset, quote_asset, per_lot, per_lot_tick = units
        quote = trade.quantity * trade.price * per_lot_tick
        base = sign * trade.quantity * per_lot
        aggressor = trade.aggressor  # the taker pays the fee
        paid = sign * (quote + quote * self.taker_fee_bps // 10_000 if aggressor is Side.BUY else quote)
        received = sign * (quote - quote * self.taker_fee_bps // 10_000 if aggressor is Side.SELL else quote)
        # fees go to the fee account, which validators do not track
        buyer, seller = self.settled[trade.buyer].balances, self.settled[trade.seller].balances
        buyer[quote_asset] = buyer.get(quote_asset, 0) - paid
        seller[quote_asset] = seller.get(quote_asset, 0) + received
        seller[base_asset] = seller.get(base_asset, 0) - base
        buyer[base_asset] = buyer.get(base_asset, 0) + base


class Pending:
    """Trades approved on top of the settled state but not final yet: their ids and the amounts they hold."""

    __slots__ = ("trade_ids", "held", "filled")

    def __init__(self) -> None:
        self.trade_ids: set[int] = set()
        self.held: Counter[tuple[str, str]] = Counter()
        self.filled: Counter[int] = Counter()  # order id -> lots these trades fill

    def copy(self) -> Pending:
        """An independent copy (to judge more trades on top without changing this one)."""
        other = Pending()
        other.trade_ids |= self.trade_ids
        other.held.update(self.held)
        other.filled.update(self.filled)
        return other

    def add(self, trade: Trade, balances: BalanceView | None) -> None:
        self.trade_ids.add(trade.trade_id)
        self.filled[trade.buy_order_id] += trade.quantity
        self.filled[trade.sell_order_id] += trade.quantity
        legs = balances.debits(trade) if balances is not None else None
        for key, amount in legs or ():
            self.held[key] += amount

    def remove(self, trade: Trade, balances: BalanceView | None) -> None:
        if trade.trade_id not in self.trade_ids:
            return
        self.trade_ids.discard(trade.trade_id)
        for oid in (trade.buy_order_id, trade.sell_order_id):
            left = self.filled[oid] - trade.quantity
            if left:
                self.filled[oid] = left
            else:
                del self.filled[oid]
        legs = balances.debits(trade) if balances is not None else None
        for key, amount in legs or ():
            self.held[key] -= amount


def _order_mismatch(trade: Trade, order: NewOrder, side: Side) -> str | None:
    name = "buy" if side is Side.BUY else "sell"
    claimed = trade.buy_order_id if side is Side.BUY else trade.sell_order_id
    trader = trade.buyer if side is Side.BUY else trade.seller
    if order.order_id != claimed:
        return f"order_mismatch: {name} order id {order.order_id} != trade's {claimed}"
    if order.side is not side:
        return f"order_mismatch: {name} order {order.order_id} is a {order.side} order"
    if order.trader != trader:
        return f"order_mismatch: {name} order {order.order_id} belongs to {order.trader!r}, trade says {trader!r}"
    if order.symbol != trade.symbol:
        return f"order_mismatch: {name} order {order.order_id} is for {order.symbol}, trade is {trade.symbol}"
    if order.price is not None and (trade.price > order.price if side is Side.BUY else trade.price < order.price):
        return f"price_outside_limit: {trade.price} vs {name} limit {order.price}"
    if trade.quantity > order.quantity:
        return f"quantity_exceeds_order: {trade.quantity} > {name} order {order.order_id} quantity {order.quantity}"
    return None


class ValidationState:
    """One validator's own copy of what it needs to judge trades; `check` is pure, `finalize` updates it."""

    __slots__ = ("accounts", "balances", "orders", "final_ids", "approved", "sizes", "filled")

    def __init__(self, accounts: Iterable[str] | None = None, balances: BalanceView | None = None) -> None:
        self.accounts: frozenset[str] | None = None if accounts is None else frozenset(accounts)
        self.balances = balances  # None disables the solvency check (no balances known)
        self.orders: dict[int, set[NewOrder]] = {}  # order id -> every report of it from the exchange's feed
        self.final_ids: set[int] = set()
        self.approved = Pending()  # pre-trade approvals not yet final
        # Cumulative fills. The exchange reports each order as it stands before a trade (its open quantity, and
        # the engine's version of that state: ReportedOrder), so an order's size is the largest "open quantity
        # reported + lots already filled when it was reported" over every new report of it. A report equal to one
        # on record (the same version) is the same state again and changes nothing, however late it comes; a new
        # version (a modify, a reused id) is a new state even with the quantity, price and flags of an earlier
        # one (modified down and back up). Proposals cannot add versions: their orders must equal reports on
        # record. Final fills per order id.
        self.sizes: dict[int, int] = {}
        self.filled: Counter[int] = Counter()

    def copy(self) -> ValidationState:
        """An independent copy for another validator."""
        other = ValidationState(self.accounts, None if self.balances is None else self.balances.copy())
        other.orders = {k: set(v) for k, v in self.orders.items()}
        other.final_ids = set(self.final_ids)
        other.sizes = dict(self.sizes)
        other.filled = Counter(self.filled)
        return other

    def check(self, claim: TradeClaim, pending: Pending | None = None, *, known_orders_only: bool = False) -> str | None:
        """None if the trade is valid on top of the final state plus `pending`, else 'code: detail'.

        With known_orders_only the claimed orders must equal orders on record (from the exchange's feed), version
        included, so a proposer cannot invent an order, or a new version of one, to fit a bad trade.
        """
        trade, buy, sell = claim.trade, claim.buy, claim.sell
        if trade.quantity <= 0:
            return f"invalid_quantity: {trade.quantity}"
        if trade.price <= 0:
            return f"invalid_price: {trade.price}"
        if trade.buyer == trade.seller:
            return f"self_trade: buyer and seller are both {trade.buyer!r}"
        if self.accounts is not None:
            for who in (trade.buyer, trade.seller):
                if who not in self.accounts:
                    return f"unknown_account: {who!r}"
        for order, side in ((buy, Side.BUY), (sell, Side.SELL)):
            reason = _order_mismatch(trade, order, side)
            if reason:
                return reason
            seen = self.orders.get(order.order_id)
            if seen is None and known_orders_only:
                return f"unknown_order: order {order.order_id} is not on record"
            if seen is not None and order not in seen:
                return f"order_mismatch: order {order.order_id} differs from the order on record"
        tid = trade.trade_id
        if tid in self.final_ids or (pending is not None and tid in pending.trade_ids):
            return f"duplicate_trade: trade {tid} already approved"
        for order, name in ((buy, "buy"), (sell, "sell")):
            oid = order.order_id
            already = self.filled[oid] + (pending.filled[oid] if pending is not None else 0)
            size = self.sizes.get(oid)
            if size is None:  # not on record: the claimed version is its first report
                size = order.quantity + already
            if already + trade.quantity > size:
                return (f"{Refusal.OVERFILL}: {name} order {oid} has size {size}, {already} already filled, "
                        f"trade {tid} adds {trade.quantity}")
        if self.balances is not None:
            legs = self.balances.debits(trade)
            if legs is None:
                return f"unknown_instrument: {trade.symbol!r}"
            for key, amount in legs:
                available = self.balances.available(key) - (pending.held[key] if pending is not None else 0)
                if amount > available:
                    return (f"insolvent: {key[0]} needs {self.balances.amount_text(key[1], amount)}, "
                            f"has {self.balances.amount_text(key[1], available)}")
        return None

    def record_orders(self, claim: TradeClaim) -> None:
        """Remember the orders of a trade the exchange reported, as they stood before it (fills shrink them); a
        report not on record (a new version, or a smaller quantity after fills) may raise the order's size."""
        for order in (claim.buy, claim.sell):
            oid = order.order_id
            versions = self.orders.get(oid)
            if versions is None:
                self.orders[oid] = {order}
            elif order in versions:
                continue
            else:
                versions.add(order)
            size = order.quantity + self.filled[oid] + self.approved.filled[oid]
            if size > self.sizes.get(oid, 0):
                self.sizes[oid] = size

    def finalize(self, trades: Iterable[Trade]) -> None:
        """Trades became final: never approve them again, move their amounts, release pre-trade holds."""
        for trade in trades:
            self.approved.remove(trade, self.balances)
            self.final_ids.add(trade.trade_id)
            self.filled[trade.buy_order_id] += trade.quantity
            self.filled[trade.sell_order_id] += trade.quantity
            if self.balances is not None:
                self.balances.apply(trade)

    def unfinalize(self, trades: Iterable[Trade]) -> None:
        """Trades of a batch that expired unsettled: no longer final; approved again (holding their amounts), so a
        later batch can carry them."""
        for trade in trades:
            if trade.trade_id not in self.final_ids:
                continue
            self.final_ids.discard(trade.trade_id)
            for oid in (trade.buy_order_id, trade.sell_order_id):
                self.filled[oid] -= trade.quantity
                if self.filled[oid] <= 0:
                    del self.filled[oid]
            if self.balances is not None:
                self.balances.apply(trade, -1)
            self.approved.add(trade, self.balances)
