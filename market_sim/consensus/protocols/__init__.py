"""Consensus protocols behind one interface: majority vote (seed), BFT quorum certificates, Streamlet, and Raft
(crash faults only, for comparison)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from market_sim.core.errors import ConfigError
from market_sim.consensus.protocols.base import Protocol
from market_sim.consensus.protocols.bft import BftQuorum
from market_sim.consensus.protocols.majority import MajorityConsensus, MajorityVote
from market_sim.consensus.protocols.raft import Raft
from market_sim.consensus.protocols.streamlet import Streamlet

if TYPE_CHECKING:
    from market_sim.consensus.cluster import Cluster

__all__ = ["Protocol", "BftQuorum", "MajorityVote", "MajorityConsensus", "Raft", "Streamlet", "PROTOCOL_TYPES", "make_protocol"]

PROTOCOL_TYPES: dict[str, type[Protocol]] = {p.name: p for p in (MajorityVote, BftQuorum, Streamlet, Raft)}


def make_protocol(name: str, cluster: Cluster) -> Protocol:
    """The protocol called `name`, bound to a cluster."""
    try:
        return PROTOCOL_TYPES[name](cluster)
    except KeyError:
        raise ConfigError("unknown protocol; choose one of " + ", ".join(PROTOCOL_TYPES), key="protocol",
                          value=name) from None
