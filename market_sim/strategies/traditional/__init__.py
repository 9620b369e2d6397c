"""Traditional strategies (registered agent types): mean_reversion, ts_momentum, breakout; the moving-average
crossover is the simulator's sma_crossover (re-exported here as SmaCrossover)."""

from market_sim.simulation.agents.sma_crossover import SmaCrossover, SmaCrossoverParams
from market_sim.strategies.traditional.base import SignalParams, SignalStrategy
from market_sim.strategies.traditional.strategies import Breakout, MeanReversion, TimeSeriesMomentum

__all__ = ["SignalParams", "SignalStrategy", "Breakout", "MeanReversion", "SmaCrossover", "SmaCrossoverParams",
           "TimeSeriesMomentum"]
