"""Instrument grids and settlement-unit scaling."""

from __future__ import annotations

from decimal import Decimal

import pytest

from market_sim.core.errors import ValidationError
from market_sim.core.instruments import AssetClass, Instrument


def test_defaults_and_derived_assets():
    inst = Instrument("ETH/USDC", tick_size="0.01", lot_size="0.001", asset_class="crypto")
    assert (inst.base_asset, inst.quote_asset, inst.asset_class) == ("ETH", "USDC", AssetClass.CRYPTO)
    assert inst.tick_size == Decimal("0.01") and inst.lot_size == Decimal("0.001")
    assert Instrument("AAPL").quote_asset == "USD"


def test_price_and_quantity_conversion():
    inst = Instrument("BTC/USD", tick_size="0.5", lot_size="0.01")
    assert inst.price_to_ticks("64000.5") == 128001
    assert inst.ticks_to_price(128001) == Decimal("64000.5")
    assert inst.qty_to_lots("0.25") == 25
    assert inst.lots_to_qty(25) == Decimal("0.25")
    with pytest.raises(ValidationError, match="BTC/USD price 64000.2 is not a multiple of 0.5"):
        inst.price_to_ticks("64000.2")
    with pytest.raises(ValidationError, match="quantity"):
        inst.qty_to_lots("nan")


def test_settlement_units():
    inst = Instrument("ETH/USDC", tick_size="0.01", lot_size="0.001", base_decimals=18, quote_decimals=6)
    assert inst.base_units_per_lot == 10**15
    assert inst.quote_units_per_lot_tick == 10          # 0.001 * 0.01 * 10**6
    with pytest.raises(ValidationError, match="quote_units_per_lot_tick"):
        Instrument("X/Y", tick_size="0.0001", lot_size="0.001", quote_decimals=6)


@pytest.mark.parametrize("kwargs", [{"symbol": ""}, {"symbol": "X", "tick_size": "0"}, {"symbol": "X", "lot_size": "-1"},
                                    {"symbol": "X", "tick_size": "nan"}, {"symbol": "X", "base_decimals": 40}])
def test_invalid_instruments(kwargs):
    with pytest.raises(ValidationError, match=r"^(instrument symbol|X\.(tick_size|lot_size|base_decimals)) must be "):
        Instrument(**kwargs)


def test_unknown_asset_class_is_a_validation_error():
    with pytest.raises(ValidationError, match="asset_class must be one of"):
        Instrument("X", asset_class="stamps")
