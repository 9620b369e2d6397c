from __future__ import annotations

import pytest

from market_sim.core.errors import ConfigError, ConsensusError
from market_sim.consensus import Behaviour, ConsensusConfig
from market_sim.simulation.latency import FixedLatency


def test_bad_configs_name_the_problem() -> None:
    with pytest.raises(ConsensusError, match="f=2 needs n >= 7"):
        ConsensusConfig(nodes=6, byzantine=2, protocol="bft")
    with pytest.raises(ConsensusError, match="n >= 4"):
        ConsensusConfig(nodes=3, byzantine=1, protocol="streamlet")
    with pytest.raises(ConfigError, match="unknown behaviour"):
        ConsensusConfig(nodes=4, byzantine=1, behaviour="sneaky")
    with pytest.raises(ConfigError, match="unknown protocol"):
        ConsensusConfig(protocol="paxos")
    with pytest.raises(ConfigError, match="latency"):
        ConsensusConfig(latency="fixed:-3ms")
    with pytest.raises(ConsensusError, match="majority"):
        ConsensusConfig(nodes=4, byzantine=2, protocol="majority")
    assert ConsensusConfig(nodes=7, byzantine=2).quorum == 5
    assert ConsensusConfig(nodes=10, protocol="streamlet").quorum == 7
    assert ConsensusConfig(nodes=7, protocol="majority").quorum == 4
    with pytest.raises(ConfigError, match="negative"):
        ConsensusConfig(latency=FixedLatency(-1))
    with pytest.raises(ConfigError, match="stabilisation"):
        ConsensusConfig(loss=0.1)
    assert ConsensusConfig(loss=0.1, gst="1s").gst == 10**9


def test_byzantine_nodes_are_chosen_by_the_seed_and_overrides_apply() -> None:
    a = ConsensusConfig(nodes=7, byzantine=2, behaviour="delayed", seed=1).assignment()
    assert a == ConsensusConfig(nodes=7, byzantine=2, behaviour="delayed", seed=1).assignment()
    assert sorted(a).count(Behaviour.DELAYED) == 2
    b = ConsensusConfig(nodes=7, behaviours={0: "silent", 3: "approve_all"}).assignment()
    assert b == [Behaviour.CRASHED, *[Behaviour.HONEST] * 2, Behaviour.APPROVE_ALL, *[Behaviour.HONEST] * 3]
    with pytest.raises(ConfigError, match="node index"):
        ConsensusConfig(nodes=4, behaviours={4: "crashed"})
