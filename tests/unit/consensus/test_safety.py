"""Safety of the BFT protocols with f Byzantine of n = 3f+1: no invalid trade final, no conflicting honest logs."""

from __future__ import annotations

import pytest

from market_sim.consensus import BYZANTINE_BEHAVIOURS, Cluster, ConsensusConfig, Partition
from market_sim.consensus.workload import make_workload

SEEDS = 200
LATENCIES = ("uniform:1ms-10ms", "lognormal:5ms:0.8", "fixed:3ms")


def _run(protocol: str, n: int, behaviour: str, seed: int):
    w = make_workload(3, seed=seed, invalid_rate=0.34)
    names = [f"v{i}" for i in range(n)]
    partitions = ()
    if seed % 4 == 3:  # some seeds also split the committee for a while
        partitions = (Partition((frozenset(names[: n // 2]), frozenset(names[n // 2:])), 0, 40_000_000),)
    cfg = ConsensusConfig(nodes=n, byzantine=(n - 1) // 3, behaviour=behaviour, protocol=protocol,
                          latency=LATENCIES[seed % 3], loss=0.1 if seed % 5 == 4 else 0.0,
                          partitions=partitions, seed=seed, batch_size=1 + seed % 3, horizon="30s")
    return w, Cluster(cfg, accounts=w.accounts, balances=w.balances(), pretrade=False).run(w.submissions)


@pytest.mark.parametrize("protocol", ["bft", "streamlet"])
@pytest.mark.parametrize("n", [4, 7, 10])
@pytest.mark.parametrize("behaviour", [b.value for b in BYZANTINE_BEHAVIOURS])
def test_no_invalid_or_conflicting_finality(protocol: str, n: int, behaviour: str) -> None:
    finalized = 0
    for seed in range(SEEDS):
        w, result = _run(protocol, n, behaviour, seed)
        problems = result.safety_problems(w.valid)
        assert problems == [], f"seed {seed}: {problems}"
        finalized += result.finalized
        # liveness comes along: every valid trade is final at every honest node
        for node in result.honest:
            assert {t.trade_id for t in node.log.trades} == set(w.valid), f"seed {seed}: {node.name} incomplete"
    assert finalized == sum(len(make_workload(3, seed=s, invalid_rate=0.34).valid) for s in range(SEEDS))
