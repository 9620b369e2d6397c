"""The bus: typed, topic-prefix routing in subscription order; costly publishers can ask whether anyone listens."""

import pytest

from market_sim.core.bus import Bus
from market_sim.core.errors import MarketSimError
from market_sim.core.events import BookUpdate, Event, OrderCancelled, CancelReason, Trade
from market_sim.core.orders import Side


def _trade(ts=1, symbol="AAPL"):
    return Trade(ts, 1, symbol, 100, 5, 1, 2, "a", "b", Side.BUY)


def test_delivery_by_type_topic_prefix_and_subscription_order():
    bus, seen = Bus(), []
    bus.subscribe(Trade, lambda e: seen.append(("all-trades", e.symbol)))
    bus.subscribe(Trade, lambda e: seen.append(("ex-aapl", e.symbol)), ("ex", "AAPL"))
    bus.subscribe(Event, lambda e: seen.append(("ex-any", type(e).__name__)), ("ex",))
    bus.subscribe(BookUpdate, lambda e: seen.append(("book", e.price)))
    bus.publish(_trade(), ("ex", "AAPL"))
    bus.publish(_trade(symbol="MSFT"), ("ex", "MSFT"))
    bus.publish(_trade(symbol="MSFT"), ("other", "MSFT"))
    bus.publish(OrderCancelled(2, 7, "a", "AAPL", 3, CancelReason.USER), ("ex", "AAPL"))
    assert seen == [("all-trades", "AAPL"), ("ex-aapl", "AAPL"), ("ex-any", "Trade"),
                    ("all-trades", "MSFT"), ("ex-any", "Trade"),
                    ("all-trades", "MSFT"),
                    ("ex-any", "OrderCancelled")]
    assert bus.published == 4


def test_wants_reflects_subscriptions_and_unsubscribe():
    bus = Bus()
    assert not bus.wants(BookUpdate, ("ex", "AAPL"))
    sub = bus.subscribe(BookUpdate, lambda e: None, ("ex", "AAPL"))
    assert bus.wants(BookUpdate, ("ex", "AAPL"))
    assert not bus.wants(BookUpdate, ("ex", "MSFT"))
    assert not bus.wants(Trade, ("ex", "AAPL"))
    bus.unsubscribe(sub)
    bus.unsubscribe(sub)
    assert not bus.wants(BookUpdate, ("ex", "AAPL"))


def test_a_handler_subscribing_during_delivery_sees_only_later_events():
    bus, seen = Bus(), []

    def first(e):
        seen.append("first")
        bus.subscribe(Trade, lambda e: seen.append("late"))

    bus.subscribe(Trade, first)
    bus.publish(_trade())
    assert seen == ["first"]
    bus.publish(_trade())
    assert seen == ["first", "first", "late"]


def test_bad_subscriptions_are_refused():
    bus = Bus()
    with pytest.raises(MarketSimError, match="event class"):
        bus.subscribe("Trade", print)
    with pytest.raises(MarketSimError, match="tuple"):
        bus.subscribe(Trade, print, "AAPL")
    with pytest.raises(MarketSimError, match=r"got 'AAPL'"):
        bus.publish(_trade(), "AAPL")
    with pytest.raises(MarketSimError, match=r"got 'AAPL'"):
        bus.wants(Trade, "AAPL")
