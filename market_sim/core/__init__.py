"""Core domain values shared by every package: money grid, instruments, orders, events, errors, clock."""

from market_sim.core.clock import NS_PER_MS, NS_PER_SECOND, NS_PER_US, Clock
from market_sim.core.errors import *  # noqa: F403
from market_sim.core.errors import __all__ as _errors_all
from market_sim.core.events import *  # noqa: F403
from market_sim.core.events import __all__ as _events_all
from market_sim.core.instruments import AssetClass, Instrument
from market_sim.core.money import from_units, to_decimal, to_units
from market_sim.core.orders import *  # noqa: F403
from market_sim.core.validation import ReportedOrder, TradeValidator
from market_sim.core.orders import __all__ as _orders_all

__all__ = [
    "Clock", "NS_PER_MS", "NS_PER_SECOND", "NS_PER_US", "AssetClass", "Instrument",
    "ReportedOrder", "TradeValidator", "from_units", "to_decimal", "to_units", *_errors_all, *_events_all, *_orders_all,
]
