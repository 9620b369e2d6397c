"""Every shipped strategies scenario runs at reduced size, and its strategies trade."""

import pytest

from market_sim.simulation.catalog import resolve_scenario, scenarios
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

REDUCED = {
    "strategies-traditional": ["scenario.duration=8min"],
    "strategies-hft": ["scenario.duration=1min"],
    "strategies-latency-arb": ["scenario.duration=1min"],
    "strategies-pairs": ["scenario.duration=6min", "agents.pairs.warmup=20", "agents.pairs.entry_z=1.0"],
    "strategies-execution": ["scenario.duration=4min", "agents.exec.start=30s", "agents.exec.horizon=2min"],
    "strategies-defi": ["scenario.duration=30s"],
    "strategies-mev": ["scenario.duration=3min"],
}
STRATEGY_GROUPS = {
    "strategies-traditional": ("macross", "meanrev", "tsmom", "breakout"),
    "strategies-hft": ("as", "glft", "queue"),
    "strategies-latency-arb": ("arb",),
    "strategies-pairs": ("pairs",),
    "strategies-execution": ("exec",),
    "strategies-defi": ("hedged",),
    "strategies-ml-direction": ("direction",),
}


SLOW = {"strategies-defi", "strategies-mev"}  # deploy the in-process chain's contracts first (> 3 s)
NO_BOOK = {"strategies-mev"}  # only a pool: its strategy's swaps are counted instead of book trades


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in sorted(n for n, e in scenarios().items() if e.package == "strategies")])
def test_strategies_scenario_runs_reduced(name):
    sc = load_scenario(resolve_scenario(name), REDUCED.get(name, ["scenario.duration=2min"]))
    sim = Simulation(sc)
    out = sim.run()
    if name in NO_BOOK:
        searcher = sim.agent("sandwich-1")
        assert searcher.sandwiches and searcher.swaps == 2 * len(searcher.sandwiches)
        return
    assert out.metrics["trades"] > 50
    for group in STRATEGY_GROUPS.get(name, ()):
        agents = [a for a in sim.agents if sim.agent_groups[a.id] == group]
        assert agents and sum(a.fills for a in agents) > 0, group


def test_execution_study_completes_twap_in_the_reduced_world():
    from market_sim.strategies.execution.study import run_one

    r = run_one("twap", 7, overrides=["scenario.duration=4min", "agents.exec.start=30s", "agents.exec.horizon=2min",
                                      "agents.exec.total_quantity=600"])
    assert r["done"] == 600 and r["unfilled"] == 0 and r["finished_at_s"] <= 150 + 1
