"""Exercise, assignment and expiry of listed options on hand-built positions: exact integer cash flows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_sim.core.accounts import Accounts, book_fill
from market_sim.core.errors import ValidationError
from market_sim.core.instruments import AssetClass, Instrument, OptionTerms
from market_sim.core.orders import Side
from market_sim.options.clearing import ExerciseError, OptionsClearing, intrinsic_ticks, pro_rata

SEC = 10 ** 9
XYZ = Instrument("XYZ", tick_size=Decimal("0.01"), base_decimals=0, quote_decimals=2)


def option(symbol: str, strike: str, right: str = "call", style: str = "european", settlement: str = "cash",
           multiplier: int = 10, expiry: int = 60 * SEC) -> Instrument:
    return Instrument(symbol, tick_size=Decimal("0.01"), lot_size=Decimal(multiplier), base_decimals=0,
                      quote_decimals=2, option=OptionTerms("XYZ", Decimal(strike), expiry, right, multiplier, style,
                                                           settlement))


def world(*insts: Instrument) -> tuple[Accounts, OptionsClearing]:
    accounts = Accounts()
    return accounts, OptionsClearing(accounts, {i.symbol: i for i in (XYZ, *insts)})


def trade(accounts: Accounts, inst: Instrument, buyer: str, seller: str, contracts: int, price: int) -> None:
    """Both sides of an order-book trade of `contracts` at `price` ticks, booked at once."""
    for acct, side in ((buyer, Side.BUY), (seller, Side.SELL)):
        accounts.apply(book_fill(0, acct, "options", inst, side, price, contracts, order_id=1, trade_id=1,
                                 maker=side is Side.SELL))


def test_option_instrument_terms_and_backward_compatibility():
    c = option("C50", "50")
    assert c.asset_class is AssetClass.OPTION and c.strike_ticks == 5000
    assert c.base_units_per_lot == 10 and c.quote_units_per_lot_tick == 10  # 10 units x 1 cent
    assert Instrument("AAPL").option is None and Instrument("AAPL").asset_class is AssetClass.EQUITY
    with pytest.raises(ValidationError, match="lot_size is its multiplier"):
        Instrument("bad", lot_size=Decimal(1), base_decimals=0, quote_decimals=2,
                   option=OptionTerms("XYZ", Decimal(50), SEC, "call", 10))
    with pytest.raises(ValidationError, match="strike"):
        option("odd", "50.005")
    with pytest.raises(ValidationError, match="right must be one of"):
        OptionTerms("XYZ", Decimal(50), SEC, "straddle")
    with pytest.raises(ValidationError, match="asset_class option or warrant"):
        Instrument("fut", asset_class="future", lot_size=Decimal(10), base_decimals=0, quote_decimals=2,
                   option=OptionTerms("XYZ", Decimal(50), SEC, "call", 10))


def test_cash_settled_call_in_the_money_pays_the_long_exactly():
    c = option("C50", "50")
    accounts, clearing = world(c)
    trade(accounts, c, "long", "short", 3, 150)            # 3 contracts x 10 units x $1.50 = $45.00
    assert accounts["long"].balance("USD") == -4500 and accounts["short"].balance("USD") == 4500
    rows = clearing.expire("C50", 5230, 60 * SEC)         # settles at $52.30: intrinsic 230 ticks
    assert [(r.account, r.kind, r.contracts, r.intrinsic_ticks, r.cash) for r in rows] == [
        ("long", "exercise", 3, 230, 6900), ("short", "assignment", 3, 230, -6900)]
    assert accounts["long"].balance("USD") == 2400 and accounts["short"].balance("USD") == -2400
    assert accounts["long"].balance("C50") == 0 and accounts["short"].balance("C50") == 0
    assert accounts["long"].positions["C50"].quantity == 0
    assert accounts["long"].positions["C50"].realized == 2400 and accounts["short"].positions["C50"].realized == -2400
    assert clearing.open_interest("C50") == {}
    with pytest.raises(ExerciseError, match="already expired"):
        clearing.expire("C50", 5230, 60 * SEC)


def test_out_of_the_money_put_expires_worthless_and_nothing_stays_open():
    p = option("P48", "48", right="put")
    accounts, clearing = world(p)
    trade(accounts, p, "a", "b", 2, 40)
    trade(accounts, p, "b", "c", 1, 45)                     # b closes half, c is now short one
    rows = clearing.expire("P48", 4801, 60 * SEC)          # one tick above the strike: out of the money
    assert sorted((r.account, r.kind, r.contracts, r.cash) for r in rows) == [
        ("a", "expiry", 2, 0), ("b", "expiry", 1, 0), ("c", "expiry", 1, 0)]
    assert {a.id: a.balance("USD") for a in accounts} == {"a": -800, "b": 800 - 450, "c": 450}
    assert all(a.balance("P48") == 0 and a.positions["P48"].quantity == 0 for a in accounts)
    assert accounts["a"].positions["P48"].realized == -800


def test_in_the_money_put_settles_on_the_strike_side():
    p = option("P48", "48", right="put")
    accounts, clearing = world(p)
    trade(accounts, p, "a", "b", 4, 100)
    rows = clearing.expire("P48", 4650, 60 * SEC)          # intrinsic $1.50
    assert [(r.account, r.cash) for r in rows] == [("a", 6000), ("b", -6000)]
    assert intrinsic_ticks(p, 4650) == 150 and intrinsic_ticks(p, 4800) == 0


def test_physical_settlement_delivers_the_underlying_at_the_strike():
    c = option("C50", "50", settlement="physical")
    accounts, clearing = world(c)
    clearing.check_physical(c)
    trade(accounts, c, "long", "short", 2, 300)            # premium 2 x 10 x $3 = $60
    rows = clearing.expire("C50", 5300, 60 * SEC)
    assert [(r.account, r.kind, r.cash, r.underlying) for r in rows] == [
        ("long", "exercise", -100000, 20), ("short", "assignment", 100000, -20)]
    assert accounts["long"].balance("XYZ") == 20 and accounts["short"].balance("XYZ") == -20
    assert accounts["long"].balance("USD") == -6000 - 100000 and accounts["short"].balance("USD") == 6000 + 100000
    assert accounts["long"].positions["XYZ"].quantity == 20 and accounts["long"].positions["XYZ"].cost == 100000
    assert accounts["long"].balance("C50") == 0


def test_physical_put_exercise_sells_the_underlying():
    p = option("P50", "50", right="put", settlement="physical", style="american")
    accounts, clearing = world(p)
    trade(accounts, p, "long", "short", 1, 200)
    rows = clearing.exercise("long", "P50", 1, 4500, 10 * SEC)
    assert [(r.account, r.kind, r.cash, r.underlying) for r in rows] == [
        ("long", "exercise", 50000, -10), ("short", "assignment", -50000, 10)]


def test_pro_rata_rule_with_largest_remainder_then_size_then_id():
    assert pro_rata(7, {"b": 5, "c": 3, "d": 2}) == {"b": 4, "c": 2, "d": 1}
    assert pro_rata(1, {"y": 1, "x": 1}) == {"x": 1}                 # tie: the account id decides
    assert pro_rata(2, {"s": 1, "big": 3, "m": 2}) == {"big": 1, "m": 1}  # floors 0, 1, 0; remainders 2, 0, 4
    assert pro_rata(6, {"a": 4, "b": 2}) == {"a": 4, "b": 2}
    with pytest.raises(ExerciseError):
        pro_rata(7, {"a": 6})


def test_american_early_exercise_is_assigned_pro_rata_with_exact_cash():
    c = option("C50", "50", style="american")
    accounts, clearing = world(c)
    for short, n in (("b", 5), ("c", 3), ("d", 2)):
        trade(accounts, c, "a", short, n, 100)
    rows = clearing.exercise("a", "C50", 7, 5200, 30 * SEC)          # intrinsic 200 ticks = $2 per unit
    assert [(r.account, r.kind, r.contracts, r.cash) for r in rows] == [
        ("a", "exercise", 7, 14000), ("b", "assignment", 4, -8000), ("c", "assignment", 2, -4000),
        ("d", "assignment", 1, -2000)]
    assert clearing.open_interest("C50") == {"a": 3, "b": -1, "c": -1, "d": -1}
    assert sum(a.balance("USD") for a in accounts) == 0


def test_refused_exercises():
    e = option("E50", "50")
    am = option("A50", "50", style="american")
    accounts, clearing = world(e, am)
    trade(accounts, e, "a", "b", 1, 100)
    trade(accounts, am, "a", "b", 1, 100)
    with pytest.raises(ExerciseError, match="European"):
        clearing.exercise("a", "E50", 1, 5200, SEC)
    with pytest.raises(ExerciseError, match="long 1 contracts"):
        clearing.exercise("a", "A50", 2, 5200, SEC)
    with pytest.raises(ExerciseError, match="long -1"):
        clearing.exercise("b", "A50", 1, 5200, SEC)
    with pytest.raises(ExerciseError, match="not in the money"):
        clearing.exercise("a", "A50", 1, 5000, SEC)
    with pytest.raises(ExerciseError, match="expired"):
        clearing.exercise("a", "A50", 1, 5200, 60 * SEC)
    with pytest.raises(ExerciseError, match="positive whole number"):
        clearing.exercise("a", "A50", 0, 5200, SEC)
    assert accounts["a"].balance("USD") == -2000  # nothing moved


_OPS = st.lists(st.one_of(
    st.tuples(st.just("trade"), st.integers(0, 3), st.integers(0, 3), st.integers(1, 5), st.integers(0, 400)),
    st.tuples(st.just("exercise"), st.integers(0, 3), st.integers(1, 5), st.integers(4000, 6000))), max_size=30)


@settings(max_examples=60, deadline=None)
@given(ops=_OPS, settle=st.integers(4000, 6000), physical=st.booleans())
def test_positions_net_to_zero_and_settlement_conserves_cash(ops, settle, physical):
    c = option("C50", "50", style="american", settlement="physical" if physical else "cash")
    accounts, clearing = world(c)
    names = ["a", "b", "c", "d"]

    def invariant() -> None:
        totals = accounts.totals()
        assert totals.get("C50", 0) == 0 and totals.get("USD", 0) == 0 and totals.get("XYZ", 0) == 0
        assert sum(clearing.open_interest("C50").values()) == 0

    for op in ops:
        if op[0] == "trade":
            _, b, s, n, price = op
            if b != s:
                trade(accounts, c, names[b], names[s], n, price)
        else:
            _, h, n, s_ticks = op
            try:
                clearing.exercise(names[h], "C50", n, s_ticks, SEC)
            except ExerciseError:
                pass
        invariant()
    before = {a.id: a.balance("USD") for a in accounts}
    rows = clearing.expire("C50", settle, 60 * SEC)
    invariant()
    assert all(a.balance("C50") == 0 for a in accounts) and clearing.open_interest("C50") == {}
    itm = max(0, settle - 5000)
    for r in rows:  # each account's cash moved by exactly its settlement row
        assert accounts[r.account].balance("USD") - before[r.account] == r.cash
        if not physical:
            signed = r.contracts if r.kind == "exercise" else -r.contracts
            assert r.cash == (signed * 10 * itm if r.kind != "expiry" else 0)
