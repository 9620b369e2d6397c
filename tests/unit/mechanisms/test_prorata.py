"""Pro-rata allocation tables (exact integers; remainder FIFO) and the pro-rata venue."""

from __future__ import annotations

import pytest

from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, OrderType, Side
from market_sim.mechanisms.prorata import ProRataParams, ProRataVenue, allocate

LEVEL = [("a", 5), ("b", 10), ("c", 15), ("d", 70)]  # 100 lots in time priority


@pytest.mark.parametrize("qty, kwargs, table", [
    # floor shares 5/10/15/70 of 100 -> exact
    (100, {}, [("a", 5), ("b", 10), ("c", 15), ("d", 70)]),
    # 10 lots: 0.5, 1, 1.5, 7 -> floors 0, 1, 1, 7 = 9; 1 left goes FIFO to a
    (10, {}, [("a", 1), ("b", 1), ("c", 1), ("d", 7)]),
    # min allocation 2: b and c's shares of 1 drop to 0; 3 left FIFO: a 3
    (10, {"min_allocation": 2}, [("a", 3), ("d", 7)]),
    # top order c takes 4 first (cap), then 6 over a 5, b 10, c 11, d 70 (96): 0, 0, 0, 4 -> 2 left FIFO: a 2
    (10, {"top": "c", "top_cap": 4}, [("a", 2), ("c", 4), ("d", 4)]),
    # top order without cap fills completely first
    (20, {"top": "c"}, [("a", 1), ("c", 15), ("d", 4)]),
    # more than the level: everyone filled
    (500, {}, [("a", 5), ("b", 10), ("c", 15), ("d", 70)]),
    (1, {}, [("a", 1)]),
    (3, {"min_allocation": 3}, [("a", 3)]),
])
def test_allocation_tables(qty, kwargs, table):
    out = allocate(qty, LEVEL, **kwargs)
    assert out == table
    assert sum(q for _, q in out) == min(qty, 100)


def test_prorata_venue_splits_an_aggressor_over_the_level():
    v = ProRataVenue("pr", [Instrument("X")], ProRataParams(top_order=True, top_cap=2))
    for oid, trader, qty in ((1, "a", 10), (2, "b", 30), (3, "c", 60)):
        v.handle(NewOrder(oid, trader, "X", Side.SELL, qty, OrderType.LIMIT, 100), 0)
    evs = v.handle(NewOrder(9, "z", "X", Side.BUY, 20, OrderType.LIMIT, 100), 1)
    fills = [(t.sell_order_id, t.quantity) for t in evs if type(t) is Trade]
    # top order 1 (it created the best ask) takes 2; 18 over 8/30/60 (98): 1, 5, 11 = 17; 1 left FIFO -> order 1 (2 + 1 + 1)
    assert fills == [(1, 4), (2, 5), (3, 11)]
    assert v.depth("X") == ([], [(100, 80)])
