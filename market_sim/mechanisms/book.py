"""A sealed order book for auctions: orders collected per price (market orders apart) in time order, cleared at one
uniform price by `uncross` (market_sim.mechanisms.uncross), with the fills allocated in price-time priority."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from market_sim.core.events import OrderCancelled, CancelReason, Trade
from market_sim.core.orders import NewOrder, OrderType, Side, TimeInForce
from market_sim.market._construct import constructor
from market_sim.mechanisms.uncross import Cross, clearing_price

_trade = constructor(Trade)  # Trade(...) without the frozen dataclass __init__ (same instances)
_BUY = Side.BUY
_NO_CROSS = Cross(None, 0, 0)

__all__ = ["AuctionOrder", "AuctionBook"]


class AuctionOrder:
    """One order waiting for an uncross: the submitted command, its open lots and arrival sequence."""

    __slots__ = ("cmd", "qty", "seq")

    def __init__(self, cmd: NewOrder, qty: int, seq: int) -> None:
        self.cmd, self.qty, self.seq = cmd, qty, seq

    @property
    def price(self) -> int | None:
        return self.cmd.price


class AuctionBook:
    """The orders of one symbol waiting for the next uncross. Levels: price (None: market) -> orders in time
    order; cancels remove in O(level length)."""

    __slots__ = ("symbol", "bids", "asks", "orders", "_seq", "lots", "bid_lots", "ask_lots", "transient")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[int | None, list[AuctionOrder]] = {}
        self.asks: dict[int | None, list[AuctionOrder]] = {}
        self.orders: dict[int, AuctionOrder] = {}
        self._seq = 0
        self.lots = 0  # open lots in the book (both sides)
        self.bid_lots: dict[int | None, int] = {}  # lots per level
        self.ask_lots: dict[int | None, int] = {}
        self.transient: dict[int, None] = {}  # ids of market and IOC/FOK orders (they do not outlive a batch)

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, cmd: NewOrder, qty: int | None = None) -> AuctionOrder:
        self._seq += 1
        o = AuctionOrder(cmd, cmd.quantity if qty is None else qty, self._seq)
        if cmd.side is _BUY:
            side, lots = self.bids, self.bid_lots
        else:
            side, lots = self.asks, self.ask_lots
        p = cmd.price
        level = side.get(p)
        if level is None:
            side[p] = [o]
            lots[p] = o.qty
        else:
            level.append(o)
            lots[p] += o.qty
        self.orders[cmd.order_id] = o
        self.lots += o.qty
        if cmd.order_type is OrderType.MARKET or cmd.tif is TimeInForce.IOC or cmd.tif is TimeInForce.FOK:
            self.transient[cmd.order_id] = None
        return o

    def remove(self, order_id: int) -> AuctionOrder | None:
        o = self.orders.pop(order_id, None)
        if o is None:
            return None
        if o.cmd.side is _BUY:
            side, lots = self.bids, self.bid_lots
        else:
            side, lots = self.asks, self.ask_lots
        p = o.cmd.price
        level = side[p]
        level.remove(o)
        if level:
            lots[p] -= o.qty
        else:
            del side[p], lots[p]
        self.lots -= o.qty
        self.transient.pop(order_id, None)
        return o

    def reduce(self, order_id: int, qty: int) -> None:
        """Set an order's open lots to `qty` (< its current lots: priority kept)."""
        o = self.orders[order_id]
        self.lots -= o.qty - qty
        (self.bid_lots if o.cmd.side is _BUY else self.ask_lots)[o.cmd.price] -= o.qty - qty
        o.qty = qty

    def cross(self, reference: int | None) -> Cross:
        """The price the book would uncross at now (see market_sim.mechanisms.uncross)."""
        bl, al = self.bid_lots, self.ask_lots
        if not bl or not al:
            return _NO_CROSS
        mkt_buy, mkt_sell = None in bl, None in al
        bids, asks = bl.items(), al.items()
        # Without market sells, bids below the lowest ask count at no price that can trade (and the reverse):
        # leave them out (the uncross's own restriction, applied before aggregation: exact, and O(levels) in C).
        if not mkt_sell:
            lo = min(al)
            if not mkt_buy and max(bl) < lo:  # the limits do not meet: no volume anywhere
                return _NO_CROSS
            bids = [(p, q) for p, q in bids if p is None or p >= lo]
        if not mkt_buy:
            hi = max(bl)
            asks = [(p, q) for p, q in asks if p is None or p <= hi]
        return clearing_price(bids, asks, reference)

    def best(self, side: Side) -> tuple[int, int] | None:
        """The best limit price and its lots on one side (market orders are not shown)."""
        lots = self.bid_lots if side is Side.BUY else self.ask_lots
        prices = [p for p in lots if p is not None]
        if not prices:
            return None
        p = max(prices) if side is Side.BUY else min(prices)
        return p, lots[p]

    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bl, al = self.bid_lots, self.ask_lots
        bids = heapq.nlargest(levels, (p for p in bl if p is not None))
        asks = heapq.nsmallest(levels, (p for p in al if p is not None))
        return [(p, bl[p]) for p in bids], [(p, al[p]) for p in asks]

    def _in_priority(self, side: Side, price: int) -> Iterator[AuctionOrder]:
        """Orders of `side` that accept `price`, market orders first, then better limits, then time."""
        levels = self.bids if side is Side.BUY else self.asks
        yield from levels.get(None, ())
        if side is Side.BUY:
            prices = sorted((p for p in levels if p is not None and p >= price), reverse=True)
        else:
            prices = sorted(p for p in levels if p is not None and p <= price)
        for p in prices:
            yield from levels[p]

    def uncross(self, ts: int, reference: int | None, next_trade_id) -> tuple[Cross, list[Trade]]:
        """Clear the book at its uniform price: returns the cross and the trades (the executed lots leave the book;
        the rest stays). `next_trade_id()` numbers the trades."""
        cross = self.cross(reference)
        if cross.price is None:
            return cross, []
        price, matched = cross.price, cross.matched
        buys = self._take(Side.BUY, price, matched)
        sells = self._take(Side.SELL, price, matched)
        trades: list[Trade] = []
        i = j = 0
        symbol = self.symbol
        while i < len(buys) and j < len(sells):
            b, bq = buys[i]
            s, sq = sells[j]
            q = bq if bq < sq else sq
            # the later of the two orders is the aggressor (it completed the match); same seq cannot happen
            aggressor = Side.BUY if b.seq > s.seq else Side.SELL
            trades.append(_trade(ts, next_trade_id(), symbol, price, q, b.cmd.order_id, s.cmd.order_id,
                                 b.cmd.trader, s.cmd.trader, aggressor))
            buys[i] = (b, bq - q)
            sells[j] = (s, sq - q)
            if bq == q:
                i += 1
            if sq == q:
                j += 1
        return cross, trades

    def _take(self, side: Side, price: int, matched: int) -> list[tuple[AuctionOrder, int]]:
        out, left = [], matched
        touched: set[int | None] = set()
        orders, transient = self.orders, self.transient
        lots = self.bid_lots if side is _BUY else self.ask_lots
        taken = 0
        for o in self._in_priority(side, price):
            if left <= 0:
                break
            q = o.qty if o.qty < left else left
            out.append((o, q))
            left -= q
            o.qty -= q
            lots[o.cmd.price] -= q
            taken += q
            if o.qty == 0:
                oid = o.cmd.order_id
                del orders[oid]
                if oid in transient:
                    del transient[oid]
                touched.add(o.cmd.price)
        self.lots -= taken
        levels = self.bids if side is _BUY else self.asks
        for p in touched:  # drop the filled orders level by level (one pass each, not one remove per order)
            rest = [o for o in levels[p] if o.qty]
            if rest:
                levels[p] = rest
            else:
                del levels[p], lots[p]
        return out

    def cancel_all(self, ts: int, reason: CancelReason, keep=None) -> list[OrderCancelled]:
        """Cancel every order (or those for which keep(order) is false), in arrival order."""
        out = []
        for o in sorted(self.orders.values(), key=lambda o: o.seq):
            if keep is not None and keep(o):
                continue
            self.remove(o.cmd.order_id)
            out.append(OrderCancelled(ts, o.cmd.order_id, o.cmd.trader, self.symbol, o.qty, reason))
        return out
