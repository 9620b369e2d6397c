"""Frequent batch auctions (one uniform price per batch of tau) and the speed bump."""

from __future__ import annotations

import pytest

from market_sim.core.errors import ConfigError
from market_sim.core.events import AuctionIndicative, OrderAccepted, OrderCancelled, Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import CancelOrder, NewOrder, OrderType, Side, TimeInForce
from market_sim.mechanisms.base import build_mechanism
from market_sim.mechanisms.batch import BatchParams, FrequentBatchAuction
from market_sim.mechanisms.speedbump import SpeedBump

from tests.unit.mechanisms._sim import FakeSim

MS = 1_000_000
L = OrderType.LIMIT


def test_orders_are_sealed_until_the_batch_ends_and_clear_at_one_price():
    sim = FakeSim()
    v = FrequentBatchAuction("fba", [Instrument("X")], BatchParams(tau=100 * MS), sim)
    sim.send(v, 10 * MS, NewOrder(1, "a", "X", Side.SELL, 5, L, 100))
    sim.send(v, 20 * MS, NewOrder(2, "b", "X", Side.BUY, 3, L, 103))
    sim.send(v, 30 * MS, NewOrder(3, "c", "X", Side.BUY, 4, L, 101))
    sim.send(v, 40 * MS, NewOrder(4, "d", "X", Side.SELL, 1, OrderType.MARKET, tif=TimeInForce.IOC))
    sim.kernel.run(until=99 * MS)
    assert sim.of(Trade) == [] and v.depth("X") == ([], [])   # sealed
    sim.kernel.run(until=100 * MS)
    # 100 and 101 both trade 6 lots with imbalance 1; no reference price yet: the lower price
    trades = sim.of(Trade)
    assert {t.price for t in trades} == {100}
    assert [(t.buy_order_id, t.sell_order_id, t.quantity) for t in trades] == [(2, 4, 1), (2, 1, 2), (3, 1, 3)]
    assert sim.of(AuctionIndicative)[-1].price == 100
    assert v.depth("X") == ([(101, 1)], [])
    assert v.batches == 1
    # the next batch: the resting bid and a new sell at 101
    sim.send(v, 150 * MS, NewOrder(5, "e", "X", Side.SELL, 1, L, 101))
    sim.kernel.run(until=200 * MS)
    assert [(t.price, t.ts) for t in sim.of(Trade)][-1] == (101, 200 * MS)
    assert v.depth("X") == ([], [])


def test_cancel_before_the_batch_removes_the_order():
    sim = FakeSim()
    v = FrequentBatchAuction("fba", [Instrument("X")], BatchParams(tau=50 * MS), sim)
    sim.send(v, 1 * MS, NewOrder(1, "a", "X", Side.SELL, 5, L, 100))
    sim.send(v, 2 * MS, CancelOrder(1, "a"))
    sim.send(v, 3 * MS, NewOrder(2, "b", "X", Side.BUY, 5, L, 100))
    sim.kernel.run()
    assert sim.of(Trade) == [] and [e.order_id for e in sim.of(OrderCancelled)] == [1]


def test_speed_bump_delays_everyone_but_the_exempt():
    sim = FakeSim()
    v = build_mechanism(sim, "iex", [Instrument("X")], {"mechanism": "continuous", "speed_bump": "350us",
                                                         "speed_bump_exempt": ["mm"]})
    assert isinstance(v, SpeedBump)
    sim.send(v, 1_000, NewOrder(1, "mm", "X", Side.SELL, 5, L, 100))
    sim.send(v, 2_000, NewOrder(2, "fast", "X", Side.BUY, 5, L, 100))
    sim.send(v, 3_000, CancelOrder(1, "mm"))  # the exempt cancel overtakes the delayed buy
    sim.kernel.run()
    assert sim.of(Trade) == []
    assert [e.ts for e in sim.of(OrderAccepted)] == [1_000, 352_000]
    assert v.quote("X", 400_000).bid == 100


def test_unknown_mechanism_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown mechanism"):
        build_mechanism(None, "v", [Instrument("X")], {"mechanism": "walrasian"})


def test_gtd_orders_expire_at_their_time_and_do_not_trade_after():
    sim = FakeSim()
    v = FrequentBatchAuction("fba", [Instrument("X")], BatchParams(tau=100 * MS), sim)
    sim.send(v, 10 * MS, NewOrder(1, "a", "X", Side.SELL, 5, L, 100, tif=TimeInForce.GTD, expire_at=150 * MS))
    sim.send(v, 20 * MS, NewOrder(2, "a", "X", Side.SELL, 5, L, 101, tif=TimeInForce.GTD, expire_at=900 * MS))
    for t in (150 * MS, 900 * MS):  # what the runner does for every accepted GTD order
        sim.kernel.schedule_at(t, lambda: sim.publish(v, None, v.expire(sim.kernel.now)))
    sim.send(v, 160 * MS, NewOrder(3, "b", "X", Side.BUY, 10, L, 101))
    sim.kernel.run(until=1_000 * MS)
    cancelled = sim.of(OrderCancelled)
    assert [(e.order_id, e.ts, e.cancelled_quantity, str(e.reason)) for e in cancelled] == [(1, 150 * MS, 5, "expired")]
    assert [(t.buy_order_id, t.sell_order_id, t.quantity, t.price, t.ts) for t in sim.of(Trade)] == \
        [(3, 2, 5, 101, 200 * MS)]
    assert v.depth("X") == ([(101, 5)], []) and v.expire(10**12) == []
