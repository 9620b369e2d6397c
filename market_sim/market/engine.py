"""The matching engine: validates order commands, matches them in price-time priority and publishes events.

Rules, in the order they apply to an incoming order:
- Pre-trade validation (instrument, trader, unique id, fields, stop price against the last trade) rejects with
  an OrderRejected event and no other effect. Post-only orders that would take are rejected or re-priced one
  tick behind the opposite best; FOK orders that cannot fill entirely are rejected (FOK_NOT_FILLABLE).
- Stop and stop-limit orders wait until the last trade price reaches the stop (buy: last >= stop, sell:
  last <= stop) and then enter as market / limit orders; trades they cause can trigger further stops.
- An aggressor walks the opposite side best price first and FIFO within a level; every trade is at the resting
  order's price. Icebergs show `display_quantity`; when the shown slice is used up it refreshes from the reserve
  at the back of its level (losing time priority). Hidden orders match like any other but are never shown.
- Self-trade prevention follows the aggressor's STP mode.
- Every proposed trade goes to the TradeValidator (if any) before anything changes, with both orders as they stand
  (core.validation.ReportedOrder: each with the version of its current state, new on entry and on every modify,
  kept by fills, so a validator tells a new state from one it saw before). A refused trade emits
  TradeRejected and leaves both orders exactly as they were (the resting order keeps its place); the aggressor
  skips that resting order and goes on matching behind it. If it still has quantity that could only rest
  crossing a refused order (or an IOC/FOK/market remainder), that remainder is cancelled with reason VALIDATOR,
  so the book never crosses and no match is retried in a loop.
  FOK liquidity is checked up front, so only a validator refusal can stop an FOK part-way (approved trades
  are final); its remainder is then cancelled with reason VALIDATOR.
- Remainders: market orders are cancelled (NO_LIQUIDITY), IOC/FOK are cancelled (IOC_REMAINDER), limit orders
  rest. DAY orders expire at end_session(), GTD orders at expire() or at the first command at/after expire_at.
- Modify: a quantity decrease at the same price keeps time priority; a price change or an increase re-queues
  the order at the back of its (new) level, and if the new price crosses it trades as an aggressor (post-only
  orders are rejected or re-priced as on entry). Hidden orders keep plain price-time priority.
- Order ids must be unique among live (resting or pending) orders; the id of a finished order may be reused.
- L2 liquidity (the backtest's replay of historical depth): `set_aggregate` keeps one aggregate order per owner and
  level holding the level's replayed total (negative engine-chosen ids), resized in place; `trade_resting` lets an
  aggressor from outside the book (a replayed trade) take lots of a resting order. Real orders match against
  aggregates like against any resting order.

BookUpdate events (aggregated: one per level touched by a command, with the level's displayed quantity after
it) are produced only when the engine is built with `book_updates=True` or asked with `emit_book_updates(True)`
(the simulation's venues ask when a bus subscriber wants L2 deltas), because building them costs more than the
matching itself on a busy stream. The engine has no subscribers of its own: callers get every event of a command
as its return value and publish them (the simulation publishes them on its bus).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import replace

from market_sim.core.errors import ConfigError, UnknownInstrumentError, ValidationError
from market_sim.core.events import (
    BookUpdate, CancelReason, Event, OrderAccepted, OrderCancelled, OrderModified, OrderRejected, OrderRepriced,
    OrderTriggered, RejectReason, Trade, TradeRejected,
)
from market_sim.core.instruments import Instrument
from market_sim.core.orders import (
    CancelOrder, ModifyOrder, NewOrder, OrderType, PostOnlyMode, Side, STPMode, TimeInForce,
)
from market_sim.core.validation import TradeValidator, reported
from market_sim.market._construct import constructor
from market_sim.market.book import OrderBook
from market_sim.market.level import BookSide, PriceLevel
from market_sim.market.order import OrderState, RestingOrder, pending_state, resting_state
from market_sim.market.stats import MarketStats
from market_sim.market.validation import check_new_order, check_positive

__all__ = ["MatchingEngine", "AggregateLevels"]

_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_STOP = OrderType.STOP
_STOP_LIMIT = OrderType.STOP_LIMIT
_GTC = TimeInForce.GTC
_DAY = TimeInForce.DAY
_GTD = TimeInForce.GTD
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_STP_NONE = STPMode.NONE
_STP_OLDEST = STPMode.CANCEL_OLDEST
_USER = CancelReason.USER
_POOL_LIMIT = 65_536
# the events of the hot paths, built without the frozen dataclass __init__ (same instances, see _construct)
_accepted = constructor(OrderAccepted)
_trade = constructor(Trade)
_cancelled = constructor(OrderCancelled)
_rejected = constructor(OrderRejected)
_modified = constructor(OrderModified)


class MatchingEngine:
    """A venue with one order book per instrument, price-time priority matching and an event stream."""

    def __init__(self, instruments: Iterable[Instrument] = (), *, traders: Iterable[str] | None = None,
                 validator: TradeValidator | None = None, book_updates: bool = False) -> None:
        self.instruments: dict[str, Instrument] = {}
        self._books: dict[str, OrderBook] = {}
        self._traders: set[str] | None = None if traders is None else set(traders)
        self._validator = validator
        self._book_updates = book_updates
        self._orders: dict[int, RestingOrder] = {}   # resting orders by id
        self._pool: list[RestingOrder] = []           # records of orders that left the book, for re-use
        self._stops: dict[int, NewOrder] = {}         # pending stop orders by id
        self._gtd: list[tuple[int, int, int]] = []   # heap of (expire_at, sequence, order_id)
        self._touched: dict[tuple[OrderBook, Side, int], None] | None = None
        self._next_trade_id = 1
        self._seq = 0
        self._version = 0   # the last order version given (core.validation.ReportedOrder)
        # resting order id -> the version of its state the validator was shown; a new state (the order rests,
        # is modified) drops it, so its next report gets a new version. Kept only with a validator (the entry of
        # an order that left the book stays until its id rests again: one int per order the validator saw).
        self._versions: dict[int, int] = {}
        self._aggregates: dict[tuple[str, str, Side], AggregateLevels] = {}
        self._aggregate_seq = 0   # aggregate orders get ids -1, -2, ...
        for inst in instruments:
            self.add_instrument(inst)

    # ----------------------------------------------------------------------------------------- configuration

    def add_instrument(self, inst: Instrument) -> None:
        """List an instrument (a no-op if the same one is already listed)."""
        known = self.instruments.get(inst.symbol)
        if known is not None:
            if known != inst:
                raise ConfigError("a different instrument with this symbol is already listed",
                                  key="symbol", value=inst.symbol)
            return
        self.instruments[inst.symbol] = inst
        self._books[inst.symbol] = OrderBook(inst)

    def register_trader(self, trader: str) -> None:
        """Allow `trader` to send orders (every id is allowed when the engine was built with traders=None)."""
        if not isinstance(trader, str) or not trader:
            raise ValidationError(f"trader id must be a non-empty string, got {trader!r}")
        if self._traders is not None:
            self._traders.add(trader)

    def emit_book_updates(self, on: bool = True) -> None:
        """Start (or stop) appending aggregated BookUpdate events to every command's events."""
        self._book_updates = bool(on)

    @property
    def book_updates(self) -> bool:
        """Whether commands' events include BookUpdate deltas."""
        return self._book_updates

    # ----------------------------------------------------------------------------------------- market data

    def book(self, symbol: str) -> OrderBook:
        """The order book of `symbol`."""
        book = self._books.get(symbol)
        if book is None:
            raise UnknownInstrumentError(symbol)
        return book

    def books(self) -> list[OrderBook]:
        """All books, in listing order."""
        return list(self._books.values())

    def stats(self, symbol: str) -> MarketStats:
        """Last trade price, VWAP, volume and trade count of `symbol`."""
        return self.book(symbol).stats()

    def order(self, order_id: int) -> OrderState | None:
        """Snapshot of a resting or pending-stop order, or None if it is not live."""
        o = self._orders.get(order_id)
        if o is not None:
            return resting_state(o, o.level.ladder.book.symbol)
        stop = self._stops.get(order_id)
        return None if stop is None else pending_state(stop)

    def symbol_of(self, order_id: int) -> str | None:
        """The instrument of a resting or pending-stop order (cheaper than `order(...).symbol`), or None."""
        o = self._orders.get(order_id)
        if o is not None:
            return o.level.ladder.book.symbol
        stop = self._stops.get(order_id)
        return None if stop is None else stop.symbol

    def resting_count(self) -> int:
        """Number of orders resting in all books."""
        return len(self._orders)

    def pending_stops(self, symbol: str) -> list[OrderState]:
        """Stop orders of `symbol` waiting for their trigger, in submission order."""
        self.book(symbol)
        return [pending_state(cmd) for cmd in self._stops.values() if cmd.symbol == symbol]

    # ----------------------------------------------------------------------------------------- L2 liquidity

    def aggregate_levels(self, symbol: str, side: Side, owner: str) -> AggregateLevels:
        """`owner`'s aggregate orders on one side of `symbol`'s book (the same object for the same arguments): see
        AggregateLevels."""
        book = self._books.get(symbol)
        if book is None:
            raise UnknownInstrumentError(symbol)
        if side is not _BUY and side is not _SELL:
            raise ValidationError(f"side must be a Side, got {side!r}")
        if not isinstance(owner, str) or not owner:
            raise ValidationError(f"owner must be a non-empty string, got {owner!r}")
        key = (symbol, owner, side)
        levels = self._aggregates.get(key)
        if levels is None:
            levels = self._aggregates[key] = AggregateLevels(self, book.bids if side is _BUY else book.asks, owner)
        return levels

    def set_aggregate(self, symbol: str, side: Side, price: int, qty: int, owner: str) -> int:
        """`aggregate_levels(symbol, side, owner).set(price, qty)`: returns the lots the level held before."""
        return self.aggregate_levels(symbol, side, owner).set(price, qty)

    def aggregate(self, symbol: str, side: Side, price: int, owner: str) -> int:
        """The lots of `owner`'s aggregate order at (`side`, `price`), 0 if none."""
        return self.aggregate_levels(symbol, side, owner).get(price)

    def trade_resting(self, order_id: int, qty: int, ts: int, aggressor: str,
                      aggressor_order_id: int = 0) -> list[Event]:
        """An aggressor from outside the book (a trade of a replayed tape) takes `qty` lots of a resting order at
        its price. The order shrinks in place, keeping its time priority, or leaves the book when taken whole; the
        book's last price and statistics move as for any trade. Returns the Trade (buyer / seller: the resting
        order's trader and `aggressor`), then the events of any stop orders the trade triggers."""
        o = self._orders.get(order_id)
        if o is None:
            raise ValidationError(f"no resting order with id {order_id!r}")
        if type(qty) is not int or not 0 < qty <= o.qty:
            raise ValidationError(f"order {order_id} has {o.qty} lots open; cannot trade {qty!r}")
        level = o.level
        ladder = level.ladder
        book = ladder.book
        price = level.price
        tid = self._next_trade_id
        self._next_trade_id = tid + 1
        if level.side is _BUY:
            trade = _trade(ts, tid, book.symbol, price, qty, order_id, aggressor_order_id, o.trader, aggressor, _SELL)
        else:
            trade = _trade(ts, tid, book.symbol, price, qty, aggressor_order_id, order_id, aggressor, o.trader, _BUY)
        events: list[Event] = [trade]
        book.last_price = price
        book.volume += qty
        book.notional += price * qty
        book.trade_count += 1
        if qty == o.qty:
            self._unlink(level, o)
            if level.head is None:
                ladder.drop_level(level)
            self._recycle(o)
        else:
            self._reduce(level, o, o.qty - qty)
        self._trigger_stops(book, ts, events)
        return events

    # ----------------------------------------------------------------------------------------- commands

    def process(self, cmd: NewOrder | CancelOrder | ModifyOrder, ts: int) -> list[Event]:
        """Apply one command at time `ts` (ns); returns every event it caused, in order."""
        events: list[Event] = []
        tracking = self._book_updates
        if tracking:
            self._touched = {}
        gtd = self._gtd
        if gtd and gtd[0][0] <= ts:
            self._expire_into(ts, events)
        kind = type(cmd)
        if kind is NewOrder:
            self._new(cmd, ts, events)
        elif kind is CancelOrder:
            self._cancel(cmd, ts, events)
        elif kind is ModifyOrder:
            self._modify(cmd, ts, events)
        else:
            raise ValidationError(f"not an order command: {cmd!r}")
        if tracking:
            return self._finish(ts, events)
        return events

    def expire(self, ts: int) -> list[Event]:
        """Cancel (reason EXPIRED) every GTD order whose expire_at <= ts."""
        events = self._begin()
        self._expire_into(ts, events)
        return self._finish(ts, events)

    def end_session(self, ts: int, symbol: str | None = None) -> list[Event]:
        """Cancel (reason EXPIRED) the DAY orders of one instrument, or of all when `symbol` is None."""
        books = [self.book(symbol)] if symbol is not None else list(self._books.values())
        events = self._begin()
        for book in books:
            for oid in book.day_orders:
                o = self._orders.get(oid)
                if o is not None and o.spec is not None and o.spec.tif is _DAY and o.level.ladder.book is book:
                    self._cancel_resting(o, ts, events, CancelReason.EXPIRED)
                    continue
                stop = self._stops.get(oid)
                if stop is not None and stop.tif is _DAY and stop.symbol == book.symbol:
                    del self._stops[oid]
                    events.append(OrderCancelled(ts, oid, stop.trader, stop.symbol, stop.quantity,
                                                 CancelReason.EXPIRED))
            book.day_orders.clear()
        return self._finish(ts, events)

    def _begin(self) -> list[Event]:
        """Start collecting the events (and, if anyone listens, the touched levels) of one call."""
        if self._book_updates:
            self._touched = {}
        return []

    def _finish(self, ts: int, events: list[Event]) -> list[Event]:
        touched = self._touched
        if touched:
            for book, side, price in touched:
                level = book.side(side).levels.get(price)
                events.append(BookUpdate(ts, book.symbol, side, price, 0 if level is None else level.shown))
        self._touched = None
        return events

    # ----------------------------------------------------------------------------------------- new orders

    def _reject(self, events: list[Event], ts: int, order_id: int, trader: str, symbol: str,
                reason: RejectReason, message: str) -> None:
        events.append(_rejected(ts, order_id, trader, symbol, reason, message))

    def _problem(self, cmd: NewOrder, book: OrderBook | None, ts: int) -> tuple[RejectReason, str] | None:
        """Why a new order must be rejected before it touches the book, or None."""
        if book is None:
            return RejectReason.UNKNOWN_INSTRUMENT, f"unknown instrument {cmd.symbol!r}"
        if self._traders is not None and cmd.trader not in self._traders:
            return RejectReason.UNKNOWN_TRADER, f"unknown trader {cmd.trader!r}"
        if cmd.order_id in self._orders or cmd.order_id in self._stops:
            return RejectReason.DUPLICATE_ORDER_ID, f"order id {cmd.order_id} is already live"
        return check_new_order(cmd, ts, book.last_price)

    def _new(self, cmd: NewOrder, ts: int, events: list[Event]) -> None:
        book = self._books.get(cmd.symbol)
        oid, kind, price, qty, tif, side = cmd.order_id, cmd.order_type, cmd.price, cmd.quantity, cmd.tif, cmd.side
        # Most of a busy stream is plain GTC/IOC limit and market orders; checking them inline is much cheaper
        # than the full validation, which everything else goes through.
        if not (book is not None and type(oid) is int and type(qty) is int and qty > 0
                and (kind is _LIMIT and type(price) is int and price > 0 or kind is _MARKET and price is None)
                and ((tif is _GTC or tif is _IOC) and cmd.expire_at is None
                     or tif is _GTD and type(cmd.expire_at) is int and cmd.expire_at > ts)  # GTD: check_new_order's rule
                and (side is _BUY or side is _SELL)
                and type(cmd.trader) is str and cmd.trader and cmd.stop_price is None and cmd.display_quantity is None
                and cmd.hidden is False and cmd.post_only is None and type(cmd.stp) is STPMode
                and oid not in self._orders and oid not in self._stops
                and (self._traders is None or cmd.trader in self._traders)):
            problem = self._problem(cmd, book, ts)
            if problem is not None:
                return self._reject(events, ts, oid, cmd.trader, cmd.symbol, *problem)
            if kind is _STOP or kind is _STOP_LIMIT:
                events.append(_accepted(ts, cmd))
                self._add_stop(book, cmd)
                return None
        opp = book.asks if side is _BUY else book.bids
        best = opp.best
        if best is not None and (price is None or (price >= best if side is _BUY else price <= best)):
            if cmd.post_only is not None:
                return self._post_only_cross(book, cmd, best, ts, events)
            if tif is _FOK and not self._fillable(opp, cmd, qty, price):
                return self._reject(events, ts, oid, cmd.trader, cmd.symbol, RejectReason.FOK_NOT_FILLABLE,
                                    f"FOK order for {qty} lots cannot be filled entirely")
            events.append(_accepted(ts, cmd))
            self._execute(book, cmd, ts, events)
            self._trigger_stops(book, ts, events)
            return None
        if tif is _FOK:
            return self._reject(events, ts, oid, cmd.trader, cmd.symbol, RejectReason.FOK_NOT_FILLABLE,
                                f"FOK order for {qty} lots cannot be filled entirely")
        events.append(_accepted(ts, cmd))
        if price is None:
            events.append(_cancelled(ts, oid, cmd.trader, cmd.symbol, qty, CancelReason.NO_LIQUIDITY))
        elif tif is _IOC:
            events.append(_cancelled(ts, oid, cmd.trader, cmd.symbol, qty, CancelReason.IOC_REMAINDER))
        else:
            self._rest(book, cmd, price, qty)
        return None

    def _post_only_cross(self, book: OrderBook, cmd: NewOrder, best: int, ts: int, events: list[Event]) -> None:
        """A post-only order that would take: reject it, or re-price it one tick behind the opposite best."""
        buy = cmd.side is _BUY
        new_price = best - 1 if buy else best + 1
        if cmd.post_only is PostOnlyMode.REJECT or new_price <= 0:
            return self._reject(events, ts, cmd.order_id, cmd.trader, cmd.symbol, RejectReason.POST_ONLY_WOULD_TAKE,
                                f"post-only {'buy' if buy else 'sell'} at {cmd.price} would take the best "
                                f"{'ask' if buy else 'bid'} {best}")
        events.append(_accepted(ts, cmd))
        events.append(OrderRepriced(ts, cmd.order_id, cmd.trader, cmd.symbol, new_price))
        self._rest(book, cmd, new_price, cmd.quantity)
        return None

    def _add_stop(self, book: OrderBook, cmd: NewOrder) -> None:
        self._stops[cmd.order_id] = cmd
        self._seq += 1
        if cmd.side is _BUY:
            heapq.heappush(book.buy_stops, (cmd.stop_price, self._seq, cmd.order_id, cmd))
        else:
            heapq.heappush(book.sell_stops, (-cmd.stop_price, self._seq, cmd.order_id, cmd))
        self._track_expiry(book, cmd)

    def _track_expiry(self, book: OrderBook, cmd: NewOrder) -> None:
        if cmd.tif is _DAY:
            book.day_orders[cmd.order_id] = None
        elif cmd.tif is _GTD:
            self._seq += 1
            heapq.heappush(self._gtd, (cmd.expire_at, self._seq, cmd.order_id))

    def _trigger_stops(self, book: OrderBook, ts: int, events: list[Event]) -> None:
        """Enter every stop the last trade price has reached, one at a time, so cascades trigger too."""
        buy_stops, sell_stops, stops = book.buy_stops, book.sell_stops, self._stops
        while True:
            last = book.last_price
            if last is None:
                return
            if buy_stops and buy_stops[0][0] <= last:
                _, _, oid, cmd = heapq.heappop(buy_stops)
            elif sell_stops and -sell_stops[0][0] >= last:
                _, _, oid, cmd = heapq.heappop(sell_stops)
            else:
                return
            if stops.get(oid) is not cmd:  # cancelled, modified (a fresher entry exists) or expired
                continue
            del stops[oid]
            events.append(OrderTriggered(ts, oid, cmd.trader, cmd.symbol, last))
            live = replace(cmd, order_type=_LIMIT if cmd.order_type is _STOP_LIMIT else _MARKET, stop_price=None)
            opp = book.asks if live.side is _BUY else book.bids
            if live.tif is _FOK and not self._fillable(opp, live, live.quantity, live.price):
                events.append(OrderCancelled(ts, oid, live.trader, live.symbol, live.quantity,
                                             CancelReason.IOC_REMAINDER))
                continue
            self._execute(book, live, ts, events)

    # ----------------------------------------------------------------------------------------- matching

    def _execute(self, book: OrderBook, cmd: NewOrder, ts: int, events: list[Event]) -> None:
        """Match `cmd` as an aggressor and deal with what is left."""
        qty = cmd.quantity
        price = cmd.price
        opp = book.asks if cmd.side is _BUY else book.bids
        refused = stp_stop = False
        if opp.best is not None and (price is None or opp.crosses(price)):
            qty, refused, stp_stop = self._take(book, opp, cmd, qty, ts, events)
        if not qty:
            return
        if stp_stop:
            reason = CancelReason.SELF_TRADE
        elif price is None:
            reason = CancelReason.VALIDATOR if refused else CancelReason.NO_LIQUIDITY
        elif cmd.tif is _IOC or cmd.tif is _FOK:
            reason = CancelReason.VALIDATOR if refused else CancelReason.IOC_REMAINDER
        elif refused and opp.crosses(price):
            reason = CancelReason.VALIDATOR
        else:
            self._rest(book, cmd, price, qty)
            return
        events.append(_cancelled(ts, cmd.order_id, cmd.trader, cmd.symbol, qty, reason))

    def _take(self, book: OrderBook, opp: BookSide, cmd: NewOrder, qty: int, ts: int,
              events: list[Event]) -> tuple[int, bool, bool]:
        """Walk the opposite side; returns (lots left, a trade was refused, self-trade prevention stopped it)."""
        oid, trader, side, limit = cmd.order_id, cmd.trader, cmd.side, cmd.price
        buy = side is _BUY
        stp_on = cmd.stp is not _STP_NONE
        levels = opp.levels
        orders = self._orders
        validator = self._validator
        touched = self._touched
        symbol = book.symbol
        append = events.append
        refused = stp_stop = False
        behind: int | None = None  # set when a level keeps orders the aggressor could not take
        tid = self._next_trade_id
        version = 0  # the aggressor's, given at its first report
        while qty:
            price = opp.best if behind is None else opp.price_after(behind)
            if price is None or (limit is not None and (price > limit if buy else price < limit)):
                break
            level = levels[price]
            o = level.head
            while o is not None:
                nxt = o.next
                if stp_on and o.trader == trader:
                    qty, stp_stop = self._self_trade(level, o, cmd, qty, ts, events)
                    if stp_stop or not qty:
                        break
                    o = nxt
                    continue
                shown = o.shown
                q = shown if shown < qty else qty
                if buy:
                    trade = _trade(ts, tid, symbol, price, q, oid, o.order_id, trader, o.trader, side)
                else:
                    trade = _trade(ts, tid, symbol, price, q, o.order_id, oid, o.trader, trader, side)
                if validator is not None:
                    if not version:
                        version = self._version = self._version + 1
                    reason = self._validate(validator, trade, cmd, qty, version, o, symbol)
                    if reason is not None:
                        append(TradeRejected(ts, symbol, trade.buy_order_id, trade.sell_order_id, price, q, reason))
                        refused = True
                        o = nxt
                        continue
                tid += 1
                append(trade)
                book.last_price = price
                book.volume += q
                book.notional += price * q
                book.trade_count += 1
                qty -= q
                shown -= q
                left = o.qty - q
                o.shown = shown
                o.qty = left
                level.qty -= q
                spec = o.spec
                if spec is None or not spec.hidden:
                    level.shown -= q
                if not shown:
                    if left:  # iceberg: a fresh slice from the reserve joins the back of the level
                        peak = spec.display_quantity
                        shown = peak if peak < left else left
                        o.shown = shown
                        level.shown += shown
                        if nxt is None:
                            nxt = o
                        else:
                            level.unlink(o)
                            level.append(o)
                    else:
                        level.unlink(o)
                        o.level = None
                        del orders[o.order_id]
                        self._recycle(o)
                if not qty:
                    break
                o = nxt
            if touched is not None:
                touched[(book, opp.side, price)] = None
            if level.head is None:
                opp.drop_level(level)
            elif qty:
                behind = price
            if stp_stop:
                break
        self._next_trade_id = tid
        return qty, refused, stp_stop

    def _validate(self, validator: TradeValidator, trade: Trade, cmd: NewOrder, qty: int, version: int,
                  resting: RestingOrder, symbol: str) -> str | None:
        """Ask the validator about one proposed trade, showing both orders as they stand before it: the aggressor
        (`qty` lots left) as its `version`, the resting order as the version of its state (a new one if unshown)."""
        aggressor = reported(cmd, qty, version)
        oid = resting.order_id
        resting_version = self._versions.get(oid)
        if resting_version is None:
            resting_version = self._versions[oid] = self._version = self._version + 1
        other = reported(resting.as_new_order(symbol, resting.qty, resting.level.price), resting.qty, resting_version)
        if cmd.side is _BUY:
            return validator.validate_trade(trade, aggressor, other)
        return validator.validate_trade(trade, other, aggressor)

    def _self_trade(self, level: PriceLevel, o: RestingOrder, cmd: NewOrder, qty: int, ts: int,
                    events: list[Event]) -> tuple[int, bool]:
        """Apply the aggressor's STP mode against its own resting order; returns (lots left, aggressor stops)."""
        mode = cmd.stp
        symbol = cmd.symbol
        if mode is STPMode.CANCEL_NEWEST:
            return qty, True
        if mode is STPMode.CANCEL_OLDEST or mode is STPMode.CANCEL_BOTH:
            events.append(OrderCancelled(ts, o.order_id, o.trader, symbol, o.qty, CancelReason.SELF_TRADE))
            self._unlink(level, o)
            self._recycle(o)
            return qty, mode is STPMode.CANCEL_BOTH
        # DECREMENT_AND_CANCEL: both shrink by the smaller open quantity, no trade
        d = o.qty if o.qty < qty else qty
        left = o.qty - d
        events.append(OrderCancelled(ts, o.order_id, o.trader, symbol, d, CancelReason.SELF_TRADE, left))
        if left:
            self._reduce(level, o, left)
        else:
            self._unlink(level, o)
            self._recycle(o)
        qty -= d
        events.append(OrderCancelled(ts, cmd.order_id, cmd.trader, symbol, d, CancelReason.SELF_TRADE, qty))
        return qty, False

    def _fillable(self, opp: BookSide, cmd: NewOrder, qty: int, limit: int | None) -> bool:
        """True if matching `cmd` now would trade all `qty` lots within its limit (FOK); it mirrors `_take`.

        Without self-trade prevention, or with cancel_oldest (the aggressor's own orders are cancelled and
        matching goes on), every lot of a level within the limit is reachable. With the other modes the first
        own order the walk meets stops the aggressor (cancel_newest, cancel_both) or cancels part of it without
        a trade (decrement_and_cancel), so only what the walk meets before it counts: at each order its
        current slice (an iceberg's displayed part; all of a hidden order), in queue order. An iceberg's
        reserve refreshes at the back of its level, behind the own order, so it is reachable only on a level
        without own orders. Validator refusals are not foreseen (they may still stop an FOK part-way).
        """
        buy = cmd.side is _BUY
        stp = cmd.stp
        trader = cmd.trader
        for level in opp.iter_levels():
            if limit is not None and (level.price > limit if buy else level.price < limit):
                return False
            if stp is _STP_NONE:
                qty -= level.qty
            elif stp is _STP_OLDEST:
                for o in level.orders():
                    if o.trader != trader:
                        qty -= o.qty
            else:
                slices = 0
                for o in level.orders():
                    if o.trader == trader:
                        return False  # reached with lots still to fill: the aggressor stops or shrinks here
                    slices += o.shown
                    if slices >= qty:
                        return True
                qty -= level.qty  # no own order here: refreshed iceberg slices are reachable too
            if qty <= 0:
                return True
        return False

    # ----------------------------------------------------------------------------------------- resting orders

    def _rest(self, book: OrderBook, cmd: NewOrder, price: int, qty: int) -> None:
        """Put `qty` lots of `cmd` at the back of its level at `price`."""
        side = cmd.side
        ladder = book.bids if side is _BUY else book.asks
        level = ladder.levels.get(price)
        if level is None:
            level = ladder.new_level(price)
        peak = cmd.display_quantity
        shown = qty if peak is None or peak >= qty else peak
        hidden = cmd.hidden
        oid = cmd.order_id
        plain = (cmd.tif is _GTC and peak is None and not hidden and cmd.post_only is None
                 and cmd.stp is _STP_NONE)
        pool = self._pool
        if pool:
            o = pool.pop()
            o.order_id = oid
            o.trader = cmd.trader
            o.qty = qty
            o.shown = shown
            o.level = level
            o.spec = None if plain else cmd
        else:
            o = RestingOrder(oid, cmd.trader, qty, shown, level, None if plain else cmd)
        tail = level.tail  # level.append(o), inlined (every resting order comes through here)
        o.prev = tail
        o.next = None
        if tail is None:
            level.head = o
        else:
            tail.next = o
        level.tail = o
        level.qty += qty
        if not hidden:
            level.shown += shown
            if self._touched is not None:
                self._touched[(book, side, price)] = None
        self._orders[oid] = o
        if self._validator is not None:  # a new state of `oid` (a reused id, a remainder, a re-priced post-only)
            self._versions.pop(oid, None)
        if not plain:
            self._track_expiry(book, cmd)

    def _recycle(self, o: RestingOrder) -> None:
        """Keep a record that has left the book for the next resting order.

        Re-using records instead of allocating new ones spares the allocator and, above all, the cyclic garbage
        collector, which otherwise traverses every new resting order as it ages (about a tenth of the run time).
        Nothing outside the engine holds RestingOrder records: snapshots are OrderState values.
        """
        if len(self._pool) < _POOL_LIMIT:
            o.spec = None
            self._pool.append(o)

    def _unlink(self, level: PriceLevel, o: RestingOrder) -> None:
        """Take a resting order out of the book, leaving an emptied level for the caller to drop."""
        level.unlink(o)
        level.qty -= o.qty
        if not o.hidden:
            level.shown -= o.shown
        o.level = None
        del self._orders[o.order_id]

    def _reduce(self, level: PriceLevel, o: RestingOrder, qty: int) -> None:
        """Lower a resting order's open quantity in place, keeping its time priority."""
        shown = o.shown if o.shown < qty else qty
        level.qty -= o.qty - qty
        if not o.hidden:
            level.shown -= o.shown - shown
        o.qty = qty
        o.shown = shown

    def _cancel_resting(self, o: RestingOrder, ts: int, events: list[Event], reason: CancelReason) -> None:
        # the hottest cancel path (every replayed cancel): _unlink, level.unlink, o.hidden and _recycle inlined
        level = o.level
        ladder = level.ladder
        book = ladder.book
        qty = o.qty
        events.append(_cancelled(ts, o.order_id, o.trader, book.symbol, qty, reason))
        spec = o.spec
        hidden = spec is not None and spec.hidden
        prev, nxt = o.prev, o.next
        if prev is None:
            level.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            level.tail = prev
        else:
            nxt.prev = prev
        o.prev = o.next = None
        level.qty -= qty
        if not hidden:
            level.shown -= o.shown
        o.level = None
        del self._orders[o.order_id]
        if level.head is None:
            ladder.drop_level(level)
        if self._touched is not None and not hidden:
            self._touched[(book, level.side, level.price)] = None
        pool = self._pool
        if len(pool) < _POOL_LIMIT:
            o.spec = None
            pool.append(o)

    # ----------------------------------------------------------------------------------------- cancel / modify

    def _cancel(self, cmd: CancelOrder, ts: int, events: list[Event]) -> None:
        oid = cmd.order_id
        o = self._orders.get(oid)
        if o is not None:
            if o.trader != cmd.trader:
                return self._reject(events, ts, oid, cmd.trader, o.level.ladder.book.symbol, RejectReason.NOT_OWNER,
                                    f"order {oid} belongs to another trader")
            self._cancel_resting(o, ts, events, _USER)
            return None
        stop = self._stops.get(oid)
        if stop is None:
            return self._reject(events, ts, oid, cmd.trader, "", RejectReason.UNKNOWN_ORDER,
                                f"no live order with id {oid!r}")
        if stop.trader != cmd.trader:
            return self._reject(events, ts, oid, cmd.trader, stop.symbol, RejectReason.NOT_OWNER,
                                f"order {oid} belongs to another trader")
        del self._stops[oid]
        events.append(OrderCancelled(ts, oid, stop.trader, stop.symbol, stop.quantity, CancelReason.USER))
        return None

    def _modify(self, cmd: ModifyOrder, ts: int, events: list[Event]) -> None:
        oid = cmd.order_id
        o = self._orders.get(oid)
        stop = self._stops.get(oid) if o is None else None
        if o is None and stop is None:
            return self._reject(events, ts, oid, cmd.trader, "", RejectReason.UNKNOWN_ORDER,
                                f"no live order with id {oid!r}")
        symbol = stop.symbol if o is None else o.level.ladder.book.symbol
        owner = stop.trader if o is None else o.trader
        if owner != cmd.trader:
            return self._reject(events, ts, oid, cmd.trader, symbol, RejectReason.NOT_OWNER,
                                f"order {oid} belongs to another trader")
        problem = None
        if cmd.quantity is None and cmd.price is None:
            problem = RejectReason.INVALID_ORDER, "modify must change the quantity or the price"
        elif cmd.quantity is not None:
            problem = check_positive(cmd.quantity, RejectReason.INVALID_QUANTITY, "quantity")
        if problem is None and cmd.price is not None:
            problem = check_positive(cmd.price, RejectReason.INVALID_PRICE, "price")
            if problem is None and stop is not None and stop.order_type is _STOP:
                problem = RejectReason.INVALID_PRICE, "a stop-market order has no limit price to modify"
        if problem is not None:
            return self._reject(events, ts, oid, cmd.trader, symbol, *problem)
        if o is None:
            return self._modify_stop(stop, cmd, ts, events)
        return self._modify_resting(o, cmd, ts, events)

    def _modify_stop(self, stop: NewOrder, cmd: ModifyOrder, ts: int, events: list[Event]) -> None:
        qty = stop.quantity if cmd.quantity is None else cmd.quantity
        price = stop.price if cmd.price is None else cmd.price
        if stop.display_quantity is not None and stop.display_quantity > qty:
            return self._reject(events, ts, stop.order_id, cmd.trader, stop.symbol,
                                RejectReason.INVALID_DISPLAY_QUANTITY,
                                f"quantity {qty} is below the display quantity {stop.display_quantity}")
        new = replace(stop, quantity=qty, price=price)
        self._stops[stop.order_id] = new
        book = self._books[stop.symbol]
        heap, key = (book.buy_stops, stop.stop_price) if stop.side is _BUY else (book.sell_stops, -stop.stop_price)
        self._seq += 1
        heapq.heappush(heap, (key, self._seq, stop.order_id, new))
        events.append(OrderModified(ts, stop.order_id, stop.trader, stop.symbol, qty, price, False))
        return None

    def _modify_resting(self, o: RestingOrder, cmd: ModifyOrder, ts: int, events: list[Event]) -> None:
        level = o.level
        ladder = level.ladder
        book = ladder.book
        symbol = book.symbol
        qty = o.qty if cmd.quantity is None else cmd.quantity
        price = level.price if cmd.price is None else cmd.price
        touched = self._touched
        spec = o.spec
        hidden = spec is not None and spec.hidden
        if price == level.price and qty <= o.qty:  # a reduction keeps time priority
            self._reduce(level, o, qty)
            if self._validator is not None:
                self._versions.pop(o.order_id, None)
            if touched is not None and not hidden:
                touched[(book, level.side, price)] = None
            events.append(_modified(ts, o.order_id, o.trader, symbol, qty, price, True))
            return None
        opp = book.asks if level.side is _BUY else book.bids
        crosses = opp.crosses(price)
        if crosses and spec is not None and spec.post_only is not None:
            best = opp.best
            slid = best - 1 if level.side is _BUY else best + 1
            if spec.post_only is PostOnlyMode.REJECT or slid <= 0:
                return self._reject(events, ts, o.order_id, cmd.trader, symbol, RejectReason.POST_ONLY_WOULD_TAKE,
                                    f"post-only order modified to {price} would take the opposite best {best}")
            price, crosses = slid, False
        events.append(_modified(ts, o.order_id, o.trader, symbol, qty, price, False))
        if touched is not None and not hidden:
            touched[(book, level.side, level.price)] = None
        if crosses:  # it re-enters as an aggressor
            view = o.as_new_order(symbol, qty, price)
            self._unlink(level, o)
            self._recycle(o)
            if level.head is None:
                ladder.drop_level(level)
            self._execute(book, view, ts, events)
            self._trigger_stops(book, ts, events)
            return None
        # re-queue the same record at the back of its (new) level
        level.unlink(o)
        level.qty -= o.qty
        if not hidden:
            level.shown -= o.shown
        target = ladder.levels.get(price)
        if target is None:
            target = ladder.new_level(price)
        peak = None if spec is None else spec.display_quantity
        shown = qty if peak is None or peak >= qty else peak
        o.qty = qty
        o.shown = shown
        o.level = target
        if self._validator is not None:
            self._versions.pop(o.order_id, None)
        target.append(o)
        target.qty += qty
        if not hidden:
            target.shown += shown
            if touched is not None:
                touched[(book, level.side, price)] = None
        if level.head is None:
            ladder.drop_level(level)
        return None

    # ----------------------------------------------------------------------------------------- expiry

    def _expire_into(self, ts: int, events: list[Event]) -> None:
        gtd = self._gtd
        while gtd and gtd[0][0] <= ts:
            _, _, oid = heapq.heappop(gtd)
            o = self._orders.get(oid)
            if o is not None:
                spec = o.spec
                if spec is not None and spec.tif is _GTD and spec.expire_at <= ts:
                    self._cancel_resting(o, ts, events, CancelReason.EXPIRED)
                continue
            stop = self._stops.get(oid)
            if stop is not None and stop.tif is _GTD and stop.expire_at <= ts:
                del self._stops[oid]
                events.append(OrderCancelled(ts, oid, stop.trader, stop.symbol, stop.quantity, CancelReason.EXPIRED))


class AggregateLevels:
    """One owner's aggregate orders on one side of one book (`MatchingEngine.aggregate_levels`).

    An aggregate order stands for depth known only as a level's total (a replayed L2 level of historical data): one
    resting order per price, with an engine-chosen negative id, created at the back of its level, resized in place
    (keeping its place in the queue) and removed at 0. It matches like any resting order: an aggressor that takes
    part of it shrinks it, one that takes it whole removes it (and the next `set` starts a new one at the back of
    the level). It is placed without matching and without BookUpdate events: the caller keeps it from crossing
    other owners' orders on the opposite side.
    """

    __slots__ = ("engine", "ladder", "owner", "ids", "_orders", "_pool")

    def __init__(self, engine: MatchingEngine, ladder: BookSide, owner: str) -> None:
        self.engine = engine
        self.ladder = ladder
        self.owner = owner
        self.ids: dict[int, int] = {}   # price -> order id of the aggregate there (it may have been taken since)
        self._orders = engine._orders   # the engine's (never rebound) dict of resting orders and record pool
        self._pool = engine._pool

    def get(self, price: int) -> int:
        """The lots of the aggregate order at `price` (0 if none)."""
        oid = self.ids.get(price)
        o = None if oid is None else self._orders.get(oid)
        return 0 if o is None else o.qty

    def set(self, price: int, qty: int) -> int:
        """Make the aggregate order at `price` hold `qty` lots (0: remove it); returns the lots it held before."""
        if not (type(qty) is int and qty >= 0 and type(price) is int and price > 0):
            raise ValidationError(f"an aggregate level needs a positive integer price and integer lots >= 0, got "
                                  f"{price!r} {qty!r}")
        ids = self.ids
        oid = ids.get(price)
        if oid is not None:
            orders = self._orders
            o = orders.get(oid)
            if o is not None:
                old = o.qty
                level = o.level
                if qty:
                    d = qty - old
                    o.qty = qty
                    o.shown = qty
                    self.engine._versions.pop(oid, None)
                    level.qty += d
                    level.shown += d
                    return old
                del ids[price]
                del orders[oid]
                if level.head is o and o.next is None:  # alone at its level: the level goes
                    level.head = level.tail = None
                    self.ladder.drop_level(level)
                else:
                    level.unlink(o)
                    level.qty -= old
                    level.shown -= old
                o.level = None
                pool = self._pool
                if len(pool) < _POOL_LIMIT:
                    pool.append(o)
                return old
            del ids[price]  # an aggressor took it whole
        if not qty:
            return 0
        ladder = self.ladder
        level = ladder.levels.get(price)
        if level is None:
            level = ladder.new_level(price)
        engine = self.engine
        engine._aggregate_seq -= 1
        oid = engine._aggregate_seq
        pool = self._pool
        if pool:
            o = pool.pop()
            o.order_id = oid
            o.trader = self.owner
            o.qty = qty
            o.shown = qty
            o.level = level
            o.spec = None
        else:
            o = RestingOrder(oid, self.owner, qty, qty, level, None)
        level.append(o)
        level.qty += qty
        level.shown += qty
        self._orders[oid] = o
        ids[price] = oid
        return 0
