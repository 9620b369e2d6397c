"""Resting orders: the engine's mutable per-order record (a FIFO list node) and its immutable snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from typing import TYPE_CHECKING

from market_sim.core.orders import NewOrder, OrderType, Side, TimeInForce

if TYPE_CHECKING:  # level.py imports this module
    from market_sim.market.level import PriceLevel

__all__ = ["RestingOrder", "OrderState", "OrderStatus", "resting_state", "pending_state"]


class RestingOrder:
    """Live state of one order resting in the book; a node of its price level's doubly linked FIFO list.

    Kept deliberately small (one object, eight slots) because a book holds millions of them: side and price
    live on the level, and `spec` keeps the submitted NewOrder only when it carries anything beyond a plain
    GTC limit order (iceberg, hidden, expiry, post-only, self-trade prevention). The engine re-uses records of
    orders that left the book, so code outside it must not keep them (snapshots are OrderState values).
    """

    __slots__ = ("order_id", "trader", "qty", "shown", "prev", "next", "level", "spec")

    def __init__(self, order_id: int, trader: str, qty: int, shown: int, level: PriceLevel,
                 spec: NewOrder | None) -> None:
        self.order_id = order_id
        self.trader = trader
        self.qty = qty          # open quantity in lots, including an iceberg's reserve
        self.shown = shown      # lots matchable at the current queue position (an iceberg's visible slice)
        self.prev: RestingOrder | None = None
        self.next: RestingOrder | None = None
        self.level = level      # the PriceLevel holding it; None once it has left the book
        self.spec = spec

    @property
    def hidden(self) -> bool:
        """True if the order rests without being shown in market data."""
        return self.spec is not None and self.spec.hidden

    @property
    def displayed(self) -> int:
        """Lots shown in L2/L3 market data."""
        return 0 if self.hidden else self.shown

    def as_new_order(self, symbol: str, quantity: int, price: int) -> NewOrder:
        """This order as a NewOrder for `quantity` lots at `price` (e.g. how it now stands)."""
        spec = self.spec
        if spec is None:
            return NewOrder(self.order_id, self.trader, symbol, self.level.side, quantity, OrderType.LIMIT, price)
        return NewOrder(self.order_id, self.trader, symbol, spec.side, quantity, OrderType.LIMIT, price,
                        None, spec.tif, spec.expire_at, spec.display_quantity, spec.hidden, spec.post_only,
                        spec.stp)


class OrderStatus(StrEnum):
    """Where a live order is: in the book, or waiting for its stop price."""

    RESTING = "resting"
    PENDING_STOP = "pending_stop"


@dataclass(frozen=True, slots=True)
class OrderState:
    """Snapshot of a live order: resting in the book or a stop waiting for its trigger."""

    order_id: int
    trader: str
    symbol: str
    side: Side
    order_type: OrderType
    price: int | None        # current limit price in ticks (None for a pending stop-market order)
    stop_price: int | None
    quantity: int            # open lots, including an iceberg's hidden reserve
    displayed: int           # lots shown in market data
    tif: TimeInForce
    expire_at: int | None
    hidden: bool
    status: OrderStatus


def resting_state(order: RestingOrder, symbol: str) -> OrderState:
    """Snapshot of a resting order."""
    level = order.level
    spec = order.spec
    return OrderState(
        order_id=order.order_id, trader=order.trader, symbol=symbol, side=level.side, order_type=OrderType.LIMIT,
        price=level.price, stop_price=None, quantity=order.qty, displayed=order.displayed,
        tif=TimeInForce.GTC if spec is None else spec.tif, expire_at=None if spec is None else spec.expire_at,
        hidden=order.hidden, status=OrderStatus.RESTING)


def pending_state(cmd: NewOrder) -> OrderState:
    """Snapshot of a stop order waiting for its trigger."""
    return OrderState(
        order_id=cmd.order_id, trader=cmd.trader, symbol=cmd.symbol, side=cmd.side, order_type=cmd.order_type,
        price=cmd.price, stop_price=cmd.stop_price, quantity=cmd.quantity, displayed=0, tif=cmd.tif,
        expire_at=cmd.expire_at, hidden=cmd.hidden, status=OrderStatus.PENDING_STOP)
