"""`gbm_shock`: GBM with one deterministic jump of the log price at `shock_at` (a fundamental shock)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from market_sim.simulation.params import param
from market_sim.simulation.processes import GBM, GBMParams, register_process_type

__all__ = ["ShockedGBM", "ShockedGBMParams"]


@dataclass(frozen=True, slots=True)
class ShockedGBMParams(GBMParams):
    shock_at: int = param(0, duration=True, help="when the shock hits")
    shock: float = param(-0.1, min=-0.99, help="relative price change at shock_at (-0.1: a 10% fall)")


@register_process_type
class ShockedGBM(GBM):
    """GBM whose value is multiplied by (1 + shock) from `shock_at` on."""

    kind = "gbm_shock"
    Params = ShockedGBMParams

    def __init__(self, p: ShockedGBMParams, seed: int) -> None:
        super().__init__(p, seed)
        self._shock_step = p.shock_at // p.dt
        self._factor = math.log1p(p.shock)

    def _step(self, x: float) -> float:
        x = super()._step(x)
        if self._step_index + 1 == self._shock_step:
            x *= math.exp(self._factor)
        return x
