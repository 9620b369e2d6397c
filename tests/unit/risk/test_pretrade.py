"""The pre-trade risk engine: each rule refuses with its own reason and leaves nothing behind."""

from __future__ import annotations

import copy

import pytest

from market_sim.core.errors import ConfigError
from market_sim.core.events import CancelReason, OrderCancelled, OrderRejected, RejectReason
from market_sim.simulation.scenario import parse_scenario

from .conftest import BASE, MS, SEC, engine, order, world


def _snapshot(sim):
    """Everything a refused order must not change: the book, the accounts (both views), the agents' open
    orders and the engine's open-order view."""
    v = sim.venues["XYZ"] if "XYZ" in sim.venues else next(iter(sim.venues.values()))
    eng = engine(sim)
    return (v.depth("XYZ", 100), v.engine.resting_count(),
            {a.id: (dict(a.balances), {s: (p.quantity, p.cost) for s, p in a.positions.items()})
             for a in sim.accounts},
            {a.id: (dict(a.balances), {s: p.quantity for s, p in a.positions.items()}) for a in eng.ledger},
            {ag.id: sorted(ag.open_orders) for ag in sim.agents},
            {t: sorted(o) for t, o in eng.open.items() if o})


def _refused(sim, reason: RejectReason, *, agent: str = "p", side: str = "buy", qty: int = 1, price=10_000,
             market: bool = False) -> OrderRejected:
    """Send one order after the current state settled; assert it was refused for `reason` and changed nothing."""
    seen: list[OrderRejected] = []
    sim.bus.subscribe(OrderRejected, seen.append)
    sim.run_until(sim.now + 10 * MS)
    before = _snapshot(sim)
    order(sim, agent, side, qty, price, market=market)
    sim.run_until(sim.now + 10 * MS)
    assert [r.reason for r in seen] == [reason]
    assert _snapshot(sim) == before
    return seen[0]


def test_max_order_quantity():
    sim = world({"limits": {"max_order_quantity": 10}})
    r = _refused(sim, RejectReason.MAX_ORDER_QUANTITY, qty=11)
    assert r.message == "11 lots; limit 10" and r.trader == "p-1"
    order(sim, "p", "buy", 10, 10_000)
    sim.run_until(sim.now + 10 * MS)
    assert sim.venues[next(iter(sim.venues))].depth("XYZ")[0] == [(10_000, 10)]


def test_max_order_notional_at_limit_price_and_reference_for_market_orders():
    sim = world({"limits": {"max_order_notional": 1000.0}})  # $1,000 = 100_000 cents
    _refused(sim, RejectReason.MAX_ORDER_NOTIONAL, qty=11, price=10_000)  # 11 x $100
    _refused(sim, RejectReason.MAX_ORDER_NOTIONAL, qty=11, market=True)  # at the reference: the initial $100
    order(sim, "p", "buy", 10, 10_000)
    sim.run_until(sim.now + 10 * MS)
    assert engine(sim).rejections == {"max_order_notional": 2}


def test_price_band_against_the_reference():
    sim = world({"limits": {"price_band_bps": 500}})  # 5% of $100: 9_500..10_500 ticks
    _refused(sim, RejectReason.PRICE_BAND, price=10_501)
    _refused(sim, RejectReason.PRICE_BAND, side="sell", price=9_499)
    order(sim, "p", "buy", 1, 10_500)
    order(sim, "q", "sell", 1, 9_500)
    sim.run_until(sim.now + 10 * MS)
    # the reference is now the last trade (10_500): 9_975..11_025
    _refused(sim, RejectReason.PRICE_BAND, price=9_974)
    order(sim, "p", "buy", 1, 11_025)
    sim.run_until(sim.now + 10 * MS)
    assert engine(sim).rejections == {"price_band": 3}


def test_position_limit_counts_open_orders():
    sim = world({"limits": {"max_position": {"*": 5}}})
    order(sim, "p", "buy", 3, 9_000)
    sim.run_until(sim.now + 10 * MS)
    _refused(sim, RejectReason.POSITION_LIMIT, qty=3, price=9_000)  # 3 open + 3 > 5
    order(sim, "p", "sell", 5, 11_000)  # the sell side is its own worst case: -5
    sim.run_until(sim.now + 10 * MS)
    _refused(sim, RejectReason.POSITION_LIMIT, side="sell", qty=1, price=11_000)


def test_order_rate_limit_per_trader_and_window():
    sim = world({"limits": {"max_orders": 2, "rate_window": "1s"}})
    order(sim, "p", "buy", 1, 9_000)
    order(sim, "p", "buy", 1, 9_001)
    order(sim, "q", "buy", 1, 9_002)  # another trader has its own count
    sim.run_until(sim.now + 10 * MS)
    _refused(sim, RejectReason.ORDER_RATE, price=9_003)
    sim.run_until(sim.now + SEC)  # the window has passed
    order(sim, "p", "buy", 1, 9_004)
    sim.run_until(sim.now + 10 * MS)
    assert len(sim.agent("p-1").open_orders) == 3


def test_kill_switch_cancels_and_blocks():
    sim = world({"kills": [{"at": "1s", "trader": "p-1"}]})
    cancels: list[OrderCancelled] = []
    sim.bus.subscribe(OrderCancelled, cancels.append)
    order(sim, "p", "buy", 2, 9_000)
    order(sim, "p", "sell", 2, 11_000)
    sim.run_until(2 * SEC)
    assert sorted((c.reason, c.cancelled_quantity) for c in cancels) == [(CancelReason.KILL_SWITCH, 2)] * 2
    assert sim.agent("p-1").open_orders == {} and sim.venues[next(iter(sim.venues))].engine.resting_count() == 0
    _refused(sim, RejectReason.KILL_SWITCH)
    order(sim, "q", "buy", 1, 9_000)  # others trade on
    sim.run_until(sim.now + 10 * MS)
    assert len(sim.agent("q-1").open_orders) == 1


def test_per_account_limits_override_the_default():
    sim = world({"limits": {"max_order_quantity": 10}, "accounts": {"q": {"max_order_quantity": 2}}})
    _refused(sim, RejectReason.MAX_ORDER_QUANTITY, agent="q", qty=3)
    order(sim, "p", "buy", 10, 9_000)
    sim.run_until(sim.now + 10 * MS)
    assert len(sim.agent("p-1").open_orders) == 1


def test_buying_power_of_a_margin_account():
    # $1,000 cash at 50% initial margin buys $2,000: 20 shares at $100
    sim = world({"accounts": {"p": {"cash": 1000.0}}, "margin": {}})
    order(sim, "q", "sell", 100, 10_000)
    sim.run_until(sim.now + 10 * MS)
    r = _refused(sim, RejectReason.BUYING_POWER, qty=21, price=10_000)
    assert r.message == "requires initial margin 105000, equity would be 100000 (USD units)"
    order(sim, "p", "buy", 20, 10_000)
    sim.run_until(sim.now + 10 * MS)
    assert engine(sim).lots("p-1", "XYZ") == 20 and sim.agent("p-1").position("XYZ") == 20
    # selling what it holds is never refused for buying power
    order(sim, "p", "sell", 20, 10_000)


def test_modify_is_checked_like_a_new_order():
    sim = world({"limits": {"max_order_quantity": 10}})
    order(sim, "p", "buy", 5, 9_000)
    sim.run_until(sim.now + 10 * MS)
    a = sim.agent("p-1")
    oid = next(iter(a.open_orders))
    seen: list[OrderRejected] = []
    sim.bus.subscribe(OrderRejected, seen.append)
    sim.kernel.schedule_at(sim.now, lambda: a.modify(oid, quantity=11))
    sim.run_until(sim.now + 10 * MS)
    assert [r.reason for r in seen] == [RejectReason.MAX_ORDER_QUANTITY]
    assert a.open_orders[oid].remaining == 5
    assert sim.venues[next(iter(sim.venues))].depth("XYZ")[0] == [(9_000, 5)]


@pytest.mark.parametrize("risk, key", [
    ({"limits": {"max_order_quantity": -1}}, "risk.limits.max_order_quantity"),
    ({"limits": {"bogus": 1}}, "risk.limits.bogus"),
    ({"margin": {"maintenance_long_bps": 6000}}, "risk.margin"),
    ({"lending": {"ABC": {"lenders": {"x": 1}}}}, "risk.lending.ABC"),
    ({"short_sale_rule": "sometimes"}, "risk.short_sale_rule.*"),
    ({"kills": [{"at": "1s"}]}, "risk.kills[0].trader"),
])
def test_bad_configuration_names_the_key(risk, key):
    raw = copy.deepcopy(BASE)
    raw["risk"] = risk
    with pytest.raises(ConfigError) as e:
        parse_scenario(raw)
    assert e.value.key == key


def test_no_locate_and_short_sale_rule_refusals_leave_nothing_behind():
    sim = world({"lending": {"XYZ": {"lenders": {"lender": 0}}}})
    _refused(sim, RejectReason.NO_LOCATE, side="sell", qty=1, price=10_000)
    sim = world({"lending": {"XYZ": {"lenders": {"lender": 10}}}, "short_sale_rule": "uptick"})
    _refused(sim, RejectReason.SHORT_SALE_RESTRICTED, side="sell", qty=1, price=10_000)
