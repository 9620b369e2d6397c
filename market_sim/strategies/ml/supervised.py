"""The supervised example: a price-direction model on book features, trained on simulations, evaluated out of sample
and traded by an agent.

Data: the `strategies-ml` world with a `feature_recorder` (one sample per second: the features of ml/features.py and
the mid). Row i pairs the features sampled at t_i (computed from what had arrived by t_i) with the label
y_i = [mid(t_{i+h}) > mid(t_i)]; rows whose mid does not move over the horizon, and the last h rows (no future
mid), are dropped. Features never see the label's window (tested: a run stopped at t has already produced every
feature row up to t, identical to a longer run's).

Model: L2-regularised logistic regression fitted by Newton's method (numpy) on features standardised with the
training means and standard deviations. Evaluation on held-out seeds: accuracy against the majority-class rate,
log loss against the base rate's, and AUC. The model is then traded by `direction_taker` (ml/agents.py) on the
held-out seeds (resting at the touch on the predicted side, `mode = "maker"`), its PnL compared with the same agent
trading the negated model (the same order flow with the signal reversed: what the prediction itself is worth).

`python -m market_sim.strategies.ml.supervised` prints the figures of docs/strategies.md.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from market_sim.core.errors import ConfigError
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import apply_overrides, parse_override, parse_scenario, read_scenario_file
from market_sim.strategies.ml.features import FEATURE_NAMES

__all__ = ["LogisticModel", "fit_logistic", "make_dataset", "collect", "simulate", "auc", "evaluate_model", "agent_result",
           "TRAIN_SEEDS", "TEST_SEEDS"]

TRAIN_SEEDS = tuple(range(1, 9))
TEST_SEEDS = tuple(range(501, 505))


@dataclass(frozen=True, slots=True)
class LogisticModel:
    """p(up) = sigmoid(w0 + Σ w_j (x_j − mean_j) / scale_j)."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]

    def probability(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, dtype=np.float64) - np.array(self.means)) / np.array(self.scales)
        return 1.0 / (1.0 + np.exp(-np.clip(Z @ np.array(self.weights[1:]) + self.weights[0], -50, 50)))

    def agent_params(self) -> dict[str, Any]:
        """The direction_taker parameters that trade this model."""
        return {"weights": list(self.weights), "means": list(self.means), "scales": list(self.scales)}


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1e-3, iterations: int = 25) -> LogisticModel:
    """Newton's method on the mean log loss + l2/2·|w|² (bias not penalised), features standardised first."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(X) != len(y) or len(X) < 2:
        raise ConfigError("need at least two labelled rows", key="rows", value=len(X))
    means = X.mean(axis=0)
    scales = X.std(axis=0)
    scales[scales == 0] = 1.0
    A = np.column_stack([np.ones(len(X)), (X - means) / scales])
    w = np.zeros(A.shape[1])
    reg = np.full(A.shape[1], l2)
    reg[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ w, -50, 50)))
        grad = A.T @ (p - y) / len(y) + reg * w
        H = (A * (p * (1 - p))[:, None]).T @ A / len(y) + np.diag(reg) + 1e-9 * np.eye(A.shape[1])
        step = np.linalg.solve(H, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return LogisticModel(tuple(map(float, w)), tuple(map(float, means)), tuple(map(float, scales)))


def make_dataset(rows: Sequence[tuple[int, float, tuple[float, ...]]], horizon: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) from recorder rows (ts, mid, features): X_i the features of row i, y_i = mid_{i+h} > mid_i; rows whose
    mid does not change over the horizon and the last `horizon` rows are dropped."""
    if horizon < 1:
        raise ConfigError("horizon must be at least one sample", key="horizon", value=horizon)
    n = len(rows) - horizon
    if n <= 0:
        return np.zeros((0, len(FEATURE_NAMES))), np.zeros(0)
    X = np.array([r[2] for r in rows[:n]], dtype=np.float64)
    mids = np.array([r[1] for r in rows], dtype=np.float64)
    move = mids[horizon:] - mids[:n]
    keep = move != 0
    return X[keep], (move[keep] > 0).astype(np.float64)


def _scenario(seed: int, extra_agents: Iterable[dict[str, Any]], overrides: Iterable[str] = ()) -> Any:
    path = resolve_scenario("strategies-ml")
    raw = apply_overrides(read_scenario_file(path), [parse_override(o) for o in overrides])
    raw["scenario"]["seed"] = seed
    raw["agents"] = list(raw["agents"]) + [dict(a) for a in extra_agents]
    return parse_scenario(raw, base_dir=path.parent, source=str(path))


RECORDER = {"type": "feature_recorder", "name": "rec", "latency": "fixed:100us", "interval": "1s"}


def simulate(seed: int, model: LogisticModel | None = None, *, overrides: Iterable[str] = (),
             taker: dict[str, Any] | None = None) -> Simulation:
    """Run the strategies-ml world on `seed` with the recorder (agent "rec-1") and, given a model, a direction_taker
    trading it (agent "dir-1"; `taker` overrides its parameters)."""
    agents = [RECORDER]
    if model is not None:
        agents.append({"type": "direction_taker", "name": "dir", "latency": "fixed:100us", "interval": "1s",
                       **model.agent_params(), **(taker or {})})
    sim = Simulation(_scenario(seed, agents, overrides))
    sim.run()
    return sim


def collect(seeds: Iterable[int], horizon: int = 5, overrides: Iterable[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Stacked datasets of the recorder runs on `seeds`."""
    Xs, ys = [], []
    for s in seeds:
        X, y = make_dataset(simulate(s, overrides=overrides).agent("rec-1").rows, horizon)
        Xs.append(X)
        ys.append(y)
    return np.vstack(Xs), np.concatenate(ys)


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half)."""
    y = np.asarray(y)
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allp = np.concatenate([pos, neg])[order]
    ranks[order] = np.arange(1, len(order) + 1)
    # average ranks over ties
    _, inv, counts = np.unique(allp, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks[order])
    ranks[order] = (sums / counts)[inv]
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def evaluate_model(model: LogisticModel, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    p = model.probability(X)
    eps = 1e-12
    base = float(y.mean())
    return {"rows": int(len(y)), "up_rate": base, "accuracy": float(np.mean((p > 0.5) == (y == 1))),
            "majority_accuracy": max(base, 1 - base),
            "log_loss": float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))),
            "base_log_loss": float(-(base * np.log(base + eps) + (1 - base) * np.log(1 - base + eps))),
            "auc": auc(y, p)}


def agent_result(sim: Simulation, agent: str = "dir-1") -> dict[str, Any]:
    """Fills, lots and mark-to-market PnL (ticks × lots, at the agent's last sampled mid) of a finished run's agent."""
    a = sim.agent(agent)
    ins = sim.instruments[a.symbol]
    mid = a.tracker.mid or 0.0
    pnl = a.balance(ins.quote_asset) / ins.quote_units_per_lot_tick + a.position(a.symbol) * mid
    return {"fills": a.fills, "lots": a.volume, "pnl_ticks_lots": round(pnl, 1)}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizon", type=int, default=5, help="label horizon in samples (1 s each)")
    ap.add_argument("--edge", type=float, default=0.2, help="direction_taker trades when |p − 0.5| > edge")
    args = ap.parse_args(argv)
    Xtr, ytr = collect(TRAIN_SEEDS, args.horizon)
    model = fit_logistic(Xtr, ytr)
    Xte, yte = collect(TEST_SEEDS, args.horizon)
    out = {"features": FEATURE_NAMES, "train_seeds": TRAIN_SEEDS, "test_seeds": TEST_SEEDS,
           "weights": model.weights, "means": model.means, "scales": model.scales, "in_sample": evaluate_model(model, Xtr, ytr),
           "out_of_sample": evaluate_model(model, Xte, yte), "agent": []}
    control = LogisticModel(tuple(-w for w in model.weights), model.means, model.scales)
    for name, m in (("model", model), ("negated model (control)", control)):
        for s in TEST_SEEDS:
            out["agent"].append({"policy": name, "seed": s, **agent_result(simulate(s, m, taker={"edge": args.edge}))})
    print(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
