"""Implied volatility for BSM and Black-76, vectorised, robust near the no-arbitrage bounds.

Method. The price is checked against the no-arbitrage range (discounted intrinsic < price < discounted upper bound:
the forward for a call, the strike for a put); outside it :class:`ArbitrageBoundsError` gives the price and both
bounds. An in-the-money option is turned into the out-of-the-money one by put-call parity (so the intrinsic value never
swamps the time value), and the problem is solved in the normalised total deviation ``s = vol * sqrt(t)`` on the
undiscounted Black formula. Start: the larger of Corrado-Miller's closed form and the deep-OTM asymptote. Steps:
Halley's method (third order) on the *logarithm* of the price, well scaled for deep OTM options whose price is many
orders of magnitude below the strike, inside a bracket ``[lo, hi]`` that shrinks at every evaluation: a step leaving
the bracket is replaced by bisection (or doubling while no upper bracket is known). Converged elements drop out of the
working set; inputs are processed in cache-sized blocks. Typically 3-4 evaluations per option.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from market_sim.derivatives._common import (CHUNK, VECTOR, ArbitrageBoundsError, PricingInputError, check_array,
                                            right_sign)

__all__ = ["bsm_implied_vol", "bsm_implied_vol_array", "black76_implied_vol", "black76_implied_vol_array"]

MAX_ITERATIONS = 100
_LOG_TOL = 1e-14  # stop at |ln(model / target)| <= 1e-14 (a relative price error, so deep OTM prices of 1e-20 are
# matched as closely as ATM ones), or at a step of at most 1e-15 s (the next would change nothing), or at a bracket
# as narrow as rounding.


def _otm_black(m: Any, x: Any, s: Any, w: Any, f: Any, k: Any) -> tuple[Any, Any]:
    """Undiscounted Black price (t = 1, vol = s), its first derivative in s, and d1 * d2 (the second derivative is
    vega * d1 * d2 / s)."""
    d1 = x / s + 0.5 * s
    d2 = d1 - s
    price = w * (f * m.cdf(w * d1) - k * m.cdf(w * d2))
    return price, f * m.pdf(d1), d1 * d2


def _initial_guess(f: np.ndarray, k: np.ndarray, target: np.ndarray, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Corrado–Miller's closed-form approximation (discriminant floored at 0), and for deep OTM prices, where it
    degrades, the small-price asymptote ln b ~ -x^2 / (2 s^2): the larger of the two (both underestimate)."""
    c = np.where(w > 0, target, target + (f - k))  # the call price, by parity
    half = c - 0.5 * (f - k)
    cm = np.sqrt(2.0 * np.pi) / (f + k) * (half + np.sqrt(np.maximum(half * half - (f - k) ** 2 / np.pi, 0.0)))
    with np.errstate(divide="ignore"):
        asym = np.abs(x) / np.sqrt(2.0 * np.maximum(-np.log(target / np.sqrt(f * k)), 1e-300))
    return np.maximum(np.maximum(cm, asym), 1e-8)


def _solve(f: np.ndarray, k: np.ndarray, target: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Total deviation s with Black(f, k, s, w) = target (undiscounted, OTM: 0 < target < min(f, k))."""
    x = np.log(f / k)
    s = _initial_guess(f, k, target, w, x)
    lo = np.zeros_like(s)
    hi = np.full_like(s, np.inf)
    log_target = np.log(target)
    prev = np.zeros_like(s)
    out = np.empty_like(s)
    idx = np.arange(s.size)
    for _ in range(MAX_ITERATIONS):
        price, vega, d1d2 = _otm_black(VECTOR, x, s, w, f, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            resid = np.log(price) - log_target
        done = ((np.abs(resid) <= _LOG_TOL) | (hi - lo <= 4e-16 * s)
                | (np.abs(s - prev) <= 1e-15 * s))
        if done.any():
            out[idx[done]] = s[done]
            keep = ~done
            idx, x, s, w, f, k, lo, hi, log_target, price, vega, d1d2, resid = (
                a[keep] for a in (idx, x, s, w, f, k, lo, hi, log_target, price, vega, d1d2, resid))
            if idx.size == 0:
                return out
        below = resid < 0.0  # includes price == 0 (resid = -inf): s too small
        lo = np.where(below, s, lo)
        hi = np.where(below, hi, s)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # Halley's step on g(s) = ln b(s) - ln target: g' = b'/b, g'' = b' d1 d2 / (s b) - g'^2
            g1 = vega / price
            g2 = g1 * d1d2 / s - g1 * g1
            step = s - 2.0 * resid * g1 / (2.0 * g1 * g1 - resid * g2)
        bad = ~((step > lo) & (step < hi))
        fallback = np.where(np.isinf(hi), 2.0 * s, 0.5 * (lo + hi))
        prev = s
        s = np.where(bad, fallback, step)
    out[idx] = s  # not reached in practice: bisection alone halves the bracket 100 times
    return out


def _implied_block(p: np.ndarray, fwd: np.ndarray, strike: np.ndarray, t: np.ndarray, disc: np.ndarray,
                   w: np.ndarray, raise_errors: bool, offset: int, indexed: bool) -> np.ndarray:
    undiscounted = p / disc
    intrinsic = np.maximum(w * (fwd - strike), 0.0)
    upper = np.where(w > 0, fwd, strike)
    ok = (undiscounted > intrinsic) & (undiscounted < upper)
    if raise_errors and not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ArbitrageBoundsError(float(p[i]), float(intrinsic[i] * disc[i]), float(upper[i] * disc[i]),
                                   index=offset + i if indexed else None)
    itm = w * (fwd - strike) > 0.0
    otm_price = np.where(itm, undiscounted - w * (fwd - strike), undiscounted)
    otm_w = np.where(itm, -w, w)
    vol = np.full(p.shape, np.nan)
    if ok.any():
        vol[ok] = _solve(fwd[ok], strike[ok], otm_price[ok], otm_w[ok]) / np.sqrt(t[ok])
    return vol


def _implied(price: Any, fwd: np.ndarray, strike: np.ndarray, t: np.ndarray, disc: np.ndarray, call: Any,
             on_error: str) -> np.ndarray:
    if on_error not in ("raise", "nan"):
        raise PricingInputError("on_error", on_error, "'raise' or 'nan'")
    p = check_array("price", price, "finite") if on_error == "raise" else np.asarray(price, dtype=np.float64)
    w = right_sign(call)
    arrays = np.broadcast_arrays(p, fwd, strike, t, disc, w)
    shape = arrays[0].shape
    p, fwd, strike, t, disc, w = (a.astype(np.float64).ravel() for a in arrays)
    vol = np.empty(p.shape)
    for i in range(0, p.size, CHUNK):  # block by block: the solver's temporaries stay in cache
        sl = slice(i, i + CHUNK)
        vol[sl] = _implied_block(p[sl], fwd[sl], strike[sl], t[sl], disc[sl], w[sl], on_error == "raise", i,
                                 len(shape) > 0)
    return vol.reshape(shape)


def bsm_implied_vol_array(price: Any, spot: Any, strike: Any, t: Any, rate: Any, div: Any = 0.0, call: Any = True,
                          on_error: str = "raise") -> np.ndarray:
    """BSM implied volatility of each price. ``on_error="nan"`` gives NaN for prices outside the no-arbitrage range
    instead of raising :class:`ArbitrageBoundsError`."""
    s = check_array("spot", spot, "pos")
    k = check_array("strike", strike, "pos")
    t = check_array("t", t, "pos")
    r = check_array("rate", rate, "finite")
    q = check_array("div", div, "finite")
    return _implied(price, s * np.exp((r - q) * t), k, t, np.exp(-r * t), call, on_error)


def black76_implied_vol_array(price: Any, forward: Any, strike: Any, t: Any, rate: Any, call: Any = True,
                              on_error: str = "raise") -> np.ndarray:
    """Black-76 implied volatility of each price (see :func:`bsm_implied_vol_array`)."""
    f = check_array("forward", forward, "pos")
    k = check_array("strike", strike, "pos")
    t = check_array("t", t, "pos")
    r = check_array("rate", rate, "finite")
    return _implied(price, f, k, t, np.exp(-r * t), call, on_error)


def bsm_implied_vol(price: float, spot: float, strike: float, t: float, rate: float, div: float = 0.0,
                    call: bool = True) -> float:
    """BSM implied volatility of one price; :class:`ArbitrageBoundsError` if no volatility reproduces it."""
    return float(bsm_implied_vol_array(price, spot, strike, t, rate, div, bool(call)))


def black76_implied_vol(price: float, forward: float, strike: float, t: float, rate: float,
                        call: bool = True) -> float:
    """Black-76 implied volatility of one price."""
    return float(black76_implied_vol_array(price, forward, strike, t, rate, bool(call)))
