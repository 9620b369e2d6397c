"""Book and own-position features for the learning agents, computed from what an agent has seen so far only.

`FeatureTracker` is fed the agent's L2 copy (its own resting quotes left out) and the trades it received, and at each
`sample()` turns them into one feature vector. Everything it uses arrived at or before the sampling time: the book as
it is now, trades already delivered, and mids of earlier samples. No value depends on a later event (tested: a run
that stops at time t produces exactly the features a longer run produced up to t).

Features (`FEATURE_NAMES`, in order; prices in ticks, sizes in lots):
    spread        best ask − best bid of the others' book
    imbalance     (bid depth − ask depth) / (bid depth + ask depth) over the top `levels` price levels (−1..1)
    micro         microprice − mid: (ask·bid_qty + bid·ask_qty)/(bid_qty + ask_qty) − mid (top level)
    ret_1         mid change since the previous sample
    ret_k         mid change over the last `k` samples
    flow          signed traded lots since the previous sample (buyer-initiated positive)
    vol           EW standard deviation of ret_1 (ticks per sample)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

from market_sim.core.events import Trade
from market_sim.core.orders import Side

__all__ = ["FEATURE_NAMES", "FeatureTracker", "book_features"]

FEATURE_NAMES = ("spread", "imbalance", "micro", "ret_1", "ret_k", "flow", "vol")


def book_features(bids: dict[int, int], asks: dict[int, int], levels: int = 3) -> tuple[float, float, float, float] | None:
    """(mid, spread, imbalance, microprice − mid) of a two-sided book {price: lots}, or None if a side is empty."""
    if not bids or not asks:
        return None
    bp = sorted(bids, reverse=True)[:levels]
    ap = sorted(asks)[:levels]
    bb, ba = bp[0], ap[0]
    mid = (bb + ba) / 2
    bd = sum(bids[p] for p in bp)
    ad = sum(asks[p] for p in ap)
    imb = (bd - ad) / (bd + ad) if bd + ad else 0.0
    qb, qa = bids[bb], asks[ba]
    micro = (ba * qb + bb * qa) / (qb + qa) - mid if qb + qa else 0.0
    return mid, float(ba - bb), imb, micro


class FeatureTracker:
    """Running state behind the features: the last mids, the trade flow since the last sample, EW volatility."""

    __slots__ = ("levels", "k", "alpha", "mids", "flow", "var", "last")

    def __init__(self, levels: int = 3, k: int = 10, vol_alpha: float = 0.1) -> None:
        self.levels, self.k, self.alpha = levels, k, vol_alpha
        self.mids: deque[float] = deque(maxlen=k)
        self.flow = 0
        self.var = 0.0
        self.last: tuple[float, ...] | None = None

    def on_trade(self, trade: Trade) -> None:
        """A trade delivered to the agent: adds its lots to the flow, signed by the aggressor."""
        self.flow += trade.quantity if trade.aggressor is Side.BUY else -trade.quantity

    def sample(self, bids: dict[int, int], asks: dict[int, int]) -> tuple[float, ...] | None:
        """The feature vector now (None until the book has both sides); resets the flow counter."""
        f = book_features(bids, asks, self.levels)
        flow, self.flow = self.flow, 0
        if f is None:
            return None
        mid, spread, imb, micro = f
        mids = self.mids
        r1 = mid - mids[-1] if mids else 0.0
        rk = mid - mids[0] if mids else 0.0
        mids.append(mid)
        self.var = (1 - self.alpha) * self.var + self.alpha * r1 * r1 if len(mids) > 1 else 0.0
        self.last = (spread, imb, micro, r1, rk, float(flow), math.sqrt(self.var))
        return self.last

    @property
    def mid(self) -> float | None:
        return self.mids[-1] if self.mids else None


def others_levels(levels: dict[int, int], mine: Iterable[tuple[int, int]]) -> dict[int, int]:
    """A book side {price: lots} with the agent's own resting lots (price, lots) taken out."""
    out = dict(levels)
    for price, lots in mine:
        left = out.get(price, 0) - lots
        if left > 0:
            out[price] = left
        else:
            out.pop(price, None)
    return out
