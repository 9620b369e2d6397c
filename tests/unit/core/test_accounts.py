"""Accounts: balances per asset, positions with exact integer cost basis and realized PnL, one Fill for book and AMM."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from market_sim.core.accounts import Account, Accounts, Fill, KeyedBalances, Liquidity, Transfer, book_fill
from market_sim.core.errors import ValidationError
from market_sim.core.instruments import Instrument
from market_sim.core.orders import Side

AAPL = Instrument("AAPL", tick_size=Decimal("0.01"), lot_size=Decimal("1"), base_decimals=0, quote_decimals=2)


def _fill(side, price, lots, account="a", fee=0):
    return book_fill(0, account, "ex", AAPL, side, price, lots, order_id=1, trade_id=1, maker=False, fee=fee)


def test_book_fill_converts_lots_and_ticks_to_asset_units():
    f = _fill(Side.BUY, 19_010, 3)  # 3 shares at 190.10
    assert (f.base_asset, f.base_amount, f.quote_asset, f.quote_amount) == ("AAPL", 3, "USD", 57_030)
    assert f.liquidity is Liquidity.TAKER and f.price == 19_010 and f.quantity == 3


def test_long_round_trip_balances_cost_and_realized():
    a = Account("a")
    a.credit("USD", 1_000_000)
    a.apply(_fill(Side.BUY, 10_000, 10))          # 10 @ 100.00
    a.apply(_fill(Side.BUY, 11_000, 10))          # 10 @ 110.00
    pos = a.position("AAPL")
    assert (pos.quantity, pos.cost) == (20, 210_000)
    assert pos.average_price() == Fraction(10_500)
    assert pos.unrealized(Fraction(12_000)) == 30_000
    assert a.apply(_fill(Side.SELL, 12_000, 5, fee=100)) == 5 * 12_000 - 52_500
    assert (pos.quantity, pos.cost, pos.fees) == (15, 157_500, 100)
    a.apply(_fill(Side.SELL, 9_000, 15))
    assert (pos.quantity, pos.cost, pos.realized) == (0, 0, 7_500 - 22_500)
    assert a.balances == {"USD": 1_000_000 - 210_000 + 60_000 - 100 + 135_000, "AAPL": 0}
    assert pos.pnl(None) == -15_000 - 100


def test_short_and_flip_through_zero():
    a = Account("a")
    a.apply(_fill(Side.SELL, 10_000, 4))           # short 4 @ 100
    pos = a.position("AAPL")
    assert (pos.quantity, pos.cost) == (-4, -40_000)
    assert a.borrowed() == {"AAPL": 4}
    assert pos.unrealized(Fraction(9_000)) == 4_000
    assert a.apply(_fill(Side.BUY, 9_000, 6)) == 4_000   # cover 4 at 90, go long 2 at 90
    assert (pos.quantity, pos.cost, pos.realized) == (2, 18_000, 4_000)


def test_amm_swap_fill_and_transfers():
    accts = Accounts()
    swap = Fill(5, "lp", "amm-a", "ETH/USDC", Side.SELL, "ETH@a", 10**18, "USDC@a", 3_000 * 10**6,
                liquidity=Liquidity.POOL)
    accts.transfer(Transfer(0, "lp", "ETH@a", 2 * 10**18, "deposit"))
    accts.apply(swap)
    accts["lp"].move("USDC@a", "USDC@bridge", 1_000 * 10**6)
    assert accts["lp"].balances == {"ETH@a": 10**18, "USDC@a": 2_000 * 10**6, "USDC@bridge": 1_000 * 10**6}
    prices = {"ETH@a": Fraction(3_000 * 10**6, 10**18), "USDC@a": Fraction(1), "USDC@bridge": Fraction(1)}
    assert accts["lp"].value(prices.get, "USD") == 6_000 * 10**6
    assert accts.totals(["USDC@bridge"]) == {"USDC@bridge": 1_000 * 10**6}


def test_errors_name_what_was_wrong():
    a = Account("a")
    with pytest.raises(ValidationError, match="integer"):
        a.credit("USD", 1.5)
    with pytest.raises(ValidationError, match="applied to account a"):
        a.apply(_fill(Side.BUY, 1, 1, account="b"))
    with pytest.raises(ValidationError, match="amounts must be positive"):
        _fill(Side.BUY, 1, 0)
    a.credit("XYZ", 5)
    with pytest.raises(ValidationError, match="no price for XYZ"):
        a.value(lambda asset: None, "USD")


def test_copies_share_nothing_that_changes():
    accts = Accounts()
    accts.credit("a", "USD", 1_000_000)
    accts.apply(_fill(Side.BUY, 10_000, 10, fee=30))
    copy = accts.copy()
    assert [(c.id, c.balances, c.fees_paid) for c in copy] == [("a", {"USD": 899_970, "AAPL": 10}, {"USD": 30})]
    assert copy["a"].position("AAPL") == accts["a"].position("AAPL")
    copy.apply(_fill(Side.SELL, 11_000, 4, fee=10))  # the copy moves on; the original does not
    copy.credit("b", "USD", 5)
    assert accts["a"].balances == {"USD": 899_970, "AAPL": 10} and accts["a"].fees_paid == {"USD": 30}
    assert (accts["a"].position("AAPL").quantity, accts["a"].position("AAPL").fills) == (10, 1)
    assert (copy["a"].position("AAPL").quantity, copy["a"].position("AAPL").realized) == (6, 4_000)
    assert copy["a"].balances == {"USD": 899_970 + 44_000 - 10, "AAPL": 6} and "b" not in accts


def test_accounts_balance_reads_without_creating():
    accts = Accounts()
    assert accts.balance("a", "USD") == 0 and len(accts) == 0
    accts.credit("a", "USD", -7)  # negative balances are allowed (a loan)
    assert accts.balance("a", "USD") == -7 and accts.balance("a", "XYZ") == 0
    with pytest.raises(ValidationError, match="a: USD amount must be an integer, got True"):
        accts.credit("a", "USD", True)


def test_keyed_balances_is_the_accounts_by_pair():
    accts = Accounts()
    keyed = KeyedBalances(accts)
    keyed["a", "USD"] += 5  # a missing pair reads 0
    keyed["b", "XYZ"] = -2
    accts.credit("a", "XYZ", 1)
    assert dict(keyed) == {("a", "USD"): 5, ("a", "XYZ"): 1, ("b", "XYZ"): -2} and len(keyed) == 3
    assert accts["a"].balances == {"USD": 5, "XYZ": 1}
    assert keyed.get(("c", "USD")) is None and keyed.get(("a", "ZZZ"), 9) == 9 and keyed["c", "USD"] == 0
    assert ("a", "USD") in keyed and ("c", "USD") not in keyed and "a" not in keyed and "c" not in accts
    assert keyed.pop(("b", "XYZ")) == -2 and keyed.pop(("b", "XYZ"), 4) == 4 and keyed.setdefault(("d", "Q"), 3) == 3
    with pytest.raises(KeyError):
        del keyed["a", "ZZZ"]
    with pytest.raises(ValidationError, match="integer"):
        keyed["a", "USD"] = 1.0


@given(st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 50_000), st.integers(1, 40)),
                min_size=1, max_size=40))
def test_realized_minus_cost_is_exactly_the_cash_flow(trades):
    a = Account("a")
    cash = 0
    for side, price, lots in trades:
        f = _fill(side, price, lots)
        cash += f.signed_quote
        a.apply(f)
    pos = a.position("AAPL")
    assert pos.realized - pos.cost == cash
    assert pos.quantity == sum(l if s is Side.BUY else -l for s, _, l in trades)
    assert a.balance("USD") == cash
    mark = Fraction(trades[-1][1])
    # Total PnL at a mark equals cash plus the marked value of what is held (up to the truncation of that value).
    assert pos.pnl(mark) == cash + int(pos.quantity * mark)
