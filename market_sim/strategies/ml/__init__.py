"""Machine learning on the simulator.

    features     book and own-position features from past data only (FeatureTracker, FEATURE_NAMES)
    agents       env_quoter (driven by the environment), feature_recorder, direction_taker (supervised model)
    env          MarketMakingEnv, a gymnasium environment over a Simulation, and make_vector_env (needs the
                 optional `[ml]` extra: gymnasium)
    learner      numpy baselines (random, fixed spread) and a cross-entropy-method linear quoting policy
    supervised   numpy logistic regression for the price direction, dataset from simulations, out-of-sample evaluation

Importing this package registers the agent types; it needs numpy only (env imports gymnasium itself).
"""

from market_sim.strategies.ml import agents, features  # noqa: F401  (registers the agent types)

__all__ = ["agents", "features"]
