"""Traditional strategies (registered agent types): ma_crossover, mean_reversion, ts_momentum, breakout."""

from market_sim.strategies.traditional.base import SignalParams, SignalStrategy
from market_sim.strategies.traditional.strategies import Breakout, MACrossover, MeanReversion, TimeSeriesMomentum

__all__ = ["SignalParams", "SignalStrategy", "Breakout", "MACrossover", "MeanReversion", "TimeSeriesMomentum"]
