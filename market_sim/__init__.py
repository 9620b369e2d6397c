"""market_sim: simulate markets with a matching engine, trading agents, validator consensus and on-chain settlement."""

from market_sim.core import (
    Instrument, MarketSimError, NewOrder, CancelOrder, ModifyOrder, Side, OrderType, TimeInForce, Trade,
)

__version__ = "0.1.0"

__all__ = [
    "__version__", "Instrument", "MarketSimError", "NewOrder", "CancelOrder", "ModifyOrder", "Side",
    "OrderType", "TimeInForce", "Trade",
]
