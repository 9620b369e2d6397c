"""From a description (strategy kind, parameters, data file, instrument grid, cash, costs) to a finished backtest:
what `market-sim backtest` runs, usable from code too. Everything is validated before any bar is processed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from market_sim.backtest.bars import BarSeries, load_bars
from market_sim.backtest.costs import NO_FEES, NO_SLIPPAGE, BpsSlippage, FixedTicks, FeeSchedule, Slippage, \
    VolumeImpact
from market_sim.backtest.engine import BarBacktest, FillRules
from market_sim.backtest.result import BacktestResult
from market_sim.core.errors import ConfigError
from market_sim.core.instruments import Instrument
from market_sim.risk.borrow import BorrowFees

__all__ = ["BacktestSpec", "parse_slippage", "parse_queue", "prepare", "prepare_l2", "run_spec"]


def parse_queue(text: str) -> Any:
    """'pessimistic', 'proportional' or 'probabilistic[:n]' (hftbacktest's power model, n = 2 by default)."""
    from market_sim.backtest.l2 import PessimisticQueue, ProbabilisticQueue, ProportionalQueue

    kind, _, arg = str(text).partition(":")
    if kind == "pessimistic" and not arg:
        return PessimisticQueue()
    if kind == "proportional" and not arg:
        return ProportionalQueue()
    if kind == "probabilistic":
        try:
            return ProbabilisticQueue(float(arg) if arg else 2.0)
        except ValueError:
            raise ConfigError("probabilistic:N needs a number", key="queue", value=text) from None
    raise ConfigError("must be pessimistic, proportional or probabilistic[:n]", key="queue", value=text)


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
    # L2 replay (a .jsonl / .jsonl.gz Binance capture)
    queue: str = "probabilistic"       # pessimistic | proportional | probabilistic[:n]
    entry_latency: str = "fixed:5ms"
    data_latency: str = "fixed:5ms"
    sample: str = "1s"
    borrow_bps: int | None = None      # bars: annual borrow fee of short positions in bps (None: none)

    @property
    def mode(self) -> str:
        name = Path(self.data).name
        return "l2" if name.endswith(".jsonl") or name.endswith(".jsonl.gz") else "bars"

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


def _decimals(d: Decimal) -> int:
    return max(0, -d.normalize().as_tuple().exponent)


def _instrument_cash_fees(spec: BacktestSpec, symbol: str) -> tuple[Instrument, int, Any]:
    lot = _decimal(spec.lot_size, "lot_size")
    tick = _decimal(spec.tick_size, "tick_size")
    # enough currency decimals that one lot at one tick is a whole number of base units
    qd = max(spec.currency_decimals, _decimals(lot * tick))
    instrument = Instrument(symbol, tick_size=spec.tick_size, lot_size=spec.lot_size, asset_class=spec.asset_class,
                            base_asset=symbol, quote_asset=spec.currency, base_decimals=_decimals(lot),
                            quote_decimals=qd)
    cash = _units(spec.cash, qd, "cash")
    fees: Any = NO_FEES
    commission = _units(spec.commission, qd, "commission")
    per_unit = _units(spec.per_unit, qd, "per_unit")
    if spec.maker_bps or spec.taker_bps or commission or per_unit:
        fees = FeeSchedule.parse({"maker_bps": spec.maker_bps, "taker_bps": spec.taker_bps, "per_unit": per_unit,
                                  "commission": commission}, "fees")
    return instrument, cash, fees


def _strategy(spec: BacktestSpec) -> tuple[type, Any]:
    from market_sim.simulation.agents import agent_types
    from market_sim.simulation.params import build_params

    kinds = agent_types()
    cls = kinds.get(spec.strategy)
    if cls is None:
        raise ConfigError(f"unknown strategy; choose one of {', '.join(sorted(kinds))}", key="strategy",
                          value=spec.strategy)
    return cls, build_params(cls.Params, dict(spec.params), spec.strategy)


def prepare_l2(spec: BacktestSpec) -> Any:
    """Validate an L2 replay spec, read the capture and build the (not yet run) L2Backtest."""
    from market_sim.backtest.l2 import L2Backtest, l2_data_from_capture
    from market_sim.data.readers import read_binance_jsonl
    from market_sim.simulation.latency import parse_duration, parse_latency

    cls, params = _strategy(spec)
    if spec.borrow_bps is not None:
        raise ConfigError("borrow fees apply to bar backtests (the L2 replay spans minutes)", key="borrow_bps",
                          value=spec.borrow_bps)
    queue = parse_queue(spec.queue)
    entry = parse_latency(spec.entry_latency, "entry_latency")
    data_lat = parse_latency(spec.data_latency, "data_latency")
    sample = parse_duration(spec.sample, "sample")
    if sample <= 0:
        raise ConfigError("must be a positive duration", key="sample", value=spec.sample)
    symbol = spec.symbol or Path(spec.data).name.split(".")[0].split("_")[0].upper()
    instrument, cash, fees = _instrument_cash_fees(spec, symbol)
    data = l2_data_from_capture(read_binance_jsonl(spec.data, instrument), instrument)
    return L2Backtest(data, cls(spec.strategy, params), queue=queue, entry_latency=entry, data_latency=data_lat,
                      fees=fees, cash={spec.currency: cash}, seed=spec.seed, sample_ns=sample)


def prepare(spec: BacktestSpec) -> tuple[BarBacktest, type]:
    """Validate the spec, read the bars and build the (not yet run) backtest."""
    cls, params = _strategy(spec)
    path = Path(spec.data)
    symbol = spec.symbol or path.name.split(".")[0].split("-")[0].split("_")[0].upper()
    instrument, cash, fees = _instrument_cash_fees(spec, symbol)
    rules = FillRules(spec.fill_on_touch, spec.participation, parse_slippage(spec.slippage))
    bars: BarSeries = load_bars(path, instrument, adjusted=spec.adjusted)
    agent = cls(spec.strategy, params)
    borrow = None if spec.borrow_bps is None else BorrowFees(spec.borrow_bps)
    return BarBacktest(bars, agent, cash={spec.currency: cash}, fees=fees, rules=rules, seed=spec.seed,
                       borrow=borrow), cls


def run_spec(spec: BacktestSpec, progress: Callable[[int, int], None] | None = None) -> BacktestResult:
    bt, _ = prepare(spec)
    result = BacktestResult(bt.run(progress))
    result.check_accounts()
    return result

