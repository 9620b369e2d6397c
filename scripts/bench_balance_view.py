#!/usr/bin/env python3
"""CPU cost of the validators' solvency view (consensus.state.BalanceView), in microseconds per operation (best of
5, process time): `copy` (one per validator, when the committee is built), `state_copy` (ValidationState.copy, what
build_nodes calls), `available_x2` (the solvency check of one trade: debits + two available()), `apply` (finalize
one trade). The view as the settled bench builds it: settlement-demo's three instruments, N traders with every one
of the four assets deposited.

With --settled DURATION AGENTS: the settled bench's run (benchmarks.simulation.settled_market) with process-time
counters (exclusive, as settled_breakdown's) on the solvency view's and the Ledger's methods: ms and calls each.

Usage: PYTHONPATH=. python scripts/bench_balance_view.py [N ...]     (default: 20 100)
       PYTHONPATH=. python scripts/bench_balance_view.py --settled 3min 100
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


def settled_parts(duration: str, agents: int) -> dict:
    from market_sim.benchmarks.simulation import settled_market
    from market_sim.settlement.ledger import Ledger

    acc: dict[str, float] = {}
    calls: dict[str, int] = {}
    stack: list[float] = []
    undo = []

    def patch(owner: type, attr: str) -> None:
        fn, label, clock = owner.__dict__[attr], f"{owner.__name__}.{attr}", time.process_time

        def timed(*args, **kwargs):
            t0 = clock()
            stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = clock() - t0
                acc[label] = acc.get(label, 0.0) + elapsed - stack.pop()
                calls[label] = calls.get(label, 0) + 1
                if stack:
                    stack[-1] += elapsed

        setattr(owner, attr, timed)
        undo.append(lambda: setattr(owner, attr, fn))

    for attr in ("copy", "available", "debits", "apply", "deposit", "reserve", "claimed"):
        patch(BalanceView, attr)
    patch(ValidationState, "copy")
    for attr in ("apply", "split_solvent", "available", "balance", "deposit", "balances", "claimed", "correct"):
        patch(Ledger, attr)
    c0 = time.process_time()
    try:
        result = settled_market(duration, agents)
    finally:
        for restore in undo:
            restore()
    return {"cpu_seconds": round(time.process_time() - c0, 2), "trades_settled": result["trades_settled"],
            "parts_ms": {k: round(v * 1e3, 1) for k, v in sorted(acc.items(), key=lambda kv: -kv[1])},
            "parts_ms_total": round(sum(acc.values()) * 1e3, 1), "calls": calls}


if __name__ == "__main__":  # pragma: no cover - a measuring tool
    if sys.argv[1:2] == ["--settled"]:
        print(json.dumps(settled_parts(sys.argv[2], int(sys.argv[3]))))
    else:
        for n in map(int, sys.argv[1:] or ["20", "100"]):
            print(json.dumps(measure(n)))
