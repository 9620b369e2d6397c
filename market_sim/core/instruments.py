"""Instruments: what trades, on which price and quantity grid, and which settlement assets stand behind it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from market_sim.core.errors import ValidationError
from market_sim.core.money import from_units, to_decimal, to_units

__all__ = ["AssetClass", "Instrument", "OptionRight", "ExerciseStyle", "SettlementType", "OptionTerms"]


class AssetClass(StrEnum):
    EQUITY = "equity"
    CRYPTO = "crypto"
    FX = "fx"
    FUTURE = "future"
    OPTION = "option"
    WARRANT = "warrant"


class OptionRight(StrEnum):
    CALL = "call"
    PUT = "put"


class ExerciseStyle(StrEnum):
    EUROPEAN = "european"  # exercised only at expiry (automatically, when in the money)
    AMERICAN = "american"  # the holder may also exercise any time before expiry


class SettlementType(StrEnum):
    CASH = "cash"          # the intrinsic value is paid in the quote asset
    PHYSICAL = "physical"  # the underlying changes hands at the strike


@dataclass(frozen=True, slots=True)
class OptionTerms:
    """The contract terms of a listed option (issue 17).

    `strike` is a price of the underlying in the option's quote asset (it must lie on the option's tick grid: see
    `Instrument.strike_ticks`); `expiry` the simulated time (ns) at which it expires; `multiplier` the whole units
    of the underlying one contract is written on. The option instrument's `lot_size` is the multiplier: one lot is
    one contract, its base asset is one option unit per underlying unit, and a price is the premium per underlying
    unit -- so a trade of q contracts at p ticks pays q * p * quote_units_per_lot_tick, like any instrument.
    """

    underlying: str
    strike: Decimal
    expiry: int
    right: OptionRight = OptionRight.CALL
    multiplier: int = 1
    style: ExerciseStyle = ExerciseStyle.EUROPEAN
    settlement: SettlementType = SettlementType.CASH

    def __post_init__(self) -> None:
        if not self.underlying or not isinstance(self.underlying, str):
            raise ValidationError(f"option underlying must be a non-empty string, got {self.underlying!r}")
        k = to_decimal(self.strike, "option strike")
        if k <= 0:
            raise ValidationError(f"option strike must be positive, got {k}")
        object.__setattr__(self, "strike", k)
        if isinstance(self.expiry, bool) or not isinstance(self.expiry, int) or self.expiry <= 0:
            raise ValidationError(f"option expiry must be a positive time in ns, got {self.expiry!r}")
        if isinstance(self.multiplier, bool) or not isinstance(self.multiplier, int) or self.multiplier <= 0:
            raise ValidationError(f"option multiplier must be a positive integer, got {self.multiplier!r}")
        for name, enum in (("right", OptionRight), ("style", ExerciseStyle), ("settlement", SettlementType)):
            try:
                object.__setattr__(self, name, enum(getattr(self, name)))
            except ValueError:
                raise ValidationError(f"option {name} must be one of {', '.join(e.value for e in enum)}, "
                                      f"got {getattr(self, name)!r}") from None

    @property
    def is_call(self) -> bool:
        return self.right is OptionRight.CALL


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol: prices are integer ticks, quantities integer lots.

    One lot is `lot_size` units of `base_asset`; one tick is `tick_size` of `quote_asset` per base unit.
    For on-chain settlement a trade of q lots at p ticks moves q * base_units_per_lot base-token units
    and q * p * quote_units_per_lot_tick quote-token units.
    """

    symbol: str
    tick_size: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal("1")
    asset_class: AssetClass = AssetClass.EQUITY
    base_asset: str = ""
    quote_asset: str = ""
    base_decimals: int = 18
    quote_decimals: int = 18
    option: OptionTerms | None = None  # set for a listed option: its contract terms (asset_class becomes OPTION)

    def __post_init__(self) -> None:
        if not self.symbol or not isinstance(self.symbol, str):
            raise ValidationError(f"instrument symbol must be a non-empty string, got {self.symbol!r}")
        for name in ("tick_size", "lot_size"):
            d = to_decimal(getattr(self, name), f"{self.symbol}.{name}")
            if d <= 0:
                raise ValidationError(f"{self.symbol}.{name} must be positive, got {d}")
            object.__setattr__(self, name, d)
        try:
            object.__setattr__(self, "asset_class", AssetClass(self.asset_class))
        except ValueError:
            choices = ", ".join(a.value for a in AssetClass)
            raise ValidationError(
                f"{self.symbol}.asset_class must be one of {choices}, got {self.asset_class!r}") from None
        base, _, quote = self.symbol.partition("/")
        if not self.base_asset:
            object.__setattr__(self, "base_asset", base)
        if not self.quote_asset:
            object.__setattr__(self, "quote_asset", quote or "USD")
        for name in ("base_decimals", "quote_decimals"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 0 <= v <= 36:
                raise ValidationError(f"{self.symbol}.{name} must be an integer in 0..36, got {v!r}")
        if self.option is not None:
            if not isinstance(self.option, OptionTerms):
                raise ValidationError(f"{self.symbol}.option must be OptionTerms, got {self.option!r}")
            if self.asset_class is AssetClass.EQUITY:
                object.__setattr__(self, "asset_class", AssetClass.OPTION)
            if self.asset_class not in (AssetClass.OPTION, AssetClass.WARRANT):
                raise ValidationError(f"{self.symbol}: option terms need asset_class option or warrant, "
                                      f"got {self.asset_class.value}")
            if self.lot_size != self.option.multiplier:
                raise ValidationError(f"{self.symbol}: an option's lot_size is its multiplier "
                                      f"({self.option.multiplier}), got {self.lot_size}")
            self.strike_ticks  # raises when the strike is off the tick grid
        for name in ("base_units_per_lot", "quote_units_per_lot_tick"):
            v = self._scaled(name)
            if v != v.to_integral_value() or v <= 0:
                raise ValidationError(
                    f"{self.symbol}: {name} = {v} is not a positive integer; choose sizes and decimals "
                    "so a lot and a tick are whole token units")

    def _scaled(self, name: str) -> Decimal:
        if name == "base_units_per_lot":
            return self.lot_size.scaleb(self.base_decimals)
        return (self.lot_size * self.tick_size).scaleb(self.quote_decimals)

    @property
    def base_units_per_lot(self) -> int:
        """Base-token base units in one lot."""
        return int(self._scaled("base_units_per_lot"))

    @property
    def quote_units_per_lot_tick(self) -> int:
        """Quote-token base units paid for one lot at a price of one tick."""
        return int(self._scaled("quote_units_per_lot_tick"))

    @property
    def strike_ticks(self) -> int:
        """An option's strike in this instrument's ticks (ValidationError when not an option or off the grid)."""
        if self.option is None:
            raise ValidationError(f"{self.symbol} is not an option")
        return to_units(self.option.strike, self.tick_size, f"{self.symbol} strike")

    def price_to_ticks(self, price: object) -> int:
        """Decimal price to integer ticks; raises ValidationError if off the tick grid or not finite."""
        return to_units(price, self.tick_size, f"{self.symbol} price")

    def ticks_to_price(self, ticks: int) -> Decimal:
        """Integer ticks to the decimal price."""
        return from_units(ticks, self.tick_size)

    def qty_to_lots(self, qty: object) -> int:
        """Decimal quantity to integer lots; raises ValidationError if off the lot grid or not finite."""
        return to_units(qty, self.lot_size, f"{self.symbol} quantity")

    def lots_to_qty(self, lots: int) -> Decimal:
        """Integer lots to the decimal quantity."""
        return from_units(lots, self.lot_size)
