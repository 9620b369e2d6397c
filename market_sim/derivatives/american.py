"""American (and European) options on binomial trees — Cox–Ross–Rubinstein and Leisen–Reimer — with the
early-exercise boundary, and the Barone-Adesi–Whaley quadratic approximation.

The trees are vectorised twice over: the backward induction runs over all nodes of a time step at once AND over a
batch of options at once (an ``(options, nodes)`` array per step), so a batch of 500-step trees costs a few numpy
operations per step. Node values: ``S0 d^i (u/d)^j`` (step ``i``, node ``j`` = number of up moves).

Leisen–Reimer uses the Peizer–Pratt method-2 inversion and needs an odd number of steps: an even ``steps`` is raised
to ``steps + 1`` (as QuantLib does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from market_sim.derivatives._common import VECTOR, PricingInputError, check_array, right_sign
from market_sim.derivatives.pricing import _gbs_price

__all__ = ["binomial_price", "binomial_price_array", "exercise_boundary", "ExerciseBoundary", "baw_price",
           "baw_price_array", "TREE_METHODS"]

TREE_METHODS = ("crr", "lr")
_BLOCK = 128  # options per block of the batched induction (its 501 x 128 value arrays stay in cache)


@dataclass(frozen=True, slots=True)
class ExerciseBoundary:
    """The early-exercise boundary on the tree: at ``times[i]`` exercising is optimal for spots at or beyond
    ``spots[i]`` (at or below for a put, at or above for a call); NaN where no node of that step is exercised."""

    times: np.ndarray
    spots: np.ndarray


def _tree_parameters(method: str, s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray, q: np.ndarray,
                     v: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(u, d, p) per option, and the step count actually used."""
    b = r - q
    if method == "crr":
        dt = t / steps
        u = np.exp(v * np.sqrt(dt))
        d = 1.0 / u
        p = (np.exp(b * dt) - d) / (u - d)
        return u, d, p, steps
    if method == "lr":
        n = steps if steps % 2 else steps + 1
        dt = t / n
        vs = v * np.sqrt(t)
        d1 = (np.log(s / k) + (b + 0.5 * v * v) * t) / vs
        d2 = d1 - vs
        p = _peizer_pratt(d2, n)
        pbar = _peizer_pratt(d1, n)
        growth = np.exp(b * dt)
        u = growth * pbar / p
        d = (growth - p * u) / (1.0 - p)
        return u, d, p, n
    raise PricingInputError("method", method, "one of " + ", ".join(TREE_METHODS))


def _peizer_pratt(z: np.ndarray, n: int) -> np.ndarray:
    """Peizer–Pratt method-2 inversion h(z) for an n-step tree (Leisen & Reimer 1996)."""
    a = z / (n + 1.0 / 3.0 + 0.1 / (n + 1.0))
    return 0.5 + np.sign(z) * 0.5 * np.sqrt(1.0 - np.exp(-a * a * (n + 1.0 / 6.0)))


def _induct(s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray, w: np.ndarray, u: np.ndarray,
            d: np.ndarray, p: np.ndarray, n: int, american: bool, boundary: bool,
            recombining: bool) -> tuple[np.ndarray, Any]:
    """Backward induction for a block of options (1-d parameter arrays); returns values (and boundary spots).

    Arrays are laid out (nodes, options) so that the first m nodes of a step are one contiguous block.
    ``recombining`` (CRR, u d = 1): every node of every step is S0 u^e for e in [-n, n], so the exercise values are
    computed once on that lattice and each step reads a contiguous slice (of the even or of the odd exponents); a
    step is then four in-place numpy operations. Otherwise (LR) step i's exercise values are w (S0 d^i (u/d)^j - K)."""
    disc = np.exp(-r * t / n)
    pu = disc * p
    pd = disc * (1.0 - p)
    ws = w * s
    wk = w * k
    if recombining:
        lattice = ws * np.exp(np.arange(-n, n + 1)[:, None] * np.log(u)) - wk  # exercise value at S0 u^e
        parity = (np.ascontiguousarray(lattice[0::2]), np.ascontiguousarray(lattice[1::2]))

        def exercise(i: int) -> np.ndarray:  # node j of step i sits at e = 2j - i, i.e. lattice row n - i + 2j
            start = n - i
            return parity[start % 2][start // 2:start // 2 + i + 1]
    else:
        ratio = np.arange(n + 1)[:, None] * np.log(u / d)
        ratio = np.exp(ratio)  # (u/d)^j
        log_d = np.log(d)
        buf = np.empty((n + 1, s.size))

        def exercise(i: int) -> np.ndarray:
            e = buf[:i + 1]
            np.multiply(ratio[:i + 1], ws * np.exp(i * log_d), out=e)
            e -= wk
            return e
    value = np.maximum(exercise(n), 0.0)
    tmp = np.empty_like(value)
    spots = np.full(n + 1, np.nan) if boundary else None
    if boundary:
        spots[n] = k[0]
    for i in range(n - 1, -1, -1):
        m = i + 1
        up = np.multiply(value[1:m + 1], pu, out=tmp[:m])
        v = value[:m]
        v *= pd
        v += up  # v = continuation value
        if american:
            e = exercise(i)
            if boundary:
                hit = np.flatnonzero((e[:, 0] > v[:, 0]) & (e[:, 0] > 0.0))
                if hit.size:
                    node = s[0] * d[0] ** i * (u[0] / d[0]) ** hit
                    spots[i] = node.max() if w[0] < 0 else node.min()
            np.maximum(v, e, out=v)
    return value[0].copy(), spots


def _tree_inputs(spot: Any, strike: Any, t: Any, rate: Any, vol: Any, div: Any, call: Any,
                 steps: int) -> tuple[np.ndarray, ...]:
    if not (isinstance(steps, int) and 1 <= steps <= 100_000):
        raise PricingInputError("steps", steps, "an integer between 1 and 100000")
    arrays = np.broadcast_arrays(check_array("spot", spot, "pos"), check_array("strike", strike, "pos"),
                                 check_array("t", t, "pos"), check_array("rate", rate, "finite"),
                                 check_array("vol", vol, "pos"), check_array("div", div, "finite"), right_sign(call))
    return tuple(np.ascontiguousarray(a, dtype=np.float64).ravel() for a in arrays) + (arrays[0].shape,)


def binomial_price_array(spot: Any, strike: Any, t: Any, rate: Any, vol: Any, div: Any = 0.0, call: Any = False,
                         steps: int = 500, method: str = "crr", american: bool = True) -> np.ndarray:
    """Binomial-tree prices of a batch of options (inputs broadcast together); ``american=False`` prices the
    European option on the same tree."""
    s, k, t, r, v, q, w, shape = _tree_inputs(spot, strike, t, rate, vol, div, call, steps)
    u, d, p, n = _tree_parameters(method, s, k, t, r, q, v, steps)
    if not (np.all((p > 0.0) & (p < 1.0))):
        i = int(np.flatnonzero(~((p > 0.0) & (p < 1.0)))[0])
        raise PricingInputError("steps", steps, f"large enough that the tree's up probability lies in (0, 1) "
                                f"(option {i} has p = {p[i]!r}: rates large against vol * sqrt(t / steps))")
    out = np.empty(s.size)
    for i in range(0, s.size, _BLOCK):
        sl = slice(i, i + _BLOCK)
        out[sl], _ = _induct(s[sl], k[sl], t[sl], r[sl], w[sl], u[sl], d[sl], p[sl], n, american, False,
                             method == "crr")
    return out.reshape(shape)


def binomial_price(spot: float, strike: float, t: float, rate: float, vol: float, div: float = 0.0,
                   call: bool = False, steps: int = 500, method: str = "crr", american: bool = True) -> float:
    """Binomial-tree price of one option (``method`` "crr" or "lr")."""
    return float(binomial_price_array(spot, strike, t, rate, vol, div, bool(call), steps, method, american))


def exercise_boundary(spot: float, strike: float, t: float, rate: float, vol: float, div: float = 0.0,
                      call: bool = False, steps: int = 500, method: str = "crr") -> ExerciseBoundary:
    """The early-exercise boundary of an American option as found on its tree (the critical spot per time step)."""
    s, k, t_, r, v, q, w, _ = _tree_inputs(spot, strike, t, rate, vol, div, bool(call), steps)
    u, d, p, n = _tree_parameters(method, s, k, t_, r, q, v, steps)
    _, spots = _induct(s, k, t_, r, w, u, d, p, n, True, True, method == "crr")
    return ExerciseBoundary(times=np.linspace(0.0, float(t_[0]), n + 1), spots=spots)


# ---- Barone-Adesi–Whaley ----------------------------------------------------------------------------------------

def _baw(s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray, q: np.ndarray, v: np.ndarray,
         w: np.ndarray) -> np.ndarray:
    """Barone-Adesi & Whaley (1987), as in Haug's 'Complete Guide' (2nd ed., 3.10.1); w = +1 call, -1 put."""
    m = VECTOR
    b = r - q
    vv = v * v
    sq = np.sqrt(t)
    big_m = 2.0 * r / vv
    big_n = 2.0 * b / vv
    kk = 1.0 - np.exp(-r * t)
    with np.errstate(divide="ignore", invalid="ignore"):
        qq = 0.5 * (-(big_n - 1.0) + w * np.sqrt((big_n - 1.0) ** 2 + 4.0 * big_m / kk))  # q2 (call) / q1 (put)
        q_inf = 0.5 * (-(big_n - 1.0) + w * np.sqrt((big_n - 1.0) ** 2 + 4.0 * big_m))
        s_inf = k / (1.0 - 1.0 / q_inf)
        h = -(b * t + w * 2.0 * v * sq) * k / (s_inf - k)
        seed = np.where(w > 0, k + (s_inf - k) * (1.0 - np.exp(h)), s_inf + (k - s_inf) * np.exp(h))
    cf = np.exp((b - r) * t)
    crit = seed
    for _ in range(100):  # Newton on the critical price (the smooth-pasting condition)
        d1 = (np.log(crit / k) + (b + 0.5 * vv) * t) / (v * sq)
        euro = _gbs_price(m, crit, k, t, r, b, v, w)
        nd1 = m.cdf(w * d1)
        lhs = w * (crit - k)
        rhs = euro + w * (1.0 - cf * nd1) * crit / qq
        slope = w * cf * nd1 * (1.0 - 1.0 / qq) + (w - cf * m.pdf(d1) / (v * sq)) / qq  # d rhs / d crit
        with np.errstate(divide="ignore", invalid="ignore"):
            new = (w * k + rhs - slope * crit) / (w - slope)
        new = np.where(np.isfinite(new) & (new > 0.0), new, crit)
        converged = np.all((np.abs(new - crit) <= 1e-12 * k) | (np.abs(lhs - rhs) <= 1e-11 * k))
        crit = new
        if converged:
            break
    d1 = (np.log(crit / k) + (b + 0.5 * vv) * t) / (v * sq)
    a = w * (crit / qq) * (1.0 - cf * m.cdf(w * d1))
    euro = _gbs_price(m, s, k, t, r, b, v, w)
    with np.errstate(over="ignore", invalid="ignore"):
        early = euro + a * (s / crit) ** qq
    exercised = w * (s - crit) >= 0.0
    american = np.where(exercised, w * (s - k), early)
    # never exercised early (so the European price): a call when b >= r, a put when r <= 0
    return np.where(((w > 0) & (b >= r)) | ((w < 0) & (r <= 0.0)), euro, american)


def baw_price_array(spot: Any, strike: Any, t: Any, rate: Any, vol: Any, div: Any = 0.0,
                    call: Any = False) -> np.ndarray:
    """Barone-Adesi–Whaley approximation of American option prices (inputs broadcast together)."""
    s, k, t, r, v, q, w, shape = _tree_inputs(spot, strike, t, rate, vol, div, call, 1)
    return _baw(s, k, t, r, q, v, w).reshape(shape)


def baw_price(spot: float, strike: float, t: float, rate: float, vol: float, div: float = 0.0,
              call: bool = False) -> float:
    """Barone-Adesi–Whaley approximation of one American option price."""
    return float(baw_price_array(spot, strike, t, rate, vol, div, bool(call)))
