"""A volatility surface per underlying: an SVI smile per expiry, interpolation in total variance, calendar checks.

Raw SVI (Gatheral 2004) gives the total implied variance ``w = vol^2 t`` of one expiry as a function of the
log-moneyness ``k = ln(K / F)``::

    w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2)),   b >= 0, |rho| < 1, sigma > 0

fitted per expiry by (weighted) least squares on total variance (scipy's trust-region reflective solver, bounded
parameters, a penalty keeping the minimum variance ``a + b sigma sqrt(1 - rho^2)`` non-negative).

Between expiries the surface interpolates total variance linearly in ``t`` at fixed ``k``; before the first expiry
it scales the first smile by ``t / t1`` (w -> 0 as t -> 0), after the last it keeps the last smile's implied vols.
Linear interpolation keeps ``w`` non-decreasing in ``t`` whenever the fitted smiles are, so the surface is free of
calendar arbitrage exactly when :meth:`VolSurface.calendar_violations` finds none on the fitted slices.
Butterfly arbitrage within one smile is checked by :meth:`SviSlice.butterfly_violations` (Gatheral's g(k) >= 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from market_sim.derivatives._common import PricingInputError, check_array, check_scalar

__all__ = ["SviSlice", "ExpiryQuotes", "CalendarViolation", "VolSurface", "fit_svi"]


@dataclass(frozen=True, slots=True)
class SviSlice:
    """One expiry's raw-SVI smile (``t`` in years, ``forward`` the expiry's forward price, ``rmse`` of the fit in
    implied vol)."""

    t: float
    forward: float
    a: float
    b: float
    rho: float
    m: float
    sigma: float
    rmse: float = 0.0

    def total_variance(self, k: Any) -> Any:
        """w(k) at log-moneyness k (a float or an array)."""
        x = np.asarray(k, dtype=np.float64) - self.m
        w = self.a + self.b * (self.rho * x + np.sqrt(x * x + self.sigma * self.sigma))
        return float(w) if np.ndim(w) == 0 else w

    def implied_vol(self, k: Any) -> Any:
        w = np.maximum(np.asarray(self.total_variance(k)), 0.0)
        vol = np.sqrt(w / self.t)
        return float(vol) if np.ndim(vol) == 0 else vol

    def density_factor(self, k: Any) -> Any:
        """Gatheral's g(k) = (1 - k w'/(2w))^2 - w'^2/4 (1/w + 1/4) + w''/2: the risk-neutral density is
        proportional to g, so g < 0 anywhere is a butterfly arbitrage in this smile."""
        k = np.asarray(k, dtype=np.float64)
        x = k - self.m
        root = np.sqrt(x * x + self.sigma * self.sigma)
        w = self.a + self.b * (self.rho * x + root)
        w1 = self.b * (self.rho + x / root)
        w2 = self.b * self.sigma * self.sigma / root ** 3
        g = (1.0 - k * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2
        return float(g) if g.ndim == 0 else g

    def butterfly_violations(self, k: Any) -> np.ndarray:
        """The log-moneyness points of ``k`` where the smile implies a negative density (g(k) < 0)."""
        k = check_array("k", k, "finite").ravel()
        return k[np.asarray(self.density_factor(k)) < 0.0]

    @property
    def min_total_variance(self) -> float:
        return self.a + self.b * self.sigma * math.sqrt(1.0 - self.rho * self.rho)


@dataclass(frozen=True, slots=True)
class ExpiryQuotes:
    """Implied vols quoted at one expiry: ``strikes`` and ``vols`` of equal length, the expiry's ``forward``."""

    t: float
    forward: float
    strikes: Sequence[float]
    vols: Sequence[float]


@dataclass(frozen=True, slots=True)
class CalendarViolation:
    """Total variance falls from expiry ``t1`` to the later ``t2`` at log-moneyness ``k``: ``w2 < w1``."""

    t1: float
    t2: float
    k: float
    w1: float
    w2: float


_PENALTY = 1e3


def fit_svi(t: float, log_moneyness: Any, vols: Any, forward: float = 1.0, weights: Any = None) -> SviSlice:
    """Fit a raw-SVI smile to implied vols at log-moneyness points (at least 5 of them) of one expiry."""
    t = check_scalar("t", t, "pos")
    forward = check_scalar("forward", forward, "pos")
    k = check_array("log_moneyness", log_moneyness, "finite").ravel()
    v = check_array("vols", vols, "pos").ravel()
    if k.size != v.size:
        raise PricingInputError("vols", v.size, f"as many as the log-moneyness points ({k.size})")
    if k.size < 5:
        raise PricingInputError("log_moneyness", k.size, "at least 5 points per expiry (SVI has 5 parameters)")
    wt = np.ones_like(k) if weights is None else check_array("weights", weights, "pos").ravel()
    target = v * v * t
    scale = target.mean()

    def residuals(x: np.ndarray) -> np.ndarray:
        a, b, rho, m, sig = x
        d = k - m
        w = a + b * (rho * d + np.sqrt(d * d + sig * sig))
        floor = a + b * sig * math.sqrt(max(1.0 - rho * rho, 0.0))
        return np.append(wt * (w - target) / scale, _PENALTY * min(floor, 0.0) / scale)

    span = max(float(k.max() - k.min()), 1e-3)
    guess = np.array([0.5 * float(target.min()), 0.1 * scale / span + 1e-4, 0.0, float(k[np.argmin(target)]),
                      0.1 * span])
    lower = [-np.inf, 0.0, -0.999, float(k.min()) - 2 * span, 1e-6]
    upper = [np.inf, np.inf, 0.999, float(k.max()) + 2 * span, 10 * span]
    fit = least_squares(residuals, guess, bounds=(lower, upper), method="trf", x_scale="jac", xtol=1e-14,
                        ftol=1e-14, gtol=1e-14, max_nfev=5000)
    a, b, rho, m, sig = (float(x) for x in fit.x)
    slice_ = SviSlice(t, forward, a, b, rho, m, sig)
    rmse = float(np.sqrt(np.mean((slice_.implied_vol(k) - v) ** 2)))
    return SviSlice(t, forward, a, b, rho, m, sig, rmse)


class VolSurface:
    """The implied-volatility surface of one underlying: SVI smiles at its expiries, joined in total variance."""

    __slots__ = ("underlying", "slices", "_t", "_log_f")

    def __init__(self, underlying: str, slices: Iterable[SviSlice]) -> None:
        ordered = tuple(sorted(slices, key=lambda s: s.t))
        if not ordered:
            raise PricingInputError("slices", (), "at least one expiry")
        times = [s.t for s in ordered]
        if len(set(times)) != len(times):
            raise PricingInputError("slices", times, "one smile per expiry (two share an expiry)")
        self.underlying = underlying
        self.slices = ordered
        self._t = np.array(times)
        self._log_f = np.log([s.forward for s in ordered])

    @classmethod
    def fit(cls, underlying: str, quotes: Iterable[ExpiryQuotes]) -> VolSurface:
        """Fit an SVI smile per expiry to the quoted implied vols."""
        slices = []
        for q in quotes:
            f = check_scalar("forward", q.forward, "pos")
            strikes = check_array("strikes", q.strikes, "pos")
            slices.append(fit_svi(q.t, np.log(strikes / f), q.vols, forward=f))
        return cls(underlying, slices)

    def forward(self, t: Any) -> Any:
        """Forward price at t: log-linear between expiries, flat outside them."""
        return np.exp(np.interp(t, self._t, self._log_f))

    def total_variance(self, k: Any, t: Any) -> Any:
        """Total implied variance at log-moneyness k and time t (floats or arrays, broadcast together)."""
        k = check_array("k", k, "finite")
        t = check_array("t", t, "pos")
        k, t = np.broadcast_arrays(k, t)
        ts = self._t
        w_at = np.stack([np.maximum(s.total_variance(k), 0.0) for s in self.slices])  # (slices, ...)
        i = np.clip(np.searchsorted(ts, t), 1, max(len(ts) - 1, 1))
        if len(ts) == 1:
            w = w_at[0] * t / ts[0]
        else:
            lo = np.take_along_axis(w_at, (i - 1)[None], 0)[0]
            hi = np.take_along_axis(w_at, i[None], 0)[0]
            t0, t1 = ts[i - 1], ts[i]
            w = lo + (hi - lo) * (t - t0) / (t1 - t0)
            w = np.where(t < ts[0], w_at[0] * t / ts[0], w)
            w = np.where(t > ts[-1], w_at[-1] * t / ts[-1], w)
        return float(w) if w.ndim == 0 else w

    def implied_vol(self, strike: Any, t: Any) -> Any:
        """Implied vol at a strike and time (the forward at t from :meth:`forward`)."""
        strike = check_array("strike", strike, "pos")
        t = check_array("t", t, "pos")
        w = np.asarray(self.total_variance(np.log(strike / self.forward(t)), t))
        vol = np.sqrt(w / t)
        return float(vol) if vol.ndim == 0 else vol

    def calendar_violations(self, k: Any = None, tolerance: float = 1e-12) -> list[CalendarViolation]:
        """Where total variance decreases between consecutive expiries, on a grid of log-moneyness (by default 201
        points spanning +-3 ATM standard deviations of the last expiry). Empty: no calendar arbitrage."""
        if k is None:
            last = self.slices[-1]
            half = 3.0 * math.sqrt(max(last.total_variance(0.0), 1e-8))
            k = np.linspace(-half, half, 201)
        k = check_array("k", k, "finite").ravel()
        found = []
        for s1, s2 in zip(self.slices, self.slices[1:]):
            w1, w2 = s1.total_variance(k), s2.total_variance(k)
            for j in np.flatnonzero(w2 < w1 - tolerance):
                found.append(CalendarViolation(s1.t, s2.t, float(k[j]), float(w1[j]), float(w2[j])))
        return found
