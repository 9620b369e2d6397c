"""Every shipped strategies scenario runs at reduced size, and its strategies trade."""

import pytest

from market_sim.simulation.catalog import resolve_scenario, scenarios
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

REDUCED = {
    "strategies-traditional": ["scenario.duration=8min"],
    "strategies-hft": ["scenario.duration=1min"],
    "strategies-latency-arb": ["scenario.duration=1min"],
}
STRATEGY_GROUPS = {
    "strategies-traditional": ("macross", "meanrev", "tsmom", "breakout"),
    "strategies-hft": ("as", "glft", "queue"),
    "strategies-latency-arb": ("arb",),
}


@pytest.mark.parametrize("name", sorted(n for n, e in scenarios().items() if e.package == "strategies"))
def test_strategies_scenario_runs_reduced(name):
    sc = load_scenario(resolve_scenario(name), REDUCED.get(name, ["scenario.duration=2min"]))
    sim = Simulation(sc)
    out = sim.run()
    assert out.metrics["trades"] > 50
    for group in STRATEGY_GROUPS.get(name, ()):
        agents = [a for a in sim.agents if sim.agent_groups[a.id] == group]
        assert agents and sum(a.fills for a in agents) > 0, group
