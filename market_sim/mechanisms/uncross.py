"""The uniform-price uncross of a call auction (and of every batch of a frequent batch auction).

The clearing price is chosen, over every integer tick (not only the limit prices), by these rules in order (as
Nasdaq's opening/closing cross and Xetra's auctions do):

1. maximum executable volume: min(demand(p), supply(p)), demand = lots of market buys plus buys limited at >= p,
   supply = lots of market sells plus sells limited at <= p;
2. minimum absolute imbalance |demand(p) - supply(p)|;
3. the price closest to the reference price (the last trade or a configured price);
4. the lower price (a deterministic last resort: two prices equidistant from the reference, or no reference).

Candidate prices are the integers between the lowest and highest of the limit prices and the reference price. The
curves are step functions that change only at limit prices, so it is enough to look at each limit price (and the
reference) and, in each gap between two consecutive ones, the point of the gap closest to the reference. With no
limit price at all (only market orders), the reference is the price; without one there is no cross. No volume: no
cross (price None).

`uncross()` is O(n log n) in the orders (aggregation by price, one sort of the distinct prices, prefix sums).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Cross", "clearing_price", "clearing_price_sorted", "allocate_cross"]


@dataclass(frozen=True, slots=True)
class Cross:
    """The result of the price determination: price (None: no cross), lots matched and the imbalance at that price
    (demand minus supply: > 0 buyers are left over, < 0 sellers)."""

    price: int | None
    matched: int
    imbalance: int


_NO_CROSS = Cross(None, 0, 0)


def clearing_price(bids: Iterable[tuple[int | None, int]], asks: Iterable[tuple[int | None, int]],
                   reference: int | None = None) -> Cross:
    """The uniform clearing price of (limit price or None for a market order, lots) buys and sells."""
    bid_at: dict[int, int] = {}
    ask_at: dict[int, int] = {}
    mkt_buy = mkt_sell = 0
    for p, q in bids:
        if p is None:
            mkt_buy += q
        else:
            bid_at[p] = bid_at.get(p, 0) + q
    for p, q in asks:
        if p is None:
            mkt_sell += q
        else:
            ask_at[p] = ask_at.get(p, 0) + q
    return clearing_price_sorted(sorted(bid_at), bid_at, sorted(ask_at), ask_at, mkt_buy, mkt_sell, reference)


def clearing_price_sorted(bid_prices: Sequence[int], bid_lots: Mapping[Any, int], ask_prices: Sequence[int],
                          ask_lots: Mapping[Any, int], mkt_buy: int = 0, mkt_sell: int = 0,
                          reference: int | None = None) -> Cross:
    """clearing_price over aggregated levels (what an AuctionBook keeps): the distinct limit prices of each side
    ascending, the lots at each (a mapping from price; other keys are ignored) and the lots of market orders. Only
    the levels inside the range that can trade are read (found by bisection)."""
    if not (bid_prices or mkt_buy) or not (ask_prices or mkt_sell):
        return _NO_CROSS
    # Volume is 0 above the highest bid limit without market buys (no demand) and below the lowest ask limit
    # without market sells (no supply): only breakpoints in between can win (and all sums below stay exact: no
    # ask is below `lo`, no bid above `hi`).
    lo = ask_prices[0] if not mkt_sell else None
    hi = bid_prices[-1] if not mkt_buy else None
    if lo is not None and hi is not None and lo > hi:
        return _NO_CROSS
    bi = bisect_left(bid_prices, lo) if lo is not None else 0
    aj = bisect_right(ask_prices, hi) if hi is not None else len(ask_prices)
    points = set(bid_prices[bi:])
    points.update(ask_prices[:aj])
    ref = reference
    if ref is not None and (lo is None or ref >= lo) and (hi is None or ref <= hi):
        points.add(ref)
    if not points:
        return _NO_CROSS
    prices = sorted(points)
    n = len(prices)
    # supply(p_i) = market sells + sells limited at <= p_i (prefix sums upward); asks below `lo` do not exist
    supply = [0] * n
    run = mkt_sell
    get = ask_lots.get
    for i, p in enumerate(prices):
        run += get(p, 0)
        supply[i] = run
    # demand(p_i) = market buys + buys limited at >= p_i (prefix sums downward); bids above `hi` do not exist
    demand = [0] * n
    run = mkt_buy
    get = bid_lots.get
    for i in range(n - 1, -1, -1):
        run += get(prices[i], 0)
        demand[i] = run
    # the best candidate by (max volume, min |imbalance|, closest to the reference, lower price), compared only
    # when its volume can win
    bv = -1
    best_key = None
    best = None
    for i in range(n):
        p, d, s = prices[i], demand[i], supply[i]
        v = d if d < s else s
        if v >= bv:
            k = (-v, abs(d - s), abs(p - ref) if ref is not None else 0, p)
            if best_key is None or k < best_key:
                best_key, best, bv = k, (p, d, s), v
        if i + 1 < n and prices[i + 1] - p > 1:
            # inside the gap (p, p_next): buys limited at >= p_next, sells limited at <= p
            d2 = demand[i + 1]
            v = d2 if d2 < s else s
            if v >= bv:
                g_lo, g_hi = p + 1, prices[i + 1] - 1
                q = g_lo if ref is None else min(max(ref, g_lo), g_hi)
                k = (-v, abs(d2 - s), abs(q - ref) if ref is not None else 0, q)
                if k < best_key:
                    best_key, best, bv = k, (q, d2, s), v
    assert best is not None
    p, d, s = best
    if min(d, s) <= 0:
        return _NO_CROSS
    return Cross(p, min(d, s), d - s)


def allocate_cross(price: int, matched: int, buys: Sequence[tuple[int, int | None, int]],
                   sells: Sequence[tuple[int, int | None, int]]) -> list[tuple[int, int, int]]:
    """Pair `matched` lots at `price` between buys and sells, each given as (order key, limit or None, lots) in
    priority order (market orders first, then better limits, then time). Returns (buy key, sell key, lots) fills:
    every eligible order on the short side fills in full; on the long side orders fill in priority order until the
    matched volume is used up (the last one partially)."""
    def eligible(orders: Sequence[tuple[int, int | None, int]], ok) -> list[list[int]]:
        out, left = [], matched
        for key, limit, qty in orders:
            if left <= 0:
                break
            if limit is None or ok(limit):
                take = qty if qty < left else left
                out.append([key, take])
                left -= take
        return out

    b = eligible(buys, lambda lim: lim >= price)
    s = eligible(sells, lambda lim: lim <= price)
    fills: list[tuple[int, int, int]] = []
    i = j = 0
    while i < len(b) and j < len(s):
        q = min(b[i][1], s[j][1])
        fills.append((b[i][0], s[j][0], q))
        b[i][1] -= q
        s[j][1] -= q
        if b[i][1] == 0:
            i += 1
        if s[j][1] == 0:
            j += 1
    return fills
