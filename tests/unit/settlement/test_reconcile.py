"""reconcile(): balances, the committee log's roots against the chain's per height, skipped heights, trades proven
off chain and the off-chain verifier checked against the contract."""

from __future__ import annotations

import dataclasses

import pytest

from market_sim.consensus.log import LogBlock
from market_sim.settlement import Ledger
from market_sim.settlement import reconcile as reconcile_module
from market_sim.settlement.reconcile import HeightCheck, reconcile

from settlement_env import FUNDS


def settle(env, ledger, trades):
    batch = env.next_batch(trades)
    env.client.submit(batch, env.certify(batch))
    ledger.apply(batch)
    return batch


@pytest.fixture
def settled(env):
    """Two settled batches (3 + 2 trades), the ledger that booked them and the log blocks that certified them."""
    ledger = Ledger(env.fee)
    for who in (env.alice, env.bob):
        ledger.deposit(who, env.base, FUNDS)
        ledger.deposit(who, env.quote, FUNDS)
    b1 = settle(env, ledger, [env.trade(env.alice, env.bob) for _ in range(3)])
    b2 = settle(env, ledger, [env.trade(env.bob, env.alice) for _ in range(2)])
    log = [LogBlock(b.sequence, b.header.prev_hash, b.header.merkle_root, ()) for b in (b1, b2)]
    return ledger, log, (b1, b2)


def check(env, ledger, **kw):
    return reconcile(ledger, env.client, accounts=[env.alice, env.bob, env.fee], tokens=[env.base, env.quote], **kw)


def test_everything_agrees_trades_proven_off_chain_verifier_sampled_on_chain(env, settled):
    ledger, log, (b1, b2) = settled
    report = check(env, ledger, log=log, onchain_sample=4, seed=3)
    assert report.ok, report.summary()
    assert [h.status for h in report.heights] == ["settled", "settled"] and report.log_checked
    assert report.heights[0] == HeightCheck(1, "0x" + b1.header.merkle_root.hex(), "0x" + b1.header.merkle_root.hex(),
                                            "0x" + b1.header.merkle_root.hex(), "settled")
    assert report.trades_checked == 5 and report.proofs_on_chain == 8  # 4 genuine + 4 tampered proofs
    assert "5 trade proofs (off chain; the verifier checked on chain on 8 proofs)" in report.summary()
    everything = check(env, ledger, log=log, onchain_sample=100)
    assert everything.proofs_on_chain == 10 and everything.ok  # the sample is capped at the settled trades


def test_a_log_root_that_differs_from_the_chain_fails_reconciliation(env, settled):
    ledger, log, (b1, b2) = settled
    log[1] = dataclasses.replace(log[1], merkle_root=b"\x01" * 32)
    report = check(env, ledger, log=log)
    assert not report.ok
    assert [(d.kind, d.subject, d.side) for d in report.differences] == [("log root", "height 2", "log")]
    assert str(report.differences[0]) == (f"log root height 2: log '0x{'01' * 32}' != chain "
                                          f"'0x{b2.header.merkle_root.hex()}'")
    assert [h.status for h in report.heights] == ["settled", "difference"]
    assert "reconciliation FAILED (1 differences)" in report.summary()


def test_a_chain_height_missing_from_the_log_is_a_difference(env, settled):
    ledger, log, _ = settled
    report = check(env, ledger, log=log[:1])
    assert [(d.kind, d.subject, d.ledger) for d in report.differences] == [
        ("log root", "height 2", "not in the committee log")]


def test_certified_in_the_log_but_not_on_chain_is_a_difference_unless_the_chain_skipped_it(env, settled):
    ledger, log, (b1, b2) = settled
    expired = LogBlock(3, b2.batch_hash, b"\x07" * 32, ())
    report = check(env, ledger, log=[*log, expired])
    assert [(d.kind, d.subject) for d in report.differences] == [("unsettled", "height 3")]
    skipped = check(env, ledger, log=[*log, expired], skipped=[3])
    assert skipped.ok, skipped.summary()
    assert skipped.skipped == (3,) and skipped.heights[-1] == HeightCheck(3, "", "0x" + "07" * 32, "", "skipped")
    assert "heights skipped on chain (expired certified batches, log agrees): 3" in skipped.summary()


def test_a_skipped_height_the_chain_or_the_ledger_settled_is_a_difference(env, settled):
    ledger, log, _ = settled
    report = check(env, ledger, log=log, skipped=[2])
    assert [(d.kind, d.subject) for d in report.differences] == [("skipped", "height 2 (expired)")]


def test_a_trade_the_on_chain_root_does_not_hold_is_found_off_chain(env, settled):
    ledger, log, (b1, _) = settled
    forged = dataclasses.replace(b1.trades[1], quote_amount=b1.trades[1].quote_amount + 1)
    ledger.settled_batches[1] = dataclasses.replace(b1, trades=(b1.trades[0], forged, b1.trades[2]))
    report = check(env, ledger, log=log, onchain_sample=0)
    assert [(d.kind, d.subject) for d in report.differences] == [("trade", f"#{forged.trade_id} in batch 1")]
    assert report.proofs_on_chain == 0


def test_the_sample_check_catches_an_off_chain_verifier_that_disagrees_with_the_contract(env, settled, monkeypatch):
    ledger, log, _ = settled
    monkeypatch.setattr(reconcile_module, "verify_proof", lambda proof, root, leaf: True)  # accepts anything
    report = check(env, ledger, log=log, onchain_sample=3, seed=1)
    kinds = [d.kind for d in report.differences]
    assert kinds == ["verifier"] * 3  # the 3 tampered proofs: off chain True, verifyTrades False
    assert all(d.ledger == "off chain True" and d.chain == "verifyTrades False" for d in report.differences)


def test_the_sample_is_seeded(env, settled):
    ledger, log, _ = settled
    assert check(env, ledger, log=log, onchain_sample=2, seed=5) == check(env, ledger, log=log, onchain_sample=2,
                                                                           seed=5)
