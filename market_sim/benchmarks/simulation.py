"""Simulation benchmark: bare kernel throughput with ~1,000 pending events, a 1-simulated-hour 100-agent
random-market run (wall time, events/s, and a profile of where the time goes), and the cost per delta of one agent
subscribed to the L2 book deltas of random-market's busiest symbol (the same run with and without it)."""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import subprocess
import sys
import time
from typing import Any

from market_sim.benchmarks.kernel import heapq_hold, kernel_hold
from market_sim.core.clock import NS_PER_SECOND
from market_sim.simulation.agents import Agent, register_agent_type
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import (
    apply_overrides, load_scenario, parse_override, parse_scenario, read_scenario_file,
)



def random_market(duration: str, agents: int = 100) -> tuple[Simulation, dict[str, Any]]:
    """Run random-market for `duration` (its shipped size is 100 agents)."""
    sc = load_scenario(resolve_scenario("random-market"), [f"scenario.duration={duration}"])
    assert sc.agent_count == agents, sc.agent_count
    sim = Simulation(sc)
    c0 = time.process_time()
    out = sim.run()
    cpu = time.process_time() - c0
    m = out.metrics
    return sim, {"simulated_seconds": sc.duration / NS_PER_SECOND, "agents": sc.agent_count,
                 "wall_seconds": round(out.wall_seconds, 3), "events": out.events,
                 "events_per_second": round(out.events / out.wall_seconds),
                 "cpu_seconds": round(cpu, 3), "events_per_cpu_second": round(out.events / cpu), "orders": m["orders"],
                 "commands": m["commands"], "trades": m["trades"],
                 "simulated_to_wall": round(sc.duration / NS_PER_SECOND / out.wall_seconds, 1)}


@register_agent_type
class BookWatcher(Agent):
    """Benchmark agent: subscribes to the L2 deltas of its one symbol and keeps its book copy; never trades."""

    kind = "bench_book_watcher"

    def on_start(self) -> None:
        self.deltas = 0
        self.subscribe_book(self.symbols[0])

    def on_book_delta(self, delta: Any) -> None:
        self.deltas += 1


def _timed_run(sc: Any) -> tuple[Simulation, float, Any]:
    sim = Simulation(sc)
    sim.build()
    c0 = time.process_time()
    sim.run_until(sc.duration)
    cpu = time.process_time() - c0
    return sim, cpu, sim.finish()


def l2_delta_cost(duration: str, repeats: int = 2) -> dict[str, Any]:
    """random-market for `duration` without, then with, one extra agent subscribed to L2 deltas of the busiest
    symbol (fixed 1 ms feed latency, so it draws nothing from the shared latency RNG and the market trades exactly
    the same); the CPU time difference per delta delivered (best of `repeats` each)."""
    path = resolve_scenario("random-market")
    base = apply_overrides(read_scenario_file(path), [parse_override(f"scenario.duration={duration}")])
    plain = parse_scenario(base, base_dir=path.parent, source=str(path))
    runs = [_timed_run(plain) for _ in range(repeats)]
    cpu_without = min(r[1] for r in runs)
    out_without = runs[0][2]
    busiest = max(out_without.metrics["symbols"].items(), key=lambda kv: kv[1]["trades"])[0]
    raw = dict(base)
    venue = next(v["name"] for v in raw.get("venues", [{"name": "exchange"}]))
    raw["agents"] = [*raw["agents"], {"type": "bench_book_watcher", "name": "l2-watcher", "instruments": [busiest],
                                      "venue": venue, "latency": "fixed:1ms"}]
    watched = parse_scenario(raw, base_dir=path.parent, source=str(path))
    runs_with = [_timed_run(watched) for _ in range(repeats)]
    cpu_with = min(r[1] for r in runs_with)
    sim_with, _, out_with = runs_with[0]
    deltas = sim_with.agent("l2-watcher-1").deltas
    same = out_with.tables["trades"] == out_without.tables["trades"]
    return {"duration": duration, "symbol": busiest, "deltas_delivered": deltas,
            "trades": out_without.metrics["trades"], "same_trades_with_subscriber": same,
            "cpu_seconds_without": round(cpu_without, 3), "cpu_seconds_with": round(cpu_with, 3),
            "cost_per_delta_us": round((cpu_with - cpu_without) / deltas * 1e6, 2) if deltas else None}


def _settled_market_scenario(duration: str, agents: int, *, settled: bool = True) -> Any:
    """settlement-demo scaled to `agents` agents (3 market makers); `settled=False`: the same market, seed and agents
    without the settlement section (no validators, no chain)."""
    makers = 3
    overrides = [f"scenario.duration={duration}", f"agents.market_maker.count={makers}",
                 f"agents.noise.count={agents - makers}", "output.plots=false"]  # the run, not matplotlib
    path = resolve_scenario("settlement-demo")
    raw = apply_overrides(read_scenario_file(path), [parse_override(o) for o in overrides])
    if not settled:
        raw.pop("settlement")
        raw["scenario"]["plugins"] = []
    return parse_scenario(raw, base_dir=path.parent, source=str(path))


def market_alone(duration: str, agents: int = 100) -> dict[str, Any]:
    """The settled market's market alone: same scenario, seed and agents, no settlement (CPU seconds, trades)."""
    sc = _settled_market_scenario(duration, agents, settled=False)
    c0 = time.process_time()
    sim = Simulation(sc).build()
    sim.run_until(sc.duration)
    out = sim.finish()
    return {"cpu_seconds": round(time.process_time() - c0, 2), "trades": out.metrics["trades"]}


def settled_market(duration: str, agents: int = 100) -> dict[str, Any]:
    """The settlement-demo market scaled to `agents` agents: every trade voted on, certified, settled on eth-tester,
    then reconciled (every trade proven off chain against the on-chain roots).

    The chain's floor is measured in the same run: the time py-evm spends executing the settle transactions
    (EvmTimer: apply_transaction of every transaction sent to the Settlement contract). `run_over_floor` is the whole
    run (build + run + finish, wall) over it; the issue-13 target is <= 1.5."""
    from market_sim.blockchain.evm_timer import EvmTimer

    sc = _settled_market_scenario(duration, agents)
    w0 = time.perf_counter()
    sim = Simulation(sc).build()
    build = time.perf_counter() - w0
    state = sim.state("settlement")
    with EvmTimer(state.chain, to=state.stack.venue.client.address) as evm:
        w1 = time.perf_counter()
        sim.run_until(sc.duration)
        w2 = time.perf_counter()
        out = sim.finish()  # the sections' finish: the last batches, reconciliation, tables
        w3 = time.perf_counter()
    whole = time.perf_counter() - w0
    m = out.metrics
    s = m["settlement"]
    settled = s.trades_settled
    return {"simulated_seconds": sc.duration / NS_PER_SECOND, "agents": sc.agent_count,
            "whole_run_seconds": round(whole, 3), "build_seconds": round(build, 3),
            "market_and_settlement_seconds": round(w2 - w1, 3), "finish_seconds": round(w3 - w2, 3),
            "wall_seconds": round(out.wall_seconds, 3), "events": out.events,
            "events_per_second": round(out.events / out.wall_seconds), "orders": m["orders"], "trades": m["trades"],
            "settle_transactions": evm.transactions, "evm_settle_seconds": round(evm.seconds, 3),
            "run_over_floor": round(whole / evm.seconds, 2) if evm.seconds else None, "target_run_over_floor": 1.5,
            "settled_trades_per_second": round(settled / whole, 1) if whole else None,
            **{k: getattr(s, k) for k in ("trades_settled", "settlement_batches", "gas_per_settled_trade",
                                           "reconciled", "trades_proven_off_chain", "proofs_checked_on_chain",
                                           "latency_ms_p50_executed_to_final", "latency_ms_p99_executed_to_final",
                                           "max_pending_exposure")},
            "stage_latency_ms": {name: {"p50": st.p50_ms, "p99": st.p99_ms, "max": st.max_ms}
                                 for name, st in s.stage_latency.items()}}


_AREAS = (("market_sim/market/", "matching engine"), ("market_sim/simulation/kernel", "kernel"),
          ("market_sim/simulation/agents/", "agents"), ("market_sim/simulation/recorder", "recorder"),
          ("market_sim/simulation/runner", "runner (routing, latency, delivery)"),
          ("market_sim/simulation/processes", "price processes"), ("random.py", "random numbers"),
          ("market_sim/simulation/venues", "venue adapter"))


def profile_summary(duration: str) -> dict[str, Any]:
    """cProfile a random-market run: share of own time per area and the top functions."""
    sc = load_scenario(resolve_scenario("random-market"), [f"scenario.duration={duration}"])
    sim = Simulation(sc)
    prof = cProfile.Profile(time.process_time)  # CPU time: other processes on the machine do not distort it
    prof.enable()
    sim.run()
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    areas: dict[str, float] = {}
    top = []
    for (file, line, fn), (_cc, ncalls, tottime, _ct, _callers) in stats.items():
        area = next((name for key, name in _AREAS if key in file), "other (builtins, dataclasses, heapq ...)")
        areas[area] = areas.get(area, 0.0) + tottime
        top.append((tottime, f"{file.rsplit('market_sim/', 1)[-1]}:{line}({fn})", ncalls))
    top.sort(reverse=True)
    return {
        "profiled_duration": duration,
        "share_of_time": {k: f"{100 * v / total:.1f}%" for k, v in sorted(areas.items(), key=lambda x: -x[1])},
        "top_functions": [{"function": name, "own_seconds": round(t, 3), "calls": n} for t, name, n in top[:10]],
    }


def run(quick: bool = False, progress: bool = True) -> dict:
    """Kernel events/s (target >= 1,000,000), heapq baseline, 1 h x 100 agents without and with on-chain settlement."""
    events = 200_000 if quick else 2_000_000
    # Best of a few repetitions: other processes on a shared machine only ever slow a repetition down.
    # The kernel's hold model (market-sim bench kernel has the comparison with simpy and bare heapq).
    kernel = max((kernel_hold(events) for _ in range(1 if quick else 3)), key=lambda r: r["events_per_second"])
    result: dict[str, Any] = {
        "kernel": {**kernel, "target_events_per_second": 1_000_000,
                   "meets_target": kernel["events_per_second"] >= 1_000_000},
        "heapq_baseline": heapq_hold(events),
    }
    _, rm = random_market("2min" if quick else "1h")
    result["random_market"] = rm
    result["l2_subscriber"] = l2_delta_cost("1min" if quick else "10min")
    # --quick: settlement-demo's own 20 traders for 30 s (funding 100 agents alone is 800 transactions)
    result["settled_market"] = settled_market("30s", agents=20) if quick else settled_market("1h")
    result["profile"] = profile_in_pure_python("30s" if quick else "5min")
    return result


def profile_in_pure_python(duration: str) -> dict[str, Any]:
    """profile_summary in a child process on the pure-Python modules (MARKET_SIM_PURE=1): cProfile cannot see inside
    the compiled ones (market_sim._native), so their time would all count as 'other'."""
    code = ("import json, sys; from market_sim.benchmarks.simulation import profile_summary; "
            "print(json.dumps(profile_summary(sys.argv[1])))")
    out = subprocess.run([sys.executable, "-c", code, duration], env={**os.environ, "MARKET_SIM_PURE": "1"},
                         capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "modules": "pure Python (MARKET_SIM_PURE=1)"}
