"""Market hours: a daily open/close schedule mapped onto simulated time (t = 0 is `start` on day 0)."""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError

__all__ = ["SessionSchedule", "parse_time_of_day", "DAY_NS"]

DAY_NS = 24 * 3600 * NS_PER_SECOND


def parse_time_of_day(text: object, key: str) -> int:
    """'09:30' or '09:30:15' into ns since midnight."""
    parts = str(text).split(":") if isinstance(text, str) else []
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise ConfigError("must be a time of day such as '09:30'", key=key, value=text)
    h, m, s = (int(p) for p in (parts + ["0"])[:3])
    if h > 24 or m > 59 or s > 59 or (h == 24 and (m or s)):
        raise ConfigError("must be a time of day between 00:00 and 24:00", key=key, value=text)
    return (h * 3600 + m * 60 + s) * NS_PER_SECOND


@dataclass(frozen=True, slots=True)
class SessionSchedule:
    """Trading hours [open, close) every day; simulated time 0 is `start` ns after midnight of day 0."""

    open: int
    close: int
    start: int

    def __post_init__(self) -> None:
        if not 0 <= self.open < self.close <= DAY_NS:
            raise ConfigError("open must be before close", key="session.close", value=self.close)

    def is_open(self, t: int) -> bool:
        """Whether the market is open at simulated time t."""
        tod = (self.start + t) % DAY_NS
        return self.open <= tod < self.close

    def next_open(self, t: int) -> int:
        """Earliest simulated time >= t at which the market is open."""
        if self.is_open(t):
            return t
        wall = self.start + t
        day, tod = divmod(wall, DAY_NS)
        if tod >= self.close:
            day += 1
        return day * DAY_NS + self.open - self.start

    def closes_until(self, end: int) -> list[int]:
        """Simulated times of every session close in (0, end]."""
        out = []
        day = 0
        while True:
            t = day * DAY_NS + self.close - self.start
            if t > end:
                return out
            if t > 0:
                out.append(t)
            day += 1
