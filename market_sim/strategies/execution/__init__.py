"""Execution algorithms (registered agent types): twap, vwap, pov, almgren_chriss; implementation shortfall
(`ExecutionAlgo.shortfall()`) and the study over seeds (`study.py`)."""

from market_sim.strategies.execution.algos import (POV, TWAP, VWAP, AlmgrenChriss, ExecutionAlgo, ExecutionParams,
                                                   almgren_chriss_remaining)

__all__ = ["POV", "TWAP", "VWAP", "AlmgrenChriss", "ExecutionAlgo", "ExecutionParams", "almgren_chriss_remaining"]
