"""The trade-validation boundary between a venue and whoever must approve its trades (e.g. validator nodes)."""

from __future__ import annotations

from typing import Protocol

from market_sim.core.events import Trade
from market_sim.core.orders import NewOrder

__all__ = ["TradeValidator"]


class TradeValidator(Protocol):
    def validate_trade(self, trade: Trade, buy: NewOrder, sell: NewOrder) -> str | None:
        """Approve a proposed trade (return None) or refuse it (return the reason).

        Called by the venue before any book state changes, with the two orders the trade claims to match.
        """
        ...
