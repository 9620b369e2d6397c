"""Hypothesis properties: never crossed, quantity conserved, no fill beyond the limit, FIFO within a level."""

from __future__ import annotations

import random
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_sim.core.events import OrderAccepted, OrderCancelled, OrderModified, OrderRepriced, Trade
from market_sim.core.orders import (
    CancelOrder, ModifyOrder, NewOrder, OrderType, PostOnlyMode, STPMode, TimeInForce,
)

from ._helpers import BUY, SELL, SYM, engine

TRADERS = ["a", "b", "c"]
FLAVOURS = ["limit", "limit", "limit", "market", "ioc", "fok", "iceberg", "hidden", "post_reject", "post_reprice",
            "day", "stop", "stop_limit"]

new_op = st.tuples(st.just("new"), st.sampled_from(TRADERS), st.sampled_from([BUY, SELL]), st.sampled_from(FLAVOURS),
                   st.integers(98, 102), st.integers(1, 20), st.sampled_from(list(STPMode)))
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 60))
modify_op = st.tuples(st.just("modify"), st.integers(0, 60), st.one_of(st.none(), st.integers(1, 25)),
                      st.one_of(st.none(), st.integers(97, 103)))
session_op = st.tuples(st.just("end_session"))
ops_strategy = st.lists(st.one_of(new_op, new_op, new_op, cancel_op, modify_op, session_op), min_size=10, max_size=60)


def _command(op, oid: int, ids: list[tuple[int, str]]):
    if op[0] == "cancel" or op[0] == "modify":
        if not ids:
            return None
        target, trader = ids[op[1] % len(ids)]
        if op[0] == "cancel":
            return CancelOrder(target, trader)
        return ModifyOrder(target, trader, quantity=op[2], price=op[3]) if op[2] or op[3] else None
    _, trader, side, flavour, price, qty, stp = op
    kw = {"stp": stp}
    if flavour == "market":
        return NewOrder(oid, trader, SYM, side, qty, OrderType.MARKET, **kw)
    if flavour in ("stop", "stop_limit"):
        stop = price + 3 if side is BUY else price - 3
        kind = OrderType.STOP if flavour == "stop" else OrderType.STOP_LIMIT
        return NewOrder(oid, trader, SYM, side, qty, kind, price if flavour == "stop_limit" else None, stop, **kw)
    kw.update({"ioc": {"tif": TimeInForce.IOC}, "fok": {"tif": TimeInForce.FOK}, "day": {"tif": TimeInForce.DAY},
               "iceberg": {"display_quantity": max(1, qty // 3)}, "hidden": {"hidden": True},
               "post_reject": {"post_only": PostOnlyMode.REJECT},
               "post_reprice": {"post_only": PostOnlyMode.REPRICE}}.get(flavour, {}))
    return NewOrder(oid, trader, SYM, side, qty, OrderType.LIMIT, price, **kw)


def _check_book_integrity(eng) -> None:
    book = eng.book(SYM)
    bid, ask = book.bids.best, book.asks.best
    assert bid is None or ask is None or bid < ask, f"crossed book: bid {bid} >= ask {ask}"
    count = 0
    for ladder in (book.bids, book.asks):
        assert list(ladder.prices) == sorted(ladder.levels)
        extreme = max if ladder is book.bids else min
        assert ladder.best == (extreme(ladder.levels) if ladder.levels else None)
        for level in ladder.levels.values():
            orders = list(level.orders())
            assert orders, "empty level left on the ladder"
            assert level.qty == sum(o.qty for o in orders)
            assert level.shown == sum(o.displayed for o in orders)
            assert all(0 < o.shown <= o.qty and o.level is level for o in orders)
            count += len(orders)
    assert count == eng.resting_count()


def _random_ops(seed: int, n: int) -> list[tuple]:
    """A uniformly random stream (hypothesis' own lists favour small, repetitive cases; this finds deep books)."""
    rng = random.Random(seed)
    ops: list[tuple] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            ops.append(("new", rng.choice(TRADERS), rng.choice([BUY, SELL]), rng.choice(FLAVOURS),
                        rng.randint(97, 103), rng.randint(1, 20), rng.choice(list(STPMode))))
        elif r < 0.8:
            ops.append(("cancel", rng.randint(0, 10**6)))
        elif r < 0.98:
            ops.append(("modify", rng.randint(0, 10**6), rng.choice([None, rng.randint(1, 25)]),
                        rng.choice([None, rng.randint(97, 103)])))
        else:
            ops.append(("end_session",))
    return ops


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops_strategy)
def test_random_streams_keep_every_invariant(ops):
    _run_and_check(ops)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_long_seeded_streams_keep_every_invariant(seed):
    _run_and_check(_random_ops(seed, 300))


class _Picky:
    """Refuses about one proposed trade in four, deterministically."""

    def validate_trade(self, trade, buy, sell):
        return "picky" if (trade.buy_order_id * 7 + trade.sell_order_id) % 4 == 0 else None


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_streams_with_a_refusing_validator_keep_every_invariant(seed):
    _run_and_check(_random_ops(seed, 300), validator=_Picky())


def _run_and_check(ops: list[tuple], **engine_kwargs) -> None:
    """Process the ops, checking after each command; at the end check quantity conservation per order."""
    eng = engine(**engine_kwargs)
    submitted: dict[int, int] = defaultdict(int)   # accepted quantity, adjusted by modifies
    filled: dict[int, int] = defaultdict(int)
    cancelled: dict[int, int] = defaultdict(int)
    limit_of: dict[int, int | None] = {}
    ids: list[tuple[int, str]] = []
    for ts, op in enumerate(ops):
        oid = 1000 + ts
        if op[0] == "end_session":
            events = eng.end_session(ts)
        else:
            cmd = _command(op, oid, ids)
            if cmd is None:
                continue
            open_before = eng.order(cmd.order_id).quantity if isinstance(cmd, ModifyOrder) and eng.order(
                cmd.order_id) else 0
            events = eng.process(cmd, ts)
            if isinstance(cmd, NewOrder):
                ids.append((oid, cmd.trader))
        for e in events:
            if isinstance(e, OrderAccepted):
                submitted[e.order.order_id] += e.order.quantity
                limit_of[e.order.order_id] = e.order.price
            elif isinstance(e, OrderRepriced):
                limit_of[e.order_id] = e.price
            elif isinstance(e, OrderModified):
                submitted[e.order_id] += e.quantity - open_before
                limit_of[e.order_id] = e.price
            elif isinstance(e, OrderCancelled):
                cancelled[e.order_id] += e.cancelled_quantity
            elif isinstance(e, Trade):
                filled[e.buy_order_id] += e.quantity
                filled[e.sell_order_id] += e.quantity
                buy_limit, sell_limit = limit_of[e.buy_order_id], limit_of[e.sell_order_id]
                assert buy_limit is None or e.price <= buy_limit
                assert sell_limit is None or e.price >= sell_limit
                assert e.quantity > 0
        _check_book_integrity(eng)
    for order_id, qty in submitted.items():
        live = eng.order(order_id)
        open_qty = live.quantity if live is not None else 0
        assert filled[order_id] + open_qty + cancelled[order_id] == qty, order_id


plain_op = st.one_of(
    st.tuples(st.just("limit"), st.sampled_from([BUY, SELL]), st.integers(98, 102), st.integers(1, 10)),
    st.tuples(st.just("market"), st.sampled_from([BUY, SELL]), st.just(0), st.integers(1, 25)),
    st.tuples(st.just("cancel"), st.integers(0, 40), st.just(0), st.just(0)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(plain_op, min_size=10, max_size=80))
def test_fifo_within_each_level(ops):
    eng = engine()
    ids: list[int] = []
    for ts, (kind, side, price, qty) in enumerate(ops):
        oid = ts + 1
        if kind == "cancel":
            if not ids:
                continue
            cmd = CancelOrder(ids[side % len(ids)], "t")   # for cancels `side` holds the pick
        elif kind == "limit":
            cmd = NewOrder(oid, "t", SYM, side, qty, OrderType.LIMIT, price)
            ids.append(oid)
        else:
            cmd = NewOrder(oid, "t", SYM, side, qty, OrderType.MARKET)
        events = eng.process(cmd, ts)
        bids, asks = eng.book(SYM).l3()
        for resting in (bids, asks):
            by_price = defaultdict(list)
            for s in resting:
                by_price[s.price].append(s.order_id)
            assert all(q == sorted(q) for q in by_price.values())   # arrival order within every level
        for e in events:
            if isinstance(e, Trade):
                maker = e.sell_order_id if e.aggressor is BUY else e.buy_order_id
                side_left = asks if e.aggressor is BUY else bids
                # nobody who arrived earlier at the same price may still be waiting
                assert not [s for s in side_left if s.price == e.price and s.order_id < maker]


# FOK all-or-nothing: resting icebergs, hidden orders and plain limits from two traders, and FOK takers (limit,
# market, stop-limit) with every STP mode. A FOK either trades its whole quantity or none of it, and when it
# trades none the book is exactly as it was.
fok_rest_op = st.tuples(st.just("rest"), st.sampled_from(["a", "b"]), st.sampled_from([BUY, SELL]),
                        st.sampled_from(["limit", "iceberg", "iceberg", "hidden"]), st.integers(99, 101),
                        st.integers(1, 12), st.integers(1, 4))
fok_take_op = st.tuples(st.just("fok"), st.sampled_from(["a", "b"]), st.sampled_from([BUY, SELL]),
                        st.sampled_from(["limit", "limit", "market", "stop_limit"]), st.integers(98, 102),
                        st.integers(1, 30), st.sampled_from(list(STPMode)))
fok_ops = st.lists(st.one_of(fok_rest_op, fok_rest_op, fok_take_op), min_size=5, max_size=50)


def _snapshot(eng) -> tuple:
    book = eng.book(SYM)
    return book.l3(include_hidden=True), book.depth(100), book.stats(), eng.pending_stops(SYM)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fok_ops)
def test_fok_fills_completely_or_not_at_all(ops):
    eng = engine()
    fok_qty: dict[int, int] = {}
    for ts, op in enumerate(ops):
        oid = ts + 1
        _, trader, side, flavour, price, qty, extra = op
        if op[0] == "rest":
            kw = {"display_quantity": min(extra, qty)} if flavour == "iceberg" else {"hidden": flavour == "hidden"}
            cmd = NewOrder(oid, trader, SYM, side, qty, OrderType.LIMIT, price, **kw)
        elif flavour == "stop_limit":
            last = eng.book(SYM).last_price or 100
            stop = last + 1 if side is BUY else last - 1
            cmd = NewOrder(oid, trader, SYM, side, qty, OrderType.STOP_LIMIT, price, stop, tif=TimeInForce.FOK,
                           stp=extra)
        else:
            kind = OrderType.MARKET if flavour == "market" else OrderType.LIMIT
            cmd = NewOrder(oid, trader, SYM, side, qty, kind, None if flavour == "market" else price,
                           tif=TimeInForce.FOK, stp=extra)
        if cmd.tif is TimeInForce.FOK:
            fok_qty[oid] = qty
        before = _snapshot(eng)
        events = eng.process(cmd, ts)
        traded: dict[int, int] = defaultdict(int)
        for e in events:
            if isinstance(e, Trade):
                traded[e.buy_order_id] += e.quantity
                traded[e.sell_order_id] += e.quantity
        for fok_id in traded.keys() & fok_qty.keys():
            assert traded[fok_id] == fok_qty[fok_id], f"FOK {fok_id} filled {traded[fok_id]} of {fok_qty[fok_id]}"
        own_cancels = [e for e in events if isinstance(e, OrderCancelled) and e.order_id in fok_qty]
        for e in own_cancels:   # a FOK that does not trade is cancelled whole (a triggered stop) ...
            assert e.order_id not in traded and e.cancelled_quantity == fok_qty[e.order_id], e
        if cmd.tif is TimeInForce.FOK and cmd.order_type is not OrderType.STOP_LIMIT and oid not in traded:
            assert before == _snapshot(eng)   # ... and a rejected one leaves the book exactly as it was
        _check_book_integrity(eng)
