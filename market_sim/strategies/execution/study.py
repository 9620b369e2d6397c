"""Implementation shortfall of the execution algorithms over seeds, in the strategies-execution scenario.

    python -m market_sim.strategies.execution.study [--seeds 1,2,3] [--duration 15min] [--json]

For each algorithm the scenario's "exec" agent is replaced by that algorithm with the same parent order (side,
quantity, start, horizon, interval) and each seed is run; the result gives per algorithm the shortfall in bps of
the arrival notional (mean, std, min, median, max over seeds), the completion time and the unfilled lots.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import apply_overrides, parse_override, parse_scenario, read_scenario_file

ALGOS: dict[str, dict[str, Any]] = {
    "twap": {},
    "vwap": {},
    "pov": {"rate": 0.35},
    "almgren_chriss": {"risk_aversion": 1e-6, "sigma": 1.0, "eta": 0.05},   # κT = 2.7 over 10 min
}


def run_one(algo: str, seed: int, extra: dict[str, Any] | None = None, overrides: list[str] | None = None,
            scenario: str = "strategies-execution") -> dict[str, Any]:
    raw = read_scenario_file(resolve_scenario(scenario))
    raw = apply_overrides(raw, [parse_override(o) for o in overrides or []])
    for entry in raw["agents"]:
        if entry.get("name") == "exec":
            keep = {k: entry[k] for k in ("name", "side", "total_quantity", "start", "horizon", "interval")
                    if k in entry}
            entry.clear()
            entry.update(type=algo, **keep, **ALGOS.get(algo, {}), **(extra or {}))
    raw["scenario"]["seed"] = seed
    sim = Simulation(parse_scenario(raw))
    sim.run()
    agent = sim.agent("exec-1")
    return {"algo": algo, "seed": seed, **agent.shortfall()}


def study(algos: list[str], seeds: list[int], overrides: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for algo in algos:
        runs = [run_one(algo, s, overrides=overrides) for s in seeds]
        bps = [r["shortfall_bps"] for r in runs]
        out[algo] = {"seeds": seeds, "shortfall_bps": [round(b, 2) for b in bps],
                     "mean_bps": round(statistics.fmean(bps), 2),
                     "std_bps": round(statistics.stdev(bps), 2) if len(bps) > 1 else 0.0,
                     "min_bps": round(min(bps), 2), "median_bps": round(statistics.median(bps), 2),
                     "max_bps": round(max(bps), 2),
                     "unfilled": [r["unfilled"] for r in runs],
                     "finished_at_s": [r["finished_at_s"] for r in runs]}
    return out


def main(argv: list[str] | None = None) -> None:
    import market_sim.strategies  # noqa: F401  (registers the agent types)

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--algos", default=",".join(ALGOS))
    ap.add_argument("--duration", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    overrides = [f"scenario.duration={a.duration}"] if a.duration else []
    res = study(a.algos.split(","), [int(s) for s in a.seeds.split(",")], overrides)
    if a.json:
        print(json.dumps(res, indent=2))
        return
    for algo, r in res.items():
        print(f"{algo:15s} IS mean {r['mean_bps']:7.2f} bps  std {r['std_bps']:6.2f}  min {r['min_bps']:7.2f}  "
              f"median {r['median_bps']:7.2f}  max {r['max_bps']:7.2f}  unfilled {r['unfilled']}")


if __name__ == "__main__":
    main()
