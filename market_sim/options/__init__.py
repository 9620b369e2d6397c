"""Listed options on the exchange (issue 17): the [options] scenario section (chains of option series on an order
book, expiry, exercise, assignment, cash or physical settlement) and its agents (options market maker, retail
flow, volatility trader). Load it with plugins = ["market_sim.options"]; pricing is market_sim.derivatives."""

from market_sim.options.clearing import CLEARING, ExerciseError, OptionsClearing, Settlement, intrinsic_ticks, pro_rata
from market_sim.options.section import OptionsMarket, OptionsResult, OptionsSection, series_symbol
from market_sim.options import agents as _agents  # noqa: F401  (registers the agent types)

__all__ = ["CLEARING", "ExerciseError", "OptionsClearing", "Settlement", "intrinsic_ticks", "pro_rata",
           "OptionsMarket", "OptionsResult", "OptionsSection", "series_symbol"]
