"""Pro-rata matching (as CME's), optionally with a FIFO top-order allocation, and a minimum allocation.

`allocate(qty, resting, ...)` splits an aggressor's `qty` lots over the orders resting at one price level
(given in time priority), in exact integers:

1. top order (if `top` is set and that order rests at the level): it is filled first, up to `top_cap` lots
   (None: its whole quantity) - the order that bettered the market (CME's "TOP" priority);
2. pro rata: every order gets floor(remaining * its lots / the level's lots) (over what is left after step 1);
   shares below `min_allocation` lots become 0;
3. remainder: the lots still unallocated go one order at a time in time priority, each order taking as much as it
   still has open (so the remainder is FIFO, as CME's leftover allocation).

The returned allocation is a list of (order key, lots) for the orders that get lots, in time priority; the sum is
min(qty, level lots) exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sortedcontainers import SortedList

from market_sim.core.events import CancelReason, Event, OrderRejected, RejectReason, Trade
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder, OrderType, Side, TimeInForce
from market_sim.mechanisms.base import MechanismVenue, register_mechanism
from market_sim.simulation.params import param

__all__ = ["allocate", "ProRataVenue", "ProRataParams"]


def allocate(qty: int, resting: Sequence[tuple[object, int]], *, min_allocation: int = 1,
             top: object = None, top_cap: int | None = None) -> list[tuple[object, int]]:
    """Split `qty` lots over `resting` (key, lots) orders in time priority; see the module doc for the rule."""
    total = sum(q for _, q in resting)
    left = min(qty, total)
    alloc = {k: 0 for k, _ in resting}
    open_ = dict(resting)
    if top is not None and top in open_ and left:
        t = min(open_[top], left if top_cap is None else min(top_cap, left))
        alloc[top] += t
        open_[top] -= t
        left -= t
    base = sum(open_.values())
    if left and base:
        pool = left
        for k, _ in resting:
            share = pool * open_[k] // base
            if share < min_allocation:
                share = 0
            alloc[k] += share
            open_[k] -= share
            left -= share
    for k, _ in resting:
        if not left:
            break
        t = min(open_[k], left)
        alloc[k] += t
        open_[k] -= t
        left -= t
    return [(k, alloc[k]) for k, _ in resting if alloc[k]]


@dataclass(frozen=True, slots=True)
class ProRataParams:
    """Keys of a pro-rata venue."""

    top_order: bool = param(False, help="give the order that bettered the market FIFO priority first (CME TOP)")
    top_cap: int = param(0, min=0, help="most lots the top order gets first; 0: no cap")
    min_allocation: int = param(1, min=1, help="pro-rata shares below this many lots become 0 (go to the remainder)")


class _Level:
    __slots__ = ("orders", "top")

    def __init__(self) -> None:
        self.orders: list[list] = []  # [NewOrder, open lots] in time priority
        self.top: int | None = None    # the order that created the level by bettering the market


@register_mechanism
class ProRataVenue(MechanismVenue):
    """continuous book matching each price level pro rata (CME style), optional top order and minimum allocation"""

    mechanism = "pro-rata"
    Params = ProRataParams

    def __init__(self, name, instruments, params=None, sim=None) -> None:
        super().__init__(name, instruments, params, sim)
        self.levels = {s: {Side.BUY: {}, Side.SELL: {}} for s in self.symbols}
        self.prices = {s: {Side.BUY: SortedList(key=lambda p: -p), Side.SELL: SortedList()} for s in self.symbols}
        self.where: dict[int, tuple[str, Side, int]] = {}

    def on_new(self, cmd: NewOrder, ts: int, events: list[Event]) -> None:
        if cmd.tif in (TimeInForce.OPG, TimeInForce.CLS, TimeInForce.FOK):
            events.append(OrderRejected(ts, cmd.order_id, cmd.trader, cmd.symbol, RejectReason.INVALID_ORDER,
                                        f"a pro-rata venue does not take {cmd.tif} orders"))
            return
        self.accept(cmd, ts, events)
        opp = cmd.side.opposite
        levels, prices = self.levels[cmd.symbol][opp], self.prices[cmd.symbol][opp]
        left = cmd.quantity
        p = self.params
        while left and prices:
            best = prices[0]
            if cmd.price is not None and (best > cmd.price if cmd.side is Side.BUY else best < cmd.price):
                break
            lv = levels[best]
            top = lv.top if p.top_order else None
            fills = allocate(left, [(i, e[1]) for i, e in enumerate(lv.orders)], min_allocation=p.min_allocation,
                             top=None if top is None else next((i for i, e in enumerate(lv.orders)
                                                                if e[0].order_id == top), None),
                             top_cap=p.top_cap or None)
            for i, q in fills:
                other = lv.orders[i][0]
                lv.orders[i][1] -= q
                left -= q
                buy, sell = (cmd, other) if cmd.side is Side.BUY else (other, cmd)
                events.append(Trade(ts, self.next_trade_id(), cmd.symbol, best, q, buy.order_id, sell.order_id,
                                    buy.trader, sell.trader, cmd.side))
                self.last_price[cmd.symbol] = best
            for e in lv.orders:
                if not e[1]:
                    self.where.pop(e[0].order_id, None)
                    self.done(e[0].order_id)
            lv.orders = [e for e in lv.orders if e[1]]
            if lv.top is not None and all(e[0].order_id != lv.top for e in lv.orders):
                lv.top = None
            if not lv.orders:
                del levels[best]
                prices.remove(best)
        if not left:
            self.done(cmd.order_id)
            return
        if cmd.order_type is OrderType.MARKET or cmd.tif is TimeInForce.IOC:
            self.done(cmd.order_id)
            events.append(self.cancelled(ts, cmd, left, CancelReason.IOC_REMAINDER if cmd.order_type is
                                         OrderType.LIMIT else CancelReason.NO_LIQUIDITY))
            return
        self._rest(cmd, left)

    def _rest(self, cmd: NewOrder, qty: int) -> None:
        levels, prices = self.levels[cmd.symbol][cmd.side], self.prices[cmd.symbol][cmd.side]
        lv = levels.get(cmd.price)
        if lv is None:
            betters = not prices or (cmd.price > prices[0] if cmd.side is Side.BUY else cmd.price < prices[0])
            lv = levels[cmd.price] = _Level()
            prices.add(cmd.price)
            if betters:
                lv.top = cmd.order_id
        lv.orders.append([cmd, qty])
        self.where[cmd.order_id] = (cmd.symbol, cmd.side, cmd.price)

    def _remove(self, order_id: int) -> list | None:
        symbol, side, price = self.where.pop(order_id)
        lv = self.levels[symbol][side][price]
        for i, e in enumerate(lv.orders):
            if e[0].order_id == order_id:
                del lv.orders[i]
                break
        if lv.top == order_id:
            lv.top = None
        if not lv.orders:
            del self.levels[symbol][side][price]
            self.prices[symbol][side].remove(price)
        return e

    def on_cancel(self, cmd: CancelOrder, symbol: str, ts: int, events: list[Event]) -> None:
        e = self._remove(cmd.order_id)
        self.done(cmd.order_id)
        events.append(self.cancelled(ts, e[0], e[1], CancelReason.USER))

    def on_modify(self, cmd: ModifyOrder, symbol: str, ts: int, events: list[Event]) -> None:
        sym, side, price = self.where[cmd.order_id]
        lv = self.levels[sym][side][price]
        e = next(e for e in lv.orders if e[0].order_id == cmd.order_id)
        qty = e[1] if cmd.quantity is None else cmd.quantity
        new_price = price if cmd.price is None else cmd.price
        if type(qty) is not int or qty <= 0 or type(new_price) is not int or new_price <= 0:
            events.append(OrderRejected(ts, cmd.order_id, cmd.trader, symbol, RejectReason.INVALID_QUANTITY,
                                        f"modify needs positive integer quantity and price, got {qty!r}, {new_price!r}"))
            return
        if new_price == price and qty <= e[1]:
            e[1] = qty
            events.append(self.modified(ts, e[0], qty, price, True))
            return
        self._remove(cmd.order_id)
        self.done(cmd.order_id)
        events.append(self.modified(ts, e[0], qty, new_price, False))
        sub: list[Event] = []
        self.on_new(replace(e[0], quantity=qty, price=new_price), ts, sub)
        events.extend(ev for ev in sub if not type(ev).__name__ == "OrderAccepted")

    def depth(self, symbol: str, levels: int = 10):
        out = []
        for side in (Side.BUY, Side.SELL):
            lv, pr = self.levels[symbol][side], self.prices[symbol][side]
            out.append([(p, sum(e[1] for e in lv[p].orders)) for p in pr[:levels]])
        return out[0], out[1]

    def end_session(self, ts: int) -> list[Event]:
        events: list[Event] = []
        for oid in [o for o in self.where]:
            sym, side, price = self.where[oid]
            e = next(e for e in self.levels[sym][side][price].orders if e[0].order_id == oid)
            if e[0].tif is TimeInForce.DAY:
                self._remove(oid)
                self.done(oid)
                events.append(self.cancelled(ts, e[0], e[1], CancelReason.EXPIRED))
        return events
