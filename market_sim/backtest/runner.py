"""From a description (strategy kind, parameters, data file, instrument grid, cash, costs) to a finished backtest:
what `market-sim backtest` runs, usable from code too. Everything is validated before any bar is processed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from market_sim.backtest.bars import BarSeries, load_bars
from market_sim.backtest.costs import NO_FEES, NO_SLIPPAGE, BpsSlippage, FixedTicks, SimpleFees, Slippage, \
    VolumeImpact
from market_sim.backtest.engine import BarBacktest, FillRules
from market_sim.backtest.result import BacktestResult
from market_sim.core.errors import ConfigError
from market_sim.core.instruments import Instrument

__all__ = ["BacktestSpec", "parse_slippage", "prepare", "run_spec"]


def parse_slippage(text: str | None) -> Slippage:
    """'none', 'ticks:N', 'bps:X' or 'impact:K' (square-root impact, K x bar range x sqrt(q / volume))."""
    if text is None or text in ("", "none"):
        return NO_SLIPPAGE
    kind, _, arg = text.partition(":")
    try:
        if kind == "ticks":
            return FixedTicks(int(arg or 1))
        if kind == "bps":
            return BpsSlippage(float(arg or 5))
        if kind == "impact":
            return VolumeImpact(float(arg or 0.1))
    except ValueError:
        raise ConfigError("needs a number after the colon, e.g. ticks:1, bps:5, impact:0.1", key="slippage",
                          value=text) from None
    raise ConfigError("must be none, ticks:N, bps:X or impact:K", key="slippage", value=text)


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    strategy: str
    data: str
    params: Mapping[str, Any] = field(default_factory=dict)
    symbol: str | None = None          # default: the file name's first word, upper-cased
    tick_size: str = "0.000001"
    lot_size: str = "1"
    currency: str = "USD"
    currency_decimals: int = 6
    asset_class: str = "equity"
    cash: str = "100000"
    adjusted: bool = False
    fill_on_touch: bool = False
    participation: float | None = None
    slippage: str = "none"
    maker_bps: float = 0.0
    taker_bps: float = 0.0
    commission: str = "0"              # per fill, currency units
    per_unit: str = "0"                # per lot, currency units
    seed: int = 0

    def config(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"] = dict(self.params)
        return d


def _decimal(text: str, key: str) -> Decimal:
    try:
        d = Decimal(str(text))
    except InvalidOperation:
        raise ConfigError("must be a decimal number", key=key, value=text) from None
    if not d.is_finite() or d < 0:
        raise ConfigError("must be a finite, non-negative number", key=key, value=text)
    return d


def _units(text: str, decimals: int, key: str) -> int:
    d = _decimal(text, key) * (Decimal(10) ** decimals)
    if d != d.to_integral_value():
        raise ConfigError(f"has more decimals than the currency's {decimals}", key=key, value=text)
    return int(d)


def prepare(spec: BacktestSpec) -> tuple[BarBacktest, type]:
    """Validate the spec, read the bars and build the (not yet run) backtest."""
    from market_sim.simulation.agents import agent_types
    from market_sim.simulation.params import build_params

    kinds = agent_types()
    cls = kinds.get(spec.strategy)
    if cls is None:
        raise ConfigError(f"unknown strategy; choose one of {', '.join(sorted(kinds))}", key="strategy",
                          value=spec.strategy)
    params = build_params(cls.Params, dict(spec.params), spec.strategy)
    path = Path(spec.data)
    symbol = spec.symbol or path.name.split(".")[0].split("-")[0].split("_")[0].upper()
    lot = _decimal(spec.lot_size, "lot_size")
    base_decimals = max(0, -lot.normalize().as_tuple().exponent)
    instrument = Instrument(symbol, tick_size=spec.tick_size, lot_size=spec.lot_size, asset_class=spec.asset_class,
                            base_asset=symbol, quote_asset=spec.currency, base_decimals=base_decimals,
                            quote_decimals=spec.currency_decimals)
    cash = _units(spec.cash, spec.currency_decimals, "cash")
    fees = NO_FEES
    commission = _units(spec.commission, spec.currency_decimals, "commission")
    per_unit = _units(spec.per_unit, spec.currency_decimals, "per_unit")
    if spec.maker_bps or spec.taker_bps or commission or per_unit:
        fees = SimpleFees(spec.maker_bps, spec.taker_bps, per_unit=per_unit, commission=commission)
    rules = FillRules(spec.fill_on_touch, spec.participation, parse_slippage(spec.slippage))
    bars: BarSeries = load_bars(path, instrument, adjusted=spec.adjusted)
    agent = cls(spec.strategy, params)
    return BarBacktest(bars, agent, cash={spec.currency: cash}, fees=fees, rules=rules, seed=spec.seed), cls


def run_spec(spec: BacktestSpec, progress: Callable[[int, int], None] | None = None) -> BacktestResult:
    bt, _ = prepare(spec)
    result = BacktestResult(bt.run(progress))
    result.check_accounts()
    return result

