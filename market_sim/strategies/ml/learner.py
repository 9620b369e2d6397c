"""A numpy baseline learner for MarketMakingEnv: the cross-entropy method over a linear quoting policy.

Policies map an observation to an action in [0, 1]^4 (env.py):
    RandomPolicy        uniform actions (the action space's sampler, seeded)
    FixedSpread         the same symmetric quote every step: `offset` ticks each side, `lots` each side
    LinearPolicy        action = sigmoid(θ · φ(obs)), θ a 4 × 5 matrix over φ = [1, inventory, imbalance,
                        microprice − mid, last mid change]: so the policy can skew and size its quotes by inventory
                        and lean on the book signals
Cross-entropy method (`train_cem`): each iteration draws `population` θ from a diagonal Gaussian, scores each by the
mean episode return on the iteration's training seeds (the same seeds for every candidate: common random numbers),
refits mean and std to the `elite` best (std floored at `min_std`), and records the curve (population mean, elite
mean, the mean policy's score). Held-out evaluation uses seeds no iteration trained on.

`python -m market_sim.strategies.ml.learner [--out DIR]` trains with the defaults (about a minute on one core),
evaluates the learned, random and fixed-spread policies on the held-out seeds, prints the table and writes
learning_curve.png and results.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from market_sim.strategies.ml.env import MarketMakingEnv

__all__ = ["RandomPolicy", "FixedSpread", "LinearPolicy", "episode", "evaluate", "train_cem", "CemResult",
           "plot_learning_curve", "TRAIN_SEEDS", "HELD_OUT_SEEDS"]

Policy = Callable[[np.ndarray], np.ndarray]
PHI = ("bias", "inventory", "imbalance", "micro", "ret_1")
_PHI_INDEX = (7, 1, 2, 3)  # observation indices of the non-bias features
TRAIN_SEEDS = tuple(range(100, 200))   # iteration i trains on seeds 100 + (i·k .. i·k + k − 1) mod 100
HELD_OUT_SEEDS = tuple(range(9001, 9011))


class RandomPolicy:
    def __init__(self, env: MarketMakingEnv, seed: int = 0) -> None:
        self.space = env.action_space
        self.space.seed(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.space.sample()


class FixedSpread:
    def __init__(self, env: MarketMakingEnv, offset: float = 1.0, lots: int = 5) -> None:
        self.action = env.action_of(offset, offset, lots, lots)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.action


class LinearPolicy:
    def __init__(self, theta: np.ndarray) -> None:
        self.theta = np.asarray(theta, dtype=np.float64).reshape(4, len(PHI))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        phi = np.concatenate(([1.0], np.asarray(obs, dtype=np.float64)[list(_PHI_INDEX)]))
        return (1.0 / (1.0 + np.exp(-self.theta @ phi))).astype(np.float32)


def episode(env: MarketMakingEnv, policy: Policy, seed: int) -> dict[str, float]:
    """Run one episode on scenario seed `seed`: return (sum of rewards), final PnL, |position| at the end, fills."""
    obs, _ = env.reset(seed=seed)
    total, info, max_pos = 0.0, {}, 0
    while True:
        obs, r, terminated, truncated, info = env.step(policy(obs))
        total += r
        max_pos = max(max_pos, abs(info["position"]))
        if terminated or truncated:
            break
    return {"return": total, "pnl": info["pnl"], "position": info["position"], "max_position": max_pos,
            "fills": info["fills"]}


def evaluate(env: MarketMakingEnv, policy: Policy, seeds: Sequence[int]) -> dict[str, Any]:
    """Per-seed episodes and their mean return / PnL."""
    eps = [episode(env, policy, s) for s in seeds]
    rets = np.array([e["return"] for e in eps])
    return {"returns": rets.round(2).tolist(), "mean_return": float(rets.mean()),
            "std_return": float(rets.std(ddof=1)) if len(rets) > 1 else 0.0,
            "mean_pnl": float(np.mean([e["pnl"] for e in eps])),
            "mean_abs_final_position": float(np.mean([abs(e["position"]) for e in eps])),
            "mean_max_position": float(np.mean([e["max_position"] for e in eps])),
            "mean_fills": float(np.mean([e["fills"] for e in eps]))}


@dataclass
class CemResult:
    theta: np.ndarray
    curve: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    episodes: int = 0


def train_cem(env: MarketMakingEnv, *, iterations: int = 10, population: int = 16, elite: int = 4,
              seeds_per_iteration: int = 2, init_std: float = 2.0, min_std: float = 0.1, seed: int = 0,
              log: Callable[[str], None] | None = None) -> CemResult:
    """The cross-entropy method over LinearPolicy θ (see the module docstring); deterministic for `seed`."""
    rng = np.random.default_rng(seed)
    dim = 4 * len(PHI)
    mean, std = np.zeros(dim), np.full(dim, init_std)
    res = CemResult(mean)
    t0 = time.perf_counter()
    for it in range(iterations):
        seeds = [TRAIN_SEEDS[(it * seeds_per_iteration + j) % len(TRAIN_SEEDS)] for j in range(seeds_per_iteration)]
        thetas = mean + std * rng.standard_normal((population, dim))
        scores = np.array([np.mean([episode(env, LinearPolicy(th), s)["return"] for s in seeds]) for th in thetas])
        res.episodes += population * len(seeds)
        top = thetas[np.argsort(scores)[::-1][:elite]]
        mean, std = top.mean(axis=0), np.maximum(top.std(axis=0), min_std)
        m = float(np.mean([episode(env, LinearPolicy(mean), s)["return"] for s in seeds]))
        res.episodes += len(seeds)
        row = {"iteration": it + 1, "population_mean": float(scores.mean()),
               "elite_mean": float(np.sort(scores)[::-1][:elite].mean()), "mean_policy": m,
               "episodes": res.episodes, "seconds": round(time.perf_counter() - t0, 2)}
        res.curve.append(row)
        if log is not None:
            log(f"iteration {it + 1}: population {row['population_mean']:.1f}, elite {row['elite_mean']:.1f}, "
                f"mean policy {m:.1f} ({row['seconds']} s)")
    res.theta, res.seconds = mean, time.perf_counter() - t0
    return res


def plot_learning_curve(curve: Sequence[dict[str, float]], baselines: dict[str, float], path: Path) -> None:
    """Episode return per CEM iteration (training seeds) with the baselines' held-out means as lines."""
    import os

    import matplotlib

    if "inline" not in os.environ.get("MPLBACKEND", ""):  # a notebook's inline backend is kept
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["iteration"] for r in curve]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, [r["population_mean"] for r in curve], "o-", label="population mean (training seeds)")
    ax.plot(x, [r["elite_mean"] for r in curve], "s-", label="elite mean (training seeds)")
    ax.plot(x, [r["mean_policy"] for r in curve], "^-", label="CEM mean policy (training seeds)")
    for (name, value), style in zip(baselines.items(), ("--", ":", "-.")):
        ax.axhline(value, linestyle=style, color="grey", label=f"{name} (held-out mean)")
    ax.set_xlabel("CEM iteration")
    ax.set_ylabel("episode return (ticks × lots: PnL − inventory penalty)")
    ax.set_title("Cross-entropy method on MarketMakingEnv (strategies-ml)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("ml-learner"), help="directory for the plot and results.json")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--population", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    env = MarketMakingEnv()
    t0 = time.perf_counter()
    res = train_cem(env, iterations=args.iterations, population=args.population, seed=args.seed, log=print)
    train_s = time.perf_counter() - t0
    table = {"cem_linear": evaluate(env, LinearPolicy(res.theta), HELD_OUT_SEEDS),
             "fixed_spread (1 tick, 5 lots)": evaluate(env, FixedSpread(env), HELD_OUT_SEEDS),
             "random": evaluate(env, RandomPolicy(env, 0), HELD_OUT_SEEDS)}
    args.out.mkdir(parents=True, exist_ok=True)
    plot_learning_curve(res.curve, {k: v["mean_return"] for k, v in table.items() if k != "cem_linear"},
                        args.out / "learning_curve.png")
    print(f"trained in {train_s:.1f} s ({res.episodes} episodes); held-out seeds {HELD_OUT_SEEDS[0]}..{HELD_OUT_SEEDS[-1]}")
    print(f"{'policy':32} {'mean return':>12} {'std':>8} {'mean PnL':>10} {'max |q|':>8} {'fills':>7}")
    for name, r in table.items():
        print(f"{name:32} {r['mean_return']:12.1f} {r['std_return']:8.1f} {r['mean_pnl']:10.1f} "
              f"{r['mean_max_position']:8.1f} {r['mean_fills']:7.1f}")
    (args.out / "results.json").write_text(json.dumps(
        {"train_seconds": round(train_s, 1), "episodes": res.episodes, "theta": res.theta.round(4).tolist(),
         "phi": PHI, "curve": res.curve, "held_out_seeds": HELD_OUT_SEEDS, "evaluation": table}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
