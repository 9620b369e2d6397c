#!/usr/bin/env python3
"""CPU cost of the validators' solvency view (consensus.state.BalanceView), in microseconds per operation (best of
5, process time): `copy` (one per validator, when the committee is built), `state_copy` (ValidationState.copy, what
build_nodes calls), `available_x2` (the solvency check of one trade: debits + two available()), `apply` (finalize
one trade). The view as the settled bench builds it: settlement-demo's three instruments, N traders with every one
of the four assets deposited.

Usage: PYTHONPATH=. python scripts/bench_balance_view.py [N ...]     (default: 20 100)
"""

from __future__ import annotations

import json
import random
import sys
import time

from market_sim.consensus.state import BalanceView, ValidationState
from market_sim.core.events import Trade
from market_sim.core.orders import Side
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.scenario import load_scenario


def measure(traders: int, reps: int = 2000) -> dict:
    instruments = [c.instrument for c in load_scenario(resolve_scenario("settlement-demo"), []).instruments]
    assets = sorted({a for i in instruments for a in (i.base_asset, i.quote_asset)})
    view = BalanceView(instruments, {(f"t{k}", a): 10**24 for k in range(traders) for a in assets}, taker_fee_bps=5)
    state = ValidationState([f"t{k}" for k in range(traders)], view)
    rng = random.Random(1)
    trades = [Trade(j, j, rng.choice(instruments).symbol, rng.randint(100, 10**6), rng.randint(1, 100),
                    2 * j, 2 * j + 1, f"t{rng.randrange(traders)}", f"t{rng.randrange(traders)}",
                    Side.BUY if j % 2 else Side.SELL) for j in range(5000)]
    def copies(obj) -> None:  # each copy dropped at once: the copy's cost, not the collector's on 2,000 kept copies
        for _ in range(reps):
            obj.copy()

    cases = (("copy", lambda: copies(view), reps),
             ("state_copy", lambda: copies(state), reps),
             ("available_x2", lambda: [[view.available(k) for k, _ in view.debits(t)] for t in trades], len(trades)),
             ("apply", lambda: [view.apply(t) for t in trades], len(trades)))
    out: dict = {"traders": traders, "balances": traders * len(assets)}
    for name, fn, count in cases:
        best = float("inf")
        for _ in range(5):
            t0 = time.process_time()
            fn()
            best = min(best, time.process_time() - t0)
        out[f"{name}_us"] = round(best / count * 1e6, 2)
    return out


if __name__ == "__main__":  # pragma: no cover - a measuring tool
    for n in map(int, sys.argv[1:] or ["20", "100"]):
        print(json.dumps(measure(n)))
