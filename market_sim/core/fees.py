"""Trading fees: one fee schedule for venues (simulation) and brokers (backtests), in exact integer arithmetic.

A `FeeSchedule` charges each fill, in the quote asset's base units (cents for a 2-decimal USD):

    exact = notional * rate_bps / 10_000 + quantity * per_unit + commission

with `rate_bps` and `per_unit` the maker or the taker values (the side whose order rested in the book is the maker;
the aggressor and an AMM swap are takers). Rates are exact rationals: 0.25 bps is 1/4 bps, never a float. A negative
rate or per-unit fee is a rebate (exchanges pay makers). `notional` is the fill's quote amount in base units and
`quantity` is whatever unit the caller counts (lots on an order-book venue, shares or contracts in a backtest).

Then, in this order:
- `minimum` (base units): a fill whose exact fee is a charge (>= 0) pays at least this much; a rebate stays a rebate.
- `maximum_bps` (optional): a charge is capped at this share of the notional (IBKR-style "at most 1 %": 100 bps);
  the cap wins over the minimum, as brokers state it.
- Rounding: the result rounds up to a whole base unit (math.ceil): a charge rounds up, a rebate rounds toward zero.
  Both directions favour the venue, so a venue never pays out fractions it did not collect.

Validation: no rebate may exceed the other side's charge (maker_bps + taker_bps >= 0 and the same per unit), so every
matched trade earns the venue at least zero; a cap cannot be combined with rebates (a capped charge could fall below
the other side's rebate). Errors are `FeeScheduleError`s naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from market_sim.core.accounts import Liquidity
from market_sim.core.errors import ConfigError, ValidationError
from market_sim.core.money import to_decimal

__all__ = ["FeeSchedule", "FeeScheduleError", "NO_FEES", "BPS"]

BPS = 10_000  # basis points per unit of notional

_MAKER = Liquidity.MAKER


class FeeScheduleError(ValidationError):
    """A fee schedule field is invalid; `field` names it."""

    def __init__(self, field_name: str, message: str, value: object) -> None:
        super().__init__(f"fee schedule {field_name}: {message} (got {value!r})")
        self.field = field_name
        self.reason = message
        self.value = value


def _rational(name: str, value: object) -> Fraction:
    """An exact rational from an int, Fraction, Decimal, str ('0.25', '1/4') or float (a float by its shortest repr: 0.1 is 1/10)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(value)
    if isinstance(value, str):
        try:
            return Fraction(value)  # '0.25', '1/4', '-0.5'
        except (ValueError, ZeroDivisionError):
            raise FeeScheduleError(name, "must be a finite number or a fraction such as '1/4'", value) from None
    try:
        return Fraction(to_decimal(value, name))
    except ValidationError:
        raise FeeScheduleError(name, "must be a finite number", value) from None


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Maker/taker fees of one venue or broker. Rates in basis points of notional, per-unit fees in quote base units
    per unit of quantity (both exact rationals; negative = rebate); commission and minimum in whole quote base units
    per fill; maximum_bps caps a charge (None: no cap). See the module docstring for the formula and rounding."""

    maker_bps: Fraction = Fraction(0)
    taker_bps: Fraction = Fraction(0)
    maker_per_unit: Fraction = Fraction(0)
    taker_per_unit: Fraction = Fraction(0)
    commission: int = 0
    minimum: int = 0
    maximum_bps: Fraction | None = None
    # precomputed: per side (numerator per notional unit, numerator per quantity unit, common denominator)
    _maker: tuple[int, int, int] = field(init=False, repr=False, compare=False)
    _taker: tuple[int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        put = object.__setattr__
        for name in ("maker_bps", "taker_bps", "maker_per_unit", "taker_per_unit"):
            put(self, name, _rational(name, getattr(self, name)))
        for name in ("maker_bps", "taker_bps"):
            if abs(getattr(self, name)) > BPS:
                raise FeeScheduleError(name, f"must be between -{BPS} and {BPS} bps (100 %)", getattr(self, name))
        for name in ("commission", "minimum"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise FeeScheduleError(name, "must be a whole number of quote base units", v)
            if v < 0:
                raise FeeScheduleError(name, "must be >= 0", v)
        if self.maker_bps + self.taker_bps < 0:
            bad = "maker_bps" if self.maker_bps < 0 else "taker_bps"
            raise FeeScheduleError(bad, "a rebate larger than the other side's rate pays out on every trade "
                                        "(maker_bps + taker_bps must be >= 0)", getattr(self, bad))
        if self.maker_per_unit + self.taker_per_unit < 0:
            bad = "maker_per_unit" if self.maker_per_unit < 0 else "taker_per_unit"
            raise FeeScheduleError(bad, "a rebate larger than the other side's fee pays out on every trade "
                                        "(maker_per_unit + taker_per_unit must be >= 0)", getattr(self, bad))
        if self.maximum_bps is not None:
            cap = _rational("maximum_bps", self.maximum_bps)
            if not 0 < cap <= BPS:
                raise FeeScheduleError("maximum_bps", f"must be > 0 and <= {BPS}", self.maximum_bps)
            if min(self.maker_bps, self.taker_bps, self.maker_per_unit, self.taker_per_unit) < 0:
                raise FeeScheduleError("maximum_bps", "a cap cannot be combined with rebates (a capped charge could "
                                                      "fall below the other side's rebate)", self.maximum_bps)
            put(self, "maximum_bps", cap)
        put(self, "_maker", _terms(self.maker_bps, self.maker_per_unit))
        put(self, "_taker", _terms(self.taker_bps, self.taker_per_unit))

    @property
    def is_zero(self) -> bool:
        """Whether every fill is free (then callers may skip computing fees)."""
        return not (self.maker_bps or self.taker_bps or self.maker_per_unit or self.taker_per_unit
                    or self.commission or self.minimum)

    def fee(self, quote_amount: int, quantity: int, liquidity: Liquidity | bool) -> int:
        """The fee of one fill (quote base units; negative: a rebate). `liquidity` is a Liquidity (MAKER: maker
        rates; TAKER and POOL: taker rates) or a bool (True: maker)."""
        maker = liquidity is _MAKER if not isinstance(liquidity, bool) else liquidity
        return self._fee(quote_amount, quantity, self._maker if maker else self._taker)

    def trade_fees(self, quote_amount: int, quantity: int) -> tuple[int, int]:
        """(maker's fee, taker's fee) of one trade of `quantity` units for `quote_amount` quote base units."""
        return (self._fee(quote_amount, quantity, self._maker), self._fee(quote_amount, quantity, self._taker))

    def _fee(self, quote_amount: int, quantity: int, terms: tuple[int, int, int]) -> int:
        a, b, d = terms
        num = quote_amount * a + quantity * b + self.commission * d
        fee = -(-num // d)  # ceil: a charge rounds up, a rebate toward zero
        if num >= 0:
            if fee < self.minimum:
                fee = self.minimum
            cap = self.maximum_bps
            if cap is not None:
                limit = math.ceil(quote_amount * cap / BPS)
                if fee > limit:
                    fee = limit
        return fee

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None, where: str = "fees", unit: str = "unit",
              scale: int = 1) -> "FeeSchedule":
        """A schedule from a config table (TOML): maker_bps, taker_bps, maker_per_<unit>, taker_per_<unit>,
        per_<unit> (both sides), commission, minimum, maximum_bps. The amounts (per-unit fees, commission, minimum)
        are in the quote currency and multiplied by `scale`, the quote asset's base units per currency unit
        (10**decimals: commission = 1.0 is 100 cents at 2 decimals); scale 1 reads them as base units. A commission
        or minimum finer than one base unit is refused. Errors are ConfigErrors naming `where.key`."""
        if raw is None:
            return NO_FEES
        if not isinstance(raw, Mapping):
            raise ConfigError("must be a table of fee keys", key=where, value=raw)
        names = {"maker_bps": "maker_bps", "taker_bps": "taker_bps", f"maker_per_{unit}": "maker_per_unit",
                 f"taker_per_{unit}": "taker_per_unit", "commission": "commission", "minimum": "minimum",
                 "maximum_bps": "maximum_bps"}
        both = f"per_{unit}"
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key == both:
                for side in (f"maker_per_{unit}", f"taker_per_{unit}"):
                    if side in raw:
                        raise ConfigError(f"give either {both} or {side}, not both", key=f"{where}.{side}",
                                          value=raw[side])
                values["maker_per_unit"] = values["taker_per_unit"] = value
            elif key in names:
                values[names[key]] = value
            else:
                known = ", ".join(sorted([*names, both]))
                raise ConfigError(f"unknown fee key; expected one of: {known}", key=f"{where}.{key}", value=value)
        try:
            for name in ("maker_per_unit", "taker_per_unit", "commission", "minimum"):
                if name not in values:
                    continue
                amount = _rational(name, values[name]) * scale
                if name in ("commission", "minimum"):
                    if amount.denominator != 1:
                        raise FeeScheduleError(name, f"is finer than one base unit of the quote asset (1/{scale} "
                                                     "of a currency unit)", values[name])
                    amount = int(amount)
                values[name] = amount
            return cls(**values)
        except FeeScheduleError as exc:
            key = {v: k for k, v in names.items()}.get(exc.field, exc.field)
            if key not in raw and exc.field in ("maker_per_unit", "taker_per_unit"):
                key = both
            message = exc.reason.replace("_per_unit", f"_per_{unit}")
            raise ConfigError(message, key=f"{where}.{key}", value=raw.get(key, exc.value)) from None

    def to_config(self, unit: str = "unit") -> dict[str, Any]:
        """The non-default keys as `parse` reads them (rates as exact strings when fractional: '1/3')."""
        def text(v: Fraction) -> int | str:
            return v.numerator if v.denominator == 1 else str(v)

        out: dict[str, Any] = {}
        for name, key in (("maker_bps", "maker_bps"), ("taker_bps", "taker_bps"),
                          ("maker_per_unit", f"maker_per_{unit}"), ("taker_per_unit", f"taker_per_{unit}")):
            v = getattr(self, name)
            if v:
                out[key] = text(v)
        if self.commission:
            out["commission"] = self.commission
        if self.minimum:
            out["minimum"] = self.minimum
        if self.maximum_bps is not None:
            out["maximum_bps"] = text(self.maximum_bps)
        return out


def _terms(bps: Fraction, per_unit: Fraction) -> tuple[int, int, int]:
    """Integer coefficients over one denominator d: fee * d = notional * a + quantity * b + commission * d."""
    d_bps = BPS * bps.denominator
    d = d_bps * per_unit.denominator // math.gcd(d_bps, per_unit.denominator)
    return (bps.numerator * (d // d_bps), per_unit.numerator * (d // per_unit.denominator), d)


NO_FEES = FeeSchedule()
