"""VoteRecorder: the votes a Cluster's validators send, per protocol, as flat records (who voted what)."""

from __future__ import annotations

import pytest

from market_sim.consensus import Cluster, ConsensusConfig
from market_sim.consensus.votes import VoteRecorder
from market_sim.consensus.workload import make_workload

MS = 1_000_000


def _run(protocol: str, **config: object) -> tuple[Cluster, VoteRecorder, list]:
    w = make_workload(12, seed=3, invalid_rate=0.0, spacing=2 * MS)
    cfg = ConsensusConfig(**{"nodes": 4, "protocol": protocol, "latency": "fixed:10ms", "batch_size": 4,
                             "horizon": "20s", "seed": 3, **config})
    cluster = Cluster(cfg, accounts=w.accounts, balances=w.balances(), pretrade=False)
    heard: list = []
    recorder = VoteRecorder(cluster, listener=heard.append)
    cluster.run(w.submissions)
    return cluster, recorder, heard


def test_bft_votes_are_prevotes_precommits_and_signatures_of_the_certified_digests():
    cluster, rec, heard = _run("bft")
    log = cluster.nodes[0].log
    assert log.height >= 3 and heard == list(rec.records) and rec.total == len(heard)
    assert {r.kind for r in rec.records} == {"prevote", "precommit", "sign"}
    assert all(r.protocol == "bft" and r.approve and r.to is None for r in rec.records)
    for block in log.blocks:  # every certified block: each validator prevoted, precommitted and signed its digest
        digest = "0x" + block.digest(cluster.domain).hex()
        signed = {r.voter for r in rec.records if r.kind == "sign" and r.height == block.height
                  and r.digest == digest}
        assert signed == {"v0", "v1", "v2", "v3"}
        assert {r.address for r in rec.records if r.kind == "sign" and r.height == block.height} == \
            {n.address for n in cluster.nodes}
    assert [r.ts for r in rec.records] == sorted(r.ts for r in rec.records)


def test_a_crashed_validator_casts_no_vote_and_an_equivocator_reaches_only_some_peers():
    cluster, rec, _ = _run("streamlet", byzantine=1, behaviour="crashed")
    crashed = next(n.name for n in cluster.nodes if not n.honest)
    assert crashed not in {r.voter for r in rec.records} and rec.records
    cluster, rec, _ = _run("streamlet", byzantine=1, behaviour="equivocate")
    liar = next(n.name for n in cluster.nodes if not n.honest)
    partial = {r.voter for r in rec.records if r.kind == "vote" and r.to is not None}
    assert partial == {liar}


@pytest.mark.parametrize("protocol, kinds", [("majority", {"reply"}), ("raft", {"election"})])
def test_other_protocols_votes(protocol, kinds):
    cluster, rec, _ = _run(protocol)
    assert kinds <= {r.kind for r in rec.records}
    assert all(r.voter in {n.name for n in cluster.nodes} for r in rec.records)
