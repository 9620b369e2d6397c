"""Market data from the order book: top of book, L2 depth, L3 per order, order snapshots."""

from __future__ import annotations

from market_sim.core.orders import NewOrder, OrderType, TimeInForce
from market_sim.market import OrderStatus

from ._helpers import BUY, SELL, SYM, engine, limit, run


def _book():
    eng = engine()
    run(eng, limit(1, "a", BUY, 5, 99), limit(2, "b", BUY, 7, 99), limit(3, "a", BUY, 4, 97),
        limit(4, "h", BUY, 9, 100, hidden=True), limit(5, "c", SELL, 3, 101),
        limit(6, "i", SELL, 30, 102, display_quantity=10), limit(7, "c", SELL, 2, 104))
    return eng


def test_top_of_book_skips_hidden_only_levels():
    book = _book().book(SYM)
    assert book.best_bid() == (99, 12)
    assert book.best_ask() == (101, 3)
    assert book.bids.best == 100        # the engine itself sees the hidden bid
    assert engine().book(SYM).best_bid() is None


def test_depth_aggregates_displayed_quantity():
    book = _book().book(SYM)
    assert book.depth() == ([(99, 12), (97, 4)], [(101, 3), (102, 10), (104, 2)])
    assert book.depth(levels=1) == ([(99, 12)], [(101, 3)])


def test_l3_lists_orders_in_priority():
    book = _book().book(SYM)
    bids, asks = book.l3()
    assert [(s.order_id, s.price, s.quantity, s.displayed) for s in bids] == [(1, 99, 5, 5), (2, 99, 7, 7),
                                                                              (3, 97, 4, 4)]
    assert [(s.order_id, s.price, s.quantity, s.displayed) for s in asks] == [(5, 101, 3, 3), (6, 102, 30, 10),
                                                                              (7, 104, 2, 2)]
    bids, _ = book.l3(include_hidden=True)
    assert [(s.order_id, s.hidden, s.displayed) for s in bids][0] == (4, True, 0)
    assert book.level(SELL, 102).qty == 30 and book.level(SELL, 103) is None


def test_order_snapshots():
    eng = _book()
    run(eng, NewOrder(8, "s", SYM, SELL, 2, OrderType.STOP_LIMIT, 95, 96, tif=TimeInForce.DAY))
    s = eng.order(6)
    assert (s.trader, s.side, s.order_type, s.price, s.quantity, s.displayed, s.status) == (
        "i", SELL, OrderType.LIMIT, 102, 30, 10, OrderStatus.RESTING)
    p = eng.order(8)
    assert (p.status, p.stop_price, p.price, p.tif, p.displayed) == (OrderStatus.PENDING_STOP, 96, 95,
                                                                     TimeInForce.DAY, 0)
    assert eng.order(99) is None
    assert [x.order_id for x in eng.pending_stops(SYM)] == [8]
    assert eng.resting_count() == 7
    assert "OrderBook('XYZ'" in repr(eng.book(SYM))
