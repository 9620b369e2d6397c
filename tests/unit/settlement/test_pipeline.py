"""SettlementPipeline: batching by size and time, failures with nothing lost, crash recovery, reconciliation."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from market_sim.consensus.signing import validator_keys
from market_sim.core.errors import ConsensusError, SettlementError
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import Side
from market_sim.settlement import Ledger, TradeEncoder
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


def test_withdrawal_behind_the_ledger_is_followed_before_certification(env):
    certifier = CountingCertifier(env)
    p = make_pipeline(env, certifier=certifier)
    env.client.withdraw(env.quote, FUNDS - 10**16, sender="alice")  # behind the ledger's back
    ok, too_big = trade(buyer="bob", seller="alice", price=1), trade(qty=1, price=500)
    p.on_trade(ok)
    p.on_trade(too_big)
    p.flush()
    # The ledger followed the Withdrawn event, so only a batch the contract accepts was ever certified.
    assert certifier.calls == 1 and not p.reverts
    assert len(p.corrections) == 1 and env.alice in p.corrections[0]
    assert p.ledger.balance(env.alice, env.quote) == env.client.balance(env.alice, env.quote)
    assert [f.trade.trade_id for f in p.failed] == [too_big.trade_id]
    assert "insufficient balance" in p.failed[0].reason
    assert p.batches[0].attempts == 1 and p.ledger.settled_trade_ids == {ok.trade_id}
    later = trade(buyer="bob", seller="alice", price=1)
    p.on_trade(later)
    p.flush()
    assert [b.sequence for b in p.batches] == [1, 2] and later.trade_id in p.ledger.settled_trade_ids
    check_reconciled(env, p)


def test_revert_is_decoded_and_the_batch_rebuilt_without_the_offender(env):
    class WithdrawingCertifier(CountingCertifier):
        """Alice withdraws after the ledger caught up and before the settle transaction (a race it cannot see)."""

        def certify(self, batch, trades):
            if self.calls == 0:
                env.client.withdraw(env.quote, FUNDS - 10**16, sender="alice")
            return super().certify(batch, trades)

    p = make_pipeline(env, certifier=WithdrawingCertifier(env))
    ok, too_big = trade(buyer="bob", seller="alice", price=1), trade(qty=1, price=500)
    p.on_trade(ok)
    p.on_trade(too_big)
    p.flush()
    assert len(p.reverts) == 1 and "InsufficientBalance" in p.reverts[0]
    assert [f.trade.trade_id for f in p.failed] == [too_big.trade_id]
    assert p.batches[0].attempts == 2 and p.ledger.settled_trade_ids == {ok.trade_id}
    check_reconciled(env, p)


def test_bad_certificate_is_recertified(env):
    class FlakyCertifier(CountingCertifier):
        def certify(self, batch, trades):
            self.calls += 1
            signers = list(self.env.keys[:2]) + [validator_keys(1, seed=5)[0]] if self.calls == 1 else self.env.keys[:3]
            return self.env.certify(batch, signers)

    certifier = FlakyCertifier(env)
    p = make_pipeline(env, certifier=certifier)
    p.on_trade(trade())
    p.flush()
    assert certifier.calls == 2 and "UnknownSigner" in p.reverts[0] and p.settled_count == 1
    check_reconciled(env, p)


def test_no_quorum_marks_trades_failed(env):
    class NoQuorum:
        def certify(self, batch, trades):
            raise ConsensusError("only 2 of 4 validators signed, need 3")

    p = make_pipeline(env, certifier=NoQuorum())
    t = trade()
    p.on_trade(t)
    p.flush()
    assert [(f.trade, f.reason) for f in p.failed] == [(t, "not certified: only 2 of 4 validators signed, need 3")]
    assert env.client.last_sequence == 0 and p.accounted()


def test_crash_between_submit_and_confirm_is_recovered_from_the_chain(env):
    ledger, journal = None, Journal()
    p = make_pipeline(env, journal=journal)
    p.on_trade(trade())
    p.flush()
    # The process builds, certifies, journals and sends batch 2, then dies before reading the receipt.
    sent = [trade(), trade(buyer="bob", seller="alice")]
    batch = p.commitment.build(2, p.ledger.last_batch_hash, sent)
    journal.in_flight[2] = (batch, tuple(sent))
    env.client.send(batch, env.certify(batch))
    # ... and batch 3 was journaled but never sent.
    unsent = [trade()]
    journal.in_flight[3] = (p.commitment.build(3, batch.batch_hash, unsent), tuple(unsent))
    ledger = p.ledger
    restarted = make_pipeline(env, ledger=ledger, journal=journal)
    assert restarted.recover() == [2]
    assert ledger.last_sequence == 2 and [t.trade_id for t in restarted.pending] == [unsent[0].trade_id]
    restarted.flush()
    assert env.client.last_sequence == 3
    report = reconcile(ledger, env.client, accounts=[env.alice, env.bob, env.fee], tokens=[env.base, env.quote])
    assert report.ok and report.trades_checked == 4


def test_restart_from_state_files_after_a_crash_between_submit_and_confirm(env, tmp_path):
    p = make_pipeline(env, state_dir=tmp_path, fee_bps=5)
    p.on_trade(trade())
    p.flush()
    sent = [trade(), trade(buyer="bob", seller="alice", aggressor=Side.SELL)]
    batch = p.commitment.build(2, p.ledger.last_batch_hash, sent)
    p.journal.record(batch, tuple(sent))
    env.client.send(batch, env.certify(batch))          # mined, but the process dies before the receipt
    unsent = [trade()]
    p.journal.record(p.commitment.build(3, batch.batch_hash, unsent), tuple(unsent))
    assert (tmp_path / JOURNAL_FILE).exists()
    encoder, certifier = p.encoder, p.certifier
    del p                                               # crash: only the files in tmp_path survive
    restarted = SettlementPipeline.restore(env.client, encoder, certifier, tmp_path)
    assert restarted.ledger.last_sequence == 2 and [t.trade_id for t in restarted.pending] == [unsent[0].trade_id]
    assert not restarted.journal.in_flight
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


def test_lost_confirmation_is_booked_when_the_resubmission_reverts(env):
    p = make_pipeline(env)
    sent = [trade()]
    batch = p.commitment.build(1, p.ledger.last_batch_hash, sent)
    env.client.submit(batch, env.certify(batch))  # settled, but the pipeline never heard back
    for t in sent:
        p.on_trade(t)
    p.flush()                                     # same trades -> same batch -> UnexpectedSequence -> root matches
    assert "UnexpectedSequence" in p.reverts[0]
    assert p.ledger.last_sequence == 1 and p.settled_count == 1 and env.client.last_sequence == 1
    check_reconciled(env, p)


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
