"""Risk measures: VaR and expected shortfall, stress tests, exposure/concentration and risk limits.

Conventions (see docs/analytics.md):

- VaR and ES are positive LOSS fractions of the portfolio value (0.03 = lose 3 %) at `confidence` (0.99 = 99 %),
  over `horizon` bars. Multiply by the portfolio value for a currency amount.
- Historical: VaR = the `confidence` quantile of the losses -r (numpy's linear interpolation);
  ES = mean of the losses at or beyond VaR.
- Parametric: mean and std (ddof=1) of the returns; normal VaR = -(mu + z sigma) with z = Phi^-1(1 - confidence);
  Cornish-Fisher replaces z by z + (z^2-1)S/6 + (z^3-3z)K/24 - (2z^3-5z)S^2/36 with S the skewness and K the
  excess kurtosis (population moment ratios); its ES is the closed-form tail mean of that quantile function,
  sigma phi(z)/(1-c) * (1 + S z/6 + K (z^2-1)/24 - S^2 (2z^2-1)/36) - mu.
- Horizons: horizon_rule="sqrt" scales one bar to h bars by the square-root-of-time rule (historical VaR and ES
  times sqrt(h); parametric mu*h and sigma*sqrt(h), S and K kept at their one-bar values);
  horizon_rule="aggregate" first compounds overlapping h-bar returns and estimates on those.
- Monte Carlo compounds h simulated bars per path (normal draws with the fitted mu/sigma, or a bootstrap of the
  observed returns) from numpy's default_rng(seed): the same seed gives the same figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from market_sim.analysis.errors import AnalyticsError, SeriesError
from market_sim.analysis.metrics import validate_returns
from market_sim.core.instruments import AssetClass, Instrument

__all__ = [
    "RiskEstimate", "historical_var", "parametric_var", "var_from_moments", "cornish_fisher_z",
    "monte_carlo_var", "var_table", "aggregate_returns",
    "STRESS_WINDOWS", "StressResult", "historical_stress", "parametric_shock",
    "Holding", "exposure_by_instrument", "exposure_by_asset_class", "Concentration", "concentration",
    "RiskLimits", "Breach", "check_limits", "apply_trade",
]

_N = NormalDist()
HORIZON_RULES = ("sqrt", "aggregate")


@dataclass(frozen=True, slots=True)
class RiskEstimate:
    """One VaR/ES figure and how it was obtained."""

    method: str          # historical | normal | cornish-fisher | monte-carlo-normal | monte-carlo-bootstrap
    confidence: float
    horizon: int
    horizon_rule: str    # sqrt | aggregate | simulated
    var: float
    es: float
    observations: int

    def describe(self) -> str:
        return (f"{self.method} VaR {self.confidence:.1%} over {self.horizon} bar(s) ({self.horizon_rule}): "
                f"{self.var:.4%}, ES {self.es:.4%} from {self.observations} observations")


def _check(confidence: float, horizon: int, horizon_rule: str | None = None) -> None:
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise AnalyticsError(f"confidence must be in (0, 1), e.g. 0.99, got {confidence!r}")
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise AnalyticsError(f"horizon must be a whole number of bars >= 1, got {horizon!r}")
    if horizon_rule is not None and horizon_rule not in HORIZON_RULES:
        raise AnalyticsError(f"horizon_rule must be one of {', '.join(HORIZON_RULES)}, got {horizon_rule!r}")


def aggregate_returns(returns: Any, horizon: int, name: str = "returns") -> pd.Series:
    """Overlapping compounded `horizon`-bar returns: prod(1 + r over h bars) - 1."""
    r = validate_returns(returns, name)
    if horizon == 1:
        return r
    if len(r) < horizon + 1:
        raise SeriesError(name, f"has {len(r)} returns; at least {horizon + 1} are needed for {horizon}-bar "
                                "aggregation")
    logs = np.log1p(r.to_numpy())
    c = np.concatenate([[0.0], np.cumsum(logs)])
    agg = np.expm1(c[horizon:] - c[:-horizon])
    return pd.Series(agg, index=r.index[horizon - 1:], name=name)


def _tail(losses: np.ndarray, confidence: float) -> tuple[float, float]:
    var = float(np.quantile(losses, confidence))
    es = float(losses[losses >= var].mean())
    return var, max(es, var)


def historical_var(returns: Any, confidence: float = 0.99, horizon: int = 1, horizon_rule: str = "sqrt",
                   name: str = "returns") -> RiskEstimate:
    _check(confidence, horizon, horizon_rule)
    r = validate_returns(returns, name)
    if horizon_rule == "aggregate":
        r = aggregate_returns(r, horizon, name)
    var, es = _tail(-r.to_numpy(), confidence)
    if horizon_rule == "sqrt":
        var, es = var * math.sqrt(horizon), es * math.sqrt(horizon)
    return RiskEstimate("historical", confidence, horizon, horizon_rule, var, es, len(r))


def cornish_fisher_z(z: float, skew: float, excess_kurtosis: float) -> float:
    """The Cornish-Fisher expansion of the standard normal quantile z for skewness S and excess kurtosis K."""
    s, k = skew, excess_kurtosis
    return z + (z * z - 1) * s / 6 + (z ** 3 - 3 * z) * k / 24 - (2 * z ** 3 - 5 * z) * s * s / 36


def var_from_moments(mean: float, std: float, confidence: float = 0.99, horizon: int = 1, *,
                     skew: float = 0.0, excess_kurtosis: float = 0.0,
                     method: str = "normal") -> tuple[float, float]:
    """(VaR, ES) of a distribution with these one-bar moments, scaled to `horizon` bars by sqrt of time."""
    _check(confidence, horizon)
    if method not in ("normal", "cornish-fisher"):
        raise AnalyticsError(f"parametric method must be 'normal' or 'cornish-fisher', got {method!r}")
    for what, v in (("mean", mean), ("std", std), ("skew", skew), ("excess_kurtosis", excess_kurtosis)):
        if not math.isfinite(v):
            raise AnalyticsError(f"{what} must be finite, got {v!r}")
    if std < 0:
        raise AnalyticsError(f"std must be >= 0, got {std!r}")
    mu, sigma = mean * horizon, std * math.sqrt(horizon)
    z = _N.inv_cdf(1 - confidence)
    tail = _N.pdf(z) / (1 - confidence)
    if method == "normal":
        return -(mu + z * sigma), sigma * tail - mu
    s, k = skew, excess_kurtosis
    zc = cornish_fisher_z(z, s, k)
    bracket = 1 + s * z / 6 + k * (z * z - 1) / 24 - s * s * (2 * z * z - 1) / 36
    return -(mu + zc * sigma), sigma * tail * bracket - mu


def _moments(r: np.ndarray) -> tuple[float, float, float, float]:
    mean = float(r.mean())
    d = r - mean
    scale = math.sqrt(float(np.mean(d * d)))
    if scale == 0:
        return mean, 0.0, 0.0, 0.0
    z = d / scale
    return mean, float(np.std(r, ddof=1)), float(np.mean(z ** 3)), float(np.mean(z ** 4) - 3)


def parametric_var(returns: Any, confidence: float = 0.99, horizon: int = 1, method: str = "normal",
                   horizon_rule: str = "sqrt", name: str = "returns") -> RiskEstimate:
    """Normal or Cornish-Fisher VaR/ES from the sample moments of the returns."""
    _check(confidence, horizon, horizon_rule)
    r = validate_returns(returns, name, min_length=3)
    h = horizon
    if horizon_rule == "aggregate":
        r, h = aggregate_returns(r, horizon, name), 1
        if len(r) < 3:
            raise SeriesError(name, f"has {len(r)} aggregated returns; at least 3 are needed")
    mean, std, s, k = _moments(r.to_numpy())
    var, es = var_from_moments(mean, std, confidence, h, skew=s, excess_kurtosis=k, method=method)
    return RiskEstimate(method, confidence, horizon, horizon_rule, var, es, len(r))


def monte_carlo_var(returns: Any, confidence: float = 0.99, horizon: int = 1, *, seed: int,
                    paths: int = 100_000, model: str = "normal", name: str = "returns") -> RiskEstimate:
    """VaR/ES of `paths` simulated `horizon`-bar compounded returns (normal fit or bootstrap), seeded."""
    _check(confidence, horizon)
    if model not in ("normal", "bootstrap"):
        raise AnalyticsError(f"Monte Carlo model must be 'normal' or 'bootstrap', got {model!r}")
    if isinstance(paths, bool) or not isinstance(paths, int) or paths < 100:
        raise AnalyticsError(f"paths must be an integer >= 100, got {paths!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise AnalyticsError(f"seed must be an integer, got {seed!r}")
    r = validate_returns(returns, name, min_length=3).to_numpy()
    rng = np.random.default_rng(seed)
    if model == "normal":
        draws = rng.normal(r.mean(), r.std(ddof=1), size=(paths, horizon))
        draws = np.maximum(draws, -1.0)
    else:
        draws = r[rng.integers(0, r.size, size=(paths, horizon))]
    with np.errstate(divide="ignore"):  # a draw of -100 % is ruin: log1p(-1) = -inf, compounding to -1
        sim = np.expm1(np.log1p(draws).sum(axis=1)) if horizon > 1 else draws[:, 0]
    var, es = _tail(-sim, confidence)
    return RiskEstimate(f"monte-carlo-{model}", confidence, horizon, "simulated", var, es, int(r.size))


def var_table(returns: Any, confidences: Sequence[float] = (0.95, 0.99), horizons: Sequence[int] = (1, 10), *,
              seed: int = 0, paths: int = 100_000, horizon_rule: str = "sqrt", name: str = "returns") -> pd.DataFrame:
    """Every method at every confidence and horizon, one row each (method, confidence, horizon, var, es)."""
    rows = []
    for c in confidences:
        for h in horizons:
            for est in (historical_var(returns, c, h, horizon_rule, name),
                        parametric_var(returns, c, h, "normal", horizon_rule, name),
                        parametric_var(returns, c, h, "cornish-fisher", horizon_rule, name),
                        monte_carlo_var(returns, c, h, seed=seed, paths=paths, name=name)):
                rows.append({"method": est.method, "confidence": c, "horizon": h,
                             "horizon_rule": est.horizon_rule, "var": est.var, "es": est.es})
    return pd.DataFrame(rows)


# ---- holdings, exposure, concentration -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Holding:
    """A position for risk purposes: `quantity` in base units (negative = short) valued at `price` per unit."""

    instrument: Instrument
    quantity: float
    price: float

    def __post_init__(self) -> None:
        for what in ("quantity", "price"):
            v = getattr(self, what)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise AnalyticsError(f"holding {self.instrument.symbol}: {what} must be a finite number, got {v!r}")
        if self.price <= 0:
            raise AnalyticsError(f"holding {self.instrument.symbol}: price must be positive, got {self.price!r}")

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def value(self) -> float:
        """Signed market value (quantity * price)."""
        return self.quantity * self.price


def _by_symbol(holdings: Iterable[Holding]) -> dict[str, Holding]:
    out: dict[str, Holding] = {}
    for h in holdings:
        if h.symbol in out:
            prev = out[h.symbol]
            out[h.symbol] = Holding(h.instrument, prev.quantity + h.quantity, h.price)
        else:
            out[h.symbol] = h
    return out


def exposure_by_instrument(holdings: Iterable[Holding]) -> pd.DataFrame:
    """Per symbol: asset class, quantity, net and gross value, share of total gross value (sorted by gross)."""
    rows = [{"symbol": s, "asset_class": h.instrument.asset_class.value, "quantity": h.quantity,
             "net": h.value, "gross": abs(h.value)} for s, h in _by_symbol(holdings).items()]
    df = pd.DataFrame(rows, columns=["symbol", "asset_class", "quantity", "net", "gross"])
    total = df["gross"].sum()
    df["share"] = df["gross"] / total if total > 0 else 0.0
    return df.sort_values(["gross", "symbol"], ascending=[False, True]).set_index("symbol")


def exposure_by_asset_class(holdings: Iterable[Holding]) -> pd.DataFrame:
    """Per asset class: net and gross value and share of total gross value."""
    df = exposure_by_instrument(holdings).groupby("asset_class")[["net", "gross", "share"]].sum()
    return df.sort_values("gross", ascending=False)


@dataclass(frozen=True, slots=True)
class Concentration:
    largest: str | None        # symbol with the largest gross value
    largest_share: float       # its share of total gross value
    hhi: float                 # Herfindahl-Hirschman index of gross shares (1 = one instrument)
    effective_n: float         # 1 / hhi


def concentration(holdings: Iterable[Holding]) -> Concentration:
    df = exposure_by_instrument(holdings)
    df = df[df["gross"] > 0]
    if df.empty:
        return Concentration(None, 0.0, 0.0, 0.0)
    hhi = float((df["share"] ** 2).sum())
    return Concentration(str(df.index[0]), float(df["share"].iloc[0]), hhi, 1.0 / hhi)


def apply_trade(holdings: Iterable[Holding], instrument: Instrument, quantity: float,
                price: float) -> tuple[Holding, ...]:
    """The holdings after a hypothetical trade (for a pre-trade check: check_limits(limits, apply_trade(...)))."""
    by = _by_symbol(holdings)
    prev = by.get(instrument.symbol)
    by[instrument.symbol] = Holding(instrument, (prev.quantity if prev else 0.0) + quantity, price)
    return tuple(by.values())


# ---- limits ----------------------------------------------------------------------------------------------------

def _ro(mapping: Mapping[str, float] | None, what: str) -> Mapping[str, float]:
    out = dict(mapping or {})
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise AnalyticsError(f"RiskLimits.{what}[{k!r}] must be a number >= 0, got {v!r}")
    return MappingProxyType(out)


@dataclass(frozen=True, slots=True, unsafe_hash=False)
class RiskLimits:
    """Limits a (pre-trade) risk engine enforces; None = no limit.

    max_var: VaR as a loss fraction of portfolio value; max_position: absolute quantity per symbol (a "*" key is the
    default for every symbol); max_notional: total gross value; max_instrument_notional: gross value of any one
    symbol; max_concentration: largest share of total gross value (0..1); max_asset_class_share: per asset class.
    """

    max_var: float | None = None
    max_position: Mapping[str, float] = field(default_factory=dict)
    max_notional: float | None = None
    max_instrument_notional: float | None = None
    max_concentration: float | None = None
    max_asset_class_share: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what in ("max_var", "max_notional", "max_instrument_notional", "max_concentration"):
            v = getattr(self, what)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0):
                raise AnalyticsError(f"RiskLimits.{what} must be a number >= 0 or None, got {v!r}")
        if self.max_concentration is not None and self.max_concentration > 1:
            raise AnalyticsError(f"RiskLimits.max_concentration is a share in 0..1, got {self.max_concentration!r}")
        object.__setattr__(self, "max_position", _ro(self.max_position, "max_position"))
        classes = _ro(self.max_asset_class_share, "max_asset_class_share")
        for k in classes:
            if k not in {a.value for a in AssetClass}:
                raise AnalyticsError(f"RiskLimits.max_asset_class_share: unknown asset class {k!r}")
        object.__setattr__(self, "max_asset_class_share", classes)


@dataclass(frozen=True, slots=True)
class Breach:
    """One limit exceeded: which limit, for what (symbol, asset class or 'portfolio'), the value and the limit."""

    limit: str
    subject: str
    value: float
    limit_value: float

    @property
    def message(self) -> str:
        return f"{self.limit} breached for {self.subject}: {self.value:g} > {self.limit_value:g}"


def check_limits(limits: RiskLimits, holdings: Iterable[Holding],
                 var: RiskEstimate | float | None = None) -> tuple[Breach, ...]:
    """Every breach of `limits` by `holdings` (and the portfolio's VaR if given), in a fixed order; () if none."""
    hs = _by_symbol(holdings)
    out: list[Breach] = []
    if limits.max_var is not None and var is not None:
        v = var.var if isinstance(var, RiskEstimate) else float(var)
        if v > limits.max_var:
            out.append(Breach("max_var", "portfolio", v, limits.max_var))
    default = limits.max_position.get("*")
    for s in sorted(hs):
        cap = limits.max_position.get(s, default)
        if cap is not None and abs(hs[s].quantity) > cap:
            out.append(Breach("max_position", s, abs(hs[s].quantity), cap))
    gross = sum(abs(h.value) for h in hs.values())
    if limits.max_notional is not None and gross > limits.max_notional:
        out.append(Breach("max_notional", "portfolio", gross, limits.max_notional))
    if limits.max_instrument_notional is not None:
        for s in sorted(hs):
            if abs(hs[s].value) > limits.max_instrument_notional:
                out.append(Breach("max_instrument_notional", s, abs(hs[s].value), limits.max_instrument_notional))
    if gross > 0 and limits.max_concentration is not None:
        for s in sorted(hs):
            share = abs(hs[s].value) / gross
            if share > limits.max_concentration:
                out.append(Breach("max_concentration", s, share, limits.max_concentration))
    if gross > 0 and limits.max_asset_class_share:
        by_class: dict[str, float] = {}
        for h in hs.values():
            by_class[h.instrument.asset_class.value] = by_class.get(h.instrument.asset_class.value, 0.0) + abs(h.value)
        for c in sorted(limits.max_asset_class_share):
            share = by_class.get(c, 0.0) / gross
            if share > limits.max_asset_class_share[c]:
                out.append(Breach("max_asset_class_share", c, share, limits.max_asset_class_share[c]))
    return tuple(out)


# ---- stress tests ----------------------------------------------------------------------------------------------

STRESS_WINDOWS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "dot-com 2000-2002": ("2000-03-10", "2002-10-09"),   # NASDAQ peak to the S&P 500 trough
    "financial crisis 2008": ("2008-09-12", "2009-03-09"),  # the eve of Lehman's failure to the S&P 500 trough
})


@dataclass(frozen=True, slots=True)
class StressResult:
    """PnL of the holdings replayed over a window (or under a shock): total, by symbol, path and its worst point."""

    name: str
    start: Any
    end: Any
    pnl: float
    return_: float                      # pnl / total gross value at the start
    by_instrument: Mapping[str, float]
    worst_pnl: float
    worst_date: Any
    path: pd.Series | None = None


def historical_stress(holdings: Iterable[Holding], prices: pd.DataFrame | Mapping[str, pd.Series],
                      window: str | tuple[Any, Any], name: str | None = None) -> StressResult:
    """Replay the price moves of a historical window on today's holdings: each holding's value moves with its
    symbol's price relative to the first bar of the window. `prices`: close prices per symbol (DataFrame columns or
    a mapping of Series), indexed by date; `window` a name of STRESS_WINDOWS or (start, end)."""
    if isinstance(window, str):
        if window not in STRESS_WINDOWS:
            raise AnalyticsError(f"unknown stress window {window!r}; known: {', '.join(STRESS_WINDOWS)}")
        label, (start, end) = window, STRESS_WINDOWS[window]
    else:
        start, end = window
        label = name or f"{start} .. {end}"
    hs = _by_symbol(holdings)
    paths = {}
    for s, h in hs.items():
        if s not in prices:
            raise AnalyticsError(f"stress {label!r}: no price series for {s!r}")
        series = pd.Series(prices[s]).astype("float64")
        w = series.loc[start:end]
        if len(w) < 2:
            first, last = (series.index[0], series.index[-1]) if len(series) else (None, None)
            raise SeriesError(s, f"has {len(w)} bar(s) in stress window {label!r} ({start} .. {end}); "
                                 f"its data runs {first} .. {last}")
        if not (np.isfinite(w.to_numpy()).all() and (w.to_numpy() > 0).all()):
            raise SeriesError(s, f"has missing or non-positive prices in stress window {label!r}")
        paths[s] = h.value * (w / w.iloc[0] - 1.0)
    if not paths:
        raise AnalyticsError(f"stress {label!r}: no holdings")
    path = pd.DataFrame(paths).ffill().fillna(0.0).sum(axis=1).rename("pnl")
    gross = sum(abs(h.value) for h in hs.values())
    by = MappingProxyType({s: float(p.iloc[-1]) for s, p in paths.items()})
    pnl = float(path.iloc[-1])
    worst = int(np.argmin(path.to_numpy()))
    return StressResult(label, path.index[0], path.index[-1], pnl, pnl / gross if gross else 0.0, by,
                        float(path.iloc[worst]), path.index[worst], path)


def parametric_shock(holdings: Iterable[Holding], shocks: Mapping[str, float], name: str = "shock") -> StressResult:
    """Instant relative price shocks (-0.2 = prices fall 20 %) keyed by symbol or asset class ("equity", ...);
    a symbol's own shock wins over its asset class's."""
    classes = {a.value for a in AssetClass}
    for k, v in shocks.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < -1:
            raise AnalyticsError(f"shock {k!r} must be a finite relative move >= -1, got {v!r}")
    hs = _by_symbol(holdings)
    unknown = [k for k in shocks if k not in hs and k not in classes]
    if unknown:
        raise AnalyticsError(f"shock names neither a held symbol nor an asset class: {', '.join(sorted(unknown))}")
    by = {}
    for s, h in hs.items():
        move = shocks.get(s, shocks.get(h.instrument.asset_class.value, 0.0))
        by[s] = h.value * move
    pnl = float(sum(by.values()))
    gross = sum(abs(h.value) for h in hs.values())
    return StressResult(name, None, None, pnl, pnl / gross if gross else 0.0, MappingProxyType(by), min(pnl, 0.0),
                        None)
