"""SettlementPipeline: batching by size and time, failures with nothing lost, crash recovery, reconciliation."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from market_sim.consensus.committee import Committee
from market_sim.consensus.config import ConsensusConfig
from market_sim.core.errors import ContractRevertError, SettlementError
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.settlement import Ledger, TradeEncoder
from market_sim.settlement.certifier import CommitteeCertifier
from market_sim.settlement.lifecycle import BatchStageEvent, Stage, TradeStageEvent
from market_sim.settlement.pipeline import SettlementPipeline
from market_sim.settlement.reconcile import reconcile
from market_sim.settlement.state import JOURNAL_FILE, LEDGER_FILE, Journal
from market_sim.simulation.kernel import Kernel

from settlement_env import FUNDS, CountingCertifier

INST = Instrument("BASE/QUOTE", tick_size=Decimal("0.01"), lot_size=Decimal("1"))  # 1e18 base, 1e16 quote per lot-tick


def make_pipeline(env, *, certifier=None, ledger=None, journal=None, kernel=None, fee_bps=0, **kw):
    accounts = {"alice": env.alice, "bob": env.bob, "carol": env.carol}
    encoder = TradeEncoder({INST.symbol: INST}, {"BASE": env.base, "QUOTE": env.quote}, accounts,
                           taker_fee_bps=fee_bps)
    if ledger is None:
        ledger = Ledger(env.fee)
        for who in (env.alice, env.bob):
            ledger.deposit(who, env.base, FUNDS)
            ledger.deposit(who, env.quote, FUNDS)
    return SettlementPipeline(env.client, encoder, certifier or CountingCertifier(env), ledger=ledger, journal=journal,
                              kernel=kernel, **kw)


_ids = iter(range(1, 10**9))


def committee_for(env, p) -> Committee:
    """The real validator committee over env's validator keys (seed 7, quorum 3 of 4), certifying with p's leaf
    encoding; p's certifier becomes the CommitteeCertifier (filtered to the contract's current signers)."""
    committee = Committee.create(ConsensusConfig(nodes=4, key_seed=7), domain=env.client.domain,
                                 leaf_encoder=p.commitment.leaf_encoder, extra_leaves=p.commitment.extra_leaves)
    assert set(committee.validators) == {k.address for k in env.keys}
    p.certifier = CommitteeCertifier(committee, threshold=lambda: env.client.threshold,
                                     accepts=env.client.is_validator)
    return committee


def approved(committee: Committee, t: Trade) -> Trade:
    """Pre-trade approval by the committee, as the matching engine asks before executing `t`."""
    buy = NewOrder(t.buy_order_id, t.buyer, t.symbol, Side.BUY, t.quantity, price=t.price)
    sell = NewOrder(t.sell_order_id, t.seller, t.symbol, Side.SELL, t.quantity, price=t.price)
    assert committee.validate_trade(t, buy, sell) is None
    return t


def trade(buyer="alice", seller="bob", qty=1, price=500, ts=0, aggressor=Side.BUY) -> Trade:
    tid = next(_ids)
    return Trade(ts, tid, INST.symbol, price, qty, 2 * tid, 2 * tid + 1, buyer, seller, aggressor)


def check_reconciled(env, p):
    report = reconcile(p.ledger, env.client, accounts=[env.alice, env.bob, env.carol, env.fee],
                       tokens=[env.base, env.quote])
    assert report.ok, report.summary()
    assert p.accounted()
    return report


def test_batches_by_size_then_by_time(env):
    kernel = Kernel()
    p = make_pipeline(env, kernel=kernel, max_batch=3, max_delay=1_000)
    for _ in range(7):
        p.on_trade(trade())
    assert [b.trade_count for b in p.batches] == [3, 3] and len(p.pending) == 1
    kernel.run(until=999)
    assert len(p.batches) == 2
    kernel.run(until=1_000)
    assert [b.trade_count for b in p.batches] == [3, 3, 1] and not p.pending
    assert env.client.last_sequence == 3
    report = check_reconciled(env, p)
    assert report.trades_checked == 7 and report.batches_checked == 3
    assert env.client.balance(env.alice, env.base) == FUNDS + 7 * 10**18
    assert env.client.balance(env.bob, env.quote) == FUNDS + 7 * 500 * 10**16


def test_fees_go_to_the_fee_account(env):
    p = make_pipeline(env, fee_bps=25)
    p.on_trade(trade(qty=2, price=1000, aggressor=Side.SELL))  # seller pays 0.25 % of 2 * 1000 * 1e16
    p.flush()
    fee = 2 * 1000 * 10**16 * 25 // 10_000
    assert env.client.balance(env.fee, env.quote) == fee
    assert env.client.balance(env.bob, env.quote) == FUNDS + 2 * 1000 * 10**16 - fee
    check_reconciled(env, p)


def test_short_trader_is_refused_off_chain_and_the_rest_settles(env):
    p = make_pipeline(env)
    good, short = trade(), trade(buyer="carol")  # carol deposited nothing
    p.on_trade(good)
    p.on_trade(short)
    p.flush()
    assert [f.trade.trade_id for f in p.failed] == [short.trade_id]
    # the shortfall in token amounts (QUOTE has 18 decimals: 500 ticks of 0.01 on one lot = 5 QUOTE)
    assert p.failed[0].reason == f"insufficient balance: {env.carol} needs 5 QUOTE, has 0 QUOTE"
    assert p.ledger.settled_trade_ids == {good.trade_id} and not p.reverts
    check_reconciled(env, p)


def test_withdrawal_request_behind_the_ledger_is_followed_before_certification(env):
    certifier = CountingCertifier(env)
    p = make_pipeline(env, certifier=certifier)
    env.client.request_withdrawal(env.quote, FUNDS - 10**16, sender="alice")  # behind the ledger's back
    ok, too_big = trade(buyer="bob", seller="alice", price=1), trade(qty=1, price=500)
    p.on_trade(ok)
    p.on_trade(too_big)
    p.flush()
    # The ledger followed the request: the requested amount is unavailable, so only a solvent batch was certified.
    assert certifier.calls == 1 and not p.reverts
    assert p.ledger.reserved == {(env.alice, env.quote): FUNDS - 10**16}
    assert p.ledger.available(env.alice, env.quote) == 2 * 10**16  # 0.01 left + 0.01 from selling
    assert [f.trade.trade_id for f in p.failed] == [too_big.trade_id]
    assert p.failed[0].reason == f"insufficient balance: {env.alice} needs 5 QUOTE, has 0.02 QUOTE"
    assert p.batches[0].attempts == 1 and p.ledger.settled_trade_ids == {ok.trade_id}
    # batch 1 was stated at the block below the request's (the head when it was cut): the claim must wait
    with pytest.raises(ContractRevertError) as err:
        env.client.claim_withdrawal(env.quote, sender="alice")
    assert err.value.error_name == "WithdrawalNotReady"
    later = trade(buyer="bob", seller="alice", price=1)
    p.on_trade(later)
    p.flush()                                     # batch 2 is stated at or after the request's block
    assert [b.sequence for b in p.batches] == [1, 2] and later.trade_id in p.ledger.settled_trade_ids
    paid = env.client.claim_withdrawal(env.quote, sender="alice")
    assert paid.amount == FUNDS - 10**16 and paid.balance == 3 * 10**16  # 0.01 left + 2 x 0.01 from selling
    p.follow()                                    # the ledger follows the claim
    assert not p.ledger.reserved and p.ledger.balance(env.alice, env.quote) == 3 * 10**16
    check_reconciled(env, p)


def test_claim_waits_for_a_batch_that_saw_the_request_or_the_timeout(env):
    max_validity = env.client.max_validity
    env.client.request_withdrawal(env.base, 10**18, sender="bob")
    requested_at = env.client.withdrawal_request(env.bob, env.base)[1]
    with pytest.raises(ContractRevertError) as err:
        env.client.claim_withdrawal(env.base, sender="bob")
    assert err.value.error_name == "WithdrawalNotReady"
    assert err.value.args["readyAtBlock"] == requested_at + max_validity
    env.chain.mine(max_validity - 2)  # the claim lands in block requested_at + max_validity
    paid = env.client.claim_withdrawal(env.base, sender="bob")
    assert (paid.amount, paid.balance) == (10**18, FUNDS - 10**18)
    assert env.client.withdrawal_request(env.bob, env.base) == (0, 0)
    with pytest.raises(ContractRevertError) as err:
        env.client.claim_withdrawal(env.base, sender="bob")
    assert err.value.error_name == "NoWithdrawalRequest"


def test_a_revert_leaves_the_batch_waiting_for_its_expiry_then_trades_are_rechecked(env):
    """A batch the chain refuses (here: the ledger was told of a deposit that never happened) is given up only once
    its certificate expired; its trades are requeued and re-checked: the valid one settles in a later batch that
    skips the expired one, the insolvent one fails with the reason."""
    p = make_pipeline(env, validity=4)
    committee = committee_for(env, p)
    p.ledger.deposit(env.carol, env.quote, FUNDS)  # wrong: carol deposited nothing on chain
    good, short = approved(committee, trade()), approved(committee, trade(buyer="carol"))
    p.on_trade(good)
    p.on_trade(short)
    p.flush()
    assert len(p.reverts) == 1 and "InsufficientBalance" in p.reverts[0]
    assert p.ledger.balance(env.carol, env.quote) == 0 and len(p.corrections) == 1  # adopted the chain's value
    assert p.in_flight == (good, short) and not p.failed and p.accounted()
    p.flush()                                        # not expired: still waiting
    assert p.in_flight == (good, short) and p.expired == []
    env.chain.mine(4)
    p.flush()                                        # expired -> requeued -> re-checked -> batch 2 skips batch 1
    assert p.expired == [1] and [f.trade.trade_id for f in p.failed] == [short.trade_id]
    assert p.failed[0].reason == f"insufficient balance: {env.carol} needs 5 QUOTE, has 0 QUOTE"
    assert p.ledger.settled_trade_ids == {good.trade_id} and env.client.last_sequence == 2
    assert env.client.skipped_sequences() == [1] and committee.log.expired == {1}
    check_reconciled(env, p)


def test_a_signer_removed_after_certification_is_dropped_from_the_resent_certificate(env):
    p = make_pipeline(env)
    committee = committee_for(env, p)
    inner = p.certifier
    removed = []

    class RemoveAfterCertifying:
        """Governance removes a signer of the certificate between certification and the send."""

        def request(self, batch, trades, on_certified, on_refused):
            def certified(signatures):
                if not removed:
                    signer = sorted(committee.validators, key=lambda a: int(a, 16))[0]
                    env.client.remove_validator(signer, threshold=3)
                    removed.append(signer)
                on_certified(signatures)
            inner.request(batch, trades, certified, on_refused)

        def expired(self, batch):
            inner.expired(batch)

    p.certifier = RemoveAfterCertifying()
    t = approved(committee, trade())
    p.on_trade(t)
    p.flush()
    assert len(p.reverts) == 1 and "UnknownSigner" in p.reverts[0]
    assert p.settled_count == 1 and p.batches[0].attempts == 2 and committee.log.height == 1
    check_reconciled(env, p)


def test_no_quorum_marks_trades_failed(env):
    class NoQuorum:
        def request(self, batch, trades, on_certified, on_refused):
            on_refused("only 2 of 4 validators signed, need 3")

        def expired(self, batch):
            raise AssertionError("never certified, never expires")

    p = make_pipeline(env, certifier=NoQuorum())
    t = trade()
    p.on_trade(t)
    p.flush()
    assert [(f.trade, f.reason) for f in p.failed] == [(t, "not certified: only 2 of 4 validators signed, need 3")]
    assert env.client.last_sequence == 0 and p.accounted()


def test_crash_between_submit_and_confirm_is_recovered_from_the_chain(env):
    journal = Journal()
    p = make_pipeline(env, journal=journal)
    committee = committee_for(env, p)
    p.on_trade(approved(committee, trade()))
    p.flush()
    # The process builds, certifies, journals and sends batch 2, then dies before reading the receipt.
    sent = [approved(committee, trade()), approved(committee, trade(buyer="bob", seller="alice"))]
    head = env.client.head - 1
    batch = p.commitment.build(2, p.ledger.last_batch_hash, sent, state_block=head, expires_at=head + 20)
    signatures = p.certifier.certify(batch, sent)
    journal.record(batch, tuple(sent), signatures)
    env.client.send(batch, signatures)
    ledger = p.ledger
    restarted = make_pipeline(env, ledger=ledger, journal=journal, certifier=p.certifier)
    assert restarted.recover() == [2]
    assert ledger.last_sequence == 2 and not restarted.pending and not journal.in_flight
    later = approved(committee, trade())
    restarted.on_trade(later)
    restarted.flush()
    assert env.client.last_sequence == 3 and later.trade_id in ledger.settled_trade_ids
    report = reconcile(ledger, env.client, accounts=[env.alice, env.bob, env.fee], tokens=[env.base, env.quote])
    assert report.ok and report.trades_checked == 4


def test_restart_from_state_files_after_a_crash_between_submit_and_confirm(env, tmp_path):
    p = make_pipeline(env, state_dir=tmp_path, fee_bps=5)
    committee = committee_for(env, p)
    p.on_trade(approved(committee, trade()))
    p.flush()
    sent = [approved(committee, trade()), approved(committee, trade(buyer="bob", seller="alice", aggressor=Side.SELL))]
    head = env.client.head - 1
    batch = p.commitment.build(2, p.ledger.last_batch_hash, sent, state_block=head, expires_at=head + 20)
    signatures = p.certifier.certify(batch, sent)
    p.journal.record(batch, tuple(sent), signatures)
    env.client.send(batch, signatures)                  # mined, but the process dies before the receipt
    assert (tmp_path / JOURNAL_FILE).exists()
    encoder, certifier = p.encoder, p.certifier
    del p                                               # crash: only the files in tmp_path survive
    restarted = SettlementPipeline.restore(env.client, encoder, certifier, tmp_path)
    assert restarted.ledger.last_sequence == 2 and not restarted.pending and not restarted.journal.in_flight
    restarted.on_trade(approved(committee, trade()))
    restarted.flush()
    assert env.client.last_sequence == 3
    again = SettlementPipeline.restore(env.client, encoder, certifier, tmp_path)  # files reflect batch 3 too
    assert again.ledger.settled_trade_ids == restarted.ledger.settled_trade_ids and again.ledger.last_sequence == 3
    report = reconcile(again.ledger, env.client, accounts=[env.alice, env.bob, env.fee], tokens=[env.base, env.quote])
    assert report.ok and report.trades_checked == 4


def test_resubmitting_a_settled_batch_is_detected_and_harmless(env):
    p = make_pipeline(env)
    t = trade()
    p.on_trade(t)
    p.flush()
    before = env.client.balance(env.alice, env.base)
    batch = p.ledger.settled_batches[1]
    p.journal.in_flight[1] = (batch, (t,))
    assert p.recover() == []   # already booked: nothing to do, nothing re-queued
    assert not p.pending
    p.on_trade(t)               # the engine delivering the same trade again
    p.flush()
    assert p.duplicates == 1 and env.client.last_sequence == 1
    assert env.client.balance(env.alice, env.base) == before


def test_lost_confirmation_is_booked_not_expired(env):
    class SendsButNeverAnswers:
        """The node mines the settle transaction but the receipt never reaches the pipeline."""

        def submit(self, batch, signatures, skipped, callbacks):
            env.client.send(batch, signatures, skipped)

    p = make_pipeline(env, validity=3)
    committee = committee_for(env, p)
    p.submitter = SendsButNeverAnswers()
    t = approved(committee, trade())
    p.on_trade(t)
    p.flush()
    assert p.in_flight == (t,) and env.client.last_sequence == 1
    env.chain.mine(3)
    p.flush()                                     # past its expiry, but the chain settled it: booked, not requeued
    assert p.expired == [] and p.settled_count == 1 and not p.pending and p.accounted()
    check_reconciled(env, p)


def test_lifecycle_events_are_published_in_order(env):
    events = []
    p = make_pipeline(env, emit=events.append)
    t = trade()
    p.on_trade(t)
    p.flush()
    assert [e.stage for e in events if isinstance(e, BatchStageEvent)] == [
        Stage.CUT, Stage.CERTIFIED, Stage.SUBMITTED, Stage.INCLUDED, Stage.FINAL]
    assert [e.stage for e in events if isinstance(e, TradeStageEvent)] == [
        Stage.EXECUTED, Stage.CERTIFIED, Stage.SUBMITTED, Stage.INCLUDED, Stage.FINAL]
    included = [e for e in events if isinstance(e, BatchStageEvent) and e.stage is Stage.INCLUDED][0]
    assert included.block == p.batches[0].block == env.client.head and included.gas_used == p.batches[0].gas_used


def test_reconciliation_lists_every_difference(env):
    p = make_pipeline(env)
    t = trade()
    p.on_trade(t)
    p.flush()
    p.ledger.correct(env.bob, env.base, 1)
    tampered = p.ledger.settled_batches[1]
    report = reconcile(p.ledger, env.client, accounts=[env.alice, env.bob], tokens=[env.base, env.quote])
    assert not report.ok
    kinds = sorted(d.kind for d in report.differences)
    assert kinds == ["balance", "custody"]
    assert "FAILED (2 differences)" in report.summary()
    assert tampered.trades[0].trade_id == t.trade_id


def test_pipeline_rejects_bad_settings(env):
    with pytest.raises(SettlementError, match="max_batch"):
        make_pipeline(env, max_batch=0)


def test_tampered_or_unreadable_state_files_are_refused(env, tmp_path):
    p = make_pipeline(env, state_dir=tmp_path)
    p.on_trade(trade())
    p.flush()
    path = tmp_path / LEDGER_FILE
    data = json.loads(path.read_text())
    data["batches"][0]["trades"][0][5] += 1  # one more base unit than was settled
    path.write_text(json.dumps(data))
    with pytest.raises(SettlementError, match="rebuilt from its trades has root"):
        SettlementPipeline.restore(env.client, p.encoder, p.certifier, tmp_path)
    path.write_text("{not json")
    with pytest.raises(SettlementError, match="cannot read settlement state"):
        SettlementPipeline.restore(env.client, p.encoder, p.certifier, tmp_path)
