"""Bar series for the bar backtest: one instrument's OHLCV bars as integer ticks and lots in numpy arrays.

Raw prices are the prices as traded. Adjusted prices (`adjusted=True`, needs an `adj_close` column) scale each
bar's open, high, low and close by adj_close / close and round to the tick, so splits and dividends become part of
the price path (total return); raw prices ignore dividends entirely (a backtest on raw prices neither receives them
nor sees the ex-date drop as anything but a price move). Volume is never adjusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from market_sim.core.errors import ConfigError
from market_sim.core.instruments import Instrument

__all__ = ["BarSeries", "load_bars", "synthetic_bars"]


@dataclass(frozen=True, slots=True, eq=False)
class BarSeries:
    """OHLCV bars of one instrument: `ts` int64 ns since the epoch (increasing), prices int64 ticks, volume int64
    lots. `adjusted` says which prices these are."""

    instrument: Instrument
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    adjusted: bool = False

    def __post_init__(self) -> None:
        n = len(self.ts)
        sym = self.instrument.symbol
        if n == 0:
            raise ConfigError("a bar series needs at least one bar", key=f"bars.{sym}", value=0)
        for name in ("open", "high", "low", "close", "volume"):
            a = getattr(self, name)
            if len(a) != n:
                raise ConfigError(f"{name} has {len(a)} values for {n} timestamps", key=f"bars.{sym}.{name}",
                                  value=len(a))
        if n > 1 and not bool(np.all(np.diff(self.ts) > 0)):
            i = int(np.argmax(np.diff(self.ts) <= 0)) + 1
            raise ConfigError(f"bar timestamps must be strictly increasing (bar {i} is not later than bar {i - 1})",
                              key=f"bars.{sym}.time", value=int(self.ts[i]))
        if bool(np.any(self.low <= 0)):
            raise ConfigError("prices must be at least one tick", key=f"bars.{sym}.low",
                              value=int(self.low.min()))
        bad = (self.low > self.open) | (self.low > self.close) | (self.high < self.open) | (self.high < self.close)
        if bool(bad.any()):
            i = int(np.argmax(bad))
            raise ConfigError(f"bar {i} has open/close outside [low, high]", key=f"bars.{sym}", value=i)

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    def frame(self, *, prices: bool = True) -> pd.DataFrame:
        """The bars as a DataFrame indexed by time; `prices` gives decimal prices (float) instead of ticks."""
        scale = float(self.instrument.tick_size) if prices else 1
        idx = pd.to_datetime(self.ts, unit="ns")
        return pd.DataFrame({"open": self.open * scale, "high": self.high * scale, "low": self.low * scale,
                             "close": self.close * scale, "volume": self.volume}, index=idx).rename_axis("time")


def _ticks(values: np.ndarray, tick: float) -> np.ndarray:
    return np.maximum(1, np.rint(np.asarray(values, dtype=np.float64) / tick)).astype(np.int64)


def from_frame(frame: pd.DataFrame, instrument: Instrument, *, adjusted: bool = False) -> BarSeries:
    """A BarSeries from `read_bars` output (exact ticks when read with the instrument, else float prices)."""
    exact = all(frame[c].dtype.kind in "iu" for c in ("open", "high", "low", "close"))
    tick = float(instrument.tick_size)
    if exact:
        o, h, lo, c = (frame[k].to_numpy(np.int64) for k in ("open", "high", "low", "close"))
    else:
        o, h, lo, c = (_ticks(frame[k].to_numpy(), tick) for k in ("open", "high", "low", "close"))
    if adjusted:
        if "adj_close" not in frame.columns:
            raise ConfigError("adjusted prices need an adj_close column in the data", key="adjusted", value=True)
        adj = frame["adj_close"].to_numpy(np.float64) / (1 if exact else tick)
        factor = adj / c
        o, h, lo, c = (np.maximum(1, np.rint(x * factor)).astype(np.int64) for x in (o, h, lo, c))
        h = np.maximum.reduce([h, o, c])
        lo = np.minimum.reduce([lo, o, c])
    vol = frame["volume"].to_numpy()
    lot = float(instrument.lot_size)
    vol = vol.astype(np.int64) if vol.dtype.kind in "iu" else np.floor(vol / lot + 1e-9).astype(np.int64)
    ts = frame.index.to_numpy().astype("datetime64[ns]").astype(np.int64)
    return BarSeries(instrument, ts, o, h, lo, c, vol, adjusted)


def load_bars(path: str | Path, instrument: Instrument, *, adjusted: bool = False, **kw: Any) -> BarSeries:
    """Read a bar file (CSV or Parquet, `market_sim.data.readers.read_bars`) into a BarSeries. Raw prices are
    read exactly on the instrument's tick grid (an off-grid price is an error naming its line); adjusted ones
    are rounded to it."""
    from market_sim.data.readers import read_bars

    frame = read_bars(path, None if adjusted else instrument, **kw)
    return from_frame(frame, instrument, adjusted=adjusted)


def synthetic_bars(n: int, instrument: Instrument, *, seed: int = 0, start_price: int = 10_000,
                   vol: float = 0.01, start_ns: int = 0, step_ns: int = 60_000_000_000) -> BarSeries:
    """A random-walk bar series of n bars (geometric, per-bar volatility `vol`), for benchmarks and tests."""
    rng = np.random.default_rng(seed)
    logp = np.log(start_price) + np.cumsum(rng.normal(0.0, vol, n))
    close = np.maximum(1, np.rint(np.exp(logp))).astype(np.int64)
    open_ = np.concatenate(([start_price], close[:-1]))
    spread = np.rint(np.abs(rng.normal(0.0, vol / 2, n)) * close).astype(np.int64)
    high = np.maximum(open_, close) + spread
    low = np.maximum(1, np.minimum(open_, close) - spread)
    volume = rng.integers(1_000, 100_000, n, dtype=np.int64)
    ts = start_ns + np.arange(n, dtype=np.int64) * step_ns
    return BarSeries(instrument, ts, open_, high, low, close, volume)
