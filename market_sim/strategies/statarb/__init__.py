"""Statistical arbitrage: the cointegrated-pair process, Engle–Granger / Johansen (statsmodels), Kalman hedge ratio,
OU half-life, and the `pairs_trader` agent."""

from market_sim.strategies.statarb.analysis import (EngleGranger, Johansen, KalmanHedge, ZScoreRule, backtest_pair,
                                                    engle_granger, johansen, ou_half_life, select_pairs)
from market_sim.strategies.statarb.pairs import PairsTrader
from market_sim.strategies.statarb.process import CointegratedLeg

__all__ = ["EngleGranger", "Johansen", "KalmanHedge", "ZScoreRule", "backtest_pair", "engle_granger", "johansen",
           "ou_half_life", "select_pairs", "PairsTrader", "CointegratedLeg"]
