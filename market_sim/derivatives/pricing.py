"""European option prices and analytic Greeks: Black–Scholes–Merton (continuous dividend yield), Black-76, Bachelier.

Each model's formula is written once (``_gbs_*``, ``_bachelier_*``) over a math back-end; ``bsm_price`` & co. are the
scalar API (floats in, float out), ``bsm_price_array`` & co. the vectorised one (numpy arrays, broadcast together).

BSM and Black-76 are the generalised Black–Scholes model with cost of carry ``b``: ``b = r - q`` (BSM: the underlying
is a spot paying a continuous yield ``q``) and ``b = 0`` (Black-76: the underlying is a futures price). Time ``t`` in
years, rates and vol annualised and continuously compounded. Bachelier's ``vol`` is absolute (price units per
sqrt(year)); the underlying there is a forward/futures price and may be any finite number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from market_sim.derivatives._common import SCALAR, VECTOR, Greeks, check_array, check_scalar, chunked, right_sign

__all__ = ["bsm_price", "bsm_price_array", "bsm_greeks", "bsm_greeks_array",
           "black76_price", "black76_price_array", "black76_greeks", "black76_greeks_array",
           "bachelier_price", "bachelier_price_array", "bachelier_greeks", "bachelier_greeks_array"]


# ---- the formulas (written once) ----------------------------------------------------------------------------------

def _gbs_price(m: Any, s: Any, k: Any, t: Any, r: Any, b: Any, v: Any, w: Any) -> Any:
    """Generalised Black–Scholes price; w = +1 call, -1 put."""
    vs = v * m.sqrt(t)
    d1 = (m.log(s / k) + (b + 0.5 * v * v) * t) / vs
    return w * (s * m.exp((b - r) * t) * m.cdf(w * d1) - k * m.exp(-r * t) * m.cdf(w * (d1 - vs)))


def _gbs_greeks(m: Any, s: Any, k: Any, t: Any, r: Any, b: Any, v: Any, w: Any, carry_is_rate: bool) -> Greeks:
    """Generalised Black–Scholes price and Greeks. ``carry_is_rate``: b moves with r (BSM, b = r - q), so rho is
    w K T e^{-rT} N(w d2); otherwise (Black-76, b = 0) rho = -T V."""
    sq = m.sqrt(t)
    vs = v * sq
    d1 = (m.log(s / k) + (b + 0.5 * v * v) * t) / vs
    d2 = d1 - vs
    cf = m.exp((b - r) * t)
    kdf = k * m.exp(-r * t)
    n1 = m.cdf(w * d1)
    n2 = m.cdf(w * d2)
    scf = s * cf
    price = w * (scf * n1 - kdf * n2)
    pdf1 = m.pdf(d1)
    delta = w * cf * n1
    gamma = cf * pdf1 / (s * vs)
    vega = scf * pdf1 * sq
    theta = -scf * pdf1 * v / (2.0 * sq) - w * (b - r) * scf * n1 - w * r * kdf * n2
    rho = w * kdf * t * n2 if carry_is_rate else -t * price
    vanna = -cf * pdf1 * d2 / v
    volga = vega * d1 * d2 / v
    return Greeks(price, delta, gamma, vega, theta, rho, vanna, volga)


def _bachelier_price(m: Any, f: Any, k: Any, t: Any, r: Any, v: Any, w: Any) -> Any:
    vs = v * m.sqrt(t)
    d = (f - k) / vs
    return m.exp(-r * t) * (w * (f - k) * m.cdf(w * d) + vs * m.pdf(d))


def _bachelier_greeks(m: Any, f: Any, k: Any, t: Any, r: Any, v: Any, w: Any) -> Greeks:
    sq = m.sqrt(t)
    vs = v * sq
    d = (f - k) / vs
    df = m.exp(-r * t)
    nd = m.cdf(w * d)
    pd = m.pdf(d)
    price = df * (w * (f - k) * nd + vs * pd)
    delta = df * w * nd
    gamma = df * pd / vs
    vega = df * sq * pd
    theta = r * price - df * v * pd / (2.0 * sq)
    rho = -t * price
    vanna = -df * pd * d / v
    volga = vega * d * d / v
    return Greeks(price, delta, gamma, vega, theta, rho, vanna, volga)


# ---- input handling -----------------------------------------------------------------------------------------------

def _scalar_inputs(s: float, k: float, t: float, r: float, v: float, q: float, s_kind: str = "pos",
                   s_name: str = "spot") -> tuple[float, float, float, float, float, float]:
    return (check_scalar(s_name, s, s_kind), check_scalar("strike", k, s_kind), check_scalar("t", t, "pos"),
            check_scalar("rate", r, "finite"), check_scalar("vol", v, "pos"), check_scalar("div", q, "finite"))


def _array_inputs(s: Any, k: Any, t: Any, r: Any, v: Any, q: Any, call: Any, s_kind: str = "pos",
                  s_name: str = "spot") -> tuple[np.ndarray, ...]:
    return (check_array(s_name, s, s_kind), check_array("strike", k, s_kind), check_array("t", t, "pos"),
            check_array("rate", r, "finite"), check_array("vol", v, "pos"), check_array("div", q, "finite"),
            right_sign(call))


def _w(call: bool) -> float:
    if call is True:
        return 1.0
    if call is False:
        return -1.0
    return right_sign(call)


# ---- BSM ------------------------------------------------------------------------------------------------------------

def bsm_price(spot: float, strike: float, t: float, rate: float, vol: float, div: float = 0.0,
              call: bool = True) -> float:
    """Black–Scholes–Merton price of a European option on a spot paying a continuous dividend yield ``div``."""
    s, k, t, r, v, q = _scalar_inputs(spot, strike, t, rate, vol, div)
    return _gbs_price(SCALAR, s, k, t, r, r - q, v, _w(call))


def bsm_price_array(spot: Any, strike: Any, t: Any, rate: Any, vol: Any, div: Any = 0.0,
                    call: Any = True) -> np.ndarray:
    """Vectorised :func:`bsm_price`: inputs broadcast together; ``call`` a bool or a boolean array."""
    s, k, t, r, v, q, w = _array_inputs(spot, strike, t, rate, vol, div, call)
    return chunked(lambda *a: _gbs_price(VECTOR, *a), (s, k, t, r, r - q, v, w), False)


def bsm_greeks(spot: float, strike: float, t: float, rate: float, vol: float, div: float = 0.0,
               call: bool = True) -> Greeks:
    """BSM price and analytic Greeks (rho with respect to ``rate``, holding ``div`` fixed)."""
    s, k, t, r, v, q = _scalar_inputs(spot, strike, t, rate, vol, div)
    return _gbs_greeks(SCALAR, s, k, t, r, r - q, v, _w(call), True)


def bsm_greeks_array(spot: Any, strike: Any, t: Any, rate: Any, vol: Any, div: Any = 0.0,
                     call: Any = True) -> Greeks:
    """Vectorised :func:`bsm_greeks`: a :class:`Greeks` of arrays."""
    s, k, t, r, v, q, w = _array_inputs(spot, strike, t, rate, vol, div, call)
    return chunked(lambda *a: _gbs_greeks(VECTOR, *a, True), (s, k, t, r, r - q, v, w), True)


# ---- Black-76 -------------------------------------------------------------------------------------------------------

def black76_price(forward: float, strike: float, t: float, rate: float, vol: float, call: bool = True) -> float:
    """Black-76 price of a European option on a futures/forward price, discounted at ``rate``."""
    f, k, t, r, v, _ = _scalar_inputs(forward, strike, t, rate, vol, 0.0, s_name="forward")
    return _gbs_price(SCALAR, f, k, t, r, 0.0, v, _w(call))


def black76_price_array(forward: Any, strike: Any, t: Any, rate: Any, vol: Any, call: Any = True) -> np.ndarray:
    f, k, t, r, v, _, w = _array_inputs(forward, strike, t, rate, vol, 0.0, call, s_name="forward")
    return chunked(lambda *a: _gbs_price(VECTOR, *a), (f, k, t, r, 0.0, v, w), False)


def black76_greeks(forward: float, strike: float, t: float, rate: float, vol: float, call: bool = True) -> Greeks:
    """Black-76 price and Greeks; delta/gamma/vanna with respect to the forward, rho = -t * price."""
    f, k, t, r, v, _ = _scalar_inputs(forward, strike, t, rate, vol, 0.0, s_name="forward")
    return _gbs_greeks(SCALAR, f, k, t, r, 0.0, v, _w(call), False)


def black76_greeks_array(forward: Any, strike: Any, t: Any, rate: Any, vol: Any, call: Any = True) -> Greeks:
    f, k, t, r, v, _, w = _array_inputs(forward, strike, t, rate, vol, 0.0, call, s_name="forward")
    return chunked(lambda *a: _gbs_greeks(VECTOR, *a, False), (f, k, t, r, 0.0, v, w), True)


# ---- Bachelier ------------------------------------------------------------------------------------------------------

def bachelier_price(forward: float, strike: float, t: float, rate: float, vol: float, call: bool = True) -> float:
    """Bachelier (normal model) price; ``vol`` is the absolute (normal) volatility."""
    f, k, t, r, v, _ = _scalar_inputs(forward, strike, t, rate, vol, 0.0, s_kind="finite", s_name="forward")
    return _bachelier_price(SCALAR, f, k, t, r, v, _w(call))


def bachelier_price_array(forward: Any, strike: Any, t: Any, rate: Any, vol: Any, call: Any = True) -> np.ndarray:
    f, k, t, r, v, _, w = _array_inputs(forward, strike, t, rate, vol, 0.0, call, s_kind="finite", s_name="forward")
    return chunked(lambda *a: _bachelier_price(VECTOR, *a), (f, k, t, r, v, w), False)


def bachelier_greeks(forward: float, strike: float, t: float, rate: float, vol: float, call: bool = True) -> Greeks:
    f, k, t, r, v, _ = _scalar_inputs(forward, strike, t, rate, vol, 0.0, s_kind="finite", s_name="forward")
    return _bachelier_greeks(SCALAR, f, k, t, r, v, _w(call))


def bachelier_greeks_array(forward: Any, strike: Any, t: Any, rate: Any, vol: Any, call: Any = True) -> Greeks:
    f, k, t, r, v, _, w = _array_inputs(forward, strike, t, rate, vol, 0.0, call, s_kind="finite", s_name="forward")
    return chunked(lambda *a: _bachelier_greeks(VECTOR, *a), (f, k, t, r, v, w), True)
