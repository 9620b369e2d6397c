"""Latency models: how long a message takes between two participants, in integer nanoseconds."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

from market_sim.core.errors import ConfigError

__all__ = ["LatencyModel", "FixedLatency", "UniformLatency", "LogNormalLatency", "PairLatency",
           "parse_duration", "parse_latency"]

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "min": 60_000_000_000, "h": 3_600_000_000_000,
          "d": 86_400_000_000_000}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zµ]+)?\s*$")


def parse_duration(text: object, what: str = "duration") -> int:
    """Parse '20ms', '1.5s', '250us', '3h', '1d' or a bare integer of ns into integer nanoseconds (>= 0)."""
    if isinstance(text, bool):
        raise ConfigError("must be a duration such as '20ms'", key=what, value=text)
    if isinstance(text, int):
        if text < 0:
            raise ConfigError("must not be negative", key=what, value=text)
        return text
    m = _DURATION.match(str(text))
    if not m or (m.group(2) or "ns") not in _UNITS:
        raise ConfigError("must be a non-negative duration such as '20ms', '1.5s' or '250us'", key=what, value=text)
    return round(float(m.group(1)) * _UNITS[m.group(2) or "ns"])


class LatencyModel:
    """Base class: `sample(src, dst, rng)` returns a one-way delay in ns."""

    def sample(self, src: str, dst: str, rng: random.Random) -> int:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class FixedLatency(LatencyModel):
    delay: int

    def sample(self, src: str, dst: str, rng: random.Random) -> int:
        return self.delay


@dataclass(frozen=True, slots=True)
class UniformLatency(LatencyModel):
    low: int
    high: int

    def sample(self, src: str, dst: str, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)


@dataclass(frozen=True, slots=True)
class LogNormalLatency(LatencyModel):
    """Log-normal delay with the given median (ns) and shape sigma (heavier right tail as sigma grows)."""

    median: int
    sigma: float = 0.5

    def sample(self, src: str, dst: str, rng: random.Random) -> int:
        return int(self.median * math.exp(self.sigma * rng.gauss(0.0, 1.0)))


@dataclass(frozen=True, slots=True)
class PairLatency(LatencyModel):
    """Per-pair models (looked up as (src, dst), then (dst, src)), falling back to `default`."""

    default: LatencyModel
    pairs: dict[tuple[str, str], LatencyModel] = field(default_factory=dict)

    def sample(self, src: str, dst: str, rng: random.Random) -> int:
        model = self.pairs.get((src, dst)) or self.pairs.get((dst, src)) or self.default
        return model.sample(src, dst, rng)


def parse_latency(spec: object, what: str = "latency") -> LatencyModel:
    """Parse 'fixed:5ms', 'uniform:1ms-5ms', 'lognormal:20ms' or 'lognormal:20ms:0.8', or a bare duration."""
    if isinstance(spec, LatencyModel):
        return spec
    text = str(spec).strip()
    kind, _, rest = text.partition(":")
    kind = kind.lower()
    if kind == "fixed":
        return FixedLatency(parse_duration(rest, what))
    if kind == "uniform":
        lo, sep, hi = rest.partition("-")
        if not sep:
            raise ConfigError("uniform latency needs 'uniform:LOW-HIGH', e.g. 'uniform:1ms-5ms'", key=what, value=spec)
        low, high = parse_duration(lo, what), parse_duration(hi, what)
        if low > high:
            raise ConfigError("uniform latency low must not exceed high", key=what, value=spec)
        return UniformLatency(low, high)
    if kind == "lognormal":
        median, _, sigma = rest.partition(":")
        try:
            s = float(sigma) if sigma else 0.5
        except ValueError:
            raise ConfigError("lognormal sigma must be a number", key=what, value=spec) from None
        if not math.isfinite(s) or s < 0:
            raise ConfigError("lognormal sigma must be finite and >= 0", key=what, value=spec)
        return LogNormalLatency(parse_duration(median, what), s)
    if not rest:
        return FixedLatency(parse_duration(text, what))
    raise ConfigError("unknown latency model; use fixed:D, uniform:LO-HI or lognormal:MEDIAN[:SIGMA]",
                      key=what, value=spec)
