"""Batch certification by the networked protocol on the kernel (issue 13): log-follower and certify-this-batch modes,
settlement hooks, requeue after expiry, and faults on the clock (Byzantine leader + healing partition, loss,
validator set change), with Raft as the crash-only comparison."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from market_sim.core.errors import ConsensusError
from market_sim.consensus.certification import BatchCertifier, CertLog, NetworkCertifier
from market_sim.consensus.cluster import Reconfiguration
from market_sim.consensus.config import ConsensusConfig
from market_sim.consensus.log import LogBlock, QuorumCertificate, TradeLog
from market_sim.consensus.network import Partition
from market_sim.consensus.signing import GENESIS_HASH
from market_sim.consensus.workload import make_workload

MS = 1_000_000
SEC = 1_000_000_000


def _follower(trades: int = 40, *, spacing: int = 2 * MS, **config: object):
    w = make_workload(trades, seed=5, invalid_rate=0.0, spacing=spacing)
    cfg = ConsensusConfig(**{"nodes": 4, "protocol": "bft", "latency": "fixed:10ms", "batch_size": 8,
                             "horizon": "30s", "seed": 5, **config})
    got: list[LogBlock] = []
    c = NetworkCertifier(cfg, accounts=w.accounts, balances=w.balances(), pretrade=False, on_certified=got.append,
                         header=lambda h: (1_000 + h, 2_000 + h))
    c.add(w.submissions)
    return w, c, got


def _once(c: NetworkCertifier, valid: dict) -> None:
    counts = c.certified_trade_ids()
    assert set(counts) == set(valid)
    assert set(counts.values()) == {1}
    assert c.summary()["safety_problems"] == []
    for node in c.nodes:
        if node.honest:
            assert node.log.verify().ok


def test_follower_hands_each_certified_block_to_the_callback_in_order_with_the_header_fields():
    w, c, got = _follower()
    c.run()
    assert [b.height for b in got] == list(range(1, len(got) + 1))
    assert all((b.state_block, b.expires_at) == (1_000 + b.height, 2_000 + b.height) for b in got)
    assert all(b.qc is not None and not b.qc.problems(c.validators_at(b.height), 3) for b in got)
    # handed over when the first honest node holds the certificate
    assert [s.certified_at for s in c.batches] == [c.cluster.height_certified_at[b.height] for b in got]
    assert all(s.latency > 0 and s.messages > 0 for s in c.batches)
    row = c.rows()[0]
    assert row == {"height": 1, "trades": got[0].trades.__len__(), "requeued": 0, "ready_ns": c.batches[0].ready_at,
                   "certified_ns": c.batches[0].certified_at, "latency_ms": c.batches[0].latency / 1e6,
                   "messages": c.batches[0].messages}
    assert sum(r["messages"] for r in c.rows()) <= c.cluster.network.messages
    _once(c, w.valid)


@pytest.mark.parametrize("protocol", ["streamlet", "majority"])
def test_follower_with_other_protocols(protocol):
    w, c, got = _follower(protocol=protocol, behaviours={2: "malicious-leader"} if protocol == "streamlet" else {})
    c.run()
    assert [b.height for b in got] == list(range(1, len(got) + 1))
    assert all((b.state_block, b.expires_at) == (1_000 + b.height, 2_000 + b.height) for b in got)
    _once(c, w.valid)


def test_same_seed_same_certification():
    runs = []
    for _ in range(2):
        _, c, got = _follower(loss=0.1, gst="1s")
        c.run()
        runs.append(([(s.height, s.trades, s.certified_at, s.messages) for s in c.batches], [b.hash for b in got]))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("protocol", ["bft", "streamlet"])
def test_check_hook_refusal_stalls_certification_until_the_validators_accept_the_header(protocol):
    w = make_workload(20, seed=6, invalid_rate=0.0, spacing=MS)
    cfg = ConsensusConfig(nodes=4, protocol=protocol, latency="fixed:10ms", batch_size=50, horizon="30s", seed=6)
    clock = []

    def check(block: LogBlock) -> str | None:
        # the validators' chain view lags until 1 s: they cannot read balances at the stated block before then
        if clock[0]() < SEC:
            return f"state_block {block.state_block} is not yet visible"
        return None if block.expires_at > block.state_block else "expiry: expires_at must be after state_block"

    c = NetworkCertifier(cfg, accounts=w.accounts, balances=w.balances(), pretrade=False,
                         header=lambda h: (10, 40), check=check)
    clock.append(lambda: c.kernel.now)
    c.add(w.submissions)
    c.run()
    assert c.batches[0].certified_at > SEC
    assert all((b.state_block, b.expires_at) == (10, 40) for b in c.blocks)
    _once(c, w.valid)


@pytest.mark.parametrize("protocol", ["bft", "streamlet", "raft"])
def test_byzantine_leader_plus_partition_that_heals_stalls_then_resumes(protocol):
    # v1 is a malicious leader (raft, crash faults only: v1 crashed); the committee is split 2 | 2 from 0.3 s to
    # 2.5 s: no side has a quorum (3 of 4)
    names = ("v0", "v1", "v2", "v3")
    part = Partition((frozenset(names[:2]), frozenset(names[2:])), 300 * MS, 2_500 * MS)
    w = make_workload(60, seed=7, invalid_rate=0.0, spacing=50 * MS)  # trades arrive 0 .. 3 s
    cfg = ConsensusConfig(nodes=4, protocol=protocol, latency="fixed:10ms", batch_size=5, horizon="30s", seed=7,
                          behaviours={1: "malicious-leader" if protocol != "raft" else "crashed"}, partitions=(part,))
    c = NetworkCertifier(cfg, accounts=w.accounts, balances=w.balances(), pretrade=False)
    c.add(w.submissions)
    c.run()
    times = [s.certified_at for s in c.batches]
    assert any(t < 300 * MS for t in times)                        # certifying before the split
    assert not any(300 * MS + 50 * MS < t < 2_500 * MS for t in times)   # stalled while split
    assert any(t >= 2_500 * MS for t in times)                     # resumed after it healed
    (start, end), = c.stalls(longer_than=SEC)
    assert start < 350 * MS and end >= 2_500 * MS
    _once(c, w.valid)                                              # no safety violation, every trade once


@pytest.mark.parametrize("protocol", ["bft", "streamlet", "majority"])
def test_message_loss_before_gst_certifies_every_trade_once(protocol):
    w, c, _ = _follower(60, loss=0.3, gst="2s", protocol=protocol)
    c.run()
    assert c.cluster.network.lost > 0
    _once(c, w.valid)


def test_validator_removed_and_another_added_mid_run():
    # five keys; v4 is a standby observer; from height 4 on v0 leaves and v4 joins (the set for heights >= 4)
    w, c, got = _follower(80, nodes=5, spacing=5 * MS)
    c = NetworkCertifier(ConsensusConfig(nodes=5, protocol="bft", latency="fixed:10ms", batch_size=8, seed=5,
                                         horizon="30s"),
                         accounts=w.accounts, balances=w.balances(), pretrade=False,
                         standby=(4,), reconfigurations=(Reconfiguration(height=4, remove=0, add=4),))
    c.add(w.submissions)
    c.run()
    addr = [n.address for n in c.nodes]
    assert c.validators_at(3) == tuple(addr[:4]) and c.validators_at(4) == tuple(addr[1:])
    assert len(c.blocks) > 4
    for b in c.blocks:
        allowed = set(c.validators_at(b.height))
        assert set(b.qc.signers) <= allowed and len(b.qc.signers) >= 3
        if b.height >= 4:
            assert addr[0] not in b.qc.signers
        else:
            assert addr[4] not in b.qc.signers
    _once(c, w.valid)
    # a certificate by the old set does not pass for a height the new set certifies
    log = c.nodes[1].log
    assert log.validators_at(4) == (tuple(addr[1:]), 3)
    old = QuorumCertificate.build(b"x" * 32, {addr[0]: b"\0" * 65})
    assert old.problems(log.validators_at(4)[0], 3)


def test_validator_change_is_refused_by_protocols_without_it():
    w = make_workload(5, seed=1, invalid_rate=0.0)
    with pytest.raises(ConsensusError, match="supported by the bft protocol"):
        NetworkCertifier(ConsensusConfig(nodes=5, protocol="majority"), accounts=w.accounts, pretrade=False,
                         standby=(4,), reconfigurations=(Reconfiguration(3, 0, 4),))


# -- requeue ---------------------------------------------------------------------------------------------
def test_requeued_trades_are_certified_again_once_and_the_log_allows_exactly_that():
    w, c, got = _follower(30)
    c.run(until=2 * SEC)
    expired, last = got[1], got[-1].height
    c.requeue(expired.trades)
    with pytest.raises(ConsensusError, match="already requeued"):
        c.requeue(expired.trades[:1])  # handed back and not certified again yet
    c.run(until=4 * SEC)
    counts = c.certified_trade_ids()
    again = {t.trade_id for t in expired.trades}
    assert {tid for tid, n in counts.items() if n == 2} == again
    assert set(counts.values()) == {1, 2} and set(counts) == set(w.valid)
    later = [b for b in c.blocks if b.height > expired.height and again & {t.trade_id for t in b.trades}]
    assert later and all(b.height > last for b in later)
    assert sum(s.requeued for s in c.batches) == len(again)
    # the expired block's trades were undone on every validator's balances and applied again: each trade counts once
    expected = w.balances()
    for sub in w.submissions:
        expected.apply(sub.claim.trade)
    by_pair = lambda view: {(a.id, asset): v for a in view.settled for asset, v in a.balances.items()}  # noqa: E731
    for node in c.nodes:
        assert node.log.verify().ok
        assert node.log.occurrences(expired.trades[0].trade_id) == (2, later[0].height)
        assert node.state.final_ids == set(w.valid) and by_pair(node.state.balances) == by_pair(expected)
    assert c.summary()["safety_problems"] == []


def test_requeue_refuses_trades_never_certified_or_in_blocks_that_never_expire():
    w = make_workload(10, seed=2, invalid_rate=0.0)
    c = NetworkCertifier(ConsensusConfig(nodes=4, latency="fixed:10ms"), accounts=w.accounts, balances=w.balances(),
                         pretrade=False)
    c.add(w.submissions)
    c.run(until=SEC)
    with pytest.raises(ConsensusError, match="never expires"):
        c.requeue(c.blocks[0].trades)
    with pytest.raises(ConsensusError, match="never certified"):
        c.requeue([dataclasses.replace(w.submissions[0].claim.trade, trade_id=999_999)])


def _qc_block(log: TradeLog, trades, expires_at: int = 0) -> LogBlock:  # noqa: ANN001
    b = log.next_block(trades)
    b = LogBlock(b.height, b.parent_hash, b.merkle_root, b.trades, expires_at=expires_at)
    return b.with_qc(QuorumCertificate(b.digest(log.domain), ()))


def test_cert_log_dedup_rule_allows_a_repeat_only_after_a_handed_back_expired_occurrence():
    w = make_workload(4, seed=3, invalid_rate=0.0)
    t = [s.claim.trade for s in w.submissions]
    log = CertLog()
    log.append(_qc_block(log, t[:2], expires_at=10), checked=True)
    with pytest.raises(ConsensusError, match="already in block 1"):
        log.append(_qc_block(log, [t[0]]), checked=True)       # not expired: no repeat
    with pytest.raises(ConsensusError, match="twice in the block"):
        log.append(_qc_block(log, [t[2], t[2]]), checked=True)
    log.release(1, [t[0].trade_id])
    with pytest.raises(ConsensusError, match="already in block 1"):
        log.append(_qc_block(log, [t[1]]), checked=True)       # expired, but t[1] was not handed back
    log.append(_qc_block(log, [t[0], t[2]]), checked=True)     # t[0] handed back: allowed, once
    with pytest.raises(ConsensusError, match="already in block 2"):
        log.append(_qc_block(log, [t[0]]), checked=True)
    assert log.occurrences(t[0].trade_id) == (1, 2)
    assert log.proof(t[0].trade_id).height == 2                 # proofs point at the live occurrence
    never = CertLog()
    never.append(_qc_block(never, t[:1]), checked=True)
    with pytest.raises(ConsensusError, match="never expires"):
        never.release(1, [t[0].trade_id])
    # a plain TradeLog keeps refusing any repeat
    plain = TradeLog()
    plain.append(_qc_block(plain, t[:1], expires_at=10), checked=True)
    with pytest.raises(ConsensusError, match="already in block 1"):
        plain.append(_qc_block(plain, t[:1]), checked=True)


def test_cert_log_verify_finds_a_repeat_that_was_not_handed_back():
    w = make_workload(3, seed=4, invalid_rate=0.0)
    t = [s.claim.trade for s in w.submissions]
    log = CertLog()
    log.append(_qc_block(log, t[:2], expires_at=10), checked=True)
    log.release(1, [t[0].trade_id, t[1].trade_id])
    log.append(_qc_block(log, [t[0], t[1]]), checked=True)
    log.released[1].discard(t[1].trade_id)  # tamper: the hand-back of t[1] never happened
    check = log.verify()
    assert not check.ok and check.height == 2 and f"trade {t[1].trade_id} appears twice in the log" in check.reason


# -- certify-this-batch ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Header:
    sequence: int
    prev_hash: bytes
    merkle_root: bytes
    state_block: int = 0
    expires_at: int = 0


@dataclass(frozen=True)
class _Batch:
    header: _Header

    @property
    def sequence(self) -> int:
        return self.header.sequence


def _directed(**config: object):  # noqa: ANN202
    w = make_workload(30, seed=8, invalid_rate=0.0, spacing=MS)
    cfg = ConsensusConfig(**{"nodes": 4, "protocol": "bft", "latency": "fixed:10ms", "horizon": "30s", "seed": 8,
                             **config})
    bc = BatchCertifier(cfg, accounts=w.accounts, balances=w.balances(), pretrade=False)
    bc.add(w.submissions)
    bc.run(until=100 * MS)
    return w, bc


def _ask(bc: BatchCertifier, trades, seq: int, prev: bytes, out: list, **hdr: int) -> None:  # noqa: ANN001
    root = TradeLog().tree(trades).root
    bc.request(_Batch(_Header(seq, prev, root, **hdr)), trades,
               lambda b: out.append(("certified", b, bc.kernel.now)), lambda r: out.append(("refused", r)))


@pytest.mark.parametrize("protocol,behaviours", [("bft", {}), ("bft", {2: "malicious-leader"}), ("streamlet", {}),
                                                 ("streamlet", {1: "malicious-leader"}),
                                                 ("majority", {}), ("raft", {3: "crashed"})])
def test_certify_this_batch_certifies_exactly_the_requested_batches(protocol, behaviours):
    w, bc = _directed(protocol=protocol, behaviours=behaviours)
    trades = [s.claim.trade for s in w.submissions]
    out: list = []
    _ask(bc, trades[:10], 1, GENESIS_HASH, out, state_block=7, expires_at=50)
    bc.run(until=2 * SEC)
    (kind, b1, at), = out
    assert kind == "certified" and b1.trades == tuple(trades[:10]) and (b1.state_block, b1.expires_at) == (7, 50)
    assert at > 100 * MS
    _ask(bc, trades[10:], 2, b1.hash, out, state_block=8, expires_at=60)
    bc.run(until=4 * SEC)
    assert out[1][0] == "certified" and out[1][1].trades == tuple(trades[10:]) and out[1][1].height == 2
    assert bc.summary()["safety_problems"] == []
    assert all(n.log.height == 2 for n in bc.cluster.nodes if n.honest)


def test_certify_this_batch_refusals():
    w, bc = _directed()
    trades = [s.claim.trade for s in w.submissions]
    out: list = []
    _ask(bc, trades[:3], 1, b"\1" * 32, out)
    assert out == [("refused", f"batch 1: prev hash 0x{'01' * 32} is not the log head 0x{'00' * 32}")]
    out.clear()
    forged = dataclasses.replace(trades[0], price=trades[0].price + 1)
    _ask(bc, [forged], 1, GENESIS_HASH, out)
    assert out == [("refused", f"batch 1: trade {forged.trade_id} was not approved at the trade boundary")]
    out.clear()
    bc.request(_Batch(_Header(1, GENESIS_HASH, b"\2" * 32)), trades[:2], lambda b: None,
               lambda r: out.append(r))
    assert "leaf encoders differ" in out[0]
    bc.run(until=SEC)
    assert bc.net.blocks == []


def test_raft_is_crash_fault_only():
    with pytest.raises(ConsensusError, match="raft tolerates crash faults only"):
        ConsensusConfig(nodes=5, protocol="raft", behaviours={1: "malicious-leader"})
    w, c, _ = _follower(30, protocol="raft", nodes=5, behaviours={4: "crashed"})
    c.run()
    _once(c, w.valid)


@pytest.mark.parametrize("protocol", ["bft", "streamlet", "majority"])
def test_honest_proposer_leaves_out_a_trade_the_check_refuses_and_the_rest_is_certified(protocol):
    w = make_workload(30, seed=9, invalid_rate=0.0, spacing=MS)
    bad = 7
    cfg = ConsensusConfig(nodes=4, protocol=protocol, latency="fixed:10ms", batch_size=50, horizon="30s", seed=9)

    def check(block: LogBlock) -> str | None:  # e.g. insolvent at the stated chain block
        return f"trade {bad}: insolvent at block {block.state_block}" if any(
            t.trade_id == bad for t in block.trades) else None

    c = NetworkCertifier(cfg, accounts=w.accounts, balances=w.balances(), pretrade=False,
                         header=lambda h: (3, 9), check=check)
    c.add(w.submissions)
    c.run(until=5 * SEC)
    counts = c.certified_trade_ids()
    assert set(counts) == set(w.valid) - {bad} and set(counts.values()) == {1}
    assert all(bad in c.cluster.pools[n.index] for n in c.nodes)  # still pooled: it may pass at a later block
    assert c.summary()["safety_problems"] == []


def test_trades_approved_at_the_engine_boundary_are_certified_and_refused_ones_never_pooled():
    w = make_workload(40, seed=10, invalid_rate=0.3, spacing=MS)
    cfg = ConsensusConfig(nodes=4, protocol="bft", latency="fixed:10ms", batch_size=10, horizon="30s", seed=10)
    c = NetworkCertifier(cfg, accounts=w.accounts, balances=w.balances())
    c.start()
    verdicts = []
    for sub in w.submissions:  # the engine asks at its trade boundary, before changing any state
        c.kernel.run(until=sub.at)
        verdicts.append((sub.claim.trade_id, c.validate_trade(sub.claim.trade, sub.claim.buy, sub.claim.sell)))
    c.run(until=5 * SEC)
    approved = {tid for tid, reason in verdicts if reason is None}
    assert approved == set(w.valid) and len(approved) < len(verdicts)  # a resubmitted duplicate is refused
    assert set(c.certified_trade_ids()) == approved and set(c.certified_trade_ids().values()) == {1}
    assert all(c.ready_at[tid] <= s.certified_at for s in c.batches for b in c.blocks if b.height == s.height
               for tid in (t.trade_id for t in b.trades))


def test_certify_this_batch_after_requeue_certifies_the_handed_back_trades_in_a_later_batch():
    w, bc = _directed()
    trades = [s.claim.trade for s in w.submissions]
    out: list = []
    _ask(bc, trades[:5], 1, GENESIS_HASH, out, state_block=1, expires_at=4)
    bc.run(until=SEC)
    b1 = out[0][1]
    _ask(bc, trades[:2], 2, b1.hash, out, state_block=5, expires_at=9)  # not expired: refused as duplicates
    assert out[1][0] == "refused" and "duplicate_trade" in out[1][1]
    bc.requeue(b1.trades)  # batch 1 expired unsettled
    _ask(bc, [*trades[:5], trades[5]], 2, b1.hash, out, state_block=5, expires_at=9)
    bc.run(until=2 * SEC)
    assert out[2][0] == "certified" and out[2][1].height == 2
    assert bc.net.certified_trade_ids()[trades[0].trade_id] == 2
    assert all(n.log.verify().ok for n in bc.cluster.nodes)


def test_certify_this_batch_takes_pipelined_requests_and_certifies_them_in_order():
    w, bc = _directed()
    trades = [s.claim.trade for s in w.submissions]
    out: list = []
    root1 = TradeLog().tree(trades[:4]).root
    b1 = LogBlock(1, GENESIS_HASH, root1, tuple(trades[:4]), state_block=3, expires_at=30)
    _ask(bc, trades[:4], 1, GENESIS_HASH, out, state_block=3, expires_at=30)
    _ask(bc, trades[4:9], 2, b1.hash, out, state_block=3, expires_at=30)  # before batch 1 is certified
    bc.run(until=2 * SEC)
    assert [(k, b.height) for k, b, _ in out] == [("certified", 1), ("certified", 2)]
    assert out[0][1].hash == b1.hash and out[0][2] < out[1][2]
