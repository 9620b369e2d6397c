"""Pre-trade validation: every bad field is rejected with its reason code and leaves the book exactly as it was."""

from __future__ import annotations

import pytest

from market_sim.core.events import OrderRejected
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, OrderType, PostOnlyMode, TimeInForce
from market_sim.market import MatchingEngine

from ._helpers import BUY, SELL, SYM, limit, market, run, snapshot

CASES = [
    ("unknown instrument", NewOrder(10, "a", "NOPE", BUY, 1, price=100), "unknown_instrument"),
    ("unknown trader", limit(10, "zed", BUY, 1, 100), "unknown_trader"),
    ("duplicate resting id", limit(1, "a", BUY, 1, 90), "duplicate_order_id"),
    ("duplicate stop id", limit(2, "a", BUY, 1, 90), "duplicate_order_id"),
    ("non-integer id", limit("x", "a", BUY, 1, 90), "invalid_order"),
    ("zero quantity", limit(10, "a", BUY, 0, 100), "invalid_quantity"),
    ("negative quantity", limit(10, "a", BUY, -3, 100), "invalid_quantity"),
    ("float quantity", limit(10, "a", BUY, 1.5, 100), "invalid_quantity"),
    ("bool quantity", limit(10, "a", BUY, True, 100), "invalid_quantity"),
    ("zero price", limit(10, "a", BUY, 1, 0), "invalid_price"),
    ("negative price", limit(10, "a", BUY, 1, -100), "invalid_price"),
    ("float price", limit(10, "a", BUY, 1, 100.5), "invalid_price"),
    ("limit without price", NewOrder(10, "a", SYM, BUY, 1), "invalid_price"),
    ("market with price", NewOrder(10, "a", SYM, BUY, 1, OrderType.MARKET, 100), "invalid_price"),
    ("stop without stop price", NewOrder(10, "a", SYM, BUY, 1, OrderType.STOP), "invalid_stop_price"),
    ("stop-limit without price", NewOrder(10, "a", SYM, BUY, 1, OrderType.STOP_LIMIT, stop_price=120),
     "invalid_price"),
    ("buy stop below last", NewOrder(10, "a", SYM, BUY, 1, OrderType.STOP, stop_price=99), "invalid_stop_price"),
    ("sell stop above last", NewOrder(10, "a", SYM, SELL, 1, OrderType.STOP, stop_price=101), "invalid_stop_price"),
    ("limit with stop price", limit(10, "a", BUY, 1, 90, stop_price=95), "invalid_stop_price"),
    ("GTD without expiry", limit(10, "a", BUY, 1, 90, tif=TimeInForce.GTD), "invalid_expiry"),
    ("GTD in the past", limit(10, "a", BUY, 1, 90, tif=TimeInForce.GTD, expire_at=50), "invalid_expiry"),
    ("expiry without GTD", limit(10, "a", BUY, 1, 90, expire_at=500), "invalid_expiry"),
    ("display above quantity", limit(10, "a", BUY, 5, 90, display_quantity=6), "invalid_display_quantity"),
    ("display zero", limit(10, "a", BUY, 5, 90, display_quantity=0), "invalid_display_quantity"),
    ("hidden iceberg", limit(10, "a", BUY, 5, 90, display_quantity=2, hidden=True), "invalid_display_quantity"),
    ("market iceberg", market(10, "a", BUY, 5, display_quantity=2), "invalid_display_quantity"),
    ("post-only IOC", limit(10, "a", BUY, 1, 90, tif=TimeInForce.IOC, post_only=PostOnlyMode.REJECT),
     "invalid_order"),
    ("post-only market", market(10, "a", BUY, 1, post_only=PostOnlyMode.REPRICE), "invalid_order"),
    ("plain int side", NewOrder(10, "a", SYM, 1, 1, price=90), "invalid_order"),
    ("string order type", NewOrder(10, "a", SYM, BUY, 1, "limit", 90), "invalid_order"),
    ("string tif", limit(10, "a", BUY, 1, 90, tif="gtc"), "invalid_order"),
    ("string stp", limit(10, "a", BUY, 1, 90, stp="none"), "invalid_order"),
    ("non-bool hidden", limit(10, "a", BUY, 1, 90, hidden=1), "invalid_order"),
]


def _engine_with_state() -> MatchingEngine:
    eng = MatchingEngine([Instrument(SYM)], traders=["a", "b"])
    run(eng, limit(1, "a", BUY, 5, 95), limit(3, "a", SELL, 1, 100), limit(4, "b", BUY, 1, 100),
        limit(5, "b", SELL, 3, 105), ts=100)   # last trade at 100
    run(eng, NewOrder(2, "a", SYM, BUY, 1, OrderType.STOP, stop_price=110), ts=100)
    return eng


@pytest.mark.parametrize("what,cmd,reason", CASES, ids=[c[0] for c in CASES])
def test_invalid_order_rejected_and_book_unchanged(what, cmd, reason):
    eng = _engine_with_state()
    before = snapshot(eng)
    events = eng.process(cmd, 100)
    assert len(events) == 1 and isinstance(events[0], OrderRejected)
    assert events[0].reason.value == reason
    assert events[0].order_id == cmd.order_id and events[0].message
    assert snapshot(eng) == before


def test_register_trader_allows_new_ids():
    eng = MatchingEngine([Instrument(SYM)], traders=[])
    assert run(eng, limit(1, "c", BUY, 1, 90))[0].reason.value == "unknown_trader"
    eng.register_trader("c")
    assert type(run(eng, limit(1, "c", BUY, 1, 90))[0]).__name__ == "OrderAccepted"


def test_process_rejects_non_commands():
    from market_sim.core.errors import ValidationError

    with pytest.raises(ValidationError, match="not an order command"):
        MatchingEngine([Instrument(SYM)]).process("buy 1", 0)


def test_instrument_listing_rules():
    from market_sim.core.errors import ConfigError, UnknownInstrumentError

    eng = MatchingEngine([Instrument(SYM)])
    eng.add_instrument(Instrument(SYM))  # same instrument again: fine
    with pytest.raises(ConfigError, match=r"symbol: a different instrument with this symbol is already listed"):
        eng.add_instrument(Instrument(SYM, tick_size="0.5"))
    with pytest.raises(UnknownInstrumentError, match="unknown instrument 'NOPE'"):
        eng.book("NOPE")
    assert list(eng.instruments) == [SYM]


@pytest.mark.parametrize("trader", ["", None, 7])
def test_trader_must_be_a_non_empty_string_when_any_trader_is_allowed(trader):
    eng = MatchingEngine([Instrument(SYM)])
    events = eng.process(limit(1, trader, BUY, 1, 90), 0)
    assert [(type(e).__name__, e.reason.value) for e in events] == [("OrderRejected", "invalid_order")]
    assert eng.resting_count() == 0
