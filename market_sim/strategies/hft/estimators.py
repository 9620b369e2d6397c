"""Online estimators from the simulated flow: mid volatility, and the order-arrival intensity A·exp(-k·δ).

Units: prices in ticks, time in seconds. `VolatilityEstimator.sigma` is in ticks/√s; `ArrivalEstimator` gives A in
fills per second at the mid and k per tick, for the Avellaneda–Stoikov and Guéant–Lehalle–Fernandez-Tapia models.
"""

from __future__ import annotations

import math

from market_sim.core.events import Trade
from market_sim.core.clock import NS_PER_SECOND

__all__ = ["VolatilityEstimator", "ArrivalEstimator", "fit_intensity"]


class VolatilityEstimator:
    """Exponentially weighted variance rate of the mid: each sample adds (Δmid)²/Δt with weight `alpha`."""

    __slots__ = ("alpha", "var", "last", "last_t", "samples")

    def __init__(self, sigma_prior: float, alpha: float = 0.05) -> None:
        self.alpha = alpha
        self.var = sigma_prior ** 2
        self.last: float | None = None
        self.last_t = 0
        self.samples = 0

    def sample(self, mid: float, t: int) -> None:
        if self.last is not None and t > self.last_t:
            dt = (t - self.last_t) / NS_PER_SECOND
            self.var += self.alpha * ((mid - self.last) ** 2 / dt - self.var)
            self.samples += 1
        self.last, self.last_t = mid, t

    @property
    def sigma(self) -> float:
        return math.sqrt(self.var)


def fit_intensity(depths: list[float], rates: list[float]) -> tuple[float, float] | None:
    """Least-squares fit of ln(rate) = ln(A) - k·depth over the points with a positive rate; (A, k) or None when
    fewer than two points or the fitted k is not positive."""
    pts = [(d, math.log(r)) for d, r in zip(depths, rates) if r > 0]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(d for d, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((d - mx) ** 2 for d, _ in pts)
    if sxx == 0:
        return None
    slope = sum((d - mx) * (y - my) for d, y in pts) / sxx
    if slope >= 0:
        return None
    return math.exp(my - slope * mx), -slope


class ArrivalEstimator:
    """Rates of market orders reaching depth ≥ d ticks from the mid, for d = 0.5, 1.5, ...; exponentially forgotten
    with `half_life` ns. One sweep (several prints of one aggressor at one time) counts once per depth it reached."""

    __slots__ = ("depths", "counts", "elapsed", "half_life", "last_t", "A", "k", "_sweep", "_sweep_depth", "fits")

    def __init__(self, A_prior: float, k_prior: float, bins: int = 8, half_life: int = 60 * NS_PER_SECOND) -> None:
        self.depths = [0.5 + j for j in range(bins)]
        self.counts = [0.0] * bins
        self.elapsed = 0.0
        self.half_life = half_life
        self.last_t: int | None = None
        self.A, self.k = A_prior, k_prior
        self._sweep: tuple[int, object] | None = None
        self._sweep_depth = 0.0
        self.fits = 0

    def on_trade(self, trade: Trade, bid: int | None, ask: int | None) -> None:
        """A trade print; bid/ask the book before it (ticks)."""
        if bid is None or ask is None:
            return
        depth = abs(2 * trade.price - bid - ask) / 2
        key = (trade.ts, trade.aggressor)
        prev = self._sweep_depth if self._sweep == key else -1.0
        if self._sweep != key:
            self._sweep, self._sweep_depth = key, depth
        else:
            self._sweep_depth = max(depth, prev)
        for j, d in enumerate(self.depths):
            if prev < d <= depth:
                self.counts[j] += 1.0

    def update(self, t: int) -> None:
        """Advance the clock to t (decaying the counts) and refit A and k."""
        if self.last_t is None:
            self.last_t = t
            return
        dt = t - self.last_t
        if dt <= 0:
            return
        decay = 0.5 ** (dt / self.half_life)
        self.counts = [c * decay for c in self.counts]
        # elapsed time under the same forgetting: e(t+dt) = e(t)*decay + ∫ decay over the step
        self.elapsed = self.elapsed * decay + (1 - decay) * self.half_life / math.log(2) / NS_PER_SECOND
        self.last_t = t
        if self.elapsed > 0:
            fit = fit_intensity(self.depths, [c / self.elapsed for c in self.counts])
            if fit is not None:
                self.A, self.k = fit
                self.fits += 1
