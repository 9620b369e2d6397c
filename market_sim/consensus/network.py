"""A simulated message network on the discrete-event Kernel: per-link latency, loss, healing partitions, GST.

Model (partial synchrony): before the global stabilisation time `gst` a message may be lost (probability
`loss`) and is dropped while a partition separates its endpoints; from `gst` on nothing is lost and every delay
is capped at `delta`. Partitions must heal by their `end`; the effective GST is never earlier than the last heal.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from market_sim.core.errors import ConfigError
from market_sim.simulation.kernel import Kernel
from market_sim.simulation.latency import (
    FixedLatency, LatencyModel, LogNormalLatency, PairLatency, UniformLatency, parse_latency)

__all__ = ["Network", "Partition", "default_delta", "check_latency"]

Handler = Callable[[str, object], None]


@dataclass(frozen=True, slots=True)
class Partition:
    """Between `start` and `end` (ns) messages only flow inside each group; nodes in no group are isolated."""

    groups: tuple[frozenset[str], ...]
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ConfigError("partition needs 0 <= start <= end (it must heal)", key="partition",
                              value=(self.start, self.end))
        object.__setattr__(self, "groups", tuple(frozenset(g) for g in self.groups))

    def separates(self, a: str, b: str, t: int) -> bool:
        """True if a message from a to b sent at t is cut."""
        if not self.start <= t < self.end:
            return False
        return not any(a in g and b in g for g in self.groups)


def check_latency(model: LatencyModel) -> None:
    """ConfigError for a latency model that could produce negative or undefined delays."""
    if isinstance(model, FixedLatency) and model.delay < 0:
        raise ConfigError("latency must not be negative", key="latency", value=model)
    if isinstance(model, UniformLatency) and not 0 <= model.low <= model.high:
        raise ConfigError("uniform latency needs 0 <= low <= high", key="latency", value=model)
    if isinstance(model, LogNormalLatency) and (model.median < 0 or not math.isfinite(model.sigma) or model.sigma < 0):
        raise ConfigError("lognormal latency needs median >= 0 and sigma >= 0", key="latency", value=model)
    if isinstance(model, PairLatency):
        for m in (model.default, *model.pairs.values()):
            check_latency(m)


def default_delta(model: LatencyModel) -> int:
    """A delay bound Δ for a latency model: the max for fixed/uniform, median·e^(3σ) for log-normal."""
    if isinstance(model, FixedLatency):
        return max(model.delay, 1)
    if isinstance(model, UniformLatency):
        return max(model.high, 1)
    if isinstance(model, LogNormalLatency):
        return max(int(model.median * math.exp(3 * model.sigma)), 1)
    if isinstance(model, PairLatency):
        return max(default_delta(m) for m in (model.default, *model.pairs.values()))
    return 100_000_000


class Network:
    """Delivers messages between named endpoints through the Kernel; same seed, same deliveries."""

    def __init__(self, kernel: Kernel, latency: LatencyModel | str = "fixed:10ms", *, seed: int = 0,
                 loss: float = 0.0, gst: int = 0, delta: int | None = None,
                 partitions: Iterable[Partition] = ()) -> None:
        self.kernel = kernel
        self.latency = parse_latency(latency)
        check_latency(self.latency)
        if not (isinstance(loss, (int, float)) and 0.0 <= loss < 1.0):
            raise ConfigError("must be a probability in [0, 1)", key="loss", value=loss)
        if gst < 0:
            raise ConfigError("must not be negative", key="gst", value=gst)
        self.delta = default_delta(self.latency) if delta is None else delta
        if self.delta <= 0:
            raise ConfigError("must be positive", key="delta", value=delta)
        self.partitions = tuple(partitions)
        self.gst = max([gst, *(p.end for p in self.partitions)])
        self.loss = float(loss)
        self.rng = random.Random(seed)
        self._handlers: dict[str, Handler] = {}
        self.sent: Counter[str] = Counter()   # by message type name
        self.lost = 0
        self.cut = 0

    def attach(self, endpoint: str, handler: Handler) -> None:
        """Deliver messages addressed to `endpoint` to handler(src, msg)."""
        self._handlers[endpoint] = handler

    @property
    def endpoints(self) -> Sequence[str]:
        return tuple(self._handlers)

    def delay(self, src: str, dst: str) -> int | None:
        """Sampled one-way delay for a message sent now, or None if it is lost or cut."""
        now = self.kernel.now
        if now < self.gst:
            for p in self.partitions:
                if p.separates(src, dst, now):
                    self.cut += 1
                    return None
            if self.loss and self.rng.random() < self.loss:
                self.lost += 1
                return None
        d = self.latency.sample(src, dst, self.rng)
        if d < 0:
            raise ConfigError("latency model produced a negative delay", key="latency", value=self.latency)
        return d if now < self.gst else min(d, self.delta)

    def send(self, src: str, dst: str, msg: object, extra_delay: int = 0) -> None:
        """Send `msg` from src to dst; a message to oneself is delivered at once and not counted."""
        if dst == src:
            self.kernel.schedule(0, self._deliver, dst, src, msg)
            return
        self.sent[type(msg).__name__] += 1
        d = self.delay(src, dst)
        if d is not None:
            self.kernel.schedule(d + extra_delay, self._deliver, dst, src, msg)

    def broadcast(self, src: str, msg: object, dsts: Iterable[str] | None = None, extra_delay: int = 0) -> None:
        """Send `msg` to every endpoint in dsts (default: all attached, including src itself)."""
        for dst in (self._handlers if dsts is None else dsts):
            self.send(src, dst, msg, extra_delay)

    def _deliver(self, dst: str, src: str, msg: object) -> None:
        handler = self._handlers.get(dst)
        if handler is not None:
            handler(src, msg)

    @property
    def messages(self) -> int:
        """Messages sent between distinct endpoints (delivered or not)."""
        return sum(self.sent.values())
