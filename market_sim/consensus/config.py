"""Committee configuration: size, Byzantine members and their behaviours, protocol, network, batching."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from market_sim.core.defaults import DEFAULT_VALIDATORS
from market_sim.core.errors import ConfigError, ConsensusError
from market_sim.consensus.network import Partition, check_latency
from market_sim.consensus.node import Behaviour, parse_behaviour
from market_sim.simulation.latency import LatencyModel, parse_duration, parse_latency

__all__ = ["ConsensusConfig", "PROTOCOLS", "BFT_PROTOCOLS"]

from market_sim.consensus.protocols import PROTOCOL_TYPES  # noqa: E402

# The shipped protocols' names, derived from the registry (ConsensusConfig itself checks the live registry).
PROTOCOLS = PROTOCOL_TYPES.names()
BFT_PROTOCOLS = tuple(n for n, p in PROTOCOL_TYPES.all().items() if p.tolerates == "third")
CRASH_BEHAVIOURS = (Behaviour.HONEST, Behaviour.CRASHED, Behaviour.DELAYED)  # all that raft tolerates


@dataclass(frozen=True, slots=True)
class ConsensusConfig:
    """Everything that defines a committee run; validated on construction (ConfigError / ConsensusError)."""

    nodes: int = DEFAULT_VALIDATORS
    byzantine: int = 0
    behaviour: str | Behaviour = Behaviour.CRASHED
    behaviours: Mapping[int, str | Behaviour] = field(default_factory=dict)  # node index -> behaviour (overrides)
    protocol: str = "bft"
    latency: str | LatencyModel = "fixed:10ms"
    loss: float = 0.0
    gst: int | str = 0
    partitions: tuple[Partition, ...] = ()
    delta: int | str | None = None       # message delay bound after GST (default from the latency model)
    batch_size: int = 100
    seed: int = 0
    key_seed: int = 0
    horizon: int | str = "120s"          # simulated time limit of a network run
    allow_unsafe: bool = False           # permit more Byzantine nodes than the protocol tolerates (threshold demos)

    def __post_init__(self) -> None:
        for name in ("nodes", "byzantine", "batch_size", "seed", "key_seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError("must be an integer", key=name, value=v)
        if self.nodes < 1:
            raise ConfigError("must be at least 1", key="nodes", value=self.nodes)
        if self.batch_size < 1:
            raise ConfigError("must be at least 1", key="batch_size", value=self.batch_size)
        if not 0 <= self.byzantine <= self.nodes:
            raise ConfigError(f"must be between 0 and nodes={self.nodes}", key="byzantine", value=self.byzantine)
        protocol = str(self.protocol).lower()
        if protocol not in PROTOCOL_TYPES:
            raise ConfigError("unknown protocol; choose one of " + ", ".join(PROTOCOL_TYPES), key="protocol",
                              value=self.protocol)
        tolerates = PROTOCOL_TYPES.get(protocol).tolerates
        object.__setattr__(self, "protocol", protocol)
        object.__setattr__(self, "behaviour", parse_behaviour(self.behaviour))
        behaviours = {}
        for i, b in dict(self.behaviours).items():
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.nodes:
                raise ConfigError(f"node index must be in 0..{self.nodes - 1}", key="behaviours", value=i)
            behaviours[i] = parse_behaviour(b)
        object.__setattr__(self, "behaviours", behaviours)
        object.__setattr__(self, "latency", parse_latency(self.latency))
        check_latency(self.latency)
        object.__setattr__(self, "gst", parse_duration(self.gst, "gst"))
        object.__setattr__(self, "horizon", parse_duration(self.horizon, "horizon"))
        if self.delta is not None:
            object.__setattr__(self, "delta", parse_duration(self.delta, "delta"))
        object.__setattr__(self, "partitions", tuple(self.partitions))
        if self.loss and not max([self.gst, *(p.end for p in self.partitions)]):
            raise ConfigError("messages are only lost before the global stabilisation time: set gst (or a "
                              "partition) as well", key="loss", value=self.loss)
        assignment = self.assignment()
        faulty = sum(1 for b in assignment if b is not Behaviour.HONEST)
        if tolerates == "crash":  # Raft's code has no Byzantine behaviours to play, so no allow_unsafe here
            for b in assignment:
                if b not in CRASH_BEHAVIOURS:
                    raise ConsensusError(f"{protocol} tolerates crash faults only; use "
                                         f"{' or '.join(n for n in PROTOCOL_TYPES if PROTOCOL_TYPES.get(n).tolerates == 'third')} for {b}")
        if not self.allow_unsafe:
            if tolerates == "third" and 3 * faulty >= self.nodes:
                raise ConsensusError(
                    f"{protocol} tolerates f Byzantine nodes only when f < n/3 (n >= 3f+1): "
                    f"f={faulty} needs n >= {3 * faulty + 1}, got n={self.nodes}")
            if tolerates == "half" and 2 * faulty >= self.nodes:
                raise ConsensusError(f"majority vote needs fewer than n/2 faulty nodes: f={faulty}, n={self.nodes}")
            if tolerates == "crash" and 2 * faulty >= self.nodes:
                raise ConsensusError(
                    f"{protocol} tolerates f crashed nodes only when f < n/2 (n >= 2f+1): "
                    f"f={faulty} needs n >= {2 * faulty + 1}, got n={self.nodes}")

    @property
    def f(self) -> int:
        """Faults the quorum is sized for: floor((n - 1) / 3)."""
        return (self.nodes - 1) // 3

    @property
    def quorum(self) -> int:
        """Signatures a certificate needs: 2f+1 for n = 3f+1 (BFT), a strict majority for 'majority' and 'raft'
        (Raft commits on a majority of n = 2f+1 and its certificate carries that majority's signatures)."""
        n = self.nodes
        if PROTOCOL_TYPES.get(self.protocol).tolerates in ("half", "crash"):
            return n // 2 + 1
        if self.protocol == "streamlet":
            return math.ceil(2 * n / 3)
        return math.ceil((n + self.f + 1) / 2)

    def assignment(self) -> list[Behaviour]:
        """Behaviour of every node: `byzantine` nodes picked by the seed get `behaviour`, then overrides apply."""
        out = [Behaviour.HONEST] * self.nodes
        for i in random.Random(f"byzantine:{self.seed}").sample(range(self.nodes), self.byzantine):
            out[i] = self.behaviour
        for i, b in self.behaviours.items():
            out[i] = b
        return out
