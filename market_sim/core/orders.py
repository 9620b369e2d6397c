"""Order commands sent to a venue: new, cancel, modify. Prices are integer ticks, quantities integer lots."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from market_sim.core.values import fast_init

__all__ = [
    "Side", "OrderType", "TimeInForce", "PostOnlyMode", "STPMode",
    "NewOrder", "CancelOrder", "ModifyOrder", "OrderCommand",
]


class Side(IntEnum):
    """Order side; the value is the sign of the position change (BUY +1, SELL -1)."""

    BUY = 1
    SELL = -1

    @property
    def opposite(self) -> "Side":
        return Side(-self.value)

    def __str__(self) -> str:
        return self.name.lower()


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP = "stop"              # stop-market: becomes a market order when triggered
    STOP_LIMIT = "stop_limit"  # becomes a limit order at `price` when triggered


class TimeInForce(StrEnum):
    GTC = "gtc"  # good till cancelled
    DAY = "day"  # expires at the end of the current session
    GTD = "gtd"  # expires at `expire_at` (ns)
    IOC = "ioc"  # fill what is possible now, cancel the rest
    FOK = "fok"  # fill entirely now or not at all
    OPG = "opg"  # at the opening: only for the opening call auction (MOO = MARKET+OPG, LOO = LIMIT+OPG)
    CLS = "cls"  # at the close: only for the closing call auction (MOC = MARKET+CLS, LOC = LIMIT+CLS)


class PostOnlyMode(StrEnum):
    REJECT = "reject"    # a post-only order that would take is rejected
    REPRICE = "reprice"  # ... or re-priced one tick behind the opposite best ("slide")


class STPMode(StrEnum):
    """Self-trade prevention: what happens when an order would trade against the same trader."""

    NONE = "none"
    CANCEL_NEWEST = "cancel_newest"
    CANCEL_OLDEST = "cancel_oldest"
    CANCEL_BOTH = "cancel_both"
    DECREMENT_AND_CANCEL = "decrement_and_cancel"


@fast_init
@dataclass(frozen=True, slots=True)
class NewOrder:
    """Submit an order. `order_id` is chosen by the submitter and must be unique per venue."""

    order_id: int
    trader: str
    symbol: str
    side: Side
    quantity: int                       # lots
    order_type: OrderType = OrderType.LIMIT
    price: int | None = None            # limit price in ticks (LIMIT, STOP_LIMIT)
    stop_price: int | None = None       # trigger price in ticks (STOP, STOP_LIMIT)
    tif: TimeInForce = TimeInForce.GTC
    expire_at: int | None = None        # ns, for GTD
    display_quantity: int | None = None  # iceberg: the visible part; None shows everything
    hidden: bool = False                 # rests without being shown in L2/L3 market data
    post_only: PostOnlyMode | None = None
    stp: STPMode = STPMode.NONE


@fast_init
@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel the remaining quantity of a resting (or pending stop) order."""

    order_id: int
    trader: str


@fast_init
@dataclass(frozen=True, slots=True)
class ModifyOrder:
    """Change quantity and/or price. Quantity decrease keeps priority; price change or increase loses it."""

    order_id: int
    trader: str
    quantity: int | None = None  # new total open quantity in lots
    price: int | None = None     # new limit price in ticks


OrderCommand = NewOrder | CancelOrder | ModifyOrder
