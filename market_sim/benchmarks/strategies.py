"""`market-sim bench strategies`: the real Python time each HFT strategy spends per market-data callback.

Runs the shipped strategies-hft scenario (Avellaneda–Stoikov, GLFT, queue-aware maker, imbalance taker) and
strategies-latency-arb with every simulated decision latency set to 0, so each decision runs inside the callback
that triggered it, and reports per strategy the p50 / p99 (µs) of:
    callback  one market-data callback (quote, L2 delta or trade): state update + any decision it triggers
    decide    one decision alone (quote / order logic on the current state)
measured with time.perf_counter_ns around the strategy code (the simulator's own cost is outside the brackets).
Wall-clock figures on a shared machine: other processes can only make a callback look slower, so p50 is the figure
to compare; p99 includes the interpreter's occasional garbage collections.
"""

from __future__ import annotations

import platform
import sys
import time
from typing import Any

from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

HFT_GROUPS = {"strategies-hft": ("as", "glft", "queue", "imbalance"), "strategies-latency-arb": ("arb",)}


def _run(name: str, duration: str) -> tuple[Simulation, float]:
    overrides = [f"scenario.duration={duration}"]
    overrides += [f"agents.{g}.decision_latency=0s" for g in HFT_GROUPS[name]]
    sim = Simulation(load_scenario(resolve_scenario(name), overrides))
    t0 = time.perf_counter()
    sim.run()
    return sim, time.perf_counter() - t0


def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    import market_sim.strategies  # noqa: F401  (registers the strategy agent types)
    from market_sim.strategies.hft import HftAgent

    duration = "20s" if quick else "2min"
    result: dict[str, Any] = {"machine": {"python": sys.version.split()[0], "platform": platform.platform()},
                              "simulated": duration, "strategies": {}}
    for name, groups in HFT_GROUPS.items():
        if progress:
            print(f"running {name} for {duration} ...", file=sys.stderr)
        sim, wall = _run(name, duration)
        result.setdefault("runs", {})[name] = {"wall_seconds": round(wall, 3)}
        for agent in sim.agents:
            if isinstance(agent, HftAgent) and sim.agent_groups[agent.id] in groups:
                r = agent.latency_report()
                result["strategies"][agent.kind] = {
                    "scenario": name, "callbacks": r["python_callback"]["n"],
                    "callback_p50_us": r["python_callback"]["p50_us"],
                    "callback_p99_us": r["python_callback"]["p99_us"],
                    "decisions": r["python_decide"]["n"],
                    "decide_p50_us": r["python_decide"]["p50_us"], "decide_p99_us": r["python_decide"]["p99_us"],
                    "fills": agent.fills}
    return result
