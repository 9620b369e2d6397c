"""Agents: the base class and the built-in trader types (registered by kind on import)."""

from market_sim.simulation.agents.base import Agent, Fill, OpenOrder, agent_types, register_agent_type
from market_sim.simulation.agents.fundamental import FundamentalTrader
from market_sim.simulation.agents.market_maker import MarketMaker
from market_sim.simulation.agents.momentum import MomentumTrader
from market_sim.simulation.agents.noise import NoiseTrader
from market_sim.simulation.agents.sell_program import SellProgram
from market_sim.simulation.agents.sma_crossover import SmaCrossover

__all__ = [
    "Agent", "Fill", "OpenOrder", "agent_types", "register_agent_type",
    "FundamentalTrader", "MarketMaker", "MomentumTrader", "NoiseTrader", "SellProgram", "SmaCrossover",
]
