"""Consensus protocols behind one interface: majority vote (seed), BFT quorum certificates, Streamlet, and Raft
(crash faults only, for comparison)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from market_sim.core.registry import Registry
from market_sim.consensus.protocols.base import Protocol
from market_sim.consensus.protocols.bft import BftQuorum
from market_sim.consensus.protocols.majority import MajorityConsensus, MajorityVote
from market_sim.consensus.protocols.raft import Raft
from market_sim.consensus.protocols.streamlet import Streamlet

if TYPE_CHECKING:
    from market_sim.consensus.cluster import Cluster

__all__ = ["Protocol", "BftQuorum", "MajorityVote", "MajorityConsensus", "Raft", "Streamlet", "PROTOCOL_TYPES", "make_protocol"]

# Every consensus protocol by name (a plug-in registers more with PROTOCOL_TYPES.register(cls)); ConsensusConfig
# and the [consensus] section take their choices from it.
PROTOCOL_TYPES: Registry[type[Protocol]] = Registry("protocol", name_attr="name")
for _p, _help in (
        (MajorityVote, "majority vote of the validators on each batch; safe while fewer than n/2 are faulty"),
        (BftQuorum, "leader proposes, 2f+1 signatures certify each batch (quorum certificates); safe for f < n/3"),
        (Streamlet, "Streamlet: epochs with rotating leaders, notarized chains, finality on three in a row; f < n/3"),
        (Raft, "Raft: leader election and log replication; crash faults only, f < n/2 (for comparison)")):
    PROTOCOL_TYPES.register(_p, help=_help)


def make_protocol(name: str, cluster: Cluster) -> Protocol:
    """The protocol called `name`, bound to a cluster."""
    return PROTOCOL_TYPES.get(name, "protocol")(cluster)
