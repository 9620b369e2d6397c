"""Pre-trade validation of order commands: which field is wrong, as a reject reason and a message."""

from __future__ import annotations

from market_sim.core.events import RejectReason
from market_sim.core.orders import NewOrder, OrderType, PostOnlyMode, Side, STPMode, TimeInForce

__all__ = ["check_new_order", "check_positive"]

Problem = tuple[RejectReason, str]

_RESTING_TIF = (TimeInForce.GTC, TimeInForce.DAY, TimeInForce.GTD)


def _positive_int(value: object) -> bool:
    return type(value) is int and value > 0


def check_positive(value: object, reason: RejectReason, what: str) -> Problem | None:
    """A positive integer (ticks or lots) or the reason it is not."""
    if _positive_int(value):
        return None
    return reason, f"{what} must be a positive integer, got {value!r}"


def check_new_order(cmd: NewOrder, ts: int, last_price: int | None) -> Problem | None:
    """Field-level checks of a new order (instrument, trader and id uniqueness are the engine's)."""
    if type(cmd.order_id) is not int:
        return RejectReason.INVALID_ORDER, f"order_id must be an integer, got {cmd.order_id!r}"
    if type(cmd.trader) is not str or not cmd.trader:
        return RejectReason.INVALID_ORDER, f"trader must be a non-empty string, got {cmd.trader!r}"
    side = cmd.side
    if side is not Side.BUY and side is not Side.SELL:
        return RejectReason.INVALID_ORDER, f"side must be Side.BUY or Side.SELL, got {side!r}"
    if not _positive_int(cmd.quantity):
        return RejectReason.INVALID_QUANTITY, f"quantity must be a positive integer of lots, got {cmd.quantity!r}"
    kind = cmd.order_type
    price, stop = cmd.price, cmd.stop_price
    if kind is OrderType.LIMIT or kind is OrderType.STOP_LIMIT:
        if not _positive_int(price):
            return RejectReason.INVALID_PRICE, f"{kind} order needs a positive integer price in ticks, got {price!r}"
    elif kind is OrderType.MARKET or kind is OrderType.STOP:
        if price is not None:
            return RejectReason.INVALID_PRICE, f"{kind} order must not have a limit price, got {price!r}"
    else:
        return RejectReason.INVALID_ORDER, f"unknown order type {kind!r}"
    if kind is OrderType.STOP or kind is OrderType.STOP_LIMIT:
        if not _positive_int(stop):
            return RejectReason.INVALID_STOP_PRICE, f"{kind} order needs a positive integer stop price, got {stop!r}"
        if last_price is not None:
            if side is Side.BUY and stop <= last_price:
                return (RejectReason.INVALID_STOP_PRICE,
                        f"buy stop price {stop} must be above the last trade price {last_price}")
            if side is Side.SELL and stop >= last_price:
                return (RejectReason.INVALID_STOP_PRICE,
                        f"sell stop price {stop} must be below the last trade price {last_price}")
    elif stop is not None:
        return RejectReason.INVALID_STOP_PRICE, f"{kind} order must not have a stop price, got {stop!r}"
    tif = cmd.tif
    if tif is TimeInForce.GTD:
        if type(cmd.expire_at) is not int or cmd.expire_at <= ts:
            return RejectReason.INVALID_EXPIRY, f"GTD order needs an integer expire_at after now ({ts}), got {cmd.expire_at!r}"
    elif type(tif) is not TimeInForce:
        return RejectReason.INVALID_ORDER, f"unknown time in force {tif!r}"
    elif tif is TimeInForce.OPG or tif is TimeInForce.CLS:
        return RejectReason.INVALID_ORDER, f"{tif} (on-open/on-close) orders need a call-auction venue"
    elif cmd.expire_at is not None:
        return RejectReason.INVALID_EXPIRY, f"expire_at is only allowed with GTD, got tif {tif}"
    display = cmd.display_quantity
    if display is not None:
        if not _positive_int(display) or display > cmd.quantity:
            return (RejectReason.INVALID_DISPLAY_QUANTITY,
                    f"display_quantity must be a positive integer <= quantity {cmd.quantity}, got {display!r}")
        if cmd.hidden:
            return RejectReason.INVALID_DISPLAY_QUANTITY, "an order cannot be both hidden and an iceberg"
        if kind is OrderType.MARKET or kind is OrderType.STOP:
            return RejectReason.INVALID_DISPLAY_QUANTITY, f"a {kind} order cannot be an iceberg"
    if cmd.post_only is not None:
        if type(cmd.post_only) is not PostOnlyMode:
            return RejectReason.INVALID_ORDER, f"unknown post-only mode {cmd.post_only!r}"
        if kind is not OrderType.LIMIT or tif not in _RESTING_TIF:
            return RejectReason.INVALID_ORDER, f"post-only needs a GTC/DAY/GTD limit order, got {kind} {tif}"
    if type(cmd.stp) is not STPMode:
        return RejectReason.INVALID_ORDER, f"unknown self-trade prevention mode {cmd.stp!r}"
    if type(cmd.hidden) is not bool:
        return RejectReason.INVALID_ORDER, f"hidden must be a bool, got {cmd.hidden!r}"
    return None
