"""Reg T margin arithmetic (exact integer tables), margin calls with a deadline, the liquidation engine."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_sim.core.events import RejectReason
from market_sim.core.orders import NewOrder, OrderType, Side
from market_sim.risk.margin import Holding, MarginRate, MarginRules, margin_state

from .conftest import MS, SEC, engine, order, world

REG_T = MarginRules()
F = Fraction


# cash (cents), holdings (symbol, shares, mark in cents per share) -> equity, long, short, initial, maintenance
@pytest.mark.parametrize("cash, holdings, expected", [
    # long: $10,000 of stock bought with $5,000 of own money
    (-500_000, [("A", 100, F(10_000))], (500_000, 1_000_000, 0, 500_000, 250_000)),
    # short: $10,000 of proceeds plus a $5,000 deposit
    (1_500_000, [("A", -100, F(10_000))], (500_000, 0, 1_000_000, 500_000, 300_000)),
    # mixed: long A $5,000, short B $4,000, $2,000 cash
    (200_000, [("A", 100, F(5_000)), ("B", -50, F(8_000))], (300_000, 500_000, 400_000, 450_000, 245_000)),
    # rounding in the broker's favour: a long is floored, a short and every requirement rounded up
    (0, [("A", 3, F(6667, 2))], (10_000, 10_000, 0, 5_000, 2_500)),
    (0, [("A", -3, F(6667, 2))], (-10_001, 0, 10_001, 5_001, 3_001)),
    # the long fell 40%: equity $1,000 against $1,500 maintenance
    (-500_000, [("A", 100, F(6_000))], (100_000, 600_000, 0, 300_000, 150_000)),
    (123, [], (123, 0, 0, 0, 0)),
])
def test_reg_t_table(cash, holdings, expected):
    s = margin_state(cash, [Holding(*h) for h in holdings], REG_T)
    assert (s.equity, s.long_value, s.short_value, s.initial, s.maintenance) == expected


def test_per_instrument_override_and_buying_power():
    rules = MarginRules(overrides={"A": MarginRate(initial_long_bps=7000, maintenance_long_bps=4000)})
    s = margin_state(-500_000, [Holding("A", 100, F(10_000)), Holding("B", 10, F(10_000))], rules)
    assert (s.equity, s.initial, s.maintenance) == (600_000, 700_000 + 50_000, 400_000 + 25_000)
    assert s.excess == -150_000 and s.buying_power() == 0
    s = margin_state(1_000_000, [Holding("B", 100, F(10_000))], rules)
    assert s.excess == 1_500_000 and s.buying_power(5000) == 3_000_000 and s.buying_power(2500) == 6_000_000


def _leveraged_long(deadline: str = "5s"):
    """p: $1,000 of cash buys 20 shares at $100 from q; r then quotes 60.00 / 64.00 (mid 62.00)."""
    sim = world({"accounts": {"p": {"cash": 1000.0}},
                 "margin": {"call_deadline": deadline, "check_interval": "1s"}}, agents=("p", "q", "r"))
    order(sim, "q", "sell", 20, 10_000)
    order(sim, "p", "buy", 20, 10_000, at=MS)
    order(sim, "r", "buy", 20, 6_000, at=100 * MS)
    order(sim, "r", "sell", 1, 6_400, at=100 * MS)
    return sim


def test_margin_call_then_liquidation_after_the_deadline():
    sim = _leveraged_long()
    sim.run_until(1 * SEC)
    eng = engine(sim)
    assert [(r["status"], r["equity"], r["maintenance"], r["deficit"]) for r in eng.rows["margin_calls"]] == [
        ("issued", 24_000, 31_000, 7_000)]
    # while the call is open, new risk is refused; reducing orders pass
    order(sim, "p", "buy", 1, 6_300)
    sim.run_until(sim.now + 10 * MS)
    assert eng.rejections == {"margin_call": 1}
    sim.run_until(5 * SEC)
    assert eng.rows["liquidations"] == []
    sim.run_until(6 * SEC)  # the deadline: sell 5 (the computed need) into the 60.00 bid, then 1 more
    rows = eng.rows["liquidations"]
    assert [(r["side"], r["lots"], r["filled"], r["value"], r["mark_value"], r["cost"]) for r in rows] == [
        ("sell", 5, 5, 30_000, 31_000, 1_000), ("sell", 1, 1, 6_000, 6_200, 200)]
    st_ = eng.state("p-1")
    assert (st_.equity, st_.maintenance) == (22_800, 21_700) and eng.lots("p-1", "XYZ") == 14
    assert eng.rows["margin_calls"][-1]["status"] == "liquidated" and "p-1" not in eng.calls
    sim.run_until(7 * SEC)  # the agent's own books catch up after the venue→agent latency
    assert sim.agent("p-1").position("XYZ") == 14 and sim.accounts["p-1"].balance("USD") == -64_000


def test_zero_deadline_liquidates_at_once_and_limit_orders_respect_aggression():
    sim = world({"accounts": {"p": {"cash": 1000.0}},
                 "margin": {"call_deadline": "0s", "order": "limit", "aggression_ticks": 150}},
                agents=("p", "q", "r"))
    order(sim, "q", "sell", 20, 10_000)
    order(sim, "p", "buy", 20, 10_000, at=MS)
    order(sim, "r", "buy", 20, 6_000, at=100 * MS)
    order(sim, "r", "sell", 1, 6_400, at=100 * MS)
    sim.run_until(1 * SEC)
    eng = engine(sim)
    # limit = reference (the last trade, 100.00) - 1.50: nothing bids that high -> no liquidity, reported
    assert eng.rows["liquidations"][0]["filled"] == 0
    assert [(r["account"], r["reason"]) for r in eng.illiquid] == [("p-1", "no_liquidity")]


def _house_world(accounts: dict[str, float], call_deadline: str = "0s"):
    return world({"accounts": {a: {"cash": c} for a, c in accounts.items()},
                  "margin": {"call_deadline": call_deadline, "check_interval": "1000s"}}, agents=("h",))


def _trade(sim, buyer: str, seller: str, lots: int, price: int) -> None:
    v = sim.venues[next(iter(sim.venues))]
    for trader, side in ((seller, Side.SELL), (buyer, Side.BUY)):
        cmd = NewOrder(sim.next_order_id(), trader, "XYZ", side, lots, OrderType.LIMIT, price)
        sim.publish(v, cmd, v.handle(cmd, sim.now))


@settings(max_examples=40)
@given(st.lists(st.tuples(st.integers(200, 5_000), st.integers(-40, 40)), min_size=1, max_size=5),
       st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.integers(5_000, 15_000), st.integers(1, 30)),
                max_size=8),
       st.integers(3_000, 12_000))
def test_after_liquidation_no_account_is_below_maintenance_unless_reported(accounts, book, shock):
    sim = _house_world({f"m{i}": cash / 1 for i, (cash, _) in enumerate(accounts)})
    sim.run_until(MS)
    for i, (_, lots) in enumerate(accounts):  # positions opened at $100 against the house
        if lots > 0:
            _trade(sim, f"m{i}", "house", lots, 10_000)
        elif lots < 0:
            _trade(sim, "house", f"m{i}", -lots, 10_000)
    _trade(sim, "house", "house2", 1, shock)  # the last trade marks the book at the shock price
    v = sim.venues[next(iter(sim.venues))]
    for side, price, lots in book:  # house liquidity (may cross itself: the house trades with the house)
        cmd = NewOrder(sim.next_order_id(), "house", "XYZ", Side.BUY if side == "buy" else Side.SELL, lots,
                       OrderType.LIMIT, price)
        sim.publish(v, cmd, v.handle(cmd, sim.now))
    eng = engine(sim)
    eng.check_margin()
    reported = {r["account"] for r in eng.illiquid}
    for i in range(len(accounts)):
        s = eng.state(f"m{i}")
        assert not s.below_maintenance or f"m{i}" in reported, (i, s)
    # the ledger conserves: trading moves shares and cash, never creates them
    totals = eng.ledger.totals()
    assert totals.get("XYZ", 0) == 0
    assert totals.get("USD", 0) == sum(round(c * 100) for c, _ in accounts)
