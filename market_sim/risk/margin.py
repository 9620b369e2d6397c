"""Reg T-style margin arithmetic, in integers (quote base units and basis points).

A long position's value is floored and a short's (what is owed) rounded up, and requirements round up, so every
rounding is in the broker's favour. Defaults (Regulation T and FINRA 4210): initial 50% long and short, maintenance
25% long and 30% short; any instrument can override them.

    value_long  = floor(q * mark)            q > 0 base units, mark = quote units per base unit (exact Fraction)
    value_short = ceil(|q| * mark)
    equity      = cash + sum(value_long) - sum(value_short)
    initial     = sum(ceil(value * initial_bps / 10_000))
    maintenance = sum(ceil(value * maintenance_bps / 10_000))
    excess      = equity - initial;  buying power (at a rate) = floor(excess * 10_000 / rate_bps)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType

from market_sim.core.errors import ConfigError

__all__ = ["BPS", "MarginRate", "MarginRules", "MarginState", "Holding", "margin_state", "ceil_bps"]

BPS = 10_000


def ceil_bps(value: int, bps: int) -> int:
    """ceil(value * bps / 10_000) for value >= 0."""
    return -((-value * bps) // BPS)


@dataclass(frozen=True, slots=True)
class MarginRate:
    """Requirements of one instrument in basis points of position value."""

    initial_long_bps: int = 5000
    initial_short_bps: int = 5000
    maintenance_long_bps: int = 2500
    maintenance_short_bps: int = 3000

    def __post_init__(self) -> None:
        for name in ("initial_long_bps", "initial_short_bps", "maintenance_long_bps", "maintenance_short_bps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100 * BPS:
                raise ConfigError("must be an integer number of basis points in 0..1_000_000", key=name, value=v)
        if self.maintenance_long_bps > self.initial_long_bps or self.maintenance_short_bps > self.initial_short_bps:
            raise ConfigError("maintenance cannot exceed the initial requirement", key="maintenance_bps",
                              value=(self.maintenance_long_bps, self.maintenance_short_bps))


@dataclass(frozen=True, slots=True)
class MarginRules:
    """The default rate and per-instrument overrides."""

    default: MarginRate = field(default_factory=MarginRate)
    overrides: Mapping[str, MarginRate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    def rate(self, symbol: str) -> MarginRate:
        return self.overrides.get(symbol, self.default)


@dataclass(frozen=True, slots=True)
class Holding:
    """A position to margin: signed quantity in base units, marked at `mark` quote units per base unit."""

    symbol: str
    quantity: int
    mark: Fraction


@dataclass(frozen=True, slots=True)
class MarginState:
    """An account's margin figures (quote base units)."""

    equity: int
    long_value: int
    short_value: int
    initial: int
    maintenance: int

    @property
    def excess(self) -> int:
        """Equity above the initial requirement (negative: new risk is refused)."""
        return self.equity - self.initial

    @property
    def maintenance_excess(self) -> int:
        """Equity above maintenance (negative: a margin call)."""
        return self.equity - self.maintenance

    @property
    def below_maintenance(self) -> bool:
        return self.equity < self.maintenance

    def buying_power(self, rate_bps: int = 5000) -> int:
        """Position value the excess could open at `rate_bps` initial margin."""
        if self.excess <= 0:
            return 0
        return self.excess * BPS // rate_bps if rate_bps else 1 << 62


def position_value(quantity: int, mark: Fraction) -> int:
    """|value| of a position: floored for a long, rounded up for a short."""
    if quantity >= 0:
        return math.floor(quantity * mark)
    return math.ceil(-quantity * mark)


def margin_state(cash: int, holdings: Iterable[Holding], rules: MarginRules) -> MarginState:
    """The margin figures of cash plus positions (see the module doc for the exact formulas)."""
    long_v = short_v = initial = maint = 0
    for h in holdings:
        if h.quantity == 0:
            continue
        v = position_value(h.quantity, h.mark)
        r = rules.rate(h.symbol)
        if h.quantity > 0:
            long_v += v
            initial += ceil_bps(v, r.initial_long_bps)
            maint += ceil_bps(v, r.maintenance_long_bps)
        else:
            short_v += v
            initial += ceil_bps(v, r.initial_short_bps)
            maint += ceil_bps(v, r.maintenance_short_bps)
    return MarginState(cash + long_v - short_v, long_v, short_v, initial, maint)
