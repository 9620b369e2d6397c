"""A gymnasium environment over the simulator: an agent learns to quote one book.

`MarketMakingEnv` runs a scenario (default `strategies-ml`) in a Simulation and drives its `env_quoter` agent. Each
step the action sets the agent's bid and ask, then the simulation advances `step_interval` of simulated time.

    observation  float32, 9 values clipped to ±10: the 7 book features of ml/features.py (spread, imbalance,
                 microprice − mid, mid change over 1 and k steps, signed trade flow / 10, EW volatility), inventory /
                 max_inventory, and the fraction of the episode left.
    action       float32 Box [0, 1]^4 = [bid offset, ask offset, bid size, ask size]: an offset a means
                 min_offset + a·(max_offset − min_offset) ticks from the others' mid, a size a means round(a·max_clip)
                 lots (0 = no quote on that side). `quote_of(action)` gives the ticks and lots.
    reward       ΔPnL − inventory_penalty · q², PnL mark-to-market at the others' mid in ticks × lots (cash change of
                 the account + position · mid), q the position in lots after the step.
    episode      from `warmup` to the scenario's duration; `truncated` at its end (nothing terminates earlier).

Determinism: reset(seed=s) runs the scenario with seed s (every RNG of the simulation derives from it); reset() with
no seed draws the scenario seed from the environment's np_random, itself seeded by the last explicit seed. The same
seed and actions give the same observations and rewards (tested; `check_env` passes).

`make_vector_env(n, ...)` is a gymnasium SyncVectorEnv of n environments (the simulations are single-threaded
Python; several in one process are stepped in turn). The id "market_sim/MarketMaking-v0" is registered with
gymnasium, so `gymnasium.make("market_sim/MarketMaking-v0")` works once this module is imported.

Needs the optional `[ml]` extra (gymnasium).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import Scenario, load_scenario
from market_sim.strategies.ml.agents import EnvQuoter
from market_sim.strategies.ml.features import FEATURE_NAMES

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("market_sim.strategies.ml.env needs gymnasium: pip install 'market-sim[ml]'") from exc

__all__ = ["MarketMakingEnv", "make_vector_env", "OBSERVATION_NAMES", "ENV_ID"]

ENV_ID = "market_sim/MarketMaking-v0"
OBSERVATION_NAMES = FEATURE_NAMES + ("inventory", "time_left")
_FLOW_SCALE = 10.0


class MarketMakingEnv(gym.Env):
    """Quote one instrument in a simulated market; see the module docstring for spaces and reward."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: str = "strategies-ml", overrides: Iterable[str] = (), *, agent: str = "rl-1",
                 step_interval: int = NS_PER_SECOND, warmup: int = 5 * NS_PER_SECOND, min_offset: float = 0.5,
                 max_offset: float = 10.0, max_clip: int = 10, inventory_penalty: float = 0.01) -> None:
        super().__init__()
        if step_interval <= 0 or warmup < 0:
            raise ConfigError("step_interval must be > 0 and warmup >= 0", key="step_interval", value=step_interval)
        if not 0 < min_offset < max_offset:
            raise ConfigError("need 0 < min_offset < max_offset", key="min_offset", value=min_offset)
        if max_clip < 1:
            raise ConfigError("max_clip must be at least 1 lot", key="max_clip", value=max_clip)
        self.scenario_path = resolve_scenario(scenario)
        self.overrides = tuple(overrides)
        base = load_scenario(self.scenario_path, self.overrides)  # validated once; reset() reloads with the seed
        if warmup >= base.duration:
            raise ConfigError("warmup must be shorter than the scenario", key="warmup", value=warmup)
        self.agent_id = agent
        self.step_interval, self.warmup = int(step_interval), int(warmup)
        self.max_clip, self.inventory_penalty = int(max_clip), float(inventory_penalty)
        self.duration = base.duration
        self.max_steps = -(-(base.duration - self.warmup) // self.step_interval)
        self.min_offset, self.max_offset = float(min_offset), float(max_offset)
        self.action_space = spaces.Box(0.0, 1.0, shape=(4,), dtype=np.float32)
        n = len(OBSERVATION_NAMES)
        self.observation_space = spaces.Box(-10.0, 10.0, shape=(n,), dtype=np.float32)
        self.sim: Simulation | None = None
        self.quoter: EnvQuoter | None = None
        self.scenario_seed: int | None = None

    # ----- gymnasium API -----
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.scenario_seed = int(seed) if seed is not None else int(self.np_random.integers(0, 2**31 - 1))
        sc: Scenario = load_scenario(self.scenario_path, self.overrides, seed=self.scenario_seed)
        self.sim = Simulation(sc, tune_gc=False)
        self.sim.build()
        quoter = self.sim.agent(self.agent_id)
        if not isinstance(quoter, EnvQuoter):
            raise ConfigError("the scenario needs an env_quoter agent with this id", key="agent",
                              value=self.agent_id)
        self.quoter = quoter
        self.ins = self.sim.instruments[quoter.symbols[0]] if quoter.symbols else None
        self.sim.run_until(self.warmup)
        self.steps = 0
        self.cash0 = self._cash()
        self.pnl = 0.0
        obs = self._observe()
        self._last_pnl = self._mark()
        return obs, self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.sim is None:
            raise ConfigError("call reset() before step()", key="step", value=None)
        self.quoter.set_quotes(*self.quote_of(action))
        self.sim.run_until(self.sim.now + self.step_interval)
        self.steps += 1
        obs = self._observe()
        pnl = self._mark()
        q = self.quoter.position(self.quoter.symbol)
        reward = (pnl - self._last_pnl) - self.inventory_penalty * q * q
        self._last_pnl = self.pnl = pnl
        truncated = self.sim.now >= self.duration
        return obs, float(reward), False, bool(truncated), self._info()

    # ----- pieces -----
    def quote_of(self, action: Any) -> tuple[float, float, int, int]:
        """(bid offset ticks, ask offset ticks, bid lots, ask lots) of an action (clipped to the space)."""
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(4), 0.0, 1.0)
        span = self.max_offset - self.min_offset
        return (self.min_offset + float(a[0]) * span, self.min_offset + float(a[1]) * span,
                int(round(a[2] * self.max_clip)), int(round(a[3] * self.max_clip)))

    def action_of(self, bid_offset: float, ask_offset: float, bid_lots: int, ask_lots: int) -> np.ndarray:
        """The action that quotes these offsets (ticks) and sizes (lots)."""
        span = self.max_offset - self.min_offset
        return np.clip(np.array([(bid_offset - self.min_offset) / span, (ask_offset - self.min_offset) / span,
                                 bid_lots / self.max_clip, ask_lots / self.max_clip]), 0.0, 1.0).astype(np.float32)

    def _cash(self) -> int:
        return self.quoter.balance(self.ins.quote_asset)

    def _mark(self) -> float:
        """Mark-to-market PnL in ticks × lots: cash change + position at the last sampled mid."""
        mid = self.quoter.tracker.mid
        q = self.quoter.position(self.quoter.symbol)
        cash = (self._cash() - self.cash0) / self.ins.quote_units_per_lot_tick
        return cash + (q * mid if mid is not None else 0.0)

    def _observe(self) -> np.ndarray:
        f = self.quoter.sample()
        self._features = f
        v = np.zeros(len(OBSERVATION_NAMES), dtype=np.float64)
        if f is not None:
            v[:len(f)] = f
            v[5] /= _FLOW_SCALE
        v[-2] = self.quoter.position(self.quoter.symbol) / max(1, self.quoter.params.max_inventory)
        v[-1] = max(0.0, (self.duration - self.sim.now) / max(1, self.duration - self.warmup))
        return np.clip(v, -10.0, 10.0).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        q = self.quoter
        return {"t": self.sim.now, "pnl": self.pnl, "position": q.position(q.symbol), "fills": q.fills,
                "volume": q.volume, "scenario_seed": self.scenario_seed}


def make_vector_env(n: int, **kwargs: Any) -> "gym.vector.SyncVectorEnv":
    """n MarketMakingEnv in a SyncVectorEnv (reset(seed=s) seeds them s, s+1, ..., s+n−1)."""
    if n < 1:
        raise ConfigError("need at least one environment", key="n", value=n)
    return gym.vector.SyncVectorEnv([lambda: MarketMakingEnv(**kwargs) for _ in range(n)])


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point=MarketMakingEnv)
