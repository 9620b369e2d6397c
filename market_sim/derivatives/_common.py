"""Shared pieces of the pricing library: errors, input checks and the two math back-ends (scalar / numpy).

Every formula in market_sim.derivatives is written ONCE as a function of a math back-end ``m`` (``m.exp``, ``m.log``,
``m.sqrt``, ``m.cdf``, ``m.pdf``, ``m.where``). The scalar API passes :data:`SCALAR` (the ``math`` module, floats), the
vectorised API passes :data:`VECTOR` (numpy ufuncs over arrays), so both evaluate the very same expression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

from market_sim.core.errors import ValidationError

__all__ = ["PricingInputError", "ArbitrageBoundsError", "Greeks", "SCALAR", "VECTOR", "check_scalar", "check_array",
           "right_sign"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT1_2 = math.sqrt(0.5)
_INF = math.inf


class PricingInputError(ValidationError):
    """An input of a pricing function (spot, strike, time, volatility, rate, price) is NaN, infinite or out of range."""

    def __init__(self, name: str, value: object, requirement: str, index: int | None = None) -> None:
        where = "" if index is None else f" at index {index}"
        super().__init__(f"{name} must be {requirement}{where} (got {value!r})")
        self.name = name
        self.value = value
        self.index = index


class ArbitrageBoundsError(ValidationError):
    """An option price lies outside the no-arbitrage range, so no volatility reproduces it."""

    def __init__(self, price: float, lower: float, upper: float, index: int | None = None) -> None:
        where = "" if index is None else f" at index {index}"
        super().__init__(f"option price {price!r}{where} is outside the no-arbitrage range: it must lie strictly "
                         f"between {lower!r} (intrinsic value) and {upper!r} (upper bound)")
        self.price = price
        self.lower = lower
        self.upper = upper
        self.index = index


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and sensitivities, per unit of the input (vega per 1.00 of vol, theta per year, rho per 1.00 of rate).

    Fields are floats from the scalar API and numpy arrays from the vectorised one. ``delta``/``gamma``/``vanna`` are
    with respect to the model's underlying (the spot for BSM, the futures price for Black-76 and Bachelier);
    ``theta`` is -dV/dT (calendar decay); ``vanna`` = d2V/dS dvol, ``volga`` = d2V/dvol2."""

    price: Any
    delta: Any
    gamma: Any
    vega: Any
    theta: Any
    rho: Any
    vanna: Any
    volga: Any


class _Scalar:
    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    sqrt = staticmethod(math.sqrt)

    @staticmethod
    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x * _SQRT1_2)

    @staticmethod
    def pdf(x: float) -> float:
        return _INV_SQRT_2PI * math.exp(-0.5 * x * x)

    @staticmethod
    def where(cond: bool, a: float, b: float) -> float:
        return a if cond else b

    @staticmethod
    def maximum(a: float, b: float) -> float:
        return a if a > b else b


class _Vector:
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)
    cdf = staticmethod(ndtr)
    where = staticmethod(np.where)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def pdf(x: np.ndarray) -> np.ndarray:
        return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


SCALAR = _Scalar()
VECTOR = _Vector()


def right_sign(call: Any) -> Any:
    """+1.0 for a call, -1.0 for a put (scalar bool or boolean array)."""
    if isinstance(call, (bool, np.bool_)):
        return 1.0 if call else -1.0
    arr = np.asarray(call)
    if arr.dtype != np.bool_:
        raise PricingInputError("call", call, "a bool or an array of bools")
    return np.where(arr, 1.0, -1.0)


# ---- input checks -----------------------------------------------------------------------------------------------
# kinds: "pos" (0 < x < inf), "finite" (any finite), "nonneg" (0 <= x < inf)
_REQUIREMENT = {"pos": "a finite number > 0", "finite": "a finite number", "nonneg": "a finite number >= 0"}


def check_scalar(name: str, x: float, kind: str) -> float:
    """The scalar check: chained comparisons reject NaN and infinities in one go."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise PricingInputError(name, x, _REQUIREMENT[kind]) from None
    if kind == "pos":
        ok = 0.0 < x < _INF
    elif kind == "nonneg":
        ok = 0.0 <= x < _INF
    else:
        ok = -_INF < x < _INF
    if not ok:
        raise PricingInputError(name, x, _REQUIREMENT[kind])
    return x


def check_array(name: str, x: Any, kind: str) -> np.ndarray:
    """The array check: two reductions (NaN propagates through min/max), the offending index only on failure."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise PricingInputError(name, x, _REQUIREMENT[kind]) from None
    if arr.size == 0:
        return arr
    lo, hi = arr.min(), arr.max()
    ok = (0.0 < lo if kind == "pos" else 0.0 <= lo if kind == "nonneg" else -_INF < lo) and hi < _INF
    if not ok:
        flat = arr.ravel()
        good = np.isfinite(flat)
        if kind == "pos":
            good &= flat > 0
        elif kind == "nonneg":
            good &= flat >= 0
        i = int(np.flatnonzero(~good)[0])
        raise PricingInputError(name, float(flat[i]), _REQUIREMENT[kind], index=i if arr.ndim else None)
    return arr


CHUNK = 16384  # elements per block: the temporaries of a formula stay in cache (about 6x faster than whole arrays)


def chunked(formula: Any, arrays: tuple[Any, ...], greeks: bool) -> Any:
    """Evaluate ``formula(*arrays)`` block by block over the broadcast inputs; returns an array (or a Greeks of
    arrays when ``greeks``) of the broadcast shape. Scalars (0-d) pass through unbroadcast."""
    shaped = np.broadcast_arrays(*arrays)
    shape = shaped[0].shape
    size = shaped[0].size
    if size <= CHUNK:
        return formula(*shaped)
    flat = [a.ravel() if a.ndim else a for a in shaped]
    fields = Greeks.__slots__ if greeks else ("price",)
    out = {f: np.empty(size) for f in fields}
    for i in range(0, size, CHUNK):
        sl = slice(i, i + CHUNK)
        res = formula(*(a[sl] for a in flat))
        if greeks:
            for f in fields:
                out[f][sl] = getattr(res, f)
        else:
            out["price"][sl] = res
    if greeks:
        return Greeks(**{f: out[f].reshape(shape) for f in fields})
    return out["price"].reshape(shape)
