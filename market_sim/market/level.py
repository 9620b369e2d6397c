"""Price levels (FIFO queues of resting orders) and one side of a book (the ladder of levels, best first)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from typing import TYPE_CHECKING

from market_sim.core.orders import Side
from market_sim.market.order import RestingOrder

if TYPE_CHECKING:  # book.py imports this module
    from market_sim.market.book import OrderBook

__all__ = ["PriceLevel", "BookSide"]


class PriceLevel:
    """All orders resting at one price on one side, in time priority (head first).

    `qty` counts every open lot (hidden orders and iceberg reserves included: what an aggressor can take);
    `shown` counts the lots market data displays.
    """

    __slots__ = ("price", "side", "ladder", "head", "tail", "qty", "shown")

    def __init__(self, price: int, ladder: BookSide) -> None:
        self.price = price
        self.side = ladder.side
        self.ladder = ladder
        self.head: RestingOrder | None = None
        self.tail: RestingOrder | None = None
        self.qty = 0
        self.shown = 0

    def append(self, order: RestingOrder) -> None:
        """Queue an order at the back of the level (lowest time priority)."""
        tail = self.tail
        order.prev = tail
        order.next = None
        if tail is None:
            self.head = order
        else:
            tail.next = order
        self.tail = order

    def unlink(self, order: RestingOrder) -> None:
        """Take an order out of the queue in O(1); quantities are the caller's business."""
        prev, nxt = order.prev, order.next
        if prev is None:
            self.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            self.tail = prev
        else:
            nxt.prev = prev
        order.prev = order.next = None

    def orders(self) -> Iterator[RestingOrder]:
        """Orders in time priority."""
        o = self.head
        while o is not None:
            yield o
            o = o.next


class BookSide:
    """The levels of one side keyed by price, with a sorted price ladder and the best price cached.

    The ladder is a plain sorted list kept with the C `bisect` functions: adding or dropping a level moves the
    pointers behind it (a memmove), which at the level counts of real books (hundreds to a few thousand per side)
    costs far less than a SortedList's Python-level bookkeeping (measured: docs/benchmarks.md, Replay).
    """

    __slots__ = ("side", "book", "levels", "prices", "best")

    def __init__(self, side: Side, book: OrderBook) -> None:
        self.side = side
        self.book = book  # the OrderBook this side belongs to
        self.levels: dict[int, PriceLevel] = {}
        self.prices: list[int] = []  # ascending
        self.best: int | None = None  # highest bid / lowest ask, hidden orders included

    def new_level(self, price: int) -> PriceLevel:
        """Create the (absent) level at `price` and put it on the ladder."""
        level = PriceLevel(price, self)
        self.levels[price] = level
        insort(self.prices, price)
        best = self.best
        if best is None or (price > best if self.side is Side.BUY else price < best):
            self.best = price
        return level

    def drop_level(self, level: PriceLevel) -> None:
        """Remove an emptied level from the ladder."""
        price = level.price
        del self.levels[price]
        prices = self.prices
        del prices[bisect_left(prices, price)]
        if price == self.best:
            self.best = (prices[-1] if self.side is Side.BUY else prices[0]) if prices else None

    def price_after(self, price: int) -> int | None:
        """The next price behind `price` in priority order (lower for bids, higher for asks), if any."""
        prices = self.prices
        if self.side is Side.BUY:
            i = bisect_left(prices, price)
            return prices[i - 1] if i > 0 else None
        i = bisect_right(prices, price)
        return prices[i] if i < len(prices) else None

    def iter_levels(self) -> Iterator[PriceLevel]:
        """Levels best first."""
        levels = self.levels
        prices = reversed(self.prices) if self.side is Side.BUY else iter(self.prices)
        for price in prices:
            yield levels[price]

    def crosses(self, price: int) -> bool:
        """True if an opposite-side order at `price` would trade against this side."""
        best = self.best
        if best is None:
            return False
        return price <= best if self.side is Side.BUY else price >= best
