"""Cumulative fills: validators track how much of each order their approved trades fill and refuse an overfill."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.consensus import BalanceView, Cluster, Committee, ConsensusConfig, Submission, TradeClaim
from market_sim.consensus.state import Refusal, ValidationState, refusal_code

INST = Instrument("XYZ/USD", tick_size=Decimal("0.01"), lot_size=Decimal("1"), base_decimals=0, quote_decimals=2)
ACCOUNTS = ("acct0", "acct1", "acct2")
BIG = BalanceView([INST], {**{(a, "USD"): 10**9 for a in ACCOUNTS}, **{(a, "XYZ"): 10**6 for a in ACCOUNTS}})


def _overfill_claims() -> list[TradeClaim]:
    """Two 10-lot trades against one 10-lot buy order (each with its own 10-lot sell order)."""
    buy = NewOrder(10, "acct0", INST.symbol, Side.BUY, 10, price=100)
    claims = []
    for tid, seller in ((1, "acct1"), (2, "acct2")):
        sell = NewOrder(10 + tid, seller, INST.symbol, Side.SELL, 10, price=100)
        claims.append(TradeClaim(Trade(0, tid, INST.symbol, 100, 10, buy.order_id, sell.order_id, "acct0", seller,
                                       Side.SELL), buy, sell))
    return claims


@pytest.mark.parametrize("protocol", ["bft", "streamlet"])
@pytest.mark.parametrize("pretrade", [True, False])
def test_all_honest_committee_finalizes_only_one_fill_of_an_order(protocol: str, pretrade: bool) -> None:
    cfg = ConsensusConfig(nodes=4, protocol=protocol, latency="fixed:5ms", horizon="3s")
    claims = _overfill_claims()
    cluster = Cluster(cfg, accounts=ACCOUNTS, balances=BIG.copy(), pretrade=pretrade)
    result = cluster.run([Submission(0, claims[0]), Submission(1_000_000, claims[1])])
    assert result.finalized == 1
    for node in result.honest:
        assert node.log.trade_ids() == {1}
        assert node.state.filled[10] == 10
    ((tid, reason),) = result.rejected()
    assert tid == 2 and refusal_code(reason) is Refusal.OVERFILL
    assert reason.endswith("overfill: buy order 10 has size 10, 10 already filled, trade 2 adds 10")
    assert not result.safety_problems()


def test_committee_refuses_the_second_fill_and_certifies_the_first() -> None:
    c = Committee.create(ConsensusConfig(nodes=4), accounts=ACCOUNTS, balances=BIG.copy())
    first, second = _overfill_claims()
    assert c.validate_trade(first.trade, first.buy, first.sell) is None
    reason = c.validate_trade(second.trade, second.buy, second.sell)
    assert reason == "overfill: buy order 10 has size 10, 10 already filled, trade 2 adds 10"
    assert refusal_code(reason) is Refusal.OVERFILL
    c.certify_batch([first.trade])
    assert c.validate_trade(second.trade, second.buy, second.sell).startswith("overfill")  # also once final


def _fill(state: ValidationState, tid: int, buy: NewOrder, qty: int, *, approve: bool = True) -> str | None:
    sell = NewOrder(1000 + tid, "acct1", INST.symbol, Side.SELL, qty, price=100)
    claim = TradeClaim(Trade(0, tid, INST.symbol, 100, qty, buy.order_id, sell.order_id, "acct0", "acct1",
                             Side.SELL), buy, sell)
    state.record_orders(claim)
    reason = state.check(claim, state.approved)
    if reason is None and approve:
        state.approved.add(claim.trade, state.balances)
    return reason


def test_partial_fills_reported_as_the_engine_shows_them_are_accepted() -> None:
    """The engine shows each order as it stands before the trade: 10, then 6 left, then 3 left."""
    state = ValidationState(ACCOUNTS)
    buy = NewOrder(10, "acct0", INST.symbol, Side.BUY, 10, price=100)
    assert _fill(state, 1, buy, 4) is None
    assert _fill(state, 2, dataclasses.replace(buy, quantity=6), 3) is None
    assert _fill(state, 3, dataclasses.replace(buy, quantity=3), 3) is None
    assert _fill(state, 4, dataclasses.replace(buy, quantity=3), 1, approve=False).startswith("overfill")
    assert _fill(state, 5, buy, 1).startswith("overfill: buy order 10 has size 10, 10 already filled")


def test_a_modified_up_order_may_fill_its_new_size() -> None:
    state = ValidationState(ACCOUNTS)
    buy = NewOrder(10, "acct0", INST.symbol, Side.BUY, 10, price=100)
    assert _fill(state, 1, buy, 4) is None
    raised = dataclasses.replace(buy, quantity=12)  # modified to 12 open lots after 4 were filled: size 16
    assert _fill(state, 2, raised, 12) is None
    assert state.sizes[10] == 16
    assert _fill(state, 3, raised, 1).startswith("overfill: buy order 10 has size 16, 16 already filled")


def test_stale_order_version_cannot_overfill_but_may_fill_what_is_left() -> None:
    state = ValidationState(ACCOUNTS)
    buy = NewOrder(10, "acct0", INST.symbol, Side.BUY, 10, price=100)
    assert _fill(state, 1, buy, 4) is None
    assert _fill(state, 2, buy, 7).startswith("overfill: buy order 10 has size 10, 4 already filled, trade 2 adds 7")
    assert _fill(state, 3, buy, 6) is None


# ---- through the real matching engine: no false overfill on engine-produced claims ------------------------------

from collections import Counter  # noqa: E402

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from market_sim.core.events import TradeRejected  # noqa: E402
from market_sim.core.orders import CancelOrder, ModifyOrder, OrderType  # noqa: E402
from market_sim.market import MatchingEngine  # noqa: E402

_OP = st.tuples(st.sampled_from(("limit", "limit", "iceberg", "market", "cancel", "down", "up", "reprice", "back",
                                 "again")),
                st.sampled_from((Side.BUY, Side.SELL)), st.integers(98, 102), st.integers(1, 12),
                st.integers(0, 10**6))


@settings(max_examples=60, deadline=None)
@given(st.lists(_OP, min_size=1, max_size=60))
@example([("iceberg", Side.SELL, 98, 9, 0), ("iceberg", Side.BUY, 98, 10, 1), ("down", Side.BUY, 98, 3, 1),
          ("limit", Side.SELL, 98, 2, 0)])  # once a "down" that raised the open lots to an earlier version
@example([("limit", Side.SELL, 100, 10, 0), ("limit", Side.BUY, 100, 4, 1), ("down", Side.SELL, 100, 3, 0),
          ("back", Side.SELL, 100, 2, 0), ("limit", Side.BUY, 100, 10, 1)])  # down, back up to the first report
@example([("limit", Side.SELL, 100, 10, 0), ("limit", Side.BUY, 100, 10, 1), ("again", Side.SELL, 100, 1, 0),
          ("limit", Side.BUY, 100, 10, 1)])  # a reused id with the fields of the filled order
def test_engine_trades_are_never_refused_and_fills_are_tracked(ops) -> None:
    """Partial fills, icebergs, reductions, re-pricing, increases, modifies back to a quantity and price the order had
    before (so possibly a state the validators saw reported earlier) and reused ids with the fields of a finished
    order: the committee approves every trade the engine proposes (self-trades aside) and each validator's fill
    count per order equals the engine's."""
    committee = Committee.create(ConsensusConfig(nodes=4), accounts=None, balances=None)
    eng = MatchingEngine([Instrument("XYZ")], validator=committee)
    fills: Counter[int] = Counter()
    owner: dict[int, str] = {}
    largest: dict[int, int] = {}
    submitted: dict[int, NewOrder] = {}
    states: dict[int, list[tuple[int, int]]] = {}  # order id -> every (open lots, price) it rested with
    for ts, (kind, side, price, qty, pick) in enumerate(ops, start=1):
        live = sorted(owner)
        if kind in ("limit", "iceberg", "market"):
            oid = ts
            trader = f"t{pick % 4}"
            cmd = NewOrder(oid, trader, "XYZ", side, qty + (5 if kind == "iceberg" else 0),
                           OrderType.MARKET if kind == "market" else OrderType.LIMIT,
                           None if kind == "market" else price, display_quantity=2 if kind == "iceberg" else None)
            owner[oid], largest[oid], submitted[oid] = trader, cmd.quantity, cmd
        elif not live:
            continue
        elif kind == "again":  # a finished order's id, resubmitted with the same fields
            done = [oid for oid in live if eng.order(oid) is None]
            if not done:
                continue
            cmd = submitted[done[pick % len(done)]]
            largest[cmd.order_id] = cmd.quantity
        else:
            oid = live[pick % len(live)]
            state = eng.order(oid)
            if kind == "cancel":
                cmd = CancelOrder(oid, owner[oid])
            elif kind == "down":  # a real reduction of the open lots
                if state is None or state.quantity <= 1:
                    continue
                cmd = ModifyOrder(oid, owner[oid], quantity=min(qty, state.quantity - 1))
            elif kind == "up":
                largest[oid] += qty  # a size this order never had
                cmd = ModifyOrder(oid, owner[oid], quantity=largest[oid])
            elif kind == "back":  # back to an earlier (open lots, price) of this order
                earlier = [s for s in states.get(oid, ()) if state is None or s != (state.quantity, state.price)]
                if not earlier:
                    continue
                back_qty, back_price = earlier[qty % len(earlier)]
                cmd = ModifyOrder(oid, owner[oid], quantity=back_qty, price=back_price)
            else:
                cmd = ModifyOrder(oid, owner[oid], price=price)
        for event in eng.process(cmd, ts):
            if isinstance(event, TradeRejected):  # the only refusal: no self-trade prevention is configured
                assert refusal_code(event.reason) is Refusal.SELF_TRADE, event
            if isinstance(event, Trade):
                fills[event.buy_order_id] += event.quantity
                fills[event.sell_order_id] += event.quantity
        for oid in live + [ts]:
            state = eng.order(oid)
            if state is not None and (state.quantity, state.price) not in states.setdefault(oid, []):
                states[oid].append((state.quantity, state.price))
    for node in committee.nodes:
        assert +node.state.approved.filled == +fills


# ---- order versions: a new state of an order with the quantity, price and flags of an earlier one -----------------


class _Seen:
    """The committee, unchanged, keeping every claim the engine showed it (to build forgeries from real ones)."""

    def __init__(self, committee: Committee) -> None:
        self.committee = committee
        self.claims: list[TradeClaim] = []

    def validate_trade(self, trade: Trade, buy: NewOrder, sell: NewOrder) -> str | None:
        self.claims.append(TradeClaim(trade, buy, sell))
        return self.committee.validate_trade(trade, buy, sell)


def _versioned_market() -> tuple[MatchingEngine, _Seen]:
    seen = _Seen(Committee.create(ConsensusConfig(nodes=4), accounts=ACCOUNTS, balances=BIG.copy()))
    return MatchingEngine([INST], validator=seen), seen


def _trades(events) -> list[tuple[int, int, int, int]]:
    assert not [e for e in events if isinstance(e, TradeRejected)], events
    return [(e.buy_order_id, e.sell_order_id, e.quantity, e.price) for e in events if isinstance(e, Trade)]


def test_an_order_modified_down_and_back_up_to_an_earlier_size_may_fill_that_size() -> None:
    """Resting 10, 4 filled, modified down to 3, back up to 10 open lots (the quantity, price and flags the
    validators saw at the first trade): the next 10 lots are a valid trade (14 in all) and are approved."""
    eng, seen = _versioned_market()
    sym = INST.symbol
    eng.process(NewOrder(1, "acct0", sym, Side.SELL, 10, price=100), 1)
    assert _trades(eng.process(NewOrder(2, "acct1", sym, Side.BUY, 4, price=100), 2)) == [(2, 1, 4, 100)]
    eng.process(ModifyOrder(1, "acct0", quantity=3), 3)
    eng.process(ModifyOrder(1, "acct0", quantity=10), 4)
    assert _trades(eng.process(NewOrder(3, "acct2", sym, Side.BUY, 10, price=100), 5)) == [(3, 1, 10, 100)]
    first, second = (c.sell for c in seen.claims)
    assert (first.quantity, first.price) == (second.quantity, second.price) == (10, 100)
    assert dataclasses.replace(first, version=second.version) == second and first.version != second.version
    assert [d.approved for d in seen.committee.decisions] == [True, True]
    for node in seen.committee.nodes:
        assert node.state.sizes[1] == 14 and node.state.approved.filled[1] == 14
    seen.committee.certify_batch([c.trade for c in seen.claims])  # and the batch of both is certified
    for node in seen.committee.nodes:
        assert node.state.filled[1] == 14 and not node.state.approved.filled
    # the order is used up: one more lot of it is an overfill
    extra = NewOrder(50, "acct2", sym, Side.BUY, 1, price=100)
    trade = dataclasses.replace(seen.claims[1].trade, trade_id=99, quantity=1, buy_order_id=50)
    assert seen.committee.validate_trade(trade, extra, second) == (
        "overfill: sell order 1 has size 14, 14 already filled, trade 99 adds 1")


def test_a_reused_id_with_the_fields_of_the_finished_order_may_fill_again() -> None:
    eng, seen = _versioned_market()
    sym = INST.symbol
    for ts, buyer in ((1, "acct1"), (3, "acct2")):
        eng.process(NewOrder(1, "acct0", sym, Side.SELL, 10, price=100), ts)  # id 1 again once the first is filled
        assert _trades(eng.process(NewOrder(ts + 1, buyer, sym, Side.BUY, 10, price=100), ts + 1)) == [
            (ts + 1, 1, 10, 100)]
    assert seen.claims[0].sell.version != seen.claims[1].sell.version
    for node in seen.committee.nodes:
        assert node.state.sizes[1] == 20 and node.state.approved.filled[1] == 20


def test_a_proposer_cannot_invent_a_version_to_fit_a_trade() -> None:
    """Versions come from the exchange's feed: a claim whose order carries a version not on record, even with the
    quantity of a real one, is refused (order_mismatch), both in a proposed batch and against the records."""
    eng, seen = _versioned_market()
    sym = INST.symbol
    eng.process(NewOrder(1, "acct0", sym, Side.SELL, 10, price=100), 1)
    assert _trades(eng.process(NewOrder(2, "acct1", sym, Side.BUY, 10, price=100), 2)) == [(2, 1, 10, 100)]
    (real,) = seen.claims
    seen.committee.certify_batch([real.trade])
    node = seen.committee.nodes[0]
    again = TradeClaim(dataclasses.replace(real.trade, trade_id=7), real.buy, real.sell)
    assert node.check_claims([again]) == "trade 7: overfill: buy order 2 has size 10, 10 already filled, trade 7 adds 10"
    invented = dataclasses.replace(real.sell, version=real.sell.version + 1)  # "modified back up to 10"
    forged = TradeClaim(dataclasses.replace(real.trade, trade_id=7), dataclasses.replace(real.buy, version=99),
                        invented)
    assert node.check_claims([forged]) == "trade 7: order_mismatch: order 2 differs from the order on record"
    forged = dataclasses.replace(forged, buy=real.buy)
    assert node.check_claims([forged]) == "trade 7: order_mismatch: order 1 differs from the order on record"
    assert node.state.check(forged) == "order_mismatch: order 1 differs from the order on record"
    assert node.state.sizes[1] == 10  # checking never records
