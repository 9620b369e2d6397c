"""The TradeValidator boundary: consulted before any state changes; refusals leave both orders untouched."""

from __future__ import annotations

from market_sim.core.events import Trade, TradeRejected
from market_sim.core.orders import Side, TimeInForce

from ._helpers import BUY, SELL, SYM, cancels, engine, fills, kinds, limit, market, resting, run, snapshot


class Refuse:
    """Refuses every trade that involves one of `order_ids`; records what it was shown and the book at that time."""

    def __init__(self, *order_ids: int) -> None:
        self.refused = set(order_ids)
        self.calls = []
        self.engine = None

    def validate_trade(self, trade, buy, sell):
        state = None
        if self.engine is not None:
            resting_id = trade.sell_order_id if trade.aggressor is Side.BUY else trade.buy_order_id
            live = self.engine.order(resting_id)
            state = (live.quantity, self.engine.stats(SYM).trade_count)
        self.calls.append((trade, buy, sell, state))
        if self.refused & {trade.buy_order_id, trade.sell_order_id}:
            return f"refused {trade.trade_id}"
        return None


def _book(validator):
    eng = engine(validator=validator)
    validator.engine = eng
    run(eng, limit(1, "s1", SELL, 5, 100), limit(2, "s2", SELL, 5, 100), limit(3, "s3", SELL, 5, 101))
    return eng


def test_refused_trade_skips_resting_order_which_keeps_priority():
    v = Refuse(1)
    eng = _book(v)
    ev = run(eng, limit(4, "b", BUY, 8, 101))
    assert kinds(ev) == ["OrderAccepted", "TradeRejected", "Trade", "Trade"]
    assert ev[1] == TradeRejected(0, SYM, 4, 1, 100, 5, "refused 1")
    assert fills(ev) == [(4, 2, 100, 5), (4, 3, 101, 3)]
    assert [e.trade_id for e in ev if isinstance(e, Trade)] == [1, 2]   # refused proposals use no trade id
    assert resting(eng) == [(1, 100, 5), (3, 101, 2)]
    v.refused.clear()
    assert fills(run(eng, limit(5, "b", BUY, 5, 101))) == [(5, 1, 100, 5)]   # order 1 still first in line


def test_validator_runs_before_state_changes_and_sees_both_orders():
    v = Refuse()
    eng = _book(v)
    run(eng, limit(4, "b", BUY, 7, 100))
    (t1, buy1, sell1, state1), (t2, buy2, sell2, state2) = v.calls
    assert state1 == (5, 0) and state2 == (5, 1)        # resting quantity and trade count not yet changed
    assert (buy1.order_id, buy1.side, buy1.quantity, buy1.price) == (4, BUY, 7, 100)
    assert (sell1.order_id, sell1.side, sell1.quantity, sell1.price, sell1.trader) == (1, SELL, 5, 100, "s1")
    assert (buy2.quantity, sell2.order_id, t2.quantity) == (2, 2, 2)


def test_refusal_that_would_leave_a_crossed_book_cancels_the_remainder():
    v = Refuse(1)
    eng = _book(v)
    before_first = eng.order(1)
    ev = run(eng, limit(4, "b", BUY, 12, 100))
    assert fills(ev) == [(4, 2, 100, 5)]
    assert cancels(ev) == [(4, 7, "validator", 0)]
    assert eng.order(1) == before_first
    assert resting(eng) == [(1, 100, 5), (3, 101, 5)]


def test_refused_sell_side_and_ioc_market_remainders():
    v = Refuse(7)
    eng = engine(validator=v)
    run(eng, limit(7, "b", BUY, 5, 100))
    before = snapshot(eng)
    ev = run(eng, market(8, "s", SELL, 3))
    assert kinds(ev) == ["OrderAccepted", "TradeRejected", "OrderCancelled"]
    assert cancels(ev) == [(8, 3, "validator", 0)]
    ev = run(eng, limit(9, "s", SELL, 3, 100, tif=TimeInForce.IOC))
    assert cancels(ev) == [(9, 3, "validator", 0)]
    assert snapshot(eng) == before


def test_refusing_an_iceberg_does_not_loop():
    v = Refuse(1)
    eng = engine(validator=v)
    run(eng, limit(1, "ice", SELL, 50, 100, display_quantity=5), limit(2, "s", SELL, 3, 100))
    ev = run(eng, limit(3, "b", BUY, 10, 100))
    assert fills(ev) == [(3, 2, 100, 3)]
    assert cancels(ev) == [(3, 7, "validator", 0)]
    assert resting(eng) == [(1, 100, 50)]


def test_refusal_inside_a_stop_cascade():
    v = Refuse(5)
    eng = engine(validator=v)
    run(eng, limit(1, "b", BUY, 5, 100), limit(5, "b2", BUY, 5, 99), limit(6, "b3", BUY, 5, 98))
    from market_sim.core.orders import NewOrder, OrderType
    run(eng, NewOrder(10, "t", SYM, SELL, 4, OrderType.STOP, stop_price=100))
    ev = run(eng, market(11, "s", SELL, 1))
    assert fills(ev) == [(1, 11, 100, 1), (1, 10, 100, 4)]
    ev = run(eng, market(12, "s", SELL, 3))
    assert fills(ev) == [(6, 12, 98, 3)]
    assert resting(eng) == [(5, 99, 5), (6, 98, 2)]


def test_fok_stopped_by_a_refusal_cancels_its_remainder():
    v = Refuse(2)
    eng = _book(v)
    ev = run(eng, limit(4, "b", BUY, 12, 101, tif=TimeInForce.FOK))   # 15 lots available before the refusal
    assert fills(ev) == [(4, 1, 100, 5), (4, 3, 101, 5)]
    assert cancels(ev) == [(4, 2, "validator", 0)]
    assert resting(eng) == [(2, 100, 5)]
