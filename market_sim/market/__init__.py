"""The exchange core: order books, the matching engine, market data and CSV replay."""

from market_sim.market.book import OrderBook
from market_sim.market.engine import MatchingEngine
from market_sim.market.order import OrderState, OrderStatus
from market_sim.market.stats import MarketStats

__all__ = ["MatchingEngine", "OrderBook", "OrderState", "OrderStatus", "MarketStats"]
