"""External ("fundamental") price processes: GBM, Merton jump-diffusion, Ornstein–Uhlenbeck and CSV replay.

Values are floats (analytics); agents convert them to integer ticks at their boundary. A process advances on a
fixed grid of `dt` steps with its own seeded generator, so its path does not depend on when it is queried.
"""

from __future__ import annotations

import csv
import math
import random
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError, ValidationError
from market_sim.simulation.registry import KindRegistry
from market_sim.simulation.latency import parse_duration
from market_sim.simulation.params import build_params, param

__all__ = [
    "PriceProcess", "GBM", "MertonJumpDiffusion", "OrnsteinUhlenbeck", "CsvReplay",
    "register_process_type", "process_types", "build_process",
]

_YEAR_NS = 365 * 24 * 3600 * NS_PER_SECOND


class PriceProcess:
    """Base class: value_at(t) returns the process value at simulated time t (ns), t never decreasing."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type]
    multiplicative: ClassVar[bool] = False  # rescale() supported: the value's path scales with its level

    def value_at(self, t: int) -> float:
        raise NotImplementedError

    def rescale(self, t: int, factor: float) -> None:
        """Multiply the process's values from time t on by `factor` (a corporate action: a warrant exercise dilutes
        the value per share). Only for processes whose steps are multiplicative in the level (GBM, Merton)."""
        raise ConfigError(f"a {self.kind or type(self).__name__} process cannot be rescaled (only multiplicative "
                          "processes: gbm, merton, gbm_shock)", key="processes.kind", value=self.kind)


class _GridProcess(PriceProcess):
    """A process stepped on a fixed grid of dt ns; subclasses implement _step(x) -> next x."""

    def __init__(self, x0: float, dt: int, rate_unit: int, seed: int) -> None:
        self._x = x0
        self._dt = dt
        self._h = dt / rate_unit  # step length in the unit the rates are quoted in
        self._step_index = 0
        self._rng = random.Random(seed)

    def value_at(self, t: int) -> float:
        target = t // self._dt
        x = self._x
        while self._step_index < target:
            x = self._step(x)
            self._step_index += 1
        self._x = x
        return x

    def _step(self, x: float) -> float:
        raise NotImplementedError

    def rescale(self, t: int, factor: float) -> None:
        if not self.multiplicative:
            PriceProcess.rescale(self, t, factor)
        if not (factor > 0 and math.isfinite(factor)):
            raise ValidationError(f"rescale factor must be a positive finite number, got {factor!r}")
        self.value_at(t)
        self._x *= factor  # the current step's value and every later one (each step multiplies the level)


@dataclass(frozen=True, slots=True)
class GBMParams:
    s0: float = param(min=0.0)
    mu: float = 0.0
    sigma: float = param(0.2, min=0.0)
    dt: int = param(NS_PER_SECOND, duration=True, min=1)
    rate_unit: int = param(_YEAR_NS, duration=True, min=1, help="mu and sigma are per this duration (default 365d)")


class GBM(_GridProcess):
    """Geometric Brownian motion, exact log-normal steps."""

    kind = "gbm"
    Params = GBMParams
    multiplicative = True

    def __init__(self, p: GBMParams, seed: int) -> None:
        super().__init__(p.s0, p.dt, p.rate_unit, seed)
        self._drift = (p.mu - 0.5 * p.sigma ** 2) * self._h
        self._vol = p.sigma * math.sqrt(self._h)

    def _step(self, x: float) -> float:
        return x * math.exp(self._drift + self._vol * self._rng.gauss(0.0, 1.0))


@dataclass(frozen=True, slots=True)
class MertonParams:
    s0: float = param(min=0.0)
    mu: float = 0.0
    sigma: float = param(0.2, min=0.0)
    jump_intensity: float = param(1.0, min=0.0, help="expected jumps per rate_unit")
    jump_mean: float = param(0.0, help="mean of the log jump size")
    jump_std: float = param(0.05, min=0.0, help="std of the log jump size")
    dt: int = param(NS_PER_SECOND, duration=True, min=1)
    rate_unit: int = param(_YEAR_NS, duration=True, min=1)


class MertonJumpDiffusion(_GridProcess):
    """GBM plus compound-Poisson log-normal jumps; drift compensated so E[S_t] = s0 * exp(mu t)."""

    kind = "merton"
    Params = MertonParams
    multiplicative = True

    def __init__(self, p: MertonParams, seed: int) -> None:
        super().__init__(p.s0, p.dt, p.rate_unit, seed)
        kappa = math.exp(p.jump_mean + 0.5 * p.jump_std ** 2) - 1.0
        self._drift = (p.mu - 0.5 * p.sigma ** 2 - p.jump_intensity * kappa) * self._h
        self._vol = p.sigma * math.sqrt(self._h)
        self._p_jump_scale = p.jump_intensity * self._h
        self._jm, self._js = p.jump_mean, p.jump_std
        self.jumps = 0

    def _step(self, x: float) -> float:
        rng = self._rng
        log_ret = self._drift + self._vol * rng.gauss(0.0, 1.0)
        # Poisson number of jumps in this step (Knuth; the mean per step is small).
        limit, k, prod = math.exp(-self._p_jump_scale), 0, rng.random()
        while prod > limit:
            k += 1
            prod *= rng.random()
        for _ in range(k):
            log_ret += rng.gauss(self._jm, self._js)
        self.jumps += k
        return x * math.exp(log_ret)


@dataclass(frozen=True, slots=True)
class OUParams:
    x0: float
    mean: float
    theta: float = param(min=0.0, help="mean-reversion speed per rate_unit")
    sigma: float = param(min=0.0)
    dt: int = param(NS_PER_SECOND, duration=True, min=1)
    rate_unit: int = param(_YEAR_NS, duration=True, min=1)
    floor: float = param(0.0, help="values are clipped at this floor (prices stay positive)")


class OrnsteinUhlenbeck(_GridProcess):
    """Mean-reverting Ornstein–Uhlenbeck process with exact Gaussian transitions."""

    kind = "ou"
    Params = OUParams

    def __init__(self, p: OUParams, seed: int) -> None:
        super().__init__(p.x0, p.dt, p.rate_unit, seed)
        self._mean = p.mean
        self._decay = math.exp(-p.theta * self._h)
        var = (1 - math.exp(-2 * p.theta * self._h)) / (2 * p.theta) if p.theta > 0 else self._h
        self._std = p.sigma * math.sqrt(var)
        self._floor = p.floor
        self._raw = p.x0

    def _step(self, x: float) -> float:
        self._raw = self._mean + (self._raw - self._mean) * self._decay + self._std * self._rng.gauss(0.0, 1.0)
        return max(self._raw, self._floor)


@dataclass(frozen=True, slots=True)
class CsvParams:
    path: str
    time_column: str = "time"
    price_column: str = "price"
    scale: float = param(1.0, help="multiply every price by this")


class CsvReplay(PriceProcess):
    """Replay a price series from CSV: columns time (ns or a duration like '1.5s') and price; step-wise constant."""

    kind = "csv"
    Params = CsvParams

    def __init__(self, p: CsvParams, seed: int, base_dir: Path | None = None) -> None:
        path = Path(p.path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ConfigError("CSV price file not found", key="processes.path", value=str(path))
        times: list[int] = []
        prices: list[float] = []
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            for col in (p.time_column, p.price_column):
                if col not in (reader.fieldnames or []):
                    raise ConfigError(f"column missing from {path.name}; has {reader.fieldnames}",
                                      key="processes.column", value=col)
            for row_no, row in enumerate(reader, start=2):
                t_text, price_text = row[p.time_column].strip(), row[p.price_column].strip()
                t = int(t_text) if t_text.isdigit() else parse_duration(t_text, f"{path.name}:{row_no}")
                try:
                    price = float(price_text) * p.scale
                except ValueError:
                    raise ConfigError("price is not a number", key=f"{path.name}:{row_no}",
                                      value=price_text) from None
                if times and t < times[-1]:
                    raise ConfigError("times must not decrease", key=f"{path.name}:{row_no}", value=t_text)
                times.append(t)
                prices.append(price)
        if not times:
            raise ConfigError("CSV price file has no rows", key="processes.path", value=str(path))
        self._times, self._prices = times, prices

    def value_at(self, t: int) -> float:
        i = bisect_right(self._times, t) - 1
        return self._prices[max(i, 0)]


PROCESS_TYPES: KindRegistry[type[PriceProcess]] = KindRegistry("process kind")


def register_process_type(cls: type[PriceProcess]) -> type[PriceProcess]:
    """Register a PriceProcess subclass under cls.kind (usable as a decorator)."""
    return PROCESS_TYPES.register(cls)


def process_types() -> dict[str, type[PriceProcess]]:
    """Registered process kinds."""
    return PROCESS_TYPES.all()


for _cls in (GBM, MertonJumpDiffusion, OrnsteinUhlenbeck, CsvReplay):
    register_process_type(_cls)


def validate_process(raw: Any, where: str) -> tuple[str, Any]:
    """Check one [processes.NAME] table; returns (kind, params)."""
    if not isinstance(raw, dict):
        raise ConfigError("must be a table", key=where, value=raw)
    kind = raw.get("kind")
    cls = PROCESS_TYPES.get(kind, f"{where}.kind")
    params = build_params(cls.Params, {k: v for k, v in raw.items() if k != "kind"}, where)
    return kind, params


def build_process(kind: str, params: Any, seed: int) -> PriceProcess:
    """Instantiate a registered process kind (a class constructed as cls(params, seed))."""
    cls: Callable[..., PriceProcess] = PROCESS_TYPES.get(kind, "kind")
    return cls(params, seed)
