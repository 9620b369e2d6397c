"""The plug-in module of the mechanisms (`[scenario] plugins = ["market_sim.mechanisms.plugin"]`): importing it
registers every shipped mechanism and the `mechanism` venue kind."""

from market_sim.mechanisms.base import MECHANISMS, build_mechanism, register_mechanism
from market_sim.mechanisms import batch, call_auction, prorata  # noqa: F401  (they register themselves)

__all__ = ["MECHANISMS", "build_mechanism", "register_mechanism"]
