"""Exact fills for every order type and rule of the matching engine."""

from __future__ import annotations

import pytest

from market_sim.core.events import (
    BookUpdate, OrderAccepted, OrderModified, OrderRepriced, OrderTriggered, Trade,
)
from market_sim.core.orders import (
    CancelOrder, ModifyOrder, NewOrder, OrderType, PostOnlyMode, STPMode, TimeInForce,
)

from ._helpers import BUY, SELL, SYM, cancels, engine, fills, kinds, limit, market, rejects, resting, run, snapshot


# ------------------------------------------------------------------------------------------ price-time priority

def test_fifo_within_level_and_best_price_first():
    eng = engine()
    run(eng, limit(1, "s1", SELL, 10, 101), limit(2, "s2", SELL, 10, 101), limit(3, "s3", SELL, 5, 100))
    ev = run(eng, limit(4, "b", BUY, 22, 101))
    assert fills(ev) == [(4, 3, 100, 5), (4, 1, 101, 10), (4, 2, 101, 7)]
    assert resting(eng) == [(2, 101, 3)]
    assert [e.trade_id for e in ev if isinstance(e, Trade)] == [1, 2, 3]
    assert all(e.aggressor is BUY and e.buyer == "b" for e in ev if isinstance(e, Trade))


def test_trade_at_resting_price_and_remainder_rests():
    eng = engine()
    run(eng, limit(1, "s", SELL, 5, 100))
    ev = run(eng, limit(2, "b", BUY, 8, 105))
    assert fills(ev) == [(2, 1, 100, 5)]
    assert resting(eng) == [(2, 105, 3)]
    assert eng.book(SYM).best_bid() == (105, 3)
    assert eng.book(SYM).best_ask() is None


def test_sell_aggressor_walks_bids_from_highest():
    eng = engine()
    run(eng, limit(1, "b1", BUY, 4, 99), limit(2, "b2", BUY, 4, 100), limit(3, "b3", BUY, 4, 98))
    ev = run(eng, limit(4, "s", SELL, 10, 98))
    assert fills(ev) == [(2, 4, 100, 4), (1, 4, 99, 4), (3, 4, 98, 2)]
    assert all(e.aggressor is SELL for e in ev if isinstance(e, Trade))
    assert resting(eng) == [(3, 98, 2)]


def test_market_order_walks_the_book_and_cancels_the_rest():
    eng = engine()
    run(eng, limit(1, "s", SELL, 3, 100), limit(2, "s", SELL, 3, 110), limit(3, "s", SELL, 3, 200))
    ev = run(eng, market(4, "b", BUY, 12))
    assert fills(ev) == [(4, 1, 100, 3), (4, 2, 110, 3), (4, 3, 200, 3)]
    assert cancels(ev) == [(4, 3, "no_liquidity", 0)]
    assert resting(eng) == []
    ev = run(eng, market(5, "b", BUY, 1))
    assert kinds(ev) == ["OrderAccepted", "OrderCancelled"] and cancels(ev) == [(5, 1, "no_liquidity", 0)]


def test_market_stats_last_vwap_volume():
    eng = engine()
    run(eng, limit(1, "s", SELL, 2, 100), limit(2, "s", SELL, 2, 103), market(3, "b", BUY, 4))
    st = eng.stats(SYM)
    assert (st.last_price, st.volume, st.notional, st.trade_count) == (103, 4, 406, 2)
    assert st.vwap == pytest.approx(101.5)
    assert eng.stats(SYM).symbol == SYM


# ------------------------------------------------------------------------------------------ time in force

def test_ioc_fills_what_it_can_and_cancels_the_rest():
    eng = engine()
    run(eng, limit(1, "s", SELL, 3, 100), limit(2, "s", SELL, 3, 102))
    ev = run(eng, limit(3, "b", BUY, 10, 101, tif=TimeInForce.IOC))
    assert fills(ev) == [(3, 1, 100, 3)]
    assert cancels(ev) == [(3, 7, "ioc", 0)]
    assert resting(eng) == [(2, 102, 3)]


def test_fok_not_fillable_is_rejected_and_book_untouched():
    eng = engine()
    run(eng, limit(1, "s", SELL, 3, 100), limit(2, "s", SELL, 3, 102))
    before = snapshot(eng)
    ev = run(eng, limit(3, "b", BUY, 5, 101, tif=TimeInForce.FOK))   # only 3 within the limit
    assert rejects(ev) == [(3, "fok_not_fillable")] and kinds(ev) == ["OrderRejected"]
    assert snapshot(eng) == before
    ev = run(eng, limit(4, "b", BUY, 5, 102, tif=TimeInForce.FOK))
    assert fills(ev) == [(4, 1, 100, 3), (4, 2, 102, 2)]
    assert resting(eng) == [(2, 102, 1)]


def test_fok_market_and_fok_against_empty_book():
    eng = engine()
    ev = run(eng, market(1, "b", BUY, 5, tif=TimeInForce.FOK))
    assert rejects(ev) == [(1, "fok_not_fillable")]
    run(eng, limit(2, "s", SELL, 5, 100))
    ev = run(eng, market(3, "b", BUY, 5, tif=TimeInForce.FOK))
    assert fills(ev) == [(3, 2, 100, 5)]


def test_day_orders_expire_at_session_end():
    eng = engine()
    run(eng, limit(1, "a", BUY, 5, 99, tif=TimeInForce.DAY), limit(2, "a", BUY, 5, 98))
    ev = eng.end_session(10)
    assert cancels(ev) == [(1, 5, "expired", 0)]
    assert resting(eng) == [(2, 98, 5)]
    assert eng.end_session(11, SYM) == []


def test_gtd_orders_expire_by_expire_and_at_the_next_command():
    eng = engine()
    run(eng, limit(1, "a", BUY, 5, 99, tif=TimeInForce.GTD, expire_at=100),
         limit(2, "a", BUY, 5, 98, tif=TimeInForce.GTD, expire_at=200), ts=0)
    assert eng.expire(99) == []
    assert cancels(eng.expire(100)) == [(1, 5, "expired", 0)]
    ev = eng.process(limit(3, "s", SELL, 1, 98), 250)   # order 2 expired before this sell could hit it
    assert cancels(ev) == [(2, 5, "expired", 0)]
    assert fills(ev) == [] and resting(eng) == [(3, 98, 1)]


# ------------------------------------------------------------------------------------------ post-only

def test_post_only_reject_when_it_would_take():
    eng = engine()
    run(eng, limit(1, "s", SELL, 5, 100))
    before = snapshot(eng)
    ev = run(eng, limit(2, "b", BUY, 5, 100, post_only=PostOnlyMode.REJECT))
    assert rejects(ev) == [(2, "post_only_would_take")]
    assert snapshot(eng) == before
    ev = run(eng, limit(3, "b", BUY, 5, 99, post_only=PostOnlyMode.REJECT))
    assert kinds(ev) == ["OrderAccepted"] and resting(eng, BUY) == [(3, 99, 5)]


def test_post_only_reprice_slides_behind_the_opposite_best():
    eng = engine()
    run(eng, limit(1, "s", SELL, 5, 100), limit(2, "b", BUY, 5, 95))
    ev = run(eng, limit(3, "b", BUY, 5, 103, post_only=PostOnlyMode.REPRICE))
    assert kinds(ev) == ["OrderAccepted", "OrderRepriced"] and ev[1].price == 99
    ev = run(eng, limit(4, "s", SELL, 5, 90, post_only=PostOnlyMode.REPRICE))
    assert ev[1] == OrderRepriced(0, 4, "s", SYM, 100)
    assert fills(ev) == []
    assert resting(eng) == [(3, 99, 5), (2, 95, 5), (1, 100, 5), (4, 100, 5)]


# ------------------------------------------------------------------------------------------ iceberg / hidden

def test_iceberg_shows_slice_and_refresh_loses_priority():
    eng = engine()
    run(eng, limit(1, "ice", SELL, 100, 100, display_quantity=20), limit(2, "s", SELL, 30, 100))
    assert eng.book(SYM).depth() == ([], [(100, 50)])
    ev = run(eng, limit(3, "b", BUY, 50, 100))
    # 20 from the iceberg's slice, which refreshes behind order 2; then order 2's 30
    assert fills(ev) == [(3, 1, 100, 20), (3, 2, 100, 30)]
    assert resting(eng) == [(1, 100, 80)]
    ev = run(eng, limit(4, "b", BUY, 45, 100))
    assert fills(ev) == [(4, 1, 100, 20), (4, 1, 100, 20), (4, 1, 100, 5)]
    assert eng.book(SYM).depth() == ([], [(100, 15)])
    bids, asks = eng.book(SYM).l3()
    assert (asks[0].quantity, asks[0].displayed) == (35, 15)


def test_iceberg_refresh_goes_behind_later_arrivals():
    eng = engine()
    run(eng, limit(1, "ice", SELL, 40, 100, display_quantity=10), limit(2, "s", SELL, 10, 100))
    assert fills(run(eng, limit(3, "b", BUY, 10, 100))) == [(3, 1, 100, 10)]
    assert fills(run(eng, limit(4, "b", BUY, 10, 100))) == [(4, 2, 100, 10)]
    assert fills(run(eng, limit(5, "b", BUY, 10, 100))) == [(5, 1, 100, 10)]


def test_hidden_order_matches_but_is_not_shown():
    eng = engine()
    run(eng, limit(1, "h", SELL, 10, 100, hidden=True), limit(2, "s", SELL, 5, 101))
    book = eng.book(SYM)
    assert book.best_ask() == (101, 5)
    assert book.depth() == ([], [(101, 5)])
    assert [s.order_id for s in book.l3()[1]] == [2]
    assert [s.order_id for s in book.l3(include_hidden=True)[1]] == [1, 2]
    ev = run(eng, limit(3, "b", BUY, 12, 101))
    assert fills(ev) == [(3, 1, 100, 10), (3, 2, 101, 2)]


def test_hidden_order_prevents_crossing_book():
    eng = engine()
    run(eng, limit(1, "h", SELL, 10, 100, hidden=True))
    ev = run(eng, limit(2, "b", BUY, 4, 100))
    assert fills(ev) == [(2, 1, 100, 4)]
    assert resting(eng) == [(1, 100, 6)]


# ------------------------------------------------------------------------------------------ cancel / modify

def test_cancel_removes_order_and_reports_quantity():
    eng = engine()
    run(eng, limit(1, "a", BUY, 10, 99), limit(2, "a", BUY, 5, 99), limit(3, "s", SELL, 4, 99))
    ev = run(eng, CancelOrder(1, "a"))
    assert cancels(ev) == [(1, 6, "user", 0)]
    assert resting(eng) == [(2, 99, 5)]
    assert eng.order(1) is None


def test_cancel_unknown_and_foreign_orders_are_rejected_without_effect():
    eng = engine()
    run(eng, limit(1, "a", BUY, 10, 99))
    before = snapshot(eng)
    assert rejects(run(eng, CancelOrder(9, "a"))) == [(9, "unknown_order")]
    assert rejects(run(eng, CancelOrder(1, "mallory"))) == [(1, "not_owner")]
    assert rejects(run(eng, ModifyOrder(1, "mallory", quantity=1))) == [(1, "not_owner")]
    assert snapshot(eng) == before


def test_modify_decrease_keeps_priority():
    eng = engine()
    run(eng, limit(1, "a", SELL, 10, 100), limit(2, "b", SELL, 10, 100))
    ev = run(eng, ModifyOrder(1, "a", quantity=4))
    assert ev == [OrderModified(0, 1, "a", SYM, 4, 100, True)]
    assert fills(run(eng, limit(3, "c", BUY, 6, 100))) == [(3, 1, 100, 4), (3, 2, 100, 2)]


def test_modify_increase_loses_priority():
    eng = engine()
    run(eng, limit(1, "a", SELL, 10, 100), limit(2, "b", SELL, 10, 100))
    ev = run(eng, ModifyOrder(1, "a", quantity=12))
    assert ev == [OrderModified(0, 1, "a", SYM, 12, 100, False)]
    assert resting(eng) == [(2, 100, 10), (1, 100, 12)]


def test_modify_price_moves_order_and_can_trade():
    eng = engine()
    run(eng, limit(1, "a", SELL, 10, 101), limit(2, "b", SELL, 10, 100), limit(3, "c", BUY, 4, 99))
    ev = run(eng, ModifyOrder(1, "a", price=100))
    assert ev[0].priority_kept is False
    assert resting(eng, SELL) == [(2, 100, 10), (1, 100, 10)]
    ev = run(eng, ModifyOrder(3, "c", price=100, quantity=15))
    assert kinds(ev)[0] == "OrderModified"
    assert fills(ev) == [(3, 2, 100, 10), (3, 1, 100, 5)]
    assert resting(eng) == [(1, 100, 5)]


def test_modify_invalid_values_rejected():
    eng = engine()
    run(eng, limit(1, "a", SELL, 10, 101))
    before = snapshot(eng)
    assert rejects(run(eng, ModifyOrder(1, "a", quantity=0))) == [(1, "invalid_quantity")]
    assert rejects(run(eng, ModifyOrder(1, "a", price=-5))) == [(1, "invalid_price")]
    assert rejects(run(eng, ModifyOrder(1, "a"))) == [(1, "invalid_order")]
    assert rejects(run(eng, ModifyOrder(7, "a", quantity=3))) == [(7, "unknown_order")]
    assert snapshot(eng) == before


def test_modify_post_only_reject_leaves_order():
    eng = engine()
    run(eng, limit(1, "s", SELL, 5, 100), limit(2, "b", BUY, 5, 98, post_only=PostOnlyMode.REJECT))
    before = snapshot(eng)
    assert rejects(run(eng, ModifyOrder(2, "b", price=100))) == [(2, "post_only_would_take")]
    assert snapshot(eng) == before


# ------------------------------------------------------------------------------------------ self-trade prevention

def _stp_book():
    eng = engine()
    run(eng, limit(1, "bob", SELL, 10, 100), limit(2, "alice", SELL, 5, 100), limit(3, "bob", SELL, 5, 101))
    return eng


def test_stp_cancel_newest():
    eng = _stp_book()
    ev = run(eng, limit(4, "alice", BUY, 20, 101, stp=STPMode.CANCEL_NEWEST))
    assert fills(ev) == [(4, 1, 100, 10)]
    assert cancels(ev) == [(4, 10, "self_trade", 0)]
    assert resting(eng) == [(2, 100, 5), (3, 101, 5)]


def test_stp_cancel_oldest():
    eng = _stp_book()
    ev = run(eng, limit(4, "alice", BUY, 20, 101, stp=STPMode.CANCEL_OLDEST))
    assert fills(ev) == [(4, 1, 100, 10), (4, 3, 101, 5)]
    assert cancels(ev) == [(2, 5, "self_trade", 0)]
    assert resting(eng) == [(4, 101, 5)]


def test_stp_cancel_both():
    eng = _stp_book()
    ev = run(eng, limit(4, "alice", BUY, 20, 101, stp=STPMode.CANCEL_BOTH))
    assert fills(ev) == [(4, 1, 100, 10)]
    assert cancels(ev) == [(2, 5, "self_trade", 0), (4, 10, "self_trade", 0)]
    assert resting(eng) == [(3, 101, 5)]


def test_stp_decrement_and_cancel_smaller_resting():
    eng = _stp_book()
    ev = run(eng, limit(4, "alice", BUY, 20, 101, stp=STPMode.DECREMENT_AND_CANCEL))
    # 10 traded with bob; 5 decremented against alice's own order 2 (gone); 5 more traded with bob at 101
    assert fills(ev) == [(4, 1, 100, 10), (4, 3, 101, 5)]
    assert cancels(ev) == [(2, 5, "self_trade", 0), (4, 5, "self_trade", 5)]
    assert resting(eng) == []


def test_stp_decrement_and_cancel_larger_resting_keeps_priority():
    eng = engine()
    run(eng, limit(1, "alice", SELL, 30, 100), limit(2, "bob", SELL, 5, 100))
    ev = run(eng, limit(3, "alice", BUY, 10, 100, stp=STPMode.DECREMENT_AND_CANCEL))
    assert fills(ev) == []
    assert cancels(ev) == [(1, 10, "self_trade", 20), (3, 10, "self_trade", 0)]
    assert resting(eng) == [(1, 100, 20), (2, 100, 5)]


def test_stp_none_allows_self_trade():
    eng = engine()
    run(eng, limit(1, "alice", SELL, 5, 100))
    assert fills(run(eng, limit(2, "alice", BUY, 5, 100))) == [(2, 1, 100, 5)]


def test_fok_with_stp_counts_only_tradable_liquidity():
    eng = _stp_book()
    ev = run(eng, limit(4, "alice", BUY, 15, 101, tif=TimeInForce.FOK, stp=STPMode.CANCEL_NEWEST))
    assert rejects(ev) == [(4, "fok_not_fillable")]
    ev = run(eng, limit(5, "alice", BUY, 15, 101, tif=TimeInForce.FOK, stp=STPMode.CANCEL_OLDEST))
    assert fills(ev) == [(5, 1, 100, 10), (5, 3, 101, 5)]


@pytest.mark.parametrize("stp", [STPMode.CANCEL_NEWEST, STPMode.CANCEL_BOTH, STPMode.DECREMENT_AND_CANCEL])
def test_fok_with_stp_counts_only_the_iceberg_slice_ahead_of_an_own_order(stp):
    # issue 11 repro: b's iceberg (10, showing 2) is ahead of a's own order; only its 2-lot slice can trade
    # before the walk meets a's order (the reserve refreshes behind it), so a 5-lot FOK must be rejected.
    eng = engine()
    run(eng, limit(1, "b", BUY, 10, 1000, display_quantity=2), limit(2, "a", BUY, 5, 1000))
    before = snapshot(eng)
    ev = run(eng, limit(3, "a", SELL, 5, 1000, tif=TimeInForce.FOK, stp=stp))
    assert kinds(ev) == ["OrderRejected"] and rejects(ev) == [(3, "fok_not_fillable")]
    assert snapshot(eng) == before
    ev = run(eng, limit(4, "a", SELL, 2, 1000, tif=TimeInForce.FOK, stp=stp))   # the slice itself is fillable
    assert fills(ev) == [(1, 4, 1000, 2)] and cancels(ev) == []


def test_fok_with_stp_reaches_iceberg_reserves_on_levels_without_own_orders():
    eng = engine()
    run(eng, limit(1, "b", BUY, 10, 1000, display_quantity=2), limit(2, "c", BUY, 3, 1000, hidden=True),
        limit(3, "a", BUY, 5, 999))
    ev = run(eng, limit(4, "a", SELL, 13, 999, tif=TimeInForce.FOK, stp=STPMode.CANCEL_NEWEST))
    assert fills(ev) == [(1, 4, 1000, 2), (2, 4, 1000, 3), (1, 4, 1000, 2), (1, 4, 1000, 2), (1, 4, 1000, 2),
                         (1, 4, 1000, 2)]
    assert resting(eng) == [(3, 999, 5)]
    ev = run(eng, limit(5, "b", BUY, 4, 999), limit(6, "a", SELL, 5, 999, tif=TimeInForce.FOK,
                                                     stp=STPMode.CANCEL_BOTH))
    assert rejects(ev) == [(6, "fok_not_fillable")]   # the own order at 999 is ahead of b's 4 lots


# ------------------------------------------------------------------------------------------ stops

def test_buy_stop_triggers_on_last_trade_and_enters_as_market():
    eng = engine()
    run(eng, limit(1, "s", SELL, 5, 100), limit(2, "s", SELL, 5, 102), limit(3, "s", SELL, 5, 105))
    ev = run(eng, NewOrder(4, "t", SYM, BUY, 6, OrderType.STOP, stop_price=102))
    assert kinds(ev) == ["OrderAccepted"] and eng.order(4).status == "pending_stop"
    ev = run(eng, limit(5, "b", BUY, 5, 100))     # last = 100: not yet
    assert [k for k in kinds(ev) if k == "OrderTriggered"] == []
    ev = run(eng, limit(6, "b", BUY, 1, 102))     # last = 102: trigger
    assert kinds(ev) == ["OrderAccepted", "Trade", "OrderTriggered", "Trade", "Trade"]
    assert ev[2] == OrderTriggered(0, 4, "t", SYM, 102)
    assert fills(ev) == [(6, 2, 102, 1), (4, 2, 102, 4), (4, 3, 105, 2)]
    assert eng.order(4) is None


def test_stop_limit_rests_at_limit_after_trigger():
    eng = engine()
    run(eng, limit(1, "b", BUY, 5, 100), limit(2, "b", BUY, 5, 95))
    run(eng, NewOrder(3, "t", SYM, SELL, 8, OrderType.STOP_LIMIT, price=99, stop_price=100))
    ev = run(eng, limit(4, "s", SELL, 1, 100))    # a trade at 100 triggers the sell stop-limit at 99
    assert fills(ev) == [(1, 4, 100, 1), (1, 3, 100, 4)]
    assert resting(eng) == [(2, 95, 5), (3, 99, 4)]
    assert eng.order(3).order_type is OrderType.LIMIT


def test_stop_cascade():
    eng = engine()
    run(eng, limit(1, "b", BUY, 2, 100), limit(2, "b", BUY, 2, 99), limit(3, "b", BUY, 2, 98),
         limit(4, "b", BUY, 2, 97))
    run(eng, limit(90, "x", SELL, 1, 101), limit(91, "y", BUY, 1, 101))   # last trade = 101
    run(eng, NewOrder(5, "t1", SYM, SELL, 2, OrderType.STOP, stop_price=100),
        NewOrder(6, "t2", SYM, SELL, 2, OrderType.STOP, stop_price=99),
        NewOrder(7, "t3", SYM, SELL, 1, OrderType.STOP, stop_price=97))
    ev = run(eng, market(8, "s", SELL, 1))   # trade at 100 -> stop 5 trades down to 99 -> stop 6 trades at 98
    assert fills(ev) == [(1, 8, 100, 1), (1, 5, 100, 1), (2, 5, 99, 1), (2, 6, 99, 1), (3, 6, 98, 1)]
    assert [e.order_id for e in ev if isinstance(e, OrderTriggered)] == [5, 6]
    assert eng.order(7).status == "pending_stop"      # last trade 98 > 97: still waiting
    ev = run(eng, market(9, "s", SELL, 2))
    assert fills(ev) == [(3, 9, 98, 1), (4, 9, 97, 1), (4, 7, 97, 1)]
    assert [e.order_id for e in ev if isinstance(e, OrderTriggered)] == [7]
    assert resting(eng) == []


def test_stop_price_must_be_beyond_last_trade():
    eng = engine()
    run(eng, limit(1, "s", SELL, 1, 100), limit(2, "b", BUY, 1, 100))
    before = snapshot(eng)
    assert rejects(run(eng, NewOrder(3, "t", SYM, BUY, 1, OrderType.STOP, stop_price=100))) == [
        (3, "invalid_stop_price")]
    assert rejects(run(eng, NewOrder(4, "t", SYM, SELL, 1, OrderType.STOP, stop_price=101))) == [
        (4, "invalid_stop_price")]
    assert snapshot(eng) == before


def test_pending_stop_cancel_modify_and_expiry():
    eng = engine()
    run(eng, NewOrder(1, "t", SYM, BUY, 3, OrderType.STOP_LIMIT, price=105, stop_price=104),
        NewOrder(2, "t", SYM, BUY, 3, OrderType.STOP, stop_price=104, tif=TimeInForce.DAY))
    ev = run(eng, ModifyOrder(1, "t", quantity=5, price=106))
    assert ev == [OrderModified(0, 1, "t", SYM, 5, 106, False)]
    assert (eng.order(1).quantity, eng.order(1).price) == (5, 106)
    assert rejects(run(eng, ModifyOrder(2, "t", price=3))) == [(2, "invalid_price")]
    assert cancels(eng.end_session(5)) == [(2, 3, "expired", 0)]
    assert cancels(run(eng, CancelOrder(1, "t"))) == [(1, 5, "user", 0)]
    assert eng.pending_stops(SYM) == []


# ------------------------------------------------------------------------------------------ event stream

def test_book_updates_on_request_are_aggregated_per_level_and_can_be_switched_off():
    eng = engine()
    eng.emit_book_updates(True)
    assert eng.book_updates
    ev = run(eng, limit(1, "s", SELL, 5, 100))
    assert kinds(ev) == ["OrderAccepted", "BookUpdate"]
    assert ev[1] == BookUpdate(0, SYM, SELL, 100, 5)
    ev = run(eng, limit(2, "s", SELL, 5, 100), limit(3, "b", BUY, 7, 101))
    assert kinds(ev) == ["OrderAccepted", "Trade", "Trade", "BookUpdate"]
    assert ev[-1] == BookUpdate(0, SYM, SELL, 100, 3)
    eng.emit_book_updates(False)
    assert kinds(run(eng, CancelOrder(2, "s"))) == ["OrderCancelled"]


def test_book_updates_off_without_subscribers_and_on_when_asked():
    assert kinds(run(engine(), limit(1, "s", SELL, 5, 100))) == ["OrderAccepted"]
    eng = engine(book_updates=True)
    ev = run(eng, limit(1, "s", SELL, 5, 100), CancelOrder(1, "s"))
    assert ev[-1] == BookUpdate(0, SYM, SELL, 100, 0)


def test_order_accepted_carries_the_command():
    eng = engine()
    cmd = limit(1, "s", SELL, 5, 100)
    assert run(eng, cmd) == [OrderAccepted(0, cmd)]


def test_modify_post_only_reprice_slides_instead_of_taking():
    eng = engine()
    run(eng, limit(1, "s", SELL, 5, 100), limit(2, "b", BUY, 5, 97, post_only=PostOnlyMode.REPRICE))
    ev = run(eng, ModifyOrder(2, "b", price=101))
    assert ev == [OrderModified(0, 2, "b", SYM, 5, 99, False)] and fills(ev) == []
    assert resting(eng) == [(2, 99, 5), (1, 100, 5)]


def test_modify_iceberg_keeps_display_size_and_hidden_stays_hidden():
    eng = engine()
    run(eng, limit(1, "i", SELL, 30, 100, display_quantity=10), limit(2, "h", SELL, 8, 101, hidden=True))
    run(eng, ModifyOrder(1, "i", quantity=40, price=102), ModifyOrder(2, "h", price=103))
    bids, asks = eng.book(SYM).l3(include_hidden=True)
    assert [(s.order_id, s.price, s.quantity, s.displayed, s.hidden) for s in asks] == [
        (1, 102, 40, 10, False), (2, 103, 8, 0, True)]
    assert eng.book(SYM).depth() == ([], [(102, 10)])
    run(eng, ModifyOrder(1, "i", quantity=4))
    assert eng.book(SYM).depth() == ([], [(102, 4)])


def test_modified_day_and_gtd_orders_still_expire():
    eng = engine()
    run(eng, limit(1, "a", BUY, 5, 99, tif=TimeInForce.DAY),
        limit(2, "a", BUY, 5, 98, tif=TimeInForce.GTD, expire_at=50))
    run(eng, ModifyOrder(1, "a", price=97), ModifyOrder(2, "a", quantity=9))
    assert cancels(eng.expire(50)) == [(2, 9, "expired", 0)]
    assert cancels(eng.end_session(60)) == [(1, 5, "expired", 0)]
    assert resting(eng) == []


def test_hidden_changes_publish_no_book_updates():
    eng = engine(book_updates=True)
    ev = run(eng, limit(1, "h", SELL, 5, 100, hidden=True), CancelOrder(1, "h"))
    assert kinds(ev) == ["OrderCancelled"]


def test_trade_ids_are_venue_wide_and_sequential():
    from market_sim.core.instruments import Instrument
    from market_sim.market import MatchingEngine

    eng = MatchingEngine([Instrument("A"), Instrument("B")])
    ids = []
    for i, sym in enumerate(["A", "B", "A"]):
        eng.process(NewOrder(10 * i + 1, "s", sym, SELL, 1, price=5), 0)
        ids += [e.trade_id for e in eng.process(NewOrder(10 * i + 2, "b", sym, BUY, 1, price=5), 0)
                if isinstance(e, Trade)]
    assert ids == [1, 2, 3]
    assert eng.stats("A").trade_count == 2 and eng.stats("B").volume == 1


def test_gtd_stop_expires_and_triggered_fok_stop_cancels_when_unfillable():
    eng = engine()
    run(eng, NewOrder(1, "t", SYM, BUY, 3, OrderType.STOP, stop_price=105, tif=TimeInForce.GTD, expire_at=10),
        NewOrder(2, "t", SYM, SELL, 9, OrderType.STOP_LIMIT, price=99, stop_price=100, tif=TimeInForce.FOK))
    assert cancels(eng.expire(10)) == [(1, 3, "expired", 0)]
    ev = run(eng, limit(3, "s", SELL, 1, 100), limit(4, "b", BUY, 2, 100), ts=11)   # last 100: triggers order 2
    assert fills(ev) == [(4, 3, 100, 1)]
    assert kinds(ev)[-3:] == ["Trade", "OrderTriggered", "OrderCancelled"]
    assert cancels(ev) == [(2, 9, "ioc", 0)]
    assert resting(eng) == [(4, 100, 1)]


def test_iceberg_against_self_trade_decrement():
    eng = engine()
    run(eng, limit(1, "a", SELL, 50, 100, display_quantity=10))
    ev = run(eng, limit(2, "a", BUY, 15, 100, stp=STPMode.DECREMENT_AND_CANCEL))
    assert cancels(ev) == [(1, 15, "self_trade", 35), (2, 15, "self_trade", 0)]
    assert eng.book(SYM).depth() == ([], [(100, 10)])
    assert resting(eng) == [(1, 100, 35)]
