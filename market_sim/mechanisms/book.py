"""A sealed order book for auctions: orders collected per price (market orders apart) in time order, cleared at one
uniform price by `uncross` (market_sim.mechanisms.uncross), with the fills allocated in price-time priority.

The limit prices of each side are also kept in a sorted list, so the best prices, the depth and the levels that can
trade at a price are found by bisection, not by a scan of every level. A large uncross (VECTOR_MIN orders or more
taking part) pairs buys and sells with numpy (cumulative lots of each side merged) and builds its Trade events field
by field, one C-level pass per field over blocks of _BLOCK new events, with the GC paused; small ones (every batch of
a frequent batch auction, typically) pair in a plain loop. Both give the same trades. In a book of VECTOR_MIN orders
or more, the filled orders leave the id index in its arrival order (see AuctionBook._drop).

What a large uncross costs is mostly memory traffic, not arithmetic: each filled order and each of its order id,
trader and sequence objects is touched where it lies, so the code touches each as few times as it can (one read
per level while the level is in the cache, one read when its trades are built) and releases the filled orders in
allocation order.
"""

from __future__ import annotations

import gc
from bisect import bisect_left, bisect_right, insort
from collections import deque
from dataclasses import fields
from itertools import repeat
from operator import attrgetter

from market_sim.core.events import Event, OrderCancelled, CancelReason, Trade
from market_sim.core.orders import NewOrder, OrderType, Side, TimeInForce
from market_sim.market._construct import constructor
from market_sim.mechanisms.uncross import Cross, clearing_price_sorted

_trade = constructor(Trade)  # Trade(...) without the frozen dataclass __init__ (same instances)
_BUY = Side.BUY
_SELL = Side.SELL
_NO_CROSS = Cross(None, 0, 0)
_MARKET, _IOC, _FOK = OrderType.MARKET, TimeInForce.IOC, TimeInForce.FOK

# an uncross with at least this many orders taking part (both sides) pairs them with numpy
VECTOR_MIN = 256
_INT64_SAFE = 2 ** 62  # lots below this: the cumulative sums stay exact in int64

# Trade's fields and the slot descriptors that set them (bulk construction: one C-level map per field)
_TRADE_FIELDS = ("ts", "trade_id", "symbol", "price", "quantity", "buy_order_id", "sell_order_id", "buyer", "seller",
                 "aggressor")
_TRADE_SET = tuple((Event if n == "ts" else Trade).__dict__[n].__set__ for n in _TRADE_FIELDS)
if tuple(f.name for f in fields(Trade)) != _TRADE_FIELDS:  # a new Trade field would be left unset by _pair_vector
    raise ImportError(f"market_sim.mechanisms.book: Trade's fields changed; update _TRADE_FIELDS "
                      f"({[f.name for f in fields(Trade)]})")
_new = object.__new__
_QTY, _OID, _TRADER, _SEQ = (attrgetter(a) for a in ("qty", "oid", "trader", "seq"))
_SIDES = (_SELL, _BUY)  # indexed by "the buy came later"
_BLOCK = 1024  # a large uncross builds its Trade events per block of this many
_NO_ID = object()  # a sentinel next_trade_id() never returns
_side_array: list = []  # _SIDES as a numpy object array (made by the first vectorised uncross)


def _sides(np):
    if not _side_array:
        a = np.empty(2, dtype=object)
        a[0], a[1] = _SIDES
        _side_array.append(a)
    return _side_array[0]


__all__ = ["AuctionOrder", "AuctionBook"]


class AuctionOrder:
    """One order waiting for an uncross: the submitted command, its open lots and arrival sequence (and the
    command's order id and trader, read by the uncross without going through the command)."""

    __slots__ = ("qty", "oid", "trader", "seq", "cmd")

    def __init__(self, cmd: NewOrder, qty: int, seq: int) -> None:
        self.cmd, self.qty, self.seq = cmd, qty, seq
        self.oid, self.trader = cmd.order_id, cmd.trader

    @property
    def price(self) -> int | None:
        return self.cmd.price


class AuctionBook:
    """The orders of one symbol waiting for the next uncross. Levels: price (None: market) -> orders in time
    order; cancels remove in O(level length)."""

    __slots__ = ("symbol", "bids", "asks", "orders", "_seq", "lots", "bid_lots", "ask_lots", "transient", "bid_px",
                 "ask_px", "vector_min")

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
        self.bid_px: list[int] = []  # limit prices with a level, ascending (market orders: key None, not here)
        self.ask_px: list[int] = []
        self.vector_min = VECTOR_MIN

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, cmd: NewOrder, qty: int | None = None) -> AuctionOrder:
        self._seq += 1
        o = _new(AuctionOrder)  # AuctionOrder(cmd, qty, seq) without the call
        o.cmd, o.qty, o.seq, o.oid, o.trader = cmd, cmd.quantity if qty is None else qty, self._seq, cmd.order_id, \
            cmd.trader
        if cmd.side is _BUY:
            side, lots, px = self.bids, self.bid_lots, self.bid_px
        else:
            side, lots, px = self.asks, self.ask_lots, self.ask_px
        p = cmd.price
        level = side.get(p)
        if level is None:
            side[p] = [o]
            lots[p] = o.qty
            if p is not None:
                insort(px, p)
        else:
            level.append(o)
            lots[p] += o.qty
        self.orders[cmd.order_id] = o
        self.lots += o.qty
        if cmd.order_type is _MARKET or cmd.tif is _IOC or cmd.tif is _FOK:
            self.transient[cmd.order_id] = None
        return o

    def remove(self, order_id: int) -> AuctionOrder | None:
        o = self.orders.pop(order_id, None)
        if o is None:
            return None
        if o.cmd.side is _BUY:
            side, lots, px = self.bids, self.bid_lots, self.bid_px
        else:
            side, lots, px = self.asks, self.ask_lots, self.ask_px
        p = o.cmd.price
        level = side[p]
        level.remove(o)
        if level:
            lots[p] -= o.qty
        else:
            del side[p], lots[p]
            if p is not None:
                del px[bisect_left(px, p)]
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
        """The price the book would uncross at now (see market_sim.mechanisms.uncross): only the levels in the
        range that can trade are read."""
        bl, al = self.bid_lots, self.ask_lots
        if not bl or not al:
            return _NO_CROSS
        return clearing_price_sorted(self.bid_px, bl, self.ask_px, al, bl.get(None, 0), al.get(None, 0), reference)

    def best(self, side: Side) -> tuple[int, int] | None:
        """The best limit price and its lots on one side (market orders are not shown)."""
        if side is Side.BUY:
            return (self.bid_px[-1], self.bid_lots[self.bid_px[-1]]) if self.bid_px else None
        return (self.ask_px[0], self.ask_lots[self.ask_px[0]]) if self.ask_px else None

    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bl, al = self.bid_lots, self.ask_lots
        bids = self.bid_px[-levels:] if levels > 0 else []
        return [(p, bl[p]) for p in reversed(bids)], [(p, al[p]) for p in self.ask_px[:max(levels, 0)]]


    def uncross(self, ts: int, reference: int | None, next_trade_id) -> tuple[Cross, list[Trade]]:
        """Clear the book at its uniform price: returns the cross and the trades (the executed lots leave the book;
        the rest stays). `next_trade_id()` numbers the trades."""
        cross = self.cross(reference)
        if cross.price is None:
            return cross, []
        price, matched = cross.price, cross.matched
        # in a large book the filled orders leave the id index after both takes, in its arrival order (see _drop)
        dead: set[int] | None = set() if len(self.orders) >= self.vector_min else None
        buys = self._take(_BUY, price, matched, dead)
        sells = self._take(_SELL, price, matched, dead)
        if dead is not None:
            self._drop(dead)
        if self.transient:  # filled market / IOC orders are no longer transient
            orders, transient = self.orders, self.transient
            for oid in [oid for oid in transient if oid not in orders]:
                del transient[oid]
        nb, ns = len(buys[0]), len(sells[0])
        if nb + ns >= self.vector_min and matched < _INT64_SAFE:
            return cross, self._pair_vector(ts, price, buys, sells, next_trade_id)
        bqs, boids, btrs, bseqs = buys
        sqs, soids, strs, sseqs = sells
        trades: list[Trade] = []
        i = j = 0
        symbol = self.symbol
        bl, sl = bqs[0], sqs[0]
        while True:
            q = bl if bl < sl else sl
            # the later of the two orders is the aggressor (it completed the match); same seq cannot happen
            trades.append(_trade(ts, next_trade_id(), symbol, price, q, boids[i], soids[j], btrs[i], strs[j],
                                 _BUY if bseqs[i] > sseqs[j] else _SELL))
            bl -= q
            sl -= q
            if bl == 0:
                i += 1
                if i == nb:
                    break
                bl = bqs[i]
            if sl == 0:
                j += 1
                if j == ns:
                    break
                sl = sqs[j]
        return cross, trades

    def _pair_vector(self, ts: int, price: int, buys: tuple, sells: tuple, next_trade_id) -> list[Trade]:
        """The plain loop's pairing, vectorised: trade k covers the lots between the k-th and (k+1)-th of the merged
        cumulative sums of both sides, between the buy and the sell whose cumulative lots first reach its end.

        The cyclic GC is paused while the Trade events are built (tens of thousands of new objects, none of them
        garbage: collecting the young generation over and over would find nothing)."""
        import numpy as np

        bq, boid, btr, bseq = buys
        sq, soid, s_tr, sseq = sells
        nb, ns = len(bq), len(sq)
        cb = np.fromiter(bq, np.int64, nb).cumsum()
        cs = np.fromiter(sq, np.int64, ns).cumsum()
        # the union of both (sorted) cumulative sums: one merge of two sorted runs, repeats dropped
        ends = np.concatenate((cb, cs))
        ends.sort(kind="stable")
        new = np.empty(nb + ns, dtype=bool)
        new[0] = True
        np.not_equal(ends[1:], ends[:-1], out=new[1:])
        ends = ends[new]
        bi = np.searchsorted(cb, ends)
        si = np.searchsorted(cs, ends)
        qty = np.diff(ends, prepend=0)
        n = len(qty)
        later = np.fromiter(bseq, np.int64, nb)[bi] > np.fromiter(sseq, np.int64, ns)[si]
        aggressor = _sides(np)[later.view(np.uint8)]
        # Trade events without a Python call each: per block of _BLOCK trades, the new objects, then one C-level
        # pass per field (slot descriptor setters) while the block is in the cache; the order id and trader columns
        # read by index (each object touched once), the trade ids drawn in trade order
        set_ts, set_id, set_sym, set_px, set_q, set_bo, set_so, set_b, set_s, set_ag = _TRADE_SET
        ids = iter(next_trade_id, _NO_ID)
        symbol = self.symbol
        bo, so, bt, st = boid.__getitem__, soid.__getitem__, btr.__getitem__, s_tr.__getitem__
        out: list[Trade] = []
        gc_on = gc.isenabled()
        if gc_on:
            gc.disable()
        try:
            for start in range(0, n, _BLOCK):
                end = start + _BLOCK
                b_idx, s_idx = bi[start:end].tolist(), si[start:end].tolist()
                block = list(map(_new, repeat(Trade, len(b_idx))))
                # each map stops with the block (the first iterable): `ids` is drawn once per trade
                deque(map(set_ts, block, repeat(ts)), maxlen=0)
                deque(map(set_id, block, ids), maxlen=0)
                deque(map(set_sym, block, repeat(symbol)), maxlen=0)
                deque(map(set_px, block, repeat(price)), maxlen=0)
                deque(map(set_q, block, qty[start:end].tolist()), maxlen=0)
                deque(map(set_bo, block, map(bo, b_idx)), maxlen=0)
                deque(map(set_so, block, map(so, s_idx)), maxlen=0)
                deque(map(set_b, block, map(bt, b_idx)), maxlen=0)
                deque(map(set_s, block, map(st, s_idx)), maxlen=0)
                deque(map(set_ag, block, aggressor[start:end].tolist()), maxlen=0)
                out += block
        finally:
            if gc_on:
                gc.enable()
        return out

    def _drop(self, dead: set[int]) -> None:
        """Remove the orders `dead` (filled) from the id index. When they are a large part of it, they are deleted in
        the index's own (arrival) order, found by one sequential pass over it, rather than in the levels' price
        order: the filled orders are then released in the order they were allocated, which walks memory the way it
        was laid out (the uncross of a large book is dominated by these releases)."""
        orders = self.orders
        if len(dead) * 4 < len(orders):
            deque(map(orders.__delitem__, dead), maxlen=0)
            return
        deque(map(orders.__delitem__, [k for k in orders if k in dead]), maxlen=0)

    def _take(self, side: Side, price: int, matched: int,
              dead: set[int] | None = None) -> tuple[list[int], list[int], list[str], list[int]]:
        """Take `matched` lots from the orders of `side` that accept `price`, in priority (market orders, better
        limits, time): (lots taken, order ids, traders, seqs), one entry per order. Levels used up leave the book
        whole (their columns read with one C-level pass each); only the marginal level is walked order by order.
        The filled orders leave the id index now, or, given a set `dead`, their ids are added to it (the caller
        removes them; the transient set is the caller's to clean up either way)."""
        if side is _BUY:
            levels, lots, px = self.bids, self.bid_lots, self.bid_px
            prices = px[bisect_left(px, price):]
            prices.reverse()
        else:
            levels, lots, px = self.asks, self.ask_lots, self.ask_px
            prices = px[:bisect_right(px, price)]
        if None in levels:
            prices.insert(0, None)
        orders = self.orders
        out_q: list[int] = []
        out_id: list[int] = []
        out_tr: list[str] = []
        out_seq: list[int] = []
        left = matched
        gone = 0  # limit levels used up (the best ones, a run)
        for p in prices:
            if left <= 0:
                break
            level = levels[p]
            lv = lots[p]
            if lv <= left:
                k = len(out_id)
                out_q += map(_QTY, level)
                out_id += map(_OID, level)
                out_tr += map(_TRADER, level)
                out_seq += map(_SEQ, level)
                left -= lv
                if dead is None:
                    deque(map(orders.__delitem__, out_id[k:]), maxlen=0)
                else:
                    dead.update(out_id[k:])  # while the level's objects are in the cache
                del levels[p], lots[p]
                if p is not None:
                    gone += 1
                continue
            n, before = 0, left
            for o in level:
                q = o.qty
                out_id.append(o.oid)
                out_tr.append(o.trader)
                out_seq.append(o.seq)
                if q <= left:
                    out_q.append(q)
                    left -= q
                    if dead is None:
                        del orders[o.oid]
                    else:
                        dead.add(o.oid)
                    n += 1
                    if left == 0:
                        break
                else:
                    out_q.append(left)
                    o.qty = q - left
                    left = 0
                    break
            lots[p] = lv - (before - left)
            del level[:n]  # the filled orders are the level's first n (time priority); the marginal one stays
        if gone:
            if side is _BUY:
                del px[len(px) - gone:]
            else:
                del px[:gone]
        self.lots -= matched - left
        return out_q, out_id, out_tr, out_seq

    def cancel_all(self, ts: int, reason: CancelReason, keep=None) -> list[OrderCancelled]:
        """Cancel every order (or those for which keep(order) is false), in arrival order."""
        out = []
        for o in sorted(self.orders.values(), key=lambda o: o.seq):
            if keep is not None and keep(o):
                continue
            self.remove(o.cmd.order_id)
            out.append(OrderCancelled(ts, o.cmd.order_id, o.cmd.trader, self.symbol, o.qty, reason))
        return out
