"""Position sizing helpers: how many lots to hold, from integer equity (quote base units) and prices (ticks).

Pure functions, usable by any agent (in a simulation or a backtest); each rounds down to whole lots, never up,
so a size never exceeds what its rule allows.
"""

from __future__ import annotations

import math

from market_sim.core.errors import ConfigError

__all__ = ["fraction_of_equity", "volatility_target", "risk_per_trade"]


def _check(value: float, key: str, *, positive: bool = True) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and (value > 0 if positive else value >= 0)):
        raise ConfigError("must be a " + ("positive" if positive else "non-negative") + " finite number", key=key,
                          value=value)


def fraction_of_equity(equity: int, price: int, quote_units_per_lot_tick: int, fraction: float) -> int:
    """Lots worth at most `fraction` of `equity` at `price` (fraction > 1 is leverage)."""
    _check(fraction, "fraction")
    _check(price, "price")
    if equity <= 0:
        return 0
    return int(equity * fraction // (price * quote_units_per_lot_tick))


def volatility_target(equity: int, price: int, quote_units_per_lot_tick: int, target_vol: float,
                      realised_vol: float, *, max_leverage: float = 1.0) -> int:
    """Lots whose value makes the position's volatility `target_vol` (both annualised, e.g. 0.10 and 0.25),
    capped at `max_leverage` x equity."""
    _check(target_vol, "target_vol")
    _check(realised_vol, "realised_vol")
    _check(max_leverage, "max_leverage")
    return fraction_of_equity(equity, price, quote_units_per_lot_tick, min(max_leverage, target_vol / realised_vol))


def risk_per_trade(equity: int, entry: int, stop: int, quote_units_per_lot_tick: int, risk: float) -> int:
    """Lots such that a move from `entry` to `stop` loses at most `risk` x equity."""
    _check(risk, "risk")
    if entry == stop:
        raise ConfigError("the stop must differ from the entry price", key="stop", value=stop)
    if equity <= 0:
        return 0
    return int(equity * risk // (abs(entry - stop) * quote_units_per_lot_tick))
