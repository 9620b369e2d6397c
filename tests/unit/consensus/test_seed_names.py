"""The seed's names stay importable: ConsensusNode, and MajorityConsensus as the seed's name of MajorityVote."""

from __future__ import annotations

import market_sim.consensus as consensus
from market_sim.consensus.protocols import PROTOCOL_TYPES, MajorityVote


def test_consensus_node_is_exported() -> None:
    from market_sim.consensus import ConsensusNode
    from market_sim.consensus.node import ConsensusNode as Node

    assert ConsensusNode is Node
    assert "ConsensusNode" in consensus.__all__


def test_majority_consensus_is_the_seed_alias_of_majority_vote() -> None:
    from market_sim.consensus import MajorityConsensus

    assert MajorityConsensus is MajorityVote is PROTOCOL_TYPES["majority"]
    assert {"MajorityConsensus", "MajorityVote"} <= set(consensus.__all__)
