"""Configuration of the [risk] section: pre-trade limits, margin, lending, short-sale rules (typed, integers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from market_sim.core.borrowing import YEAR_NS
from market_sim.core.errors import ConfigError
from market_sim.risk.margin import MarginRules

__all__ = ["PreTradeLimits", "AccountConfig", "MarginConfig", "PoolConfig", "RecallConfig", "KillConfig",
           "RiskConfig", "SECOND", "YEAR_NS"]

SECOND = 1_000_000_000


def _opt_int(v: Any, key: str) -> None:
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
        raise ConfigError("must be a non-negative integer or absent", key=key, value=v)


@dataclass(frozen=True, slots=True)
class PreTradeLimits:
    """Pre-trade limits of one account (None: no limit). Integers: lots, quote base units, basis points, ns.

    `max_position` is per symbol in lots with a "*" default, as in analysis.risk.RiskLimits.max_position (the
    portfolio-level limits type, which `from_risk_limits` reads)."""

    max_order_quantity: int | None = None   # lots per order
    max_order_notional: int | None = None   # quote base units per order (at its limit price, or the reference)
    price_band_bps: int | None = None       # a limit price further than this from the reference is refused
    max_position: Mapping[str, int] = field(default_factory=dict)  # |position + open orders + order| in lots
    max_orders: int | None = None           # orders (new + modify) accepted per rate_window
    rate_window: int = SECOND
    buying_power: bool = True               # margin accounts: refuse orders the excess cannot carry

    def __post_init__(self) -> None:
        for name in ("max_order_quantity", "max_order_notional", "price_band_bps", "max_orders"):
            _opt_int(getattr(self, name), name)
        if isinstance(self.rate_window, bool) or not isinstance(self.rate_window, int) or self.rate_window <= 0:
            raise ConfigError("must be a positive duration", key="rate_window", value=self.rate_window)
        for k, v in dict(self.max_position).items():
            _opt_int(v, f"max_position.{k}")
        object.__setattr__(self, "max_position", MappingProxyType(dict(self.max_position)))

    def position_limit(self, symbol: str) -> int | None:
        return self.max_position.get(symbol, self.max_position.get("*"))

    @classmethod
    def from_risk_limits(cls, limits: Any, **kw: Any) -> "PreTradeLimits":
        """Pre-trade limits from an analysis.risk.RiskLimits (its per-symbol max_position, truncated to lots)."""
        return cls(max_position={k: int(v) for k, v in dict(limits.max_position).items()}, **kw)

    def merged(self, raw: Mapping[str, Any]) -> "PreTradeLimits":
        """These limits with some fields replaced (an account's overrides)."""
        values = {n: getattr(self, n) for n in self.__dataclass_fields__}
        values.update(raw)
        return PreTradeLimits(**values)


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """An account (an agent group, or one account id) with its own limits; `cash` (quote base units, deposited at
    the start) makes it a margin account."""

    limits: PreTradeLimits
    cash: int | None = None


@dataclass(frozen=True, slots=True)
class MarginConfig:
    rules: MarginRules = field(default_factory=MarginRules)
    check_interval: int = SECOND          # how often every margin account is marked
    call_deadline: int = 60 * SECOND      # a margin call not met by then is liquidated (0: at once)
    order: str = "market"                 # "market" or "limit" (IOC at the reference -/+ aggression_ticks)
    aggression_ticks: int = 50
    liquidation_lots: int = 0             # largest liquidation order (0: no cap; each order sells what is needed)


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """The lending pool of one instrument: lender account -> lots supplied, annual borrow rate."""

    lenders: Mapping[str, int]
    rate_bps: int = 25                    # general collateral ~0.25% a year
    hard_to_borrow: bool = False
    exempt: frozenset[str] = frozenset()  # accounts or agent groups whose short sales need no locate

    def __post_init__(self) -> None:
        object.__setattr__(self, "lenders", MappingProxyType(dict(self.lenders)))
        object.__setattr__(self, "exempt", frozenset(self.exempt))


@dataclass(frozen=True, slots=True)
class RecallConfig:
    at: int
    symbol: str
    lender: str
    lots: int


@dataclass(frozen=True, slots=True)
class KillConfig:
    at: int
    trader: str


@dataclass(frozen=True, slots=True)
class RiskConfig:
    limits: PreTradeLimits = field(default_factory=PreTradeLimits)
    accounts: Mapping[str, AccountConfig] = field(default_factory=dict)
    margin: MarginConfig | None = None
    lending: Mapping[str, PoolConfig] = field(default_factory=dict)
    accrual_interval: int = 60 * SECOND
    recalls: tuple[RecallConfig, ...] = ()
    recall_deadline: int = 60 * SECOND
    buy_in_order: str = "market"
    short_sale_rule: Mapping[str, str] = field(default_factory=dict)  # symbol or "*" -> none | uptick | ssr
    ssr_drop_bps: int = 1000
    kills: tuple[KillConfig, ...] = ()
    sample_interval: int = 10 * SECOND
