"""Clocks that drive Kernel.run: as fast as possible (no pacer) or paced to the wall clock with a speed factor."""

from __future__ import annotations

import time
from collections.abc import Callable

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError

__all__ = ["RealTimePacer", "make_pacer"]


class RealTimePacer:
    """Sleeps so that simulated time t is reached at wall time start + (t - t0) / speed.

    `time_fn` and `sleep_fn` are injectable so the arithmetic can be tested without waiting. The first call
    anchors simulated time to the wall clock. If the simulation falls behind it does not sleep, and `lag`
    records the largest delay (wall seconds) seen.
    """

    __slots__ = ("speed", "_time", "_sleep", "_anchor_sim", "_anchor_wall", "lag", "slept")

    def __init__(self, speed: float, *, time_fn: Callable[[], float] = time.monotonic,
                 sleep_fn: Callable[[float], None] = time.sleep) -> None:
        if not speed > 0:
            raise ConfigError("real-time speed must be positive", key="realtime", value=speed)
        self.speed = float(speed)
        self._time = time_fn
        self._sleep = sleep_fn
        self._anchor_sim: int | None = None
        self._anchor_wall = 0.0
        self.lag = 0.0
        self.slept = 0.0

    def anchor(self, sim_time: int) -> None:
        """Tie simulated time `sim_time` to the wall clock now."""
        self._anchor_sim = sim_time
        self._anchor_wall = self._time()

    def wall_deadline(self, t: int) -> float:
        """Wall-clock time at which simulated time t is due."""
        assert self._anchor_sim is not None
        return self._anchor_wall + (t - self._anchor_sim) / NS_PER_SECOND / self.speed

    def __call__(self, t: int) -> None:
        if self._anchor_sim is None:
            self.anchor(t)
            return
        delay = self.wall_deadline(t) - self._time()
        if delay > 0:
            self._sleep(delay)
            self.slept += delay
        elif -delay > self.lag:
            self.lag = -delay


def make_pacer(speed: float | None) -> RealTimePacer | None:
    """None (as fast as possible) when speed is None, else a RealTimePacer."""
    return None if speed is None else RealTimePacer(speed)
