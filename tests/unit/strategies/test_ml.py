"""Machine learning on the simulator: the gymnasium environment (check_env, determinism per seed, the vector
variant, the inventory limit), the agents' exact orders on hand-built books, the CEM learner against the baselines,
and the supervised direction model with its no-look-ahead guarantee."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

gym = pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from market_sim.core.clock import NS_PER_SECOND  # noqa: E402
from market_sim.core.errors import ConfigError  # noqa: E402
from market_sim.core.events import Trade  # noqa: E402
from market_sim.core.orders import Side  # noqa: E402
from market_sim.simulation.runner import Simulation  # noqa: E402
from market_sim.strategies.ml.agents import DirectionTaker, EnvQuoter  # noqa: E402
from market_sim.strategies.ml.env import ENV_ID, MarketMakingEnv, make_vector_env  # noqa: E402
from market_sim.strategies.ml.features import FeatureTracker, book_features  # noqa: E402
from market_sim.strategies.ml.supervised import (  # noqa: E402
    RECORDER, LogisticModel, _scenario, auc, fit_logistic, make_dataset)
from tests.unit.strategies.harness import accept, fill, make, orders, snapshot, trade  # noqa: E402

SHORT = ["scenario.duration=20s"]


# ----- the environment ------------------------------------------------------------------------------------------
def test_check_env_passes_without_warnings():
    env = gym.make(ENV_ID, overrides=SHORT).unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    assert [str(w.message) for w in caught] == []


def _rollout(env, seed, steps=12):
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs]
    rewards, infos = [], []
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        out.append(obs)
        rewards.append(r)
        infos.append((info["position"], info["fills"], info["pnl"]))
        if term or trunc:
            break
    return np.array(out), rewards, infos


def test_step_is_deterministic_for_a_seed_and_differs_across_seeds():
    a = _rollout(MarketMakingEnv(overrides=SHORT), 7)
    b = _rollout(MarketMakingEnv(overrides=SHORT), 7)
    c = _rollout(MarketMakingEnv(overrides=SHORT), 8)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    assert sum(f for _, f, _ in a[2]) > 0          # the random quotes traded
    assert not np.array_equal(a[0], c[0])


def test_reset_without_seed_continues_from_the_last_seed():
    env = MarketMakingEnv(overrides=SHORT)
    env.reset(seed=3)
    s1 = env.scenario_seed
    env.reset()
    s2 = env.scenario_seed
    env.reset(seed=3)
    env.reset()
    assert s1 == 3 and env.scenario_seed == s2 != 3


def test_episode_runs_to_the_scenario_end_and_reward_is_pnl_minus_inventory_penalty():
    env = MarketMakingEnv(overrides=SHORT, inventory_penalty=0.5)
    assert env.max_steps == 15   # 20 s − 5 s warm-up, 1 s steps
    env.reset(seed=2)
    last_pnl, steps = 0.0, 0
    while True:
        _, r, term, trunc, info = env.step(env.action_of(1.0, 1.0, 5, 5))
        steps += 1
        assert r == pytest.approx(info["pnl"] - last_pnl - 0.5 * info["position"] ** 2)
        last_pnl = info["pnl"]
        if trunc:
            break
    assert steps == 15 and not term and info["t"] == 20 * NS_PER_SECOND


def test_vector_env_seeds_its_copies_consecutively():
    venv = make_vector_env(3, overrides=SHORT)
    obs, info = venv.reset(seed=5)
    assert obs.shape == (3, 9) and list(info["scenario_seed"]) == [5, 6, 7]
    single = MarketMakingEnv(overrides=SHORT)
    o6, _ = single.reset(seed=6)
    assert np.array_equal(obs[1], o6)
    acts = np.tile(single.action_of(1.0, 1.0, 3, 3), (3, 1))
    vobs, vr, *_ = venv.step(acts)
    sobs, sr, *_ = single.step(acts[1])
    assert np.array_equal(vobs[1], sobs) and vr[1] == pytest.approx(sr)


def test_bad_env_arguments_are_config_errors():
    with pytest.raises(ConfigError):
        MarketMakingEnv(overrides=SHORT, warmup=30 * NS_PER_SECOND)
    with pytest.raises(ConfigError):
        MarketMakingEnv(overrides=SHORT, min_offset=2.0, max_offset=1.0)
    with pytest.raises(ConfigError):
        MarketMakingEnv(overrides=SHORT).step(np.zeros(4))


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 10_000))
def test_the_env_quoter_never_exceeds_its_inventory_limit(seed):
    env = MarketMakingEnv(overrides=["scenario.duration=25s", "agents.rl.max_inventory=8"], max_clip=6)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    worst = 0
    for _ in range(20):
        a = env.action_space.sample()
        a[:2] *= 0.1  # quote close to the mid: fills are frequent
        _, _, _, trunc, info = env.step(a)
        worst = max(worst, abs(info["position"]))
        if trunc:
            break
    assert worst <= 8


# ----- the agents on hand-built books --------------------------------------------------------------------------
def test_env_quoter_quotes_offsets_from_the_mid_and_keeps_unchanged_quotes():
    agent, sim = make(EnvQuoter, {"max_inventory": 6})
    snapshot(agent, sim, [(9999, 10), (9998, 5)], [(10001, 10)])
    agent.set_quotes(1.5, 2.5, 3, 4)       # mid 10000: bid floor(9998.5), ask ceil(10002.5)
    assert orders(sim) == [("new", "exchange", "BUY", 3, 9998, "LIMIT"), ("new", "exchange", "SELL", 4, 10003, "LIMIT")]
    agent.set_quotes(1.5, 2.5, 3, 4)
    assert orders(sim) == []
    buy = next(i for i, o in agent.open_orders.items() if o.side is Side.BUY)
    fill(agent, sim, buy)                  # long 3: only 3 lots of room left on the bid
    agent.set_quotes(1.5, 2.5, 5, 4)
    assert orders(sim) == [("new", "exchange", "BUY", 3, 9998, "LIMIT")]
    agent.set_quotes(0.1, 0.1, 0, 4)       # never crosses the others' book; size 0 pulls the bid
    sell = next(i for i, o in agent.open_orders.items() if o.side is Side.SELL)
    bid = next(i for i, o in agent.open_orders.items() if o.side is Side.BUY)
    assert orders(sim) == [("cancel", "exchange", bid), ("cancel", "exchange", sell),
                           ("new", "exchange", "SELL", 4, 10001, "LIMIT")]


def test_env_quoter_measures_the_book_without_its_own_quotes():
    agent, sim = make(EnvQuoter)
    snapshot(agent, sim, [(9999, 10)], [(10001, 10)])
    agent.set_quotes(0.5, 0.5, 2, 2)       # mid 10000 -> bid floor(9999.5)=9999 joins, ask ceil(10000.5)=10001
    for oid in list(agent.open_orders):
        accept(agent, sim, oid)
    book = agent.books["XYZ"]
    book.bids[9999], book.asks[10001] = 12, 12   # the venue's book now shows its 2 lots on top of the others' 10
    assert agent.others_book() == ({9999: 10}, {10001: 10})
    book.asks[10001] = 2                          # the others left the ask: only its own lots remain there
    assert agent.others_book() == ({9999: 10}, {})


def _direction(weights, mode="maker", **extra):
    params = {"weights": weights, "means": [0.0] * 7, "scales": [1.0] * 7, "edge": 0.2, "quantity": 4,
              "mode": mode, **extra}
    return make(DirectionTaker, params)


def test_direction_taker_rests_at_the_touch_on_the_predicted_side():
    # weight 2 on imbalance: bid-heavy book (imbalance 0.6) -> p = sigmoid(1.2) = 0.77 > 0.7
    agent, sim = _direction([0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    snapshot(agent, sim, [(9999, 40)], [(10001, 10)])
    agent.on_wakeup()
    assert orders(sim) == [("new", "exchange", "BUY", 4, 9999, "LIMIT")]
    assert agent.probabilities[-1] == pytest.approx(1 / (1 + math.exp(-1.2)))
    agent.on_wakeup()                      # same book, same order: kept
    assert orders(sim) == []
    agent.books["XYZ"].bids[9999] = 10     # balanced book: p = 0.5, target flat, nothing held: cancel
    buy = next(iter(agent.open_orders))
    agent.on_wakeup()
    assert orders(sim) == [("cancel", "exchange", buy)]


def test_direction_taker_in_taker_mode_sends_market_orders_for_the_target():
    agent, sim = _direction([0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0], mode="taker")
    snapshot(agent, sim, [(9999, 40)], [(10001, 10)])
    agent.on_wakeup()                      # p = 0.23 < 0.3: short 4
    assert orders(sim) == [("new", "exchange", "SELL", 4, None, "MARKET")]


def test_direction_taker_needs_a_full_model():
    with pytest.raises(ConfigError):
        _direction([0.0, 1.0])


# ----- features, dataset, model ---------------------------------------------------------------------------------
def test_book_features_by_hand():
    mid, spread, imb, micro = book_features({99: 30, 98: 10}, {102: 10, 103: 10}, levels=2)
    assert (mid, spread) == (100.5, 3.0) and imb == pytest.approx((40 - 20) / 60)
    assert micro == pytest.approx((102 * 30 + 99 * 10) / 40 - 100.5)
    assert book_features({}, {101: 1}) is None


def test_feature_tracker_returns_flow_and_volatility():
    t = FeatureTracker(levels=1, k=2, vol_alpha=0.5)
    f0 = t.sample({99: 1}, {101: 1})
    assert f0[3:6] == (0.0, 0.0, 0.0)
    t.on_trade(Trade(0, 1, "XYZ", 101, 4, 1, 2, "b", "s", Side.BUY))
    t.on_trade(Trade(0, 2, "XYZ", 99, 1, 1, 2, "b", "s", Side.SELL))
    f1 = t.sample({101: 1}, {103: 1})
    assert f1[3:6] == (2.0, 2.0, 3.0) and f1[6] == pytest.approx(math.sqrt(0.5 * 4))
    f2 = t.sample({103: 1}, {105: 1})
    f3 = t.sample({103: 1}, {105: 1})
    assert (f2[4], f3[4], f3[5]) == (4.0, 2.0, 0.0)   # ret_k over the last k = 2 samples


def test_make_dataset_labels_with_the_future_mid_and_drops_flat_and_unlabelled_rows():
    rows = [(i, m, (float(i),) * 7) for i, m in enumerate([100, 101, 101, 99, 105, 105])]
    X, y = make_dataset(rows, horizon=2)
    # row 0: 101 > 100 up; row 1: 99 < 101 down; row 2: 105 > 101 up; row 3: 105 > 99 up; rows 4-5 have no label
    assert X[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0] and y.tolist() == [1, 0, 1, 1]
    rows[1] = (1, 99, rows[1][2])   # row 1's mid now equals row 3's: a flat move, dropped
    X, y = make_dataset(rows, horizon=2)
    assert X[:, 0].tolist() == [0.0, 2.0, 3.0]


@given(st.lists(st.integers(95, 105), min_size=2, max_size=60), st.integers(1, 6))
def test_each_dataset_row_pairs_its_own_features_with_the_later_mid(mids, h):
    rows = [(i, float(m), (float(i),) + (0.0,) * 6) for i, m in enumerate(mids)]
    X, y = make_dataset(rows, horizon=h)
    idx = X[:, 0].astype(int)
    expect = [i for i in range(len(mids) - h) if mids[i + h] != mids[i]]
    assert idx.tolist() == expect                      # the features of row i are the features sampled at t_i
    assert y.tolist() == [float(mids[i + h] > mids[i]) for i in expect]


def test_features_use_only_past_data():
    """A run paused at t has already recorded every feature row up to t; continuing it (or running the same seed
    straight to the end) never changes those rows: no feature depends on anything after its sampling time."""
    sc = _scenario(11, [RECORDER], ["scenario.duration=40s"])
    paused = Simulation(sc)
    paused.run_until(20 * NS_PER_SECOND)
    early = list(paused.agent("rec-1").rows)
    paused.run_until(40 * NS_PER_SECOND)
    full = Simulation(_scenario(11, [RECORDER], ["scenario.duration=40s"]))
    full.run()
    rows = full.agent("rec-1").rows
    assert len(early) == 20 and all(ts <= 20 * NS_PER_SECOND for ts, _, _ in early)
    assert rows[:len(early)] == early and len(rows) > len(early)
    assert paused.agent("rec-1").rows == rows


def test_fit_logistic_recovers_the_generating_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 7))
    true = np.array([0.3, 1.5, -1.0, 0, 0, 0.5, 0, 0])
    p = 1 / (1 + np.exp(-(true[0] + X @ true[1:])))
    y = (rng.random(20_000) < p).astype(float)
    m = fit_logistic(X, y, l2=0.0)
    # standardised weights = raw weights × std (≈ 1 here)
    assert np.allclose(np.array(m.weights) / np.r_[1, m.scales], true, atol=0.06)
    assert m.probability(X[:3]).shape == (3,)


def test_auc_against_the_pairwise_definition():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 60)
    p = np.round(rng.random(60), 1)   # ties on purpose
    pos, neg = p[y == 1], p[y == 0]
    expect = np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg])
    assert auc(y, p) == pytest.approx(expect)


@pytest.mark.slow
def test_direction_model_beats_the_majority_class_out_of_sample():
    from market_sim.strategies.ml.supervised import collect, evaluate_model

    Xtr, ytr = collect(range(1, 5))
    m = fit_logistic(Xtr, ytr)
    Xte, yte = collect(range(501, 503))
    ev = evaluate_model(m, Xte, yte)
    assert ev["accuracy"] > ev["majority_accuracy"] + 0.05 and ev["auc"] > 0.6 and ev["log_loss"] < ev["base_log_loss"]
    assert isinstance(m, LogisticModel)


@pytest.mark.slow
def test_cem_learner_beats_random_and_fixed_spread_on_held_out_seeds():
    from market_sim.strategies.ml.learner import (HELD_OUT_SEEDS, FixedSpread, LinearPolicy, RandomPolicy, evaluate,
                                                  train_cem)

    env = MarketMakingEnv()
    res = train_cem(env, iterations=10, population=16, seed=0)
    assert len(res.curve) == 10 and res.episodes == 10 * (16 * 2 + 2)   # its wall time: docs/strategies.md
    learned = evaluate(env, LinearPolicy(res.theta), HELD_OUT_SEEDS)["mean_return"]
    fixed = evaluate(env, FixedSpread(env), HELD_OUT_SEEDS)["mean_return"]
    rand = evaluate(env, RandomPolicy(env, 0), HELD_OUT_SEEDS)["mean_return"]
    assert learned > fixed and learned > rand


@pytest.mark.slow
def test_the_shipped_direction_scenario_trades_the_documented_fit():
    """strategies-ml-direction carries the model `python -m market_sim.strategies.ml.supervised` fits (to 4 places)."""
    import tomllib

    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.strategies.ml.supervised import TRAIN_SEEDS, collect

    m = fit_logistic(*collect(TRAIN_SEEDS))
    table = next(a for a in tomllib.loads(resolve_scenario("strategies-ml-direction").read_text())["agents"]
                 if a["type"] == "direction_taker")
    for key, fitted in (("weights", m.weights), ("means", m.means), ("scales", m.scales)):
        assert table[key] == pytest.approx([round(v, 4) for v in fitted], abs=1e-12), key
