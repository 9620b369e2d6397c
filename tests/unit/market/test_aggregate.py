"""Aggregate (L2) liquidity in the matching engine: one order per owner and level, resized in place, matched like any
resting order; off-book aggressors (a replayed tape) trading against resting orders."""

from __future__ import annotations

import pytest

from market_sim.core.errors import UnknownInstrumentError, ValidationError
from market_sim.core.events import OrderTriggered, Trade
from market_sim.core.orders import NewOrder, OrderType

from ._helpers import BUY, SELL, SYM, engine, fills, limit, market, resting, run


def test_set_creates_resizes_in_place_and_removes():
    eng = engine()
    bids = eng.aggregate_levels(SYM, BUY, "market")
    assert eng.aggregate_levels(SYM, BUY, "market") is bids
    assert bids.set(100, 10) == 0
    run(eng, limit(1, "a", BUY, 3, 100))
    assert bids.set(100, 15) == 10          # grows in place: still ahead of order 1
    assert resting(eng, BUY) == [(-1, 100, 15), (1, 100, 3)]
    assert eng.book(SYM).depth() == ([(100, 18)], [])
    assert bids.set(100, 0) == 15 and bids.get(100) == 0
    assert resting(eng, BUY) == [(1, 100, 3)] and eng.book(SYM).bids.levels[100].qty == 3
    assert bids.set(99, 4) == 0 and bids.set(99, 0) == 4 and 99 not in eng.book(SYM).bids.levels
    assert eng.set_aggregate(SYM, SELL, 102, 5, "market") == 0 and eng.aggregate(SYM, SELL, 102, "market") == 5


def test_aggregates_match_like_resting_orders_and_come_back_at_the_back():
    eng = engine()
    asks = eng.aggregate_levels(SYM, SELL, "market")
    asks.set(102, 5)
    run(eng, limit(1, "b", SELL, 2, 102))
    ev = run(eng, market(2, "a", BUY, 6))
    assert fills(ev) == [(2, -1, 102, 5), (2, 1, 102, 1)]   # the aggregate first (it came first), then order 1
    assert asks.get(102) == 0
    assert asks.set(102, 4) == 0                             # taken whole: a new aggregate, behind order 1
    assert resting(eng, SELL) == [(1, 102, 1), (-2, 102, 4)]


def test_trade_resting_keeps_the_queue_place_and_moves_the_stats():
    eng = engine()
    run(eng, limit(1, "a", BUY, 5, 100), limit(2, "b", BUY, 5, 100))
    ev = eng.trade_resting(1, 2, 7, "market")
    assert len(ev) == 1 and isinstance(ev[0], Trade)
    t = ev[0]
    assert (t.ts, t.price, t.quantity, t.buyer, t.seller, t.buy_order_id, t.sell_order_id, t.aggressor) == \
        (7, 100, 2, "a", "market", 1, 0, SELL)
    assert resting(eng, BUY) == [(1, 100, 3), (2, 100, 5)]
    eng.trade_resting(1, 3, 8, "market")
    assert resting(eng, BUY) == [(2, 100, 5)]
    s = eng.stats(SYM)
    assert (s.last_price, s.volume, s.trade_count) == (100, 5, 2)
    # a stop waiting on the last price triggers on an off-book trade too
    run(eng, NewOrder(3, "c", SYM, SELL, 1, OrderType.STOP, None, 99), limit(4, "d", BUY, 2, 99))
    ev = eng.trade_resting(4, 1, 9, "market", 77)          # last 99: c's stop enters and sells into order 2
    assert [type(e).__name__ for e in ev] == ["Trade", "OrderTriggered", "Trade"]
    assert isinstance(ev[1], OrderTriggered) and fills(ev) == [(4, 77, 99, 1), (2, 3, 100, 1)]
    with pytest.raises(ValidationError):
        eng.trade_resting(2, 6, 9, "market")
    with pytest.raises(ValidationError):
        eng.trade_resting(99, 1, 9, "market")


def test_bad_aggregate_input_is_refused():
    eng = engine()
    with pytest.raises(UnknownInstrumentError):
        eng.aggregate_levels("NOPE", BUY, "market")
    with pytest.raises(ValidationError):
        eng.aggregate_levels(SYM, "buy", "market")
    bids = eng.aggregate_levels(SYM, BUY, "market")
    for price, qty in ((0, 1), (100, -1), (100, 1.5), (1.0, 1)):
        with pytest.raises(ValidationError):
            bids.set(price, qty)
