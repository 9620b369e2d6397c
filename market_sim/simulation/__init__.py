"""Discrete-event simulation: kernel, latency, agents, price processes, scenarios, runner and results.

Extension points (used by the consensus, settlement and DeFi packages):
- scenario sections: subclass `Section` and `register_section(...)` (parse + prepare/install/finish hooks);
- venues: `register_venue_type(kind, factory, check)`; anything implementing the `Venue` protocol;
- agents: subclass `Agent`, decorate with `@register_agent_type`;
- price processes: subclass `PriceProcess`, `register_process_type`;
- scenarios: `market_sim/<package>/scenarios/*.toml` are found by name, or `register_scenario(name, path)`;
- on the running `Simulation`: `bus` (every venue event, fills, quotes, L2 deltas), `accounts`, `every(period, fn)`,
  `send(src, dst, fn, *args)`, `record(table, row)`, `metrics[section name] = <its SectionResult dataclass>` (simulation.metrics), `add_trade_validator(name, v)`, `state(section)`,
  `add_venue`, `add_agent`; stepping: `build()`, `run_until(t)`, `step()`, `now`, `finish()`.
"""

from market_sim.simulation.agents import Agent, Fill, agent_types, register_agent_type
from market_sim.simulation.catalog import register_scenario, resolve_scenario, scenarios
from market_sim.simulation.clocks import RealTimePacer, make_pacer
from market_sim.simulation.kernel import Kernel
from market_sim.simulation.processes import PriceProcess, register_process_type
from market_sim.simulation.scenario import Scenario, Section, load_scenario, parse_scenario, register_section
from market_sim.simulation.venues import Quote, Venue, VenueConfig, register_venue_type

__all__ = [
    "Agent", "Fill", "agent_types", "register_agent_type", "register_scenario", "resolve_scenario", "scenarios",
    "RealTimePacer", "make_pacer", "Kernel", "PriceProcess", "register_process_type", "Scenario", "Section",
    "load_scenario", "parse_scenario", "register_section", "Quote", "Venue", "VenueConfig", "register_venue_type",
    "Simulation", "run_scenario", "load_run",
]


def __getattr__(name: str):  # the runner and results import the matching engine and pandas: load them lazily
    if name in ("Simulation", "run_scenario"):
        from market_sim.simulation import runner

        return getattr(runner, name)
    if name == "load_run":
        from market_sim.simulation.results import load_run

        return load_run
    raise AttributeError(name)
