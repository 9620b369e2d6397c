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

Listed options (`MarginRules.options`, an `OptionMarginRule`; without it an option is margined like any position, at
the Reg T rates on its premium). The CBOE / Reg T rule for equity options (CBOE Margin Manual, "Short put or call";
FINRA Rule 4210(f)(2)), per position of q option units (contracts x multiplier), premium P (mark x q), underlying
value U (q units at the underlying's mark), strike value K (q x strike):

    naked short call  = P + max(20% U - OTM, 10% U)      OTM = max(0, K - U)
    naked short put   = P + max(20% U - OTM, 10% K)      OTM = max(0, U - K)
    long option       = 100% of P (paid in full: no loan value)
    covered           = P  (a short call against long underlying units, a short put against short ones, unit for
                            unit: the underlying is margined at its own rate, the option needs nothing more)
    spread            = P + min(naked - P, max loss)     a short paired with a long of the same underlying and right
                                                         expiring no earlier; max loss (K_long - K_short)+ for calls,
                                                         (K_short - K_long)+ for puts

The premium P of a short is part of the requirement because the short's value is already out of the equity (the
proceeds sit in cash): initial = maintenance for options, as in the CBOE rule. Each part is computed exactly
(Fractions) and rounded up. Pairing is greedy and deterministic -- covered first (shorts by expiry, strike, symbol;
the underlying units in that order), then spreads (each short with the long of the smallest max loss), then naked --
not a search for the smallest total requirement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType

from market_sim.core.errors import ConfigError

__all__ = ["BPS", "MarginRate", "MarginRules", "MarginState", "Holding", "OptionHolding", "OptionMarginRule",
           "margin_state", "option_requirements", "ceil_bps"]

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
class OptionMarginRule:
    """The CBOE / Reg T rule for listed options (module doc), in basis points."""

    underlying_bps: int = 2000    # of the underlying value, less the out-of-the-money amount
    min_call_bps: int = 1000      # floor for a short call: of the underlying value
    min_put_bps: int = 1000       # floor for a short put: of the strike value
    long_bps: int = BPS           # long options: of their value (100%: paid in full)
    covered: bool = True
    spreads: bool = True

    def __post_init__(self) -> None:
        for name in ("underlying_bps", "min_call_bps", "min_put_bps", "long_bps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100 * BPS:
                raise ConfigError("must be an integer number of basis points in 0..1_000_000", key=name, value=v)
        for name in ("covered", "spreads"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError("must be true or false", key=name, value=getattr(self, name))


@dataclass(frozen=True, slots=True)
class MarginRules:
    """The default rate and per-instrument overrides; `options` margins listed options by the CBOE rule."""

    default: MarginRate = field(default_factory=MarginRate)
    overrides: Mapping[str, MarginRate] = field(default_factory=dict)
    options: OptionMarginRule | None = None

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
class OptionHolding:
    """An option position to margin. Amounts in quote base units per option unit (one unit of the underlying)."""

    symbol: str
    quantity: int                # signed option units (contracts x multiplier)
    mark: Fraction               # the premium
    underlying: str
    underlying_mark: Fraction    # the underlying's value of one option unit
    strike: Fraction             # the strike of one option unit
    is_call: bool
    expiry: int
    underlying_units: int = 1    # underlying base units per option unit (covered positions)


def _naked(h: OptionHolding, units: int, rule: OptionMarginRule) -> Fraction:
    """The naked requirement of `units` short option units beyond their premium (module doc)."""
    u = units * h.underlying_mark
    k = units * h.strike
    otm = max(Fraction(0), k - u) if h.is_call else max(Fraction(0), u - k)
    floor = (u * rule.min_call_bps if h.is_call else k * rule.min_put_bps) / BPS
    return max(u * rule.underlying_bps / BPS - otm, floor)


def option_requirements(options: Iterable[OptionHolding], underlying: Mapping[str, int],
                        rule: OptionMarginRule) -> list[dict[str, object]]:
    """The requirement of every option position, split into covered / spread / naked / long parts: one row per
    part with its `units`, `kind`, `premium` (the value of those units: floored long, rounded up short) and
    `requirement` (rounded up; for a short it includes the premium). `underlying`: base units held per symbol."""
    rows: list[dict[str, object]] = []
    shorts = sorted((h for h in options if h.quantity < 0), key=lambda h: (h.underlying, h.expiry, h.strike, h.symbol))
    longs = {h.symbol: h.quantity for h in options if h.quantity > 0}
    by_symbol = {h.symbol: h for h in options}
    cover = dict(underlying)
    for h in shorts:
        left = -h.quantity
        if rule.covered and h.underlying_units > 0:
            have = cover.get(h.underlying, 0)
            avail = have // h.underlying_units if h.is_call else (-have) // h.underlying_units
            n = min(left, max(0, avail))
            if n:
                cover[h.underlying] = have - n * h.underlying_units if h.is_call else have + n * h.underlying_units
                p = math.ceil(n * h.mark)
                rows.append({"symbol": h.symbol, "kind": "covered", "units": n, "premium": p, "requirement": p})
                left -= n
        while left and rule.spreads:
            best = None
            for sym, q in sorted(longs.items()):
                g = by_symbol[sym]
                if q <= 0 or g.underlying != h.underlying or g.is_call != h.is_call or g.expiry < h.expiry:
                    continue
                loss = max(Fraction(0), (g.strike - h.strike) if h.is_call else (h.strike - g.strike))
                if best is None or loss < best[0]:
                    best = (loss, sym)
            if best is None:
                break
            loss, sym = best
            n = min(left, longs[sym])
            longs[sym] -= n
            p = math.ceil(n * h.mark)
            rows.append({"symbol": h.symbol, "kind": "spread", "units": n, "premium": p, "with": sym,
                         "requirement": p + math.ceil(min(_naked(h, n, rule), n * loss))})
            left -= n
        if left:
            p = math.ceil(left * h.mark)
            rows.append({"symbol": h.symbol, "kind": "naked", "units": left, "premium": p,
                         "requirement": p + math.ceil(_naked(h, left, rule))})
    for h in sorted((h for h in options if h.quantity > 0), key=lambda h: h.symbol):
        v = math.floor(h.quantity * h.mark)
        rows.append({"symbol": h.symbol, "kind": "long", "units": h.quantity, "premium": v,
                     "requirement": ceil_bps(v, rule.long_bps)})
    return rows


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


def margin_state(cash: int, holdings: Iterable[Holding | OptionHolding], rules: MarginRules) -> MarginState:
    """The margin figures of cash plus positions (see the module doc for the exact formulas). Option holdings follow
    `rules.options` when set (initial = maintenance = option_requirements), else the rates like any position."""
    long_v = short_v = initial = maint = 0
    options: list[OptionHolding] = []
    underlying: dict[str, int] = {}
    for h in holdings:
        if h.quantity == 0:
            continue
        if rules.options is not None and type(h) is OptionHolding:
            options.append(h)
            v = position_value(h.quantity, h.mark)
            if h.quantity > 0:
                long_v += v
            else:
                short_v += v
            continue
        underlying[h.symbol] = underlying.get(h.symbol, 0) + h.quantity
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
    if options:
        req = sum(int(r["requirement"]) for r in option_requirements(options, underlying, rules.options))
        initial += req
        maint += req
    return MarginState(cash + long_v - short_v, long_v, short_v, initial, maint)
