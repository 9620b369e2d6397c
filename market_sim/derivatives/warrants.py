"""Warrants: European call warrants written by the issuer, priced with the Black–Scholes dilution adjustment.

A firm has ``N`` shares outstanding and ``M`` warrants, each giving the right to buy ``k`` (``ratio``) *new* shares
at the strike ``K`` per share at expiry ``T``. Let ``V`` be the value of the firm's equity (shares plus warrants:
``V = N S + M W``). If the warrants are exercised the firm receives ``M k K`` and has ``N + M k`` shares, each worth
``(V_T + M k K) / (N + M k)``, so one warrant pays

    k * max((V_T + M k K)/(N + M k) - K, 0) = k * N/(N + M k) * max(V_T/N - K, 0)

and, with ``V/N`` lognormal with volatility ``vol`` (the volatility of the firm's equity, not of the share), its
value is ``k N/(N + M k)`` Black–Scholes calls on ``V/N``:

    W = k * N/(N + M k) * C(S_adj, K, T, r, vol, q),    S_adj = V/N = S + (M/N) W

(Galai & Schneller, "Pricing of warrants and the value of the firm", Journal of Finance 33, 1978; Hull, "Options,
Futures, and Other Derivatives", section "Warrants, employee stock options, and convertibles").

* :func:`warrant_price` takes ``S_adj`` (the equity value per existing share) directly: closed form. In
  market_sim's scenarios the fundamental of a warrant's underlying is this value (docs/options.md, "Warrants").
* :func:`warrant_price_from_share` takes the observed share price ``S`` and solves ``W = k N/(N+Mk) C(S + M W/N)``
  by Newton's method (the map has slope ``Δ M k/(N + M k) < 1`` in ``W``, so the root is unique).
* :func:`warrant_delta_from_share` is ``dW/dS = k N Δ / (N + M k (1 - Δ))`` at that root (Δ the call's delta at
  ``S_adj``).

Limits: ``M -> 0`` gives ``k`` ordinary calls (no dilution); the factor ``N/(N + M k)`` is below 1 otherwise.
Prices are per warrant (``k`` shares); divide by ``k`` for the price per underlying share (how a warrant is quoted
on market_sim's books, like an option's premium per underlying unit).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from market_sim.derivatives._common import PricingInputError, check_array, check_scalar
from market_sim.derivatives.pricing import bsm_greeks, bsm_greeks_array, bsm_price, bsm_price_array

__all__ = ["dilution_factor", "warrant_price", "warrant_price_array", "warrant_price_from_share",
           "warrant_price_from_share_array", "warrant_delta_from_share", "diluted_share_value"]


def _counts(shares: float, warrants: float, ratio: float) -> tuple[float, float, float]:
    n = check_scalar("shares", shares, "pos")
    if not (isinstance(warrants, (int, float)) and math.isfinite(warrants) and warrants >= 0):
        raise PricingInputError("warrants", warrants, "a finite number >= 0")
    k = check_scalar("ratio", ratio, "pos")
    return n, float(warrants), k


def dilution_factor(shares: float, warrants: float, ratio: float = 1.0) -> float:
    """``N / (N + M k)``: the share of the firm's equity upside one existing share keeps when all warrants convert."""
    n, m, k = _counts(shares, warrants, ratio)
    return n / (n + m * k)


def diluted_share_value(value_per_share: float, strike: float, shares: float, new_shares: float) -> float:
    """The value per share after ``new_shares`` are issued at ``strike``: ``(N S + m K) / (N + m)``, with ``S`` the
    value per share before. The rule market_sim applies to an underlying's fundamental at a warrant exercise."""
    n = check_scalar("shares", shares, "pos")
    s = check_scalar("value_per_share", value_per_share, "pos")
    k = check_scalar("strike", strike, "pos")
    if not (math.isfinite(new_shares) and new_shares >= 0):
        raise PricingInputError("new_shares", new_shares, "a finite number >= 0")
    return (n * s + new_shares * k) / (n + new_shares)


def warrant_price(equity_per_share: float, strike: float, t: float, rate: float, vol: float, shares: float,
                  warrants: float, ratio: float = 1.0, div: float = 0.0) -> float:
    """Value of one warrant (``ratio`` new shares at ``strike`` each) given ``S_adj = V/N``, the firm's equity value
    per existing share: ``k N/(N + M k) C(S_adj, K, t, rate, vol, div)`` (module doc)."""
    n, m, k = _counts(shares, warrants, ratio)
    return k * n / (n + m * k) * bsm_price(equity_per_share, strike, t, rate, vol, div, True)


def warrant_price_array(equity_per_share: Any, strike: Any, t: Any, rate: Any, vol: Any, shares: Any,
                        warrants: Any, ratio: Any = 1.0, div: Any = 0.0) -> np.ndarray:
    """Vectorised :func:`warrant_price` (inputs broadcast together)."""
    n = check_array("shares", shares, "pos")
    m = check_array("warrants", warrants, "finite")
    if np.any(m < 0):
        raise PricingInputError("warrants", float(m[m < 0].flat[0]), "a finite number >= 0")
    k = check_array("ratio", ratio, "pos")
    return k * n / (n + m * k) * bsm_price_array(equity_per_share, strike, t, rate, vol, div, True)


def _solve(s: Any, kk: Any, t: Any, r: Any, v: Any, n: Any, m: Any, k: Any, q: Any, greeks: Any, tol: float,
           max_iter: int) -> tuple[Any, Any]:
    """Newton on f(W) = W - k N/(N+Mk) C(S + M W/N); returns (W, call delta at the root). Works on floats or arrays."""
    a = k * n / (n + m * k)
    w = a * greeks(s, kk, t, r, v, q).price  # the undiluted-spot start: below the root (C increases in S)
    for _ in range(max_iter):
        g = greeks(s + m * w / n, kk, t, r, v, q)
        f = w - a * g.price
        step = f / (1.0 - a * g.delta * m / n)
        w = w - step
        if np.all(np.abs(step) <= tol * np.maximum(1.0, np.abs(w))):
            g = greeks(s + m * w / n, kk, t, r, v, q)
            return w, g.delta
    raise PricingInputError("share_price", s, f"such that the warrant equation converges in {max_iter} steps")


def warrant_price_from_share(share_price: float, strike: float, t: float, rate: float, vol: float, shares: float,
                             warrants: float, ratio: float = 1.0, div: float = 0.0, tol: float = 1e-13) -> float:
    """Value of one warrant given the observed share price ``S``: the root of ``W = k N/(N+Mk) C(S + M W/N)``."""
    n, m, k = _counts(shares, warrants, ratio)
    check_scalar("share_price", share_price, "pos")
    w, _ = _solve(share_price, strike, t, rate, vol, n, m, k, div,
                  lambda *a: bsm_greeks(*a, True), tol, 50)
    return float(w)


def warrant_delta_from_share(share_price: float, strike: float, t: float, rate: float, vol: float, shares: float,
                             warrants: float, ratio: float = 1.0, div: float = 0.0) -> float:
    """``dW/dS`` of :func:`warrant_price_from_share`: ``k N Δ / (N + M k (1 - Δ))``."""
    n, m, k = _counts(shares, warrants, ratio)
    check_scalar("share_price", share_price, "pos")
    _, d = _solve(share_price, strike, t, rate, vol, n, m, k, div, lambda *a: bsm_greeks(*a, True), 1e-13, 50)
    return float(k * n * d / (n + m * k * (1.0 - d)))


def warrant_price_from_share_array(share_price: Any, strike: Any, t: Any, rate: Any, vol: Any, shares: Any,
                                   warrants: Any, ratio: Any = 1.0, div: Any = 0.0, tol: float = 1e-13) -> np.ndarray:
    """Vectorised :func:`warrant_price_from_share` (Newton on every element at once)."""
    s = check_array("share_price", share_price, "pos")
    n = check_array("shares", shares, "pos")
    m = check_array("warrants", warrants, "finite")
    if np.any(m < 0):
        raise PricingInputError("warrants", float(m[m < 0].flat[0]), "a finite number >= 0")
    k = check_array("ratio", ratio, "pos")
    w, _ = _solve(s, strike, t, rate, vol, n, m, k, div, lambda *a: bsm_greeks_array(*a, True), tol, 50)
    return np.asarray(w, dtype=float)
