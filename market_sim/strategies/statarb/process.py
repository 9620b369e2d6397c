"""The cointegrated-pair price process (`kind = "cointegrated"`): two legs sharing one stochastic trend.

    log A_t = log s0_a + W_t
    log B_t = log s0_b + beta · W_t + u_t,   u an Ornstein–Uhlenbeck spread: du = −spread_theta·u dt + spread_sigma dB
W is a driftless Brownian motion with volatility `sigma` (per rate_unit). log B − beta·log A is stationary, so the
pair is cointegrated with hedge ratio beta (in log prices) and spread half-life ln 2 / spread_theta.

Declare one [processes.NAME] table per leg with the same parameters and `leg = "a"` / `leg = "b"`. Both legs draw
W from `trend_seed` (so they see the same path; a process cannot read another's state); the spread u is drawn
from the leg's own seed, derived from the scenario seed, so a new scenario seed gives a new spread path.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.simulation.params import param
from market_sim.simulation.processes import PriceProcess, register_process_type

__all__ = ["CointegratedLeg", "CointegratedParams"]

_YEAR_NS = 365 * 24 * 3600 * NS_PER_SECOND


@dataclass(frozen=True, slots=True)
class CointegratedParams:
    leg: str = param(choices=("a", "b"), help="which leg this instrument is")
    s0_a: float = param(100.0, min=0.0, help="start price of leg a")
    s0_b: float = param(100.0, min=0.0, help="start price of leg b")
    beta: float = param(1.0, help="hedge ratio: log B moves beta x log A")
    sigma: float = param(0.3, min=0.0, help="volatility of the common trend per rate_unit")
    spread_theta: float = param(50.0, min=0.0, help="mean-reversion speed of the spread per rate_unit")
    spread_sigma: float = param(0.05, min=0.0, help="volatility of the spread per rate_unit")
    trend_seed: int = param(1, help="seed of the common trend W (the same in both legs)")
    dt: int = param(NS_PER_SECOND, duration=True, min=1)
    rate_unit: int = param(_YEAR_NS, duration=True, min=1, help="rates are per this duration (default 365d)")


@register_process_type
class CointegratedLeg(PriceProcess):
    """One leg of a cointegrated pair: a common random-walk trend plus (leg b) a mean-reverting spread."""

    kind = "cointegrated"
    Params = CointegratedParams

    def __init__(self, p: CointegratedParams, seed: int) -> None:
        h = p.dt / p.rate_unit
        self._p = p
        self._dt = p.dt
        self._trend_rng = random.Random(p.trend_seed)
        self._spread_rng = random.Random(seed)
        self._trend_vol = p.sigma * math.sqrt(h)
        self._decay = math.exp(-p.spread_theta * h)
        var = (1 - self._decay ** 2) / (2 * p.spread_theta) if p.spread_theta > 0 else h
        self._spread_std = p.spread_sigma * math.sqrt(var)
        self._w = 0.0
        self._u = 0.0
        self._step = 0
        self.spread = 0.0

    def value_at(self, t: int) -> float:
        target = t // self._dt
        while self._step < target:
            self._w += self._trend_vol * self._trend_rng.gauss(0.0, 1.0)
            if self._p.leg == "b":
                self._u = self._u * self._decay + self._spread_std * self._spread_rng.gauss(0.0, 1.0)
            self._step += 1
        p = self._p
        if p.leg == "a":
            return p.s0_a * math.exp(self._w)
        self.spread = self._u
        return p.s0_b * math.exp(p.beta * self._w + self._u)
