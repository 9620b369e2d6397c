"""Safety of the BFT protocols with f Byzantine of n = 3f+1: no invalid trade final, no conflicting honest logs."""

from __future__ import annotations

import random

import pytest

from market_sim.consensus import BYZANTINE_BEHAVIOURS, Cluster, ConsensusConfig, Partition
from market_sim.consensus.workload import make_workload

SEEDS = 200
# The default run keeps a slice of the sweep for every protocol, size and behaviour: seeds 0-11 cover each latency
# model and batch size four times, three partitioned seeds (3, 7, 11) and two lossy ones (4, 9). The `sweep` run (CI,
# `make test-extended`) covers the remaining seeds.
QUICK_SEEDS = range(12)
SWEEP_SEEDS = range(len(QUICK_SEEDS), SEEDS)
LATENCIES = ("uniform:1ms-10ms", "lognormal:5ms:0.8", "fixed:3ms")


def _run(protocol: str, n: int, behaviour: str, seed: int):
    w = make_workload(3, seed=seed, invalid_rate=0.34)
    names = [f"v{i}" for i in range(n)]
    mixed = {}
    if behaviour == "mixed":  # f Byzantine nodes, each with its own behaviour
        rng = random.Random(seed)
        mixed = {i: rng.choice(BYZANTINE_BEHAVIOURS) for i in rng.sample(range(n), (n - 1) // 3)}
    partitions = ()
    if seed % 4 == 3:  # some seeds also split the committee for a while
        partitions = (Partition((frozenset(names[: n // 2]), frozenset(names[n // 2:])), 0, 40_000_000),)
    cfg = ConsensusConfig(nodes=n, byzantine=0 if mixed else (n - 1) // 3, behaviours=mixed,
                          behaviour="crashed" if mixed else behaviour, protocol=protocol,
                          latency=LATENCIES[seed % 3], loss=0.1 if seed % 5 == 4 else 0.0, gst="30ms",
                          partitions=partitions, seed=seed, batch_size=1 + seed % 3, horizon="30s")
    return w, Cluster(cfg, accounts=w.accounts, balances=w.balances(), pretrade=False).run(w.submissions)


@pytest.mark.parametrize("seeds", [pytest.param(QUICK_SEEDS, id="quick"),
                                   pytest.param(SWEEP_SEEDS, id="sweep", marks=pytest.mark.sweep)])
@pytest.mark.parametrize("protocol", ["bft", "streamlet"])
@pytest.mark.parametrize("n", [4, 7, 10])
@pytest.mark.parametrize("behaviour", [b.value for b in BYZANTINE_BEHAVIOURS] + ["mixed"])
def test_no_invalid_or_conflicting_finality(protocol: str, n: int, behaviour: str, seeds: range) -> None:
    finalized = 0
    for seed in seeds:
        w, result = _run(protocol, n, behaviour, seed)
        problems = result.safety_problems(w.valid)
        assert problems == [], f"seed {seed}: {problems}"
        finalized += result.finalized
        # liveness comes along: every valid trade is final at every honest node
        for node in result.honest:
            assert {t.trade_id for t in node.log.trades} == set(w.valid), f"seed {seed}: {node.name} incomplete"
    assert finalized == sum(len(make_workload(3, seed=s, invalid_rate=0.34).valid) for s in seeds)


@pytest.mark.sweep
@pytest.mark.parametrize("protocol", ["bft", "streamlet", "majority"])
def test_randomised_stress(protocol: str) -> None:
    """Longer runs: 4-12 trades, random partitions, loss, batch sizes, pre-trade votes on or off (~1 min each)."""
    for n in (4, 7):
        for behaviour in [b.value for b in BYZANTINE_BEHAVIOURS]:
            for seed in range(1000, 1150):
                rng = random.Random(seed)
                w = make_workload(rng.randint(4, 12), seed=seed, invalid_rate=0.3,
                                  spacing=rng.choice([0, 1_000_000, 20_000_000]))
                names = [f"v{i}" for i in range(n)]
                rng.shuffle(names)
                k = rng.randint(1, n - 1)
                partitions = (Partition((frozenset(names[:k]), frozenset(names[k:])), rng.randint(0, 50) * 10**6,
                                        rng.randint(60, 400) * 10**6),) if rng.random() < 0.3 else ()
                f = (n - 1) // 3 if protocol != "majority" else 1
                cfg = ConsensusConfig(nodes=n, byzantine=f, behaviour=behaviour, protocol=protocol,
                                      latency=rng.choice(LATENCIES), loss=rng.choice([0, 0, 0.1, 0.3]),
                                      gst=rng.choice(["50ms", "200ms"]), partitions=partitions, seed=seed,
                                      batch_size=rng.randint(1, 5), horizon="60s",
                                      behaviours={0: "honest"} if protocol == "majority" else {})
                r = Cluster(cfg, accounts=w.accounts, balances=w.balances(),
                            pretrade=rng.random() < 0.5).run(w.submissions)
                assert r.safety_problems(w.valid) == [], (behaviour, n, seed)
                for node in r.honest:
                    assert set(w.valid) <= set(node.log.trade_ids()), (behaviour, n, seed, node.name)
