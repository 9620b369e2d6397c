"""Instruments: what trades, on which price and quantity grid, and which settlement assets stand behind it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from market_sim.core.errors import ValidationError
from market_sim.core.money import from_units, to_decimal, to_units

__all__ = ["AssetClass", "Instrument"]


class AssetClass(StrEnum):
    EQUITY = "equity"
    CRYPTO = "crypto"
    FX = "fx"
    FUTURE = "future"
    OPTION = "option"
    WARRANT = "warrant"


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
