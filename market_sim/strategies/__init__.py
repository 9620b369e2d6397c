"""The strategy library: agents built on the platform's Agent API (market-data callbacks, submit, account), so each
runs in simulations and in backtests unchanged. Importing the package registers every strategy's agent type; a
scenario loads it with `plugins = ["market_sim.strategies"]`.

    common       rolling statistics, position sizing (fixed, volatility targeting), stops
    traditional  mean_reversion, ts_momentum, breakout (the MA crossover is the simulator's sma_crossover)
    hft          avellaneda_stoikov, gueant_mm, queue_maker, imbalance_taker, latency_arb; the latency budget
    statarb      the cointegrated-pair process, Engle–Granger / Johansen, Kalman hedge ratio, pairs_trader
    execution    twap, vwap, pov, almgren_chriss; implementation shortfall
    ml           env_quoter, feature_recorder, direction_taker; the gymnasium environment (ml.env, extra [ml]),
                 the CEM learner, the supervised direction model
    compare      several strategies on the same seeds (`market-sim strategies compare`)
"""

from market_sim.strategies import execution, hft, ml, statarb, traditional  # noqa: F401  (registers the agent types)

__all__ = ["execution", "hft", "ml", "statarb", "traditional"]
