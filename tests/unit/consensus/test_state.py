from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_sim.core.accounts import Accounts
from market_sim.core.errors import ConfigError
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.consensus.state import BalanceView, Pending, TradeClaim, ValidationState

INST = Instrument("XYZ/USD", tick_size=Decimal("0.01"), lot_size=Decimal("1"), base_decimals=0, quote_decimals=2)
ACCOUNTS = ("alice", "bob", "carol")


def _claim(tid: int = 1, qty: int = 5, price: int = 100, buyer: str = "alice", seller: str = "bob") -> TradeClaim:
    buy = NewOrder(10 * tid, buyer, INST.symbol, Side.BUY, 10, price=105)
    sell = NewOrder(10 * tid + 1, seller, INST.symbol, Side.SELL, 10, price=95)
    return TradeClaim(Trade(tid, tid, INST.symbol, price, qty, buy.order_id, sell.order_id, buyer, seller, Side.BUY),
                      buy, sell)


def test_balance_view_charges_the_taker_fee_to_an_aggressive_buyer() -> None:
    view = BalanceView([INST], {("alice", "USD"): 10_000}, taker_fee_bps=50)
    t = _claim(qty=5, price=100).trade  # 500 USD units, buyer is the aggressor: +0.5% fee
    assert view.debits(t) == ((("alice", "USD"), 502), (("bob", "XYZ"), 5))
    view.apply(dataclasses.replace(t, aggressor=Side.SELL))  # seller aggressor: seller pays the fee
    assert view.balance("alice", "USD") == 9_500 and view.balance("bob", "USD") == 498


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), st.integers(1, 50),
                          st.integers(1, 10_000), st.booleans()), max_size=30),
       st.integers(0, 100))
def test_applying_trades_conserves_each_asset_less_fees(trades, fee_bps: int) -> None:
    view = BalanceView([INST], {(a, s): 10**6 for a in ACCOUNTS for s in ("USD", "XYZ")}, taker_fee_bps=fee_bps)
    fees = 0
    for i, (buyer, seller, qty, price, buy_aggr) in enumerate(trades):
        t = Trade(i, i, INST.symbol, price, qty, 2 * i, 2 * i + 1, buyer, seller, Side.BUY if buy_aggr else Side.SELL)
        fees += qty * price * fee_bps // 10_000
        view.apply(t)
    assert view.settled.totals() == {"XYZ": 3 * 10**6, "USD": 3 * 10**6 - fees}


def test_pending_holds_and_release() -> None:
    state = ValidationState(ACCOUNTS, BalanceView([INST], {("alice", "USD"): 1000, ("bob", "XYZ"): 10}))
    claim = _claim(qty=5, price=100)
    state.record_orders(claim)
    pending = Pending()
    assert state.check(claim, pending, known_orders_only=True) is None
    pending.add(claim.trade, state.balances)
    assert pending.held[("alice", "USD")] == 500 and pending.held[("bob", "XYZ")] == 5
    assert state.check(claim, pending).startswith("duplicate_trade")
    second = _claim(tid=2, qty=6, price=100)
    state.record_orders(second)
    # amounts in messages are decimal token amounts (USD has 2 decimals here), not base units labelled as tokens
    assert state.check(second, pending) == "insolvent: alice needs 6 USD, has 5 USD"
    pending.remove(claim.trade, state.balances)
    assert state.check(second, pending) is None
    state.finalize([claim.trade])
    assert state.balances.balance("alice", "USD") == 500 and state.balances.balance("alice", "XYZ") == 5
    assert state.check(claim).startswith("duplicate_trade")


def test_orders_must_be_on_record_and_unchanged() -> None:
    state = ValidationState(ACCOUNTS)
    claim = _claim()
    assert state.check(claim, known_orders_only=True).startswith("unknown_order")
    state.record_orders(claim)
    smaller = dataclasses.replace(claim, buy=dataclasses.replace(claim.buy, quantity=7))
    state.record_orders(smaller)  # the exchange reports the order again after a partial fill
    assert state.check(smaller, known_orders_only=True) is None and state.check(claim, known_orders_only=True) is None
    forged = dataclasses.replace(claim, buy=dataclasses.replace(claim.buy, price=200))
    assert state.check(forged, known_orders_only=True).startswith("order_mismatch")
    copy = state.copy()
    copy.final_ids.add(1)
    assert 1 not in state.final_ids


def test_insolvency_message_prints_token_amounts_not_base_units() -> None:
    inst = Instrument("ETH/USD", tick_size=Decimal("0.01"), lot_size=Decimal("0.001"))  # 18 decimals each
    view = BalanceView([inst], {("alice", "USD"): 1_500 * 10**18 + 25 * 10**16})
    state = ValidationState(ACCOUNTS, view)
    t = Trade(1, 1, inst.symbol, 300_000, 1_000, 2, 3, "alice", "bob", Side.BUY)  # 1 ETH at 3,000.00 USD
    claim = TradeClaim(t, NewOrder(2, "alice", inst.symbol, Side.BUY, 1_000, price=300_000),
                       NewOrder(3, "bob", inst.symbol, Side.SELL, 1_000, price=300_000))
    assert state.check(claim) == "insolvent: alice needs 3,000 USD, has 1,500.25 USD"


def test_balance_view_keeps_its_balances_in_core_accounts_and_copies_are_independent() -> None:
    view = BalanceView([INST], {("alice", "USD"): 1000, ("bob", "XYZ"): 10})
    assert isinstance(view.settled, Accounts) and view.settled["alice"].balances == {"USD": 1000}
    view.reserve("alice", "USD", 300)
    copy = view.copy()
    assert type(copy) is BalanceView and copy.instruments is view.instruments
    copy.apply(_claim(qty=2, price=100).trade)  # alice pays 200 USD for 2 XYZ from bob
    copy.claimed("alice", "USD", 300)
    copy.deposit("carol", "USD", 7)
    assert (copy.available(("alice", "USD")), copy.balance("alice", "XYZ"), copy.balance("carol", "USD")) == (500, 2, 7)
    assert view.available(("alice", "USD")) == 700 and view.balance("alice", "USD") == 1000
    assert view.reserved == {("alice", "USD"): 300} and "carol" not in view.settled
    assert [(a.id, a.balances) for a in view.settled] == [("alice", {"USD": 1000}), ("bob", {"XYZ": 10})]


def test_undoing_a_trade_restores_every_balance() -> None:
    view = BalanceView([INST], {("alice", "USD"): 1000, ("bob", "XYZ"): 10}, taker_fee_bps=30)
    for aggressor in (Side.BUY, Side.SELL):
        t = dataclasses.replace(_claim(qty=3, price=333).trade, aggressor=aggressor)
        view.apply(t)
        assert view.settled.totals() == {"USD": 1000 - 999 * 30 // 10_000, "XYZ": 10}
        view.apply(t, -1)
        assert [(a.id, a.balances) for a in view.settled] == [("alice", {"USD": 1000, "XYZ": 0}),
                                                               ("bob", {"XYZ": 10, "USD": 0})]


def test_deposits_must_be_integers() -> None:
    with pytest.raises(ConfigError, match="integers"):
        BalanceView([INST], {("alice", "USD"): 1.5})
    with pytest.raises(ConfigError, match="integers"):
        BalanceView([INST]).deposit("alice", "USD", True)
