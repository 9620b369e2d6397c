"""Short selling: locates from a finite pool, exact borrow-fee accrual, recalls with forced buy-ins, SSR/uptick."""

from __future__ import annotations

import math
from fractions import Fraction

from market_sim.core.events import OrderRejected, RejectReason
from market_sim.risk.config import YEAR_NS

from .conftest import MS, SEC, engine, order, world

DAY = 86_400 * SEC


def _pool(lots: dict[str, int], **risk):
    return world({"lending": {"XYZ": {"lenders": lots, **risk.pop("pool", {})}}, **risk},
                 agents=("p", "q", "r"), duration="3d")


def _rejected(sim):
    seen: list[OrderRejected] = []
    sim.bus.subscribe(OrderRejected, seen.append)
    return seen


def test_locate_from_a_finite_pool():
    sim = _pool({"lender": 50})
    seen = _rejected(sim)
    order(sim, "q", "sell", 60, 10_000)          # 60 > 50 borrowable
    order(sim, "q", "sell", 50, 10_000, at=MS)   # located: the whole pool
    order(sim, "r", "sell", 1, 10_100, at=2 * MS)  # nothing left
    sim.run_until(10 * MS)
    assert [(r.trader, r.reason, r.message) for r in seen] == [
        ("q-1", RejectReason.NO_LOCATE, "locate for 60 lots; 50 borrowable"),
        ("r-1", RejectReason.NO_LOCATE, "locate for 1 lots; 0 borrowable")]
    eng = engine(sim)
    assert eng.available("XYZ") == 0 and sim.agent("r-1").open_orders == {}
    assert [o.remaining for o in eng.open["q-1"].values()] == [50]
    # selling what one owns needs no locate
    order(sim, "p", "buy", 5, 10_000)
    order(sim, "p", "sell", 5, 10_200, at=sim.now + 5 * MS)
    sim.run_until(sim.now + 20 * MS)
    assert len(seen) == 2 and eng.short_interest("XYZ") == 5 and eng.located("q-1", "XYZ") == 50


def test_borrow_fee_accrues_exactly_on_simulated_time_and_lenders_earn_it():
    sim = _pool({"big": 300, "small": 200}, pool={"rate_bps": 1000}, accrual_interval="1h")
    order(sim, "q", "sell", 100, 10_000)   # short 100 shares at $100 = $10,000 (1_000_000 cents)
    order(sim, "p", "buy", 100, 10_000)
    sim.run_until(DAY)
    eng = engine(sim)
    opened = MS  # the trade, when both orders reach the venue
    exact = Fraction(100 * 10_000 * 1000 * (DAY - opened), 10_000 * YEAR_NS)  # 273.97... cents
    assert eng.borrow_fees == {"q-1": math.floor(exact)} == {"q-1": 273}
    assert eng._fee_carry[("q-1", "XYZ")] == exact - 273
    # lenders earn 3/5 and 2/5 of it, exactly: 163.8 and 109.2 -> 163 and 109 paid, the fractions carried
    assert eng.lender_income == {"big": 163, "small": 109}
    assert eng.lender_carry == {"big": Fraction(4, 5), "small": Fraction(1, 5)}
    assert sim.accounts["q-1"].balance("USD") == 1_000_000 - 273
    sim.run_until(2 * DAY)
    exact2 = Fraction(100 * 10_000 * 1000 * (2 * DAY - opened), 10_000 * YEAR_NS)
    assert eng.borrow_fees["q-1"] == math.floor(exact2) == 547


def test_hard_to_borrow_default_rate():
    sim = _pool({"lender": 10}, pool={"hard_to_borrow": True})
    assert engine(sim).config.lending["XYZ"].rate_bps == 3000


def test_recall_then_forced_buy_in_after_the_deadline():
    sim = _pool({"lender": 100}, recalls=[{"at": "10s", "symbol": "XYZ", "lender": "lender", "lots": 60}],
                recall_deadline="5s")
    order(sim, "q", "sell", 100, 10_000)
    order(sim, "p", "buy", 100, 10_000)
    order(sim, "r", "sell", 100, 10_100, at=SEC)  # r owns nothing either: no locate left -> refused
    order(sim, "p", "sell", 100, 10_100, at=2 * SEC)
    sim.run_until(12 * SEC)
    eng = engine(sim)
    assert eng.recalls[("q-1", "XYZ")].lots == 60 and eng.rejections == {"no_locate": 1}
    sim.run_until(16 * SEC)
    assert [(r["account"], r["lots"], r["filled"], r["value"], r["status"]) for r in eng.rows["buy_ins"]] == [
        ("q-1", 60, 60, 60 * 10_100, "bought_in")]
    assert eng.short_interest("XYZ") == 40 and sum(eng.supply["XYZ"].values()) == 40


def test_recall_already_covered_needs_no_buy_in():
    sim = _pool({"lender": 100}, recalls=[{"at": "10s", "symbol": "XYZ", "lender": "lender", "lots": 60}],
                recall_deadline="5s")
    order(sim, "q", "sell", 100, 10_000)
    order(sim, "p", "buy", 100, 10_000)
    order(sim, "p", "sell", 60, 9_900, at=11 * SEC)
    order(sim, "q", "buy", 60, 9_900, at=11 * SEC)
    sim.run_until(20 * SEC)
    assert [(r["lots"], r["status"]) for r in engine(sim).rows["buy_ins"]] == [(0, "covered")]


def test_short_sale_restriction_after_a_drop():
    sim = _pool({"lender": 100}, short_sale_rule="ssr", ssr_drop_bps=1000)
    seen = _rejected(sim)
    order(sim, "p", "buy", 1, 9_500)
    order(sim, "q", "sell", 1, 9_500, at=MS)       # a short sale at 95.00: 5% down, no restriction yet
    order(sim, "p", "buy", 1, 9_000, at=3 * MS)
    order(sim, "q", "sell", 1, 9_000, at=4 * MS)   # the trade at 90.00 is a 10% drop: the restriction starts
    order(sim, "p", "buy", 5, 8_800, at=6 * MS)
    sim.run_until(10 * MS)
    assert engine(sim).ssr_active == {"XYZ": 5 * MS} and seen == []
    order(sim, "q", "sell", 1, 8_800)   # at the best bid: refused
    order(sim, "q", "sell", 1, 8_801)   # above it: allowed
    order(sim, "q", "sell", 1, market=True)  # a market short sale: refused
    sim.run_until(sim.now + 10 * MS)
    assert [r.reason for r in seen] == [RejectReason.SHORT_SALE_RESTRICTED] * 2
    assert [o.price for o in sim.agent("q-1").open_orders.values()] == [8_801]
    assert engine(sim).short_interest("XYZ") == 2


def test_uptick_rule():
    sim = _pool({"lender": 100}, short_sale_rule={"XYZ": "uptick"})
    seen = _rejected(sim)
    order(sim, "p", "buy", 1, 10_000)
    order(sim, "r", "sell", 1, 10_000, at=MS)  # r is short now: the first trade is no uptick -> refused
    sim.run_until(10 * MS)
    assert [r.reason for r in seen] == [RejectReason.SHORT_SALE_RESTRICTED]
