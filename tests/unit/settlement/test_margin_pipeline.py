"""Margin batches through the real pipeline and committee (issue 16): a short sale borrows from the pool, the
validators sign the margin leaf, a trade that would leave an account below maintenance is refused with the reason,
and the ledger, the validators' book and the chain agree on balances, debts and pools exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from market_sim.blockchain import Chain
from market_sim.consensus.config import ConsensusConfig
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, OrderType, Side, TimeInForce
from market_sim.market import MatchingEngine
from market_sim.settlement.batch import SettlementMode
from market_sim.settlement.margin_pipeline import MarginSettings, pool_cash, reconcile_margin
from market_sim.settlement.reconcile import reconcile
from market_sim.settlement.setup import build_stack

XYZ = Instrument("XYZ", tick_size=Decimal("0.01"), base_asset="XYZ", quote_asset="USD", base_decimals=0,
                 quote_decimals=2)
MARGIN = MarginSettings(maintenance_bps={"XYZ": 3000, "USD": 0}, pools={"XYZ": {"lender": 100}})


@pytest.fixture(scope="module")
def flow():
    names = ["buyer", "short", "thin"]
    stack = build_stack(Chain.local(chain_id=1016), {"XYZ": XYZ}, names, {"USD": 0}, ConsensusConfig(nodes=4),
                        overrides={"buyer": {"USD": 1_000_000}, "short": {"USD": 50_000}, "thin": {"USD": 10_000}},
                        margin=MARGIN)
    engine = MatchingEngine([XYZ], validator=stack.committee)
    trades: list[Trade] = []
    oid = 0

    def order(trader, side, qty, price=None):
        nonlocal oid
        oid += 1
        cmd = (NewOrder(oid, trader, "XYZ", side, qty, price=price) if price is not None else
               NewOrder(oid, trader, "XYZ", side, qty, OrderType.MARKET, tif=TimeInForce.IOC))
        for ev in engine.process(cmd, oid * 1000):
            if type(ev) is Trade:
                trades.append(ev)
            stack.pipeline.on_event(ev)

    order("short", Side.SELL, 10, 5000)   # 10 XYZ at 50.00: short borrows 10 of the pool's 100
    order("thin", Side.SELL, 10, 5000)    # 100 USD against 65 USD required after the sale's 50: below
    order("buyer", Side.BUY, 20)
    stack.pipeline.flush()
    return stack, trades, order


def test_short_sale_borrows_and_below_maintenance_is_refused_with_the_reason(flow):
    stack, trades, _ = flow
    p = stack.pipeline
    assert p.mode is SettlementMode.MARGIN and len(trades) == 2
    assert [f.trade.seller for f in p.failed] == ["thin"]
    assert p.failed[0].reason == ("below maintenance: " + stack.venue.accounts["thin"] + " requires 65000 of margin "
                                  "at the batch's marks, has 60000 (value units: quote base units)")
    assert p.settled_count == 1 and p.accounted() and not p.pending
    batch = p.ledger.settled_batches[1]
    xyz = p.margin.token_index[stack.venue.tokens["XYZ"]]
    assert batch.margin.marks[xyz - 1] == 5000 and set(batch.margin.marks) == {5000, 1}
    assert batch.margin.liquidated == ()


def test_chain_ledger_and_book_agree_on_balances_debts_pools(flow):
    stack, _, _ = flow
    p, venue = stack.pipeline, stack.venue
    c = venue.client
    short, xyz, usd = venue.accounts["short"], venue.tokens["XYZ"], venue.tokens["USD"]
    assert (c.balance(short, xyz), c.balance(short, usd), c.contract.debt_of(short, xyz)) == (0, 100_000, 10)
    assert p.ledger.debt(short, xyz) == 10 and p.ledger.balance(short, usd) == 100_000
    assert c.contract.pool(c.token_index(xyz)) == (90, 10, 100)
    buyer = venue.accounts["buyer"]
    fee = 50_000 * 5 // 10_000 * 0  # taker fee 0 here
    assert c.balance(buyer, xyz) == 10 and c.balance(buyer, usd) == 1_000_000 - 50_000 - fee
    assert reconcile_margin(p.ledger, p.margin, c, venue.accounts.values()) == []
    report = reconcile(p.ledger, c, accounts=[*venue.accounts.values(), venue.fee_account],
                       tokens=venue.tokens.values(), log=stack.committee.log, pool_cash=pool_cash(p.margin))
    assert report.ok, report.summary()


def test_a_mark_rise_liquidates_the_short_in_a_batch_that_settles_below_maintenance(flow):
    """At 80.00 the short (debt 10 XYZ, 1,000 USD) needs 10 * 8000 * 1.3 = 104,000 > 100,000: it is below before the
    batch, borrows nothing in it, so its buy-back is a liquidation and settles even though it stays below (debt 9,
    92,000 USD against 93,600)."""
    stack, _, order = flow
    p, venue = stack.pipeline, stack.venue
    c = venue.client
    short, xyz, usd = venue.accounts["short"], venue.tokens["XYZ"], venue.tokens["USD"]
    batches = len(p.batches)
    order("buyer", Side.SELL, 1, 8000)
    order("short", Side.BUY, 1)
    p.flush()
    assert len(p.batches) == batches + 1 and len(p.failed) == 1
    batch = p.ledger.settled_batches[p.ledger.last_sequence]
    assert batch.margin.liquidated == (short,)
    assert (c.balance(short, usd), c.contract.debt_of(short, xyz), c.balance(short, xyz)) == (92_000, 9, 0)
    assert c.contract.margin_of(short, list(batch.margin.marks)) == (93_600, 92_000)
    assert p.margin.liquidations[-1] == (batch.sequence, short)
    assert reconcile_margin(p.ledger, p.margin, c, venue.accounts.values()) == []


# ---- the planner's admission, off chain (hypothesis) -------------------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402

from market_sim.settlement.margin import MarginBook  # noqa: E402
from market_sim.settlement.margin_pipeline import MarginPlanner  # noqa: E402
from market_sim.settlement.trades import SettledTrade, TradeEncoder  # noqa: E402

BASE_T, QUOTE_T = "0x" + "11" * 20, "0x" + "22" * 20
WHO = ["0x" + f"{i:02x}" * 20 for i in range(0xa1, 0xa6)]
FEE = "0x" + "ff" * 20


def _planner(cash: list[int], pool: int) -> MarginPlanner:
    book = MarginBook(2, maintenance_bps={1: 3000, 2: 0})
    book.lend(FEE, 1, pool)
    for who, amount in zip(WHO, cash):
        if amount:
            book.deposit(who, 2, amount)
    encoder = TradeEncoder({"XYZ": XYZ}, {"XYZ": BASE_T, "USD": QUOTE_T}, {})
    return MarginPlanner(book, encoder, FEE, {BASE_T: 1, QUOTE_T: 2}, {BASE_T: "XYZ", QUOTE_T: "USD"})


@settings(max_examples=60, deadline=None)
@given(cash=st.lists(st.integers(0, 2_000), min_size=5, max_size=5), pool=st.integers(1, 40),
       legs=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 10), st.integers(1, 200)),
                     min_size=1, max_size=12))
def test_admitted_batches_settle_and_refusals_leave_the_book_unchanged(cash, pool, legs):
    planner = _planner(cash, pool)
    trades = [SettledTrade(i, WHO[b], WHO[s], BASE_T, QUOTE_T, q, q * p) for i, (b, s, q, p) in enumerate(legs, 1)
              if b != s]
    before = (dict(planner.book.balances), dict(planner.book.debts), planner.book.pool(1).cash)
    kept, refused = planner.admit(trades)
    assert (dict(planner.book.balances), dict(planner.book.debts), planner.book.pool(1).cash) == before
    assert sorted([t.trade_id for t in kept] + [t.trade_id for t, _ in refused]) == [t.trade_id for t in trades]
    assert [t.trade_id for t in kept] == sorted(t.trade_id for t in kept)  # in the order received
    assert all(r.split(":")[0] in ("below maintenance", "pool exhausted", "insufficient balance") for _, r in refused)
    if kept:
        data = planner.data(kept)
        planner.book.apply(data)  # settles exactly as the contract would: no MarginRefusal
        for account in {a for a, _ in data.deltas.groups}:
            assert account in data.liquidated or not planner.book.below_maintenance(account, data.marks)
        assert planner.book.pool(1).cash >= 0


@pytest.mark.parametrize("override, key", [
    (["settlement.margin=false"], "settlement.maintenance_bps"),
    (["settlement.pools={ABC=3}"], "settlement.pools.ABC"),
    (["settlement.maintenance_bps={XYZ=-1}"], "settlement.maintenance_bps.XYZ"),
])
def test_margin_keys_are_checked(override, key):
    from market_sim.core.errors import ConfigError
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.scenario import load_scenario

    with pytest.raises(ConfigError) as err:
        load_scenario(resolve_scenario("margin-cascade-settled"), override)
    assert err.value.key == key


def test_the_lender_holds_the_pool_shares_on_chain(flow):
    stack, _, _ = flow
    p, venue = stack.pipeline, stack.venue
    lender, index = venue.chain.accounts["lender"], p.margin.token_index[venue.tokens["XYZ"]]
    assert venue.client.contract.pool_shares(lender, index) == p.margin.book.shares[lender, index] == 100
