from __future__ import annotations

import dataclasses
import json

import pytest

from market_sim.core.errors import ConsensusError
from market_sim.core.events import Trade
from market_sim.core.orders import Side
from market_sim.consensus import Committee, SigningDomain, TradeLog
from market_sim.consensus.log import QuorumCertificate
from market_sim.consensus.signing import GENESIS_HASH, batch_struct_hash, sign, validator_keys

DOMAIN = SigningDomain(chain_id=1337, verifying_contract="0x" + "ab" * 20)


def _trades(start: int, n: int) -> list[Trade]:
    return [Trade(i, i, "XYZ/USD", 100 + i, 1 + i % 3, 2 * i, 2 * i + 1, "alice", "bob", Side.BUY)
            for i in range(start, start + n)]


def _log(blocks: int = 4) -> TradeLog:
    keys = validator_keys(4)
    log = TradeLog(DOMAIN, validators=[k.address for k in keys], threshold=3)
    for h in range(blocks):
        block = log.next_block(_trades(10 * h + 1, 3))
        digest = block.digest(DOMAIN)
        log.append(block.with_qc(QuorumCertificate.build(digest, {k.address: sign(k, digest) for k in keys[:3]})))
    return log


def test_chain_links_and_head() -> None:
    log = _log()
    assert log.verify().ok and log.height == 4
    assert log.blocks[0].parent_hash == GENESIS_HASH
    for prev, block in zip(log.blocks, log.blocks[1:]):
        assert block.parent_hash == prev.hash == batch_struct_hash(prev.height, prev.parent_hash, prev.merkle_root)
    assert log.head_hash == log.blocks[-1].hash
    qc = log.blocks[0].qc
    assert list(qc.signers) == sorted(qc.signers, key=lambda a: int(a, 16))


@pytest.mark.parametrize("height", [1, 2, 4])
def test_tampering_with_one_trade_is_found_at_its_height(height: int) -> None:
    log = _log()
    block = log.blocks[height - 1]
    forged = dataclasses.replace(block.trades[1], quantity=999)
    log.blocks[height - 1] = dataclasses.replace(block, trades=(block.trades[0], forged, *block.trades[2:]))
    check = log.verify()
    assert not check.ok and check.height == height and "merkle root" in check.reason


def test_bad_certificates_and_appends() -> None:
    log = _log(1)
    keys = validator_keys(4)
    block = log.next_block(_trades(50, 2))
    digest = block.digest(DOMAIN)
    two = QuorumCertificate.build(digest, {k.address: sign(k, digest) for k in keys[:2]})
    with pytest.raises(ConsensusError, match="threshold is 3"):
        log.append(block.with_qc(two))
    outsider = validator_keys(1, seed=99)[0]
    forged = QuorumCertificate.build(digest, {**{k.address: sign(k, digest) for k in keys[:2]},
                                             outsider.address: sign(outsider, digest)})
    with pytest.raises(ConsensusError, match="not a validator"):
        log.append(block.with_qc(forged))
    with pytest.raises(ConsensusError, match="parent hash"):
        log.append(dataclasses.replace(block, parent_hash=GENESIS_HASH).with_qc(two))
    with pytest.raises(ConsensusError, match="already in block 1"):
        dup = log.next_block(_trades(1, 1))
        d = dup.digest(DOMAIN)
        log.append(dup.with_qc(QuorumCertificate.build(d, {k.address: sign(k, d) for k in keys[:3]})))
    assert log.height == 1 and log.verify().ok


def test_proofs_and_json(tmp_path) -> None:
    log = _log(2)
    for trade in log.trades:
        proof = log.proof(trade.trade_id)
        assert proof.verify() and proof.root == log.block(proof.height).merkle_root
    with pytest.raises(ConsensusError, match="trade 999 is not in the log"):
        log.proof(999)
    log.dump(tmp_path / "log.json")
    text = (tmp_path / "log.json").read_text()
    data = json.loads(text)
    assert data["head_hash"] == "0x" + log.head_hash.hex() and len(data["blocks"]) == 2
    assert data == log.to_json() and text.count("\n") == 4  # the fields, then a line per block
    assert json.loads(TradeLog().dumps())["blocks"] == []


def test_committee_log_verifies_and_counts_signatures() -> None:
    c = Committee.create(nodes=4, domain=DOMAIN)
    assert c.log.verify().ok and c.log.threshold == 3


def test_a_batch_tree_follows_its_trades_and_extra_leaves() -> None:
    # batch trees are remembered by content: a changed extra leaf or trade is a different tree
    extra = [b"\x01" * 32]
    log = TradeLog(DOMAIN, extra_leaves=lambda trades: extra)
    trades = _trades(1, 3)
    first = log.tree(trades).root
    assert log.tree(tuple(trades)).root == first
    extra[0] = b"\x02" * 32
    assert log.tree(trades).root != first
    forged = [trades[0], dataclasses.replace(trades[1], price=trades[1].price + 1), trades[2]]
    assert log.tree(forged).root not in (first, log.tree(trades).root)
