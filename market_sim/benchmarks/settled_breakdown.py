"""Where the CPU time of the settled market goes: `settled_market` with process-time counters on its main parts.

    python -m market_sim.benchmarks.settled_breakdown 1h
    market-sim bench settled_breakdown --json        # 10 simulated minutes (--quick: 1 minute)

Each part's time is exclusive (a wrapped call inside another wrapped call counts only for the inner one); "rest" is
everything not wrapped (matching engine, agents, kernel, recorder, lifecycle tracking). The wrappers are removed
when the run ends. "producer: settle execution" is the BlockProducer applying transactions (py-evm executing the
settle transactions: the chain's floor, in CPU time), "producer: block sealing" py-evm persisting the state and
mining each block.

`bound` sets the 1.5x target (whole run <= 1.5 x the floor) against what is not this project's consensus and
settlement code: block sealing and the market alone (the same scenario, seed and agents without settlement).
"""

from __future__ import annotations

import functools
import gc
import importlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["breakdown", "run", "PARTS"]

PARTS: tuple[tuple[str, str, str], ...] = (
    ("market_sim.settlement.setup", "deploy_venue", "deploy and fund"),
    ("market_sim.consensus.committee", "Committee.decide", "pre-trade votes"),
    ("market_sim.consensus.cluster", "Cluster._admit", "admission (other)"),
    ("market_sim.blockchain.producer", "BlockProducer._apply_local", "producer: settle execution"),
    ("market_sim.blockchain.producer", "BlockProducer._mine_local", "producer: block sealing"),
    ("market_sim.blockchain.producer", "BlockProducer._on_slot", "producer: other"),
    ("market_sim.consensus.network", "Network._deliver", "certification protocol messages"),
    ("market_sim.settlement.scenario", "reconcile", "reconciliation"),
    ("market_sim.settlement.scenario", "SettlementSection.finish", "finish (other)"),
    ("market_sim.settlement.pipeline", "SettlementPipeline.on_trade", "pipeline: batching, cut"),
)


def _patch(owner: Any, attr: str, label: str, acc: dict[str, float], stack: list[float]) -> Callable[[], None]:
    fn = getattr(owner, attr)
    clock = time.process_time

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = clock()
        stack.append(0.0)
        try:
            return fn(*args, **kwargs)
        finally:
            elapsed = clock() - t0
            inner = stack.pop()
            acc[label] = acc.get(label, 0.0) + elapsed - inner
            if stack:
                stack[-1] += elapsed

    setattr(owner, attr, timed)
    return lambda: setattr(owner, attr, fn)


def breakdown(duration: str, agents: int = 100) -> dict[str, Any]:
    """settled_market(duration, agents) plus `cpu_seconds` by part and in total."""
    from market_sim.benchmarks.simulation import market_alone, settled_market

    # Measured first, best of two: after the settled run its retained heap slows the collector down.
    market = min((market_alone(duration, agents) for _ in range(2)), key=lambda m: m["cpu_seconds"])
    gc.collect()
    acc: dict[str, float] = {}
    stack: list[float] = []
    undo = []
    for module, qualname, label in PARTS:
        owner: Any = importlib.import_module(module)
        *path, attr = qualname.split(".")
        for name in path:
            owner = getattr(owner, name)
        undo.append(_patch(owner, attr, label, acc, stack))
    c0 = time.process_time()
    try:
        result = settled_market(duration, agents)
    finally:
        for restore in reversed(undo):
            restore()
    total = time.process_time() - c0
    acc["rest (market, agents, kernel, recorder, tracking)"] = total - sum(acc.values())
    result["cpu_seconds"] = {k: round(v, 2) for k, v in sorted(acc.items(), key=lambda kv: -kv[1])}
    result["cpu_seconds_total"] = round(total, 2)
    floor = acc.get("producer: settle execution")
    result["cpu_run_over_settle_execution"] = round(total / floor, 2) if floor else None
    if floor:
        result["bound"] = _bound(total, floor, acc.get("producer: block sealing", 0.0), market)
    return result


def _bound(total: float, floor: float, sealing: float, market: dict[str, Any]) -> dict[str, Any]:
    """What the 1.5x target leaves for everything above the floor, against two parts that are not this project's
    consensus and settlement code: py-evm committing the settle blocks' state (sealing) and the market alone (the
    same scenario without settlement). `lowest_ratio_without_consensus_and_settlement` is the ratio if the
    validators, the certification protocol, batching, tracking and reconciliation cost nothing."""
    fixed = sealing + market["cpu_seconds"]
    return {"budget_above_floor_for_1_5x": round(0.5 * floor, 2), "block_sealing": round(sealing, 2),
            "market_alone": market["cpu_seconds"], "market_alone_trades": market["trades"],
            "consensus_and_settlement_logic": round(total - floor - fixed, 2),
            "lowest_ratio_without_consensus_and_settlement": round((floor + fixed) / floor, 2),
            "logic_budget_left_for_1_5x": round(0.5 * floor - fixed, 2)}


def run(quick: bool = False) -> dict[str, Any]:
    """`market-sim bench settled_breakdown`: the breakdown of a 10-minute run (1 minute with --quick)."""
    return {"benchmark": "settled_breakdown", "quick": quick, **breakdown("1min" if quick else "10min")}


if __name__ == "__main__":  # pragma: no cover - a measuring tool
    print(json.dumps(breakdown(sys.argv[1] if len(sys.argv) > 1 else "10min"), indent=1))
