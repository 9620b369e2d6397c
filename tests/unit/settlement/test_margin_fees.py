"""Borrow fees of margin batches (issue 16): a debt pays its pool's annual rate in kind on simulated time, charged
exactly (floor of the exact amount, the fraction carried) when its account next settles, certified in the margin leaf,
and the lenders earn it on chain through their shares."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from market_sim.blockchain import Chain
from market_sim.consensus.config import ConsensusConfig
from market_sim.core.borrowing import YEAR_NS
from market_sim.core.errors import ConfigError
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.market import MatchingEngine
from market_sim.settlement.margin import MarginBook
from market_sim.settlement.margin_pipeline import BorrowAccrual, MarginSettings, reconcile_margin
from market_sim.settlement.setup import build_stack

XYZ = Instrument("XYZ", tick_size=Decimal("0.01"), base_asset="XYZ", quote_asset="USD", base_decimals=0,
                 quote_decimals=2)
DAY = 24 * 3600 * 10**9
A, B = "0x" + "a1" * 20, "0x" + "b2" * 20


def test_a_debt_accrues_exactly_and_the_fraction_carries():
    book = MarginBook(2)
    book.balances[A, 1] = -1_000
    accrual = BorrowAccrual({1: 2_500, 2: 0})           # 25 % a year on token 1
    accrual.state[A, 1] = (0, Fraction(0))
    fees, accruals = accrual.fees(book, [A], 10 * DAY)
    exact = Fraction(1_000 * 2_500 * 10 * DAY, 10_000 * YEAR_NS)   # 6.849... units
    assert fees == {(A, 1): 6} and accruals == [((A, 1), 1_000, 0, exact - 6)]
    accrual.settled(book, [A], [1, 2], 10 * DAY, accruals)
    book.balances[A, 1] -= 6
    owed = exact - 6 + Fraction(1_006 * 2_500 * 10 * DAY, 10_000 * YEAR_NS)  # the next 10 days on 1,006 + carry
    fees, _ = accrual.fees(book, [A], 20 * DAY)
    assert fees == {(A, 1): 7} and int(owed) == 7
    assert accrual.fees(book, [B], 20 * DAY) == ({}, [])  # no debt, no fee
    assert accrual.outstanding(book, 20 * DAY) == {1: owed}  # exact, not charged yet


@settings(max_examples=50, deadline=None)
@given(debt=st.integers(1, 10**12), rate=st.integers(0, 50_000),
       cuts=st.lists(st.integers(1, 400 * DAY), min_size=1, max_size=8))
def test_charging_at_any_times_totals_the_floor_of_the_exact_fee(debt, rate, cuts):
    """A constant debt charged at any sequence of batch times pays floor(exact fee over the whole span): nothing is
    rounded away and nothing is charged twice."""
    book = MarginBook(1)
    book.balances[A, 1] = -debt
    accrual = BorrowAccrual({1: rate})
    accrual.state[A, 1] = (0, Fraction(0))
    at = paid = 0
    for step in cuts:
        at += step
        fees, accruals = accrual.fees(book, [A], at)
        accrual.settled(book, [A], [1], at, accruals)
        paid += fees.get((A, 1), 0)
    assert paid == debt * rate * at // (10_000 * YEAR_NS)


@pytest.fixture(scope="module")
def fees_flow():
    """A short sale of 10 XYZ at day 0 from a pool charging 100 % a year; the short buys 1 XYZ back 73 days later:
    that batch charges 10 * 73 / 365 = 2 XYZ exactly."""
    margin = MarginSettings(maintenance_bps={"XYZ": 3000, "USD": 0}, pools={"XYZ": {"lender": 100}},
                            borrow_bps={"XYZ": 10_000, "USD": 0})
    stack = build_stack(Chain.local(chain_id=1017), {"XYZ": XYZ}, ["buyer", "short"], {"USD": 0},
                        ConsensusConfig(nodes=4), overrides={"buyer": {"USD": 1_000_000}, "short": {"USD": 50_000}},
                        margin=margin)
    engine = MatchingEngine([XYZ], validator=stack.committee)
    oid = 0

    def order(trader, side, qty, price, ts):
        nonlocal oid
        oid += 1
        for ev in engine.process(NewOrder(oid, trader, "XYZ", side, qty, price=price), ts):
            stack.pipeline.on_event(ev)

    order("short", Side.SELL, 10, 5000, 1)
    order("buyer", Side.BUY, 10, 5000, 2)
    stack.pipeline.flush()
    order("buyer", Side.SELL, 1, 5000, 73 * DAY + 1)
    order("short", Side.BUY, 1, 5000, 73 * DAY + 2)   # the trade: exactly 73 days after the first batch's
    stack.pipeline.flush()
    return stack


def test_the_fee_is_certified_settled_on_chain_and_earned_by_the_lender(fees_flow):
    stack = fees_flow
    p, venue = stack.pipeline, stack.venue
    c = venue.client
    short, xyz = venue.accounts["short"], venue.tokens["XYZ"]
    index = p.margin.token_index[xyz]
    assert p.settled_count == 2 and not p.failed
    assert 10 * 10_000 * 73 * DAY // (10_000 * YEAR_NS) == 2
    second = p.ledger.settled_batches[2]
    assert [(b.account, b.token, b.fee) for b in second.margin.borrows if b.fee] == [(short, index, 2)]
    # 10 borrowed + 2 fee - 1 bought back; the pool lent 10, got 1 back and earned 2
    assert c.contract.debt_of(short, xyz) == p.ledger.debt(short, xyz) == p.margin.book.debt(short, index) == 11
    assert c.contract.pool(index) == (91, 11, 100)
    lender = venue.chain.accounts["lender"]
    assert p.margin.book.exit_value(index, p.margin.book.shares[lender, index]) == 102  # 100 lent + the 2 fee
    [charge] = p.margin.charges
    assert (charge.sequence, charge.account, charge.debt, charge.fee, charge.rate_bps) == (2, short, 10, 2, 10_000)
    assert reconcile_margin(p.ledger, p.margin, c, venue.accounts.values()) == []


def test_borrow_rates_are_checked():
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.scenario import load_scenario

    for override, key in ((["settlement.borrow_bps={XYZ=-5}"], "settlement.borrow_bps.XYZ"),
                          (["settlement.borrow_bps={ABC=5}"], "settlement.borrow_bps.ABC"),
                          (["settlement.borrow_bps={XYZ=2.5}"], "settlement.borrow_bps.XYZ")):
        with pytest.raises(ConfigError) as err:
            load_scenario(resolve_scenario("margin-cascade-settled"), override)
        assert err.value.key == key

