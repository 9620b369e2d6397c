"""Frequent batch auctions (Budish, Cramton and Shim 2015): orders are sealed for tau ns and the book is cleared
every tau at one uniform price (market_sim.mechanisms.uncross). Unfilled limit orders carry over to the next batch
(GTC/DAY/GTD), IOC and market remainders are cancelled after the batch they entered. The quote is the best
resting bid and ask after the last batch (sealed orders are not shown); an AuctionIndicative is published after
each clearing. GTD orders are cancelled (reason EXPIRED) at their expire_at, as the continuous book does."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from market_sim.core.events import AuctionIndicative, CancelReason, Event
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder, OrderType, TimeInForce
from market_sim.mechanisms.base import MechanismVenue, _accepted, _quote, register_mechanism
from market_sim.mechanisms.book import AuctionBook
from market_sim.simulation.params import param

__all__ = ["FrequentBatchAuction", "BatchParams"]

from market_sim.market._construct import constructor  # noqa: E402

_indicative = constructor(AuctionIndicative)
_OPG, _CLS, _GTD = TimeInForce.OPG, TimeInForce.CLS, TimeInForce.GTD


@dataclass(frozen=True, slots=True)
class BatchParams:
    """Keys of a batch-auction venue."""

    tau: int = param(100_000_000, duration=True, help="batch interval (orders are sealed this long), e.g. '100ms'")
    publish_indicative: bool = param(True, help="publish an AuctionIndicative after every batch, for each symbol "
                                                "whose book changed in it")


@register_mechanism
class FrequentBatchAuction(MechanismVenue):
    """frequent batch auction: sealed orders cleared every tau at one uniform price (Budish-Cramton-Shim)"""

    mechanism = "batch"
    Params = BatchParams

    def __init__(self, name, instruments, params=None, sim=None) -> None:
        super().__init__(name, instruments, params, sim)
        self.tau = self.params.tau
        if self.tau <= 0:
            from market_sim.core.errors import ConfigError

            raise ConfigError("must be a positive duration", key=f"venues.{name}.tau", value=self.tau)
        self.books = {s: AuctionBook(s) for s in self.symbols}
        # the public book: the levels resting after the last batch (sealed orders are not shown)
        self._snap: dict[str, tuple[list, list]] = {s: ([], []) for s in self.symbols}
        self._armed = False
        self.batches = 0
        self._gtd: list[tuple[int, int, str]] = []  # heap of (expire_at, order id, symbol) of accepted GTD orders
        # symbols whose book changed since the last batch: only they are cleared (the book left by an uncross
        # does not cross, and neither does it after cancels alone)
        self._dirty: dict[str, None] = {}

    def _arm(self, ts: int) -> None:
        """Schedule the next batch boundary after ts (batches end at multiples of tau)."""
        if not self._armed and self.sim is not None:
            self._armed = True
            self.at((ts // self.tau + 1) * self.tau, self.clear)

    def on_new(self, cmd: NewOrder, ts: int, events: list[Event]) -> None:
        tif = cmd.tif
        if tif is _OPG or tif is _CLS:
            from market_sim.core.events import OrderRejected, RejectReason

            events.append(OrderRejected(ts, cmd.order_id, cmd.trader, cmd.symbol, RejectReason.WRONG_PHASE,
                                        "a batch auction has no opening or closing auction"))
            return
        symbol = cmd.symbol
        self._owner[cmd.order_id] = (cmd.trader, symbol)  # self.accept(), inline
        events.append(_accepted(ts, cmd))
        self.books[symbol].add(cmd)
        self._dirty[symbol] = None
        if tif is _GTD and cmd.expire_at is not None:
            heapq.heappush(self._gtd, (cmd.expire_at, cmd.order_id, symbol))
        if not self._armed:
            self._arm(ts)

    def on_cancel(self, cmd: CancelOrder, symbol: str, ts: int, events: list[Event]) -> None:
        o = self.books[symbol].remove(cmd.order_id)
        self._dirty[symbol] = None
        self.done(cmd.order_id)
        events.append(self.cancelled(ts, o.cmd, o.qty, CancelReason.USER))

    def on_modify(self, cmd: ModifyOrder, symbol: str, ts: int, events: list[Event]) -> None:
        book = self.books[symbol]
        o = book.orders[cmd.order_id]
        qty = o.qty if cmd.quantity is None else cmd.quantity
        price = o.cmd.price if cmd.price is None else cmd.price
        if type(qty) is not int or qty <= 0 or (price is not None and (type(price) is not int or price <= 0)):
            from market_sim.core.events import OrderRejected, RejectReason

            events.append(OrderRejected(ts, cmd.order_id, cmd.trader, symbol, RejectReason.INVALID_QUANTITY,
                                        f"modify needs positive integer quantity and price, got {qty!r}, {price!r}"))
            return
        self._dirty[symbol] = None
        if price == o.cmd.price and qty <= o.qty:
            book.reduce(cmd.order_id, qty)
            events.append(self.modified(ts, o.cmd, qty, price, True))
            return
        book.remove(cmd.order_id)
        from dataclasses import replace

        book.add(replace(o.cmd, price=price), qty)
        events.append(self.modified(ts, o.cmd, qty, price, False))
        self._arm(ts)

    def clear(self, ts: int) -> list[Event]:
        """End of a batch: uncross every symbol's book at its uniform price."""
        self._armed = False
        self.batches += 1
        events: list[Event] = []
        dirty, self._dirty = self._dirty, {}
        for symbol, book in self.books.items():
            if symbol not in dirty:
                continue
            cross, trades = book.uncross(ts, self.last_price[symbol], self.next_trade_id)
            events.extend(trades)
            for t in trades:
                for oid in (t.buy_order_id, t.sell_order_id):
                    if oid not in book.orders:
                        self.done(oid)
            if trades:
                self.last_price[symbol] = cross.price
            for oid in list(book.transient):  # market and IOC/FOK remainders do not carry over
                o = book.orders[oid]
                c = o.cmd
                book.remove(c.order_id)
                self.done(c.order_id)
                events.append(self.cancelled(ts, c, o.qty, CancelReason.IOC_REMAINDER
                                             if c.order_type is OrderType.LIMIT else CancelReason.NO_LIQUIDITY))
            self._snap[symbol] = book.depth(10)
            if self.params.publish_indicative:
                events.append(_indicative(ts, symbol, cross.price, cross.matched, cross.imbalance, "batch"))
        return events  # the next batch is armed by the next order (a book that did not change cannot cross)

    def quote(self, symbol: str, ts: int):
        bids, asks = self._snap[symbol]
        bid, bid_qty = bids[0] if bids else (None, 0)
        ask, ask_qty = asks[0] if asks else (None, 0)
        return _quote(ts, self.name, symbol, bid, bid_qty, ask, ask_qty, self.last_price[symbol])

    def depth(self, symbol: str, levels: int = 10):
        bids, asks = self._snap[symbol]
        return list(bids[:levels]), list(asks[:levels])

    def expire(self, ts: int) -> list[Event]:
        """Cancel (reason EXPIRED) the GTD orders whose expire_at <= ts that are still in the book."""
        events: list[Event] = []
        gtd = self._gtd
        while gtd and gtd[0][0] <= ts:
            _, oid, symbol = heapq.heappop(gtd)
            book = self.books[symbol]
            o = book.orders.get(oid)
            if o is None or o.cmd.tif is not TimeInForce.GTD or o.cmd.expire_at is None or o.cmd.expire_at > ts:
                continue
            book.remove(oid)
            self._dirty[symbol] = None
            self.done(oid)
            events.append(self.cancelled(ts, o.cmd, o.qty, CancelReason.EXPIRED))
        return events

    def end_session(self, ts: int) -> list[Event]:
        events: list[Event] = []
        for symbol, book in self.books.items():
            for ev in book.cancel_all(ts, CancelReason.EXPIRED, keep=lambda o: o.cmd.tif is not TimeInForce.DAY):
                self.done(ev.order_id)
                events.append(ev)
                self._dirty[symbol] = None
        return events
