"""The order book of one instrument: bid and ask ladders, pending stops, and its market-data views."""

from __future__ import annotations

from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.market.level import BookSide, PriceLevel
from market_sim.market.order import OrderState, resting_state
from market_sim.market.stats import MarketStats

__all__ = ["OrderBook"]


class OrderBook:
    """Resting orders of one instrument in price-time priority. Mutated only by the MatchingEngine."""

    __slots__ = ("instrument", "symbol", "bids", "asks", "buy_stops", "sell_stops", "day_orders",
                 "last_price", "volume", "notional", "trade_count")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.bids = BookSide(Side.BUY, self)
        self.asks = BookSide(Side.SELL, self)
        # heaps of (trigger key, sequence, order_id, NewOrder): buy stops keyed by stop price, sell stops by -stop
        self.buy_stops: list[tuple[int, int, int, NewOrder]] = []
        self.sell_stops: list[tuple[int, int, int, NewOrder]] = []
        self.day_orders: dict[int, None] = {}  # ids of DAY orders submitted this session (insertion ordered)
        self.last_price: int | None = None
        self.volume = 0
        self.notional = 0
        self.trade_count = 0

    def side(self, side: Side) -> BookSide:
        """The ladder holding orders of `side`."""
        return self.bids if side is Side.BUY else self.asks

    @staticmethod
    def _top(book_side: BookSide) -> tuple[int, int] | None:
        best = book_side.best
        if best is None:
            return None
        level = book_side.levels[best]
        if level.shown:
            return best, level.shown
        for level in book_side.iter_levels():  # the best level holds only hidden orders
            if level.shown:
                return level.price, level.shown
        return None

    def best_bid(self) -> tuple[int, int] | None:
        """Highest displayed bid as (price, displayed lots), or None."""
        return self._top(self.bids)

    def best_ask(self) -> tuple[int, int] | None:
        """Lowest displayed ask as (price, displayed lots), or None."""
        return self._top(self.asks)

    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """L2: up to `levels` displayed (price, lots) levels per side, best first."""
        def side_depth(book_side: BookSide) -> list[tuple[int, int]]:
            out: list[tuple[int, int]] = []
            for level in book_side.iter_levels():
                if len(out) >= levels:
                    break
                if level.shown:
                    out.append((level.price, level.shown))
            return out

        return side_depth(self.bids), side_depth(self.asks)

    def l3(self, include_hidden: bool = False) -> tuple[list[OrderState], list[OrderState]]:
        """L3: every resting order per side in priority order (best price first, then time).

        Hidden orders are left out unless `include_hidden`; icebergs show their visible slice as `displayed`.
        """
        def side_orders(book_side: BookSide) -> list[OrderState]:
            return [resting_state(o, self.symbol) for level in book_side.iter_levels() for o in level.orders()
                    if include_hidden or not o.hidden]

        return side_orders(self.bids), side_orders(self.asks)

    def level(self, side: Side, price: int) -> PriceLevel | None:
        """The level at `price` on `side`, if any orders rest there."""
        return self.side(side).levels.get(price)

    def stats(self) -> MarketStats:
        """Last trade, volume, notional and trade count so far."""
        return MarketStats(self.symbol, self.last_price, self.volume, self.notional, self.trade_count)

    def __repr__(self) -> str:
        return f"OrderBook({self.symbol!r}, bid={self.best_bid()}, ask={self.best_ask()})"
