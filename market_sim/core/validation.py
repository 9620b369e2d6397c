"""The trade-validation boundary between a venue and whoever must approve its trades (e.g. validator nodes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from market_sim.core.events import Trade
from market_sim.core.orders import NewOrder

__all__ = ["TradeValidator", "ReportedOrder", "reported"]


@dataclass(frozen=True, slots=True)
class ReportedOrder(NewOrder):
    """An order as a venue shows it to a TradeValidator with a proposed trade: the NewOrder as the order stands
    before the trade (its open lots, its current price) and `version`, the venue's number for that state of it.

    The venue gives an order a new version (a number never used before, given at its first report) when it is
    accepted (a reused order id included), when it re-enters the book (a stop triggered, a modify crossing) and
    whenever a modify changes its quantity or price. Fills (and self-trade decrements), which only shrink the order, keep the version. So a report equal to an
    earlier one is the same state seen again, and a new version is a new state even with the quantity, price and
    flags of an earlier one (an order modified down and back up). A ReportedOrder never equals a plain NewOrder.
    """

    version: int = 0


def reported(order: NewOrder, quantity: int, version: int) -> ReportedOrder:
    """`order` with `quantity` open lots as version `version` of it."""
    return ReportedOrder(order.order_id, order.trader, order.symbol, order.side, quantity, order.order_type,
                         order.price, order.stop_price, order.tif, order.expire_at, order.display_quantity,
                         order.hidden, order.post_only, order.stp, version)


class TradeValidator(Protocol):
    def validate_trade(self, trade: Trade, buy: NewOrder, sell: NewOrder) -> str | None:
        """Approve a proposed trade (return None) or refuse it (return the reason).

        Called by the venue before any book state changes, with the two orders the trade claims to match, each as
        it stands before the trade (the matching engine passes ReportedOrders: with the version of that state).
        """
        ...
