"""A sealed order book for auctions: orders collected per price (market orders apart) in time order, cleared at one
uniform price by `uncross` (market_sim.mechanisms.uncross), with the fills allocated in price-time priority."""

from __future__ import annotations

from collections.abc import Iterator

from market_sim.core.events import OrderCancelled, CancelReason, Trade
from market_sim.core.orders import NewOrder, Side
from market_sim.mechanisms.uncross import Cross, clearing_price

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

    __slots__ = ("symbol", "bids", "asks", "orders", "_seq", "lots")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[int | None, list[AuctionOrder]] = {}
        self.asks: dict[int | None, list[AuctionOrder]] = {}
        self.orders: dict[int, AuctionOrder] = {}
        self._seq = 0
        self.lots = 0  # open lots in the book (both sides)

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, cmd: NewOrder, qty: int | None = None) -> AuctionOrder:
        self._seq += 1
        o = AuctionOrder(cmd, cmd.quantity if qty is None else qty, self._seq)
        side = self.bids if cmd.side is Side.BUY else self.asks
        level = side.get(cmd.price)
        if level is None:
            side[cmd.price] = [o]
        else:
            level.append(o)
        self.orders[cmd.order_id] = o
        self.lots += o.qty
        return o

    def remove(self, order_id: int) -> AuctionOrder | None:
        o = self.orders.pop(order_id, None)
        if o is None:
            return None
        side = self.bids if o.cmd.side is Side.BUY else self.asks
        level = side[o.cmd.price]
        level.remove(o)
        if not level:
            del side[o.cmd.price]
        self.lots -= o.qty
        return o

    def reduce(self, order_id: int, qty: int) -> None:
        """Set an order's open lots to `qty` (< its current lots: priority kept)."""
        o = self.orders[order_id]
        self.lots -= o.qty - qty
        o.qty = qty

    def cross(self, reference: int | None) -> Cross:
        """The price the book would uncross at now (see market_sim.mechanisms.uncross)."""
        return clearing_price(((p, sum(o.qty for o in lv)) for p, lv in self.bids.items()),
                              ((p, sum(o.qty for o in lv)) for p, lv in self.asks.items()), reference)

    def best(self, side: Side) -> tuple[int, int] | None:
        """The best limit price and its lots on one side (market orders are not shown)."""
        levels = self.bids if side is Side.BUY else self.asks
        prices = [p for p in levels if p is not None]
        if not prices:
            return None
        p = max(prices) if side is Side.BUY else min(prices)
        return p, sum(o.qty for o in levels[p])

    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids = sorted((p for p in self.bids if p is not None), reverse=True)[:levels]
        asks = sorted(p for p in self.asks if p is not None)[:levels]
        return ([(p, sum(o.qty for o in self.bids[p])) for p in bids],
                [(p, sum(o.qty for o in self.asks[p])) for p in asks])

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
            trades.append(Trade(ts, next_trade_id(), symbol, price, q, b.cmd.order_id, s.cmd.order_id,
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
        orders = self.orders
        for o in self._in_priority(side, price):
            if left <= 0:
                break
            q = o.qty if o.qty < left else left
            out.append((o, q))
            left -= q
            o.qty -= q
            self.lots -= q
            if o.qty == 0:
                del orders[o.cmd.order_id]
                touched.add(o.cmd.price)
        levels = self.bids if side is Side.BUY else self.asks
        for p in touched:  # drop the filled orders level by level (one pass each, not one remove per order)
            rest = [o for o in levels[p] if o.qty]
            if rest:
                levels[p] = rest
            else:
                del levels[p]
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
