"""Protocol behaviour on the simulated network: the f+1 threshold is tight, liveness after partitions heal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.consensus import BalanceView, Cluster, ConsensusConfig, Partition, Submission, TradeClaim
from market_sim.consensus.protocols.bft import BatchSignature, Proposal, RoundVote
from market_sim.consensus.signing import vote_digest
from market_sim.consensus.workload import make_workload

INST = Instrument("XYZ/USD", tick_size=Decimal("0.01"), lot_size=Decimal("1"), base_decimals=0, quote_decimals=2)


def _double_spend() -> tuple[list[TradeClaim], BalanceView]:
    """Two trades each spending all of acct0's 1000 USD units: valid alone, not both."""
    claims = []
    for i, seller in ((1, "acct1"), (2, "acct2")):
        buy = NewOrder(10 * i, "acct0", INST.symbol, Side.BUY, 10, price=100)
        sell = NewOrder(10 * i + 1, seller, INST.symbol, Side.SELL, 10, price=100)
        claims.append(TradeClaim(Trade(0, i, INST.symbol, 100, 10, buy.order_id, sell.order_id, "acct0", seller,
                                       Side.BUY), buy, sell))
    accounts = ("acct0", "acct1", "acct2")
    balances = BalanceView([INST], {**{(a, "USD"): 1000 for a in accounts}, **{(a, "XYZ"): 100 for a in accounts}})
    return claims, balances


def _collude(colluders: list[int]) -> Cluster:
    """n = 4 BFT quorum (quorum 3); the colluders feed each of the two honest nodes a different batch for height 1,
    with their own signed prevotes, precommits and batch signatures, while the honest nodes are partitioned."""
    claims, balances = _double_spend()
    behaviours = {i: "crashed" for i in colluders}  # the protocol code stays quiet for them; the script acts
    cfg = ConsensusConfig(nodes=4, behaviours=behaviours, protocol="bft", latency="fixed:10ms", allow_unsafe=True,
                          partitions=(Partition((frozenset({"v0", "v1", "v2"}), frozenset({"v3", "v1", "v2"})),
                                                0, 10**9),), horizon="500ms")
    cluster = Cluster(cfg, accounts=("acct0", "acct1", "acct2"), balances=balances, pretrade=False)
    cluster.submit(Submission(0, c) for c in claims)
    honest = [n for n in cluster.nodes if n.index not in colluders]
    targets = dict(zip([n.name for n in honest if n.name in ("v0", "v3")], claims))

    def attack() -> None:
        for dst, claim in targets.items():
            block = cluster.nodes[1].log.next_block([claim.trade])
            digest = block.digest(cluster.domain)
            cluster.network.send("v1", dst, Proposal(1, 0, block, (claim,)))  # v1 leads height 1, round 0
            for i in colluders:
                key = cluster.nodes[i].key
                for kind in ("prevote", "precommit"):
                    sig = key.sign(vote_digest(cluster.domain, kind, 0, digest))
                    cluster.network.send(f"v{i}", dst, RoundVote(kind, 1, 0, digest, i, sig, block, (claim,)))
                cluster.network.send(f"v{i}", dst, BatchSignature(1, digest, i, key.sign(digest)))

    cluster.kernel.schedule_at(15_000_000, attack)  # after the feed, before any timeout
    cluster.kernel.run(until=3_000_000_000)  # the partition heals at 1 s
    return cluster


def test_f_plus_one_colluders_certify_a_double_spend() -> None:
    cluster = _collude([1, 2])  # f + 1 = 2 of n = 4
    v0, v3 = cluster.nodes[0], cluster.nodes[3]
    assert v0.log.height == v3.log.height == 1
    b0, b3 = v0.log.blocks[0], v3.log.blocks[0]
    assert b0.hash != b3.hash and b0.parent_hash == b3.parent_hash  # two certified batches for sequence 1
    for block in (b0, b3):  # each certificate passes the on-chain check: 3 distinct validators' signatures
        assert block.qc.problems(cluster.validators, cluster.quorum) == []
    combined = BalanceView([INST], {("acct0", "USD"): 1000})
    for t in (*b0.trades, *b3.trades):
        combined.apply(t)
    assert combined.balance("acct0", "USD") == -1000  # the second trade is invalid: acct0 paid twice


def test_f_colluders_cannot() -> None:
    cluster = _collude([1])  # f = 1: the same script with one liar; v2 is honest and reaches both sides
    logs = [n.log for n in cluster.nodes if n.honest]
    assert all(log.height == 1 and log.head_hash == logs[0].head_hash for log in logs)  # one batch, everywhere
    assert len(logs[0].trades) == 1  # the other trade of the double spend was refused as insolvent


@pytest.mark.parametrize("protocol", ["streamlet", "bft", "majority"])
@pytest.mark.parametrize("n", [4, 7])
def test_liveness_after_partition_heals(protocol: str, n: int) -> None:
    w = make_workload(12, seed=n, invalid_rate=0.2, spacing=20_000_000)
    names = [f"v{i}" for i in range(n)]
    split = Partition((frozenset(names[: n // 2]), frozenset(names[n // 2:])), 0, 2_000_000_000)
    cfg = ConsensusConfig(nodes=n, byzantine=1, behaviour="crashed" if protocol == "majority" else "equivocate",
                          protocol=protocol, latency="lognormal:20ms", loss=0.2, partitions=(split,), seed=n,
                          batch_size=4, behaviours={} if protocol != "majority" else {0: "honest"})
    result = Cluster(cfg, accounts=w.accounts, balances=w.balances()).run(w.submissions)
    assert result.safety_problems(w.valid) == []
    for node in result.honest:
        assert {t.trade_id for t in node.log.trades} == set(w.valid)
    assert len(result.rejected()) == len(w.invalid)
    last = max(result.certified_at.values())
    assert last > split.end  # nothing could be final while the committee was split in halves
    summary = result.summary()
    assert summary["gst_ms"] == 2000 and 1 <= summary["rounds_after_gst"] <= 40
