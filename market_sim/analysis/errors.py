"""Errors of the analytics package: every one is a MarketSimError, so the CLI prints it without a traceback."""

from __future__ import annotations

from market_sim.core.errors import MarketSimError, ValidationError

__all__ = ["AnalyticsError", "SeriesError", "ZeroVolatilityError"]


class AnalyticsError(MarketSimError):
    """A performance or risk figure cannot be computed from the given input."""


class SeriesError(AnalyticsError, ValidationError):
    """An equity curve or return series is unusable: NaN/inf, non-positive equity, too short, misaligned."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"series {name!r}: {message}")
        self.series = name


class ZeroVolatilityError(AnalyticsError):
    """A ratio divides by a volatility (or downside deviation, drawdown, benchmark variance) that is zero."""

    def __init__(self, name: str, what: str, measure: str = "volatility") -> None:
        super().__init__(f"{what} of series {name!r} is undefined: its {measure} is zero")
        self.series = name
        self.what = what
        self.measure = measure
