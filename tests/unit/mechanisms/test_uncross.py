"""The uncross against a brute-force oracle over every candidate tick, and its allocation."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from market_sim.core.events import Trade
from market_sim.core.orders import NewOrder, OrderType, Side
from market_sim.mechanisms.book import AuctionBook
from market_sim.mechanisms.uncross import Cross, clearing_price


def oracle(bids, asks, ref):
    """Every integer tick between the lowest and highest limit/reference price, keyed by the documented rules."""
    pts = [p for p, _ in bids + asks if p is not None] + ([ref] if ref is not None else [])
    if not pts:
        return Cross(None, 0, 0)
    best = None
    for p in range(min(pts), max(pts) + 1):
        d = sum(q for lim, q in bids if lim is None or lim >= p)
        s = sum(q for lim, q in asks if lim is None or lim <= p)
        key = (-min(d, s), abs(d - s), abs(p - ref) if ref is not None else 0, p)
        if best is None or key < best[0]:
            best = (key, p, d, s)
    _, p, d, s = best
    return Cross(None, 0, 0) if min(d, s) == 0 else Cross(p, min(d, s), d - s)


order = st.tuples(st.one_of(st.none(), st.integers(95, 105)), st.integers(1, 6))


@settings(max_examples=400, deadline=None)
@given(st.lists(order, max_size=12), st.lists(order, max_size=12), st.one_of(st.none(), st.integers(90, 110)))
def test_clearing_price_matches_the_brute_force_oracle(bids, asks, ref):
    assert clearing_price(bids, asks, ref) == oracle(bids, asks, ref)


@settings(max_examples=200, deadline=None)
@given(st.lists(order, min_size=1, max_size=10), st.lists(order, min_size=1, max_size=10),
       st.one_of(st.none(), st.integers(90, 110)))
def test_uncross_trades_the_matched_volume_at_one_price_within_every_limit(bids, asks, ref):
    book = AuctionBook("X")
    oid = 0
    for side, orders in ((Side.BUY, bids), (Side.SELL, asks)):
        for p, q in orders:
            oid += 1
            book.add(NewOrder(oid, f"t{oid}", "X", side, q, OrderType.MARKET if p is None else OrderType.LIMIT, p))
    limits = {i + 1: p for i, (p, _) in enumerate(bids + asks)}
    ids = iter(range(1, 10_000))
    cross, trades = book.uncross(0, ref, lambda: next(ids))
    assert cross == clearing_price(bids, asks, ref)
    assert sum(t.quantity for t in trades) == cross.matched
    for t in trades:
        assert t.price == cross.price
        assert limits[t.buy_order_id] is None or limits[t.buy_order_id] >= t.price
        assert limits[t.sell_order_id] is None or limits[t.sell_order_id] <= t.price
    assert book.lots == sum(q for _, q in bids + asks) - 2 * cross.matched


def test_ties_are_broken_by_imbalance_then_reference_then_lower_price():
    # 10 @ 100 buy, 10 @ 102 sell: no volume anywhere -> no cross
    assert clearing_price([(100, 10)], [(102, 10)], 101) == Cross(None, 0, 0)
    # buy 10 @ 102, sell 10 @ 100: 10 lots at every price 100..102, no imbalance -> closest to the reference
    assert clearing_price([(102, 10)], [(100, 10)], 101) == Cross(101, 10, 0)
    assert clearing_price([(102, 10)], [(100, 10)], 150) == Cross(102, 10, 0)
    assert clearing_price([(102, 10)], [(100, 10)], None) == Cross(100, 10, 0)
    # min imbalance: buy 10 @ 101 + 5 @ 99, sell 10 @ 99: 10 lots at 99..101; imbalance 5 at 99, 0 above
    assert clearing_price([(101, 10), (99, 5)], [(99, 10)], 99) == Cross(100, 10, 0)
    # only market orders: the reference is the price
    assert clearing_price([(None, 3)], [(None, 5)], 77) == Cross(77, 3, -2)
    assert clearing_price([(None, 3)], [(None, 5)], None) == Cross(None, 0, 0)


def test_price_time_allocation_on_the_long_side():
    book = AuctionBook("X")
    book.add(NewOrder(1, "a", "X", Side.BUY, 5, OrderType.LIMIT, 101))
    book.add(NewOrder(2, "b", "X", Side.BUY, 5, OrderType.LIMIT, 100))
    book.add(NewOrder(3, "c", "X", Side.BUY, 5, OrderType.LIMIT, 100))
    book.add(NewOrder(4, "d", "X", Side.SELL, 8, OrderType.MARKET))
    ids = iter(range(1, 100))
    cross, trades = book.uncross(7, 100, lambda: next(ids))
    assert cross == Cross(100, 8, 7)
    assert [(t.buy_order_id, t.sell_order_id, t.quantity, t.price) for t in trades] == [(1, 4, 5, 100), (2, 4, 3, 100)]
    assert {k: o.qty for k, o in book.orders.items()} == {2: 2, 3: 5}


def _book(bids, asks, vector_min):
    book = AuctionBook("X")
    book.vector_min = vector_min
    oid = 0
    for i in range(max(len(bids), len(asks))):  # interleaved arrivals, so either side can be the later order
        for side, orders in ((Side.BUY, bids), (Side.SELL, asks)):
            if i < len(orders):
                p, q = orders[i]
                oid += 1
                book.add(NewOrder(oid, f"t{oid % 3}", "X", side, q,
                                  OrderType.MARKET if p is None else OrderType.LIMIT, p))
    return book


def priority_oracle(bids, asks, cross):
    """Price-time allocation by brute force: every eligible order in priority (market, better limit, earlier),
    taken until the matched lots are used up on each side, then paired in that order."""
    def side(orders, first_id, better):
        rows = [(oid, p, q) for oid, (p, q) in orders]
        ok = [r for r in rows if r[1] is None or better(r[1], cross.price) or r[1] == cross.price]
        ok.sort(key=lambda r: (r[1] is not None, 0 if r[1] is None else (-r[1] if first_id else r[1]), r[0]))
        out, left = [], cross.matched
        for oid, _, q in ok:
            if left == 0:
                break
            out.append([oid, min(q, left)])
            left -= min(q, left)
        return out
    b = side(bids, True, lambda p, c: p > c)
    s = side(asks, False, lambda p, c: p < c)
    fills, i, j = [], 0, 0
    while i < len(b) and j < len(s):
        q = min(b[i][1], s[j][1])
        fills.append((b[i][0], s[j][0], q, Side.BUY if b[i][0] > s[j][0] else Side.SELL))
        b[i][1] -= q
        s[j][1] -= q
        i += b[i][1] == 0
        j += s[j][1] == 0
    return fills


@settings(max_examples=300, deadline=None)
@given(st.lists(order, min_size=1, max_size=14), st.lists(order, min_size=1, max_size=14),
       st.one_of(st.none(), st.integers(90, 110)))
def test_uncross_allocates_in_price_time_priority_with_numpy_and_plain_pairing_alike(bids, asks, ref):
    loop, vec = _book(bids, asks, 10**9), _book(bids, asks, 0)
    assert loop.cross(ref) == clearing_price(bids, asks, ref)
    results = []
    for book in (loop, vec):
        ids = iter(range(1, 10_000))
        cross, trades = book.uncross(5, ref, lambda: next(ids))
        results.append((cross, [(t.ts, t.trade_id, t.symbol, t.price, t.quantity, t.buy_order_id, t.sell_order_id,
                                 t.buyer, t.seller, t.aggressor) for t in trades],
                        {k: (o.qty, o.seq) for k, o in book.orders.items()}, book.lots, dict(book.bid_lots),
                        dict(book.ask_lots), list(book.bid_px), list(book.ask_px), book.depth(3),
                        {p: [o.oid for o in lv] for p, lv in book.bids.items()},
                        {p: [o.oid for o in lv] for p, lv in book.asks.items()}))
    assert results[0] == results[1]
    cross, trades = results[0][:2]
    # order ids were given alternately by side, so recover each order's (price, lots) by id
    by_id, oid = {}, 0
    for i in range(max(len(bids), len(asks))):
        for side, orders in ((Side.BUY, bids), (Side.SELL, asks)):
            if i < len(orders):
                oid += 1
                by_id[oid] = (side, orders[i])
    b = [(k, v[1]) for k, v in by_id.items() if v[0] is Side.BUY]
    s = [(k, v[1]) for k, v in by_id.items() if v[0] is Side.SELL]
    if cross.price is not None:
        assert [(t[5], t[6], t[4], t[9]) for t in trades] == priority_oracle(b, s, cross)
    # the book left behind is the one the orders' remaining lots describe
    book = results[0]
    assert book[3] == sum(q for q, _ in book[2].values())
    assert list(book[6]) == sorted(p for p in book[4] if p is not None)
    assert list(book[7]) == sorted(p for p in book[5] if p is not None)


def _state(book):
    return ({k: (o.qty, o.seq, o.oid, o.trader, o.cmd) for k, o in book.orders.items()}, book.lots,
            dict(book.bid_lots), dict(book.ask_lots), list(book.bid_px), list(book.ask_px), dict(book.transient),
            {p: [o.oid for o in lv] for p, lv in book.bids.items()},
            {p: [o.oid for o in lv] for p, lv in book.asks.items()})


_arrival = st.tuples(st.booleans(), st.one_of(st.none(), st.integers(97, 103)), st.integers(1, 9),
                     st.sampled_from(["a", "b", "c"]))


@settings(max_examples=120, deadline=None)
@given(st.lists(_arrival, min_size=2, max_size=70), st.randoms(use_true_random=False),
       st.one_of(st.none(), st.integers(95, 105)), st.integers(1, 5))
def test_the_vectorised_uncross_equals_the_plain_loop_on_books_with_ties_cancels_and_reductions(arrivals, rnd, ref,
                                                                                               block):
    """Many orders on few prices (ties in price and time priority across levels), order ids not in arrival order,
    some orders cancelled or reduced before the cross, Trade events built in blocks of 1..5 (so that several blocks and
    a partial one are used): the numpy pairing and bulk construction give exactly the trades (every field, in order),
    the book left behind and the ids drawn of the plain per-trade loop, on a first and a second uncross."""
    import market_sim.mechanisms.book as book_module

    ids = rnd.sample(range(1, 10_000), len(arrivals))
    cancels = {i for i in ids if rnd.random() < 0.15}
    reductions = {i: rnd.randint(1, 8) for i in ids if i not in cancels and rnd.random() < 0.15}
    later = rnd.sample(range(10_000, 20_000), 12)
    old_block = book_module._BLOCK
    book_module._BLOCK = block
    try:
        results = []
        for vector_min in (10**9, 0):
            book = AuctionBook("X")
            book.vector_min = vector_min
            for oid, (buy, p, q, trader) in zip(ids, arrivals):
                book.add(NewOrder(oid, trader, "X", Side.BUY if buy else Side.SELL, q,
                                  OrderType.MARKET if p is None else OrderType.LIMIT, p))
            for oid in cancels:
                book.remove(oid)
            for oid, q in reductions.items():
                if q < book.orders[oid].qty:
                    book.reduce(oid, q)
            trade_ids = iter(range(1, 10**6))
            out = []
            for round_ in range(2):
                cross, trades = book.uncross(round_, ref, trade_ids.__next__)
                assert all(type(t) is Trade for t in trades)
                out.append((cross, [(t.ts, t.trade_id, t.symbol, t.price, t.quantity, t.buy_order_id,
                                     t.sell_order_id, t.buyer, t.seller, t.aggressor) for t in trades], _state(book)))
                for k, (buy, p, q, trader) in zip(later, arrivals):  # new arrivals before the second cross
                    book.add(NewOrder(k, trader, "X", Side.SELL if buy else Side.BUY, q, OrderType.LIMIT,
                                      p if p is not None else 100))
            out.append(next(trade_ids))
            results.append(out)
    finally:
        book_module._BLOCK = old_block
    assert results[0] == results[1]
