"""Immutable events that venues publish: order lifecycle, trades and book changes.

Every event carries `ts`, the simulated time in integer nanoseconds at which it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from market_sim.core.orders import NewOrder, Side
from market_sim.core.values import fast_init

__all__ = [
    "RejectReason", "CancelReason",
    "Event", "OrderAccepted", "OrderRejected", "OrderCancelled", "OrderModified", "OrderTriggered",
    "OrderRepriced", "Trade", "TradeRejected", "BookUpdate", "AuctionIndicative", "TradingStatus",
]


class RejectReason(StrEnum):
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    UNKNOWN_TRADER = "unknown_trader"
    UNKNOWN_ORDER = "unknown_order"
    DUPLICATE_ORDER_ID = "duplicate_order_id"
    NOT_OWNER = "not_owner"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_PRICE = "invalid_price"
    INVALID_STOP_PRICE = "invalid_stop_price"
    INVALID_DISPLAY_QUANTITY = "invalid_display_quantity"
    INVALID_EXPIRY = "invalid_expiry"
    INVALID_ORDER = "invalid_order"
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    FOK_NOT_FILLABLE = "fok_not_fillable"
    MARKET_CLOSED = "market_closed"
    HALTED = "halted"                  # the instrument (or the market) is halted
    PRICE_BAND = "price_band"          # outside the LULD band, or (market_sim.risk) the fat-finger band
    WRONG_PHASE = "wrong_phase"        # e.g. an on-open order after the opening auction
    # pre-trade risk checks at the venue boundary (market_sim.risk), before matching
    MAX_ORDER_QUANTITY = "max_order_quantity"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    POSITION_LIMIT = "position_limit"
    BUYING_POWER = "buying_power"
    ORDER_RATE = "order_rate"
    KILL_SWITCH = "kill_switch"
    MARGIN_CALL = "margin_call"          # only risk-reducing orders while a margin call is open
    NO_LOCATE = "no_locate"              # a short sale without borrowable supply
    SHORT_SALE_RESTRICTED = "short_sale_restricted"


class CancelReason(StrEnum):
    USER = "user"                  # CancelOrder
    IOC_REMAINDER = "ioc"          # unfilled part of an IOC or market order
    NO_LIQUIDITY = "no_liquidity"  # market order with nothing (left) to trade against
    EXPIRED = "expired"            # DAY at session end, GTD at expire_at
    SELF_TRADE = "self_trade"      # self-trade prevention
    VALIDATOR = "validator"        # the trade validator refused the match and the order cannot go on
    KILL_SWITCH = "kill_switch"    # the risk engine's kill switch cancelled the trader's orders
    LIQUIDATION = "liquidation"    # the liquidation engine cancelled the account's orders before liquidating


@fast_init
@dataclass(frozen=True, slots=True)
class Event:
    ts: int


@fast_init
@dataclass(frozen=True, slots=True)
class OrderAccepted(Event):
    order: NewOrder


@fast_init
@dataclass(frozen=True, slots=True)
class OrderRejected(Event):
    order_id: int
    trader: str
    symbol: str
    reason: RejectReason
    message: str


@fast_init
@dataclass(frozen=True, slots=True)
class OrderCancelled(Event):
    order_id: int
    trader: str
    symbol: str
    cancelled_quantity: int  # lots removed from the book by this cancel
    reason: CancelReason
    remaining_quantity: int = 0  # lots still open after it (> 0 only for a partial, self-trade decrement)


@fast_init
@dataclass(frozen=True, slots=True)
class OrderModified(Event):
    order_id: int
    trader: str
    symbol: str
    quantity: int      # new open quantity in lots
    price: int | None  # ticks
    priority_kept: bool


@fast_init
@dataclass(frozen=True, slots=True)
class OrderRepriced(Event):
    """A post-only order re-priced so it does not take."""

    order_id: int
    trader: str
    symbol: str
    price: int


@fast_init
@dataclass(frozen=True, slots=True)
class OrderTriggered(Event):
    """A stop or stop-limit order whose stop price was reached; it now enters the book."""

    order_id: int
    trader: str
    symbol: str
    last_price: int


@fast_init
@dataclass(frozen=True, slots=True)
class Trade(Event):
    """A match between an aggressor and a resting order, at the resting order's price."""

    trade_id: int
    symbol: str
    price: int     # ticks
    quantity: int  # lots
    buy_order_id: int
    sell_order_id: int
    buyer: str
    seller: str
    aggressor: Side

    def involves(self, trader: str) -> bool:
        return trader == self.buyer or trader == self.seller


@fast_init
@dataclass(frozen=True, slots=True)
class TradeRejected(Event):
    """The trade validator refused a proposed match; both orders are left as if it had not happened."""

    symbol: str
    buy_order_id: int
    sell_order_id: int
    price: int
    quantity: int
    reason: str


@fast_init
@dataclass(frozen=True, slots=True)
class BookUpdate(Event):
    """Aggregated (L2) quantity now shown at one price level; 0 means the level is gone."""

    symbol: str
    side: Side
    price: int
    quantity: int


@fast_init
@dataclass(frozen=True, slots=True)
class AuctionIndicative(Event):
    """During a call (or a batch interval): the price the book would uncross at now, the lots that would trade and
    the imbalance (buy minus sell lots executable at that price; > 0: buyers left over). price None: no cross."""

    symbol: str
    price: int | None
    matched: int
    imbalance: int
    phase: str  # "open", "close", "volatility", "batch"


@fast_init
@dataclass(frozen=True, slots=True)
class TradingStatus(Event):
    """A symbol's trading phase changed: "open_call", "continuous", "close_call", "closed", "halted",
    "volatility_auction", "limit_state"; `reason` says why (a schedule, a band breach, a market-wide halt)."""

    symbol: str
    status: str
    reason: str = ""
