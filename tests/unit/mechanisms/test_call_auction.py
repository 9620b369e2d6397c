"""The call-auction mechanism: opening/closing crosses, on-open/on-close orders, indicative prices, LULD
volatility interruptions and halts (nothing executes inside a halt)."""

from __future__ import annotations

from market_sim.core.events import (
    AuctionIndicative, OrderCancelled, OrderRejected, RejectReason, Trade, TradeRejected, TradingStatus,
)
from market_sim.core.instruments import Instrument
from market_sim.core.orders import CancelOrder, NewOrder, OrderType, Side, TimeInForce
from market_sim.mechanisms.call_auction import CallAuctionParams, CallAuctionVenue, Halt

from tests.unit.mechanisms._sim import FakeSim

S = 1_000_000_000
L, M = OrderType.LIMIT, OrderType.MARKET


def order(oid, side, qty, price=None, tif=TimeInForce.GTC, trader=None):
    return NewOrder(oid, trader or f"t{oid}", "X", side, qty, M if price is None else L, price, tif=tif)


def venue(sim, **kw):
    params = CallAuctionParams(**{"open_call": 10 * S, "close_call": 10 * S, "close_at": 100 * S,
                                  "reference_price": 100, **kw})
    return CallAuctionVenue("ex", [Instrument("X")], params, sim)


def test_opening_cross_then_continuous_then_closing_cross():
    sim = FakeSim()
    v = venue(sim)
    sim.send(v, 1 * S, order(1, Side.BUY, 10, 101))
    sim.send(v, 2 * S, order(2, Side.SELL, 6, 99))
    sim.send(v, 3 * S, order(3, Side.SELL, 3, tif=TimeInForce.OPG))          # MOO
    sim.send(v, 4 * S, order(4, Side.BUY, 5, 98, tif=TimeInForce.OPG))       # LOO: left after the cross: cancelled
    sim.kernel.run(until=9 * S)
    assert sim.of(Trade) == []
    ind = sim.of(AuctionIndicative)[-1]
    assert (ind.price, ind.matched, ind.imbalance, ind.phase) == (100, 9, 1, "open_call")
    sim.kernel.run(until=10 * S)
    trades = sim.of(Trade)
    assert [(t.buy_order_id, t.sell_order_id, t.price, t.quantity, t.ts) for t in trades] == [
        (1, 3, 100, 3, 10 * S), (1, 2, 100, 6, 10 * S)]
    assert [(e.order_id, e.cancelled_quantity) for e in sim.of(OrderCancelled)] == [(4, 5)]
    assert v.phase("X") == "continuous"
    assert v.quote("X", 10 * S).bid == 101 and v.quote("X", 10 * S).bid_qty == 1    # the rest of order 1 rests
    # continuous: a sell at 101 trades at once
    sim.send(v, 20 * S, order(5, Side.SELL, 1, 101))
    sim.send(v, 21 * S, order(6, Side.BUY, 4, 100, tif=TimeInForce.CLS))     # LOC: held until the close
    sim.send(v, 22 * S, order(7, Side.SELL, 2, 100))                         # rests in the continuous book
    sim.send(v, 23 * S, order(8, Side.BUY, 1, tif=TimeInForce.OPG))          # MOO after the open: refused
    sim.kernel.run(until=89 * S)
    assert sim.of(Trade)[-1].buy_order_id == 1 and sim.of(Trade)[-1].ts == 20 * S
    assert sim.of(OrderRejected)[-1].reason is RejectReason.WRONG_PHASE
    assert v.quote("X", 89 * S).ask == 100                                    # the LOC bid is not shown
    sim.kernel.run(until=100 * S)
    close = [t for t in sim.of(Trade) if t.ts == 100 * S]
    assert [(t.buy_order_id, t.sell_order_id, t.price, t.quantity) for t in close] == [(6, 7, 100, 2)]
    assert [s.status for s in sim.of(TradingStatus)] == ["continuous", "close_call", "closed"]
    assert v.phase("X") == "closed"


def test_luld_band_breach_starts_a_volatility_auction_and_nothing_trades_until_it_reopens():
    sim = FakeSim()
    v = venue(sim, open_call=0, close_call=0, luld_band_bps=500, volatility_auction=30 * S)  # +-5 ticks of 100
    sim.send(v, 1 * S, order(1, Side.SELL, 5, 100))
    sim.send(v, 1 * S, order(2, Side.SELL, 5, 110))
    sim.send(v, 2 * S, order(3, Side.BUY, 10, 110))      # 5 @ 100 trade, then 110 is outside the band: refused
    sim.send(v, 5 * S, order(4, Side.BUY, 5, 108))       # during the interruption: collected, no trade
    sim.send(v, 6 * S, order(5, Side.SELL, 2, 104))
    sim.kernel.run(until=31 * S)
    trades = sim.of(Trade)
    assert [(t.price, t.quantity, t.ts) for t in trades] == [(100, 5, 2 * S)]
    assert any(r.reason.startswith("luld") for r in sim.of(TradeRejected))
    assert [s.status for s in sim.of(TradingStatus)] == ["volatility_auction"]
    sim.kernel.run(until=32 * S)
    reopen = [t for t in sim.of(Trade) if t.ts == 32 * S]
    assert [(t.buy_order_id, t.sell_order_id, t.price, t.quantity) for t in reopen] == [(4, 5, 104, 2)]
    assert v.phase("X") == "continuous"


def test_a_halt_leaves_no_order_executed_inside_it():
    sim = FakeSim()
    v = venue(sim, open_call=0, close_call=0)
    sim.send(v, 1 * S, order(1, Side.SELL, 5, 100))
    sim.send(v, 2 * S, Halt("X", 20 * S))
    for i, t in enumerate(range(3, 21)):
        sim.send(v, t * S, order(10 + i, Side.BUY, 1, 100 + i % 3))
    sim.send(v, 5 * S, CancelOrder(10, "t10"))
    sim.kernel.run(until=40 * S)
    trades = sim.of(Trade)
    assert trades and all(not (2 * S <= t.ts < 22 * S) for t in trades)
    assert {t.ts for t in trades} == {22 * S}
    assert sum(t.quantity for t in trades) == 5
    assert [s.status for s in sim.of(TradingStatus)] == ["halted", "continuous"]


def test_market_wide_halt_by_threshold():
    sim = FakeSim()
    v = CallAuctionVenue("ex", [Instrument("X"), Instrument("Y")],
                         CallAuctionParams(open_call=0, close_call=0, close_at=1000 * S, reference_price=100,
                                           market_halt_bps=700, halt_duration=60 * S), sim)
    for sym, oid in (("X", 1), ("Y", 3)):
        sim.send(v, 1 * S, NewOrder(oid, "mm", sym, Side.BUY, 1, L, 100))
        sim.send(v, 1 * S, NewOrder(oid + 1, "t", sym, Side.SELL, 1, L, 100))  # first prices: 100
    sim.send(v, 2 * S, NewOrder(5, "mm", "X", Side.BUY, 1, L, 80))
    sim.send(v, 3 * S, NewOrder(6, "t", "X", Side.SELL, 1, L, 80))  # X -20 %, Y 0: mean -10 % >= 7 %
    sim.send(v, 4 * S, NewOrder(7, "mm", "Y", Side.BUY, 1, L, 100))
    sim.send(v, 5 * S, NewOrder(8, "t", "Y", Side.SELL, 1, L, 100))
    sim.kernel.run(until=50 * S)
    assert [(s.symbol, s.status) for s in sim.of(TradingStatus)] == [("X", "halted"), ("Y", "halted")]
    assert not [t for t in sim.of(Trade) if t.ts > 3 * S]


def test_the_continuous_engine_refuses_on_open_and_on_close_orders():
    from market_sim.market import MatchingEngine

    eng = MatchingEngine([Instrument("X")])
    for tif in (TimeInForce.OPG, TimeInForce.CLS):
        (ev,) = eng.process(order(1, Side.BUY, 1, 100, tif=tif), 0)
        assert type(ev) is OrderRejected and ev.reason is RejectReason.INVALID_ORDER
        assert "call-auction venue" in ev.message
