"""Stateful fuzzing of the real settlement pipeline (issue 22): hypothesis drives random deposits, withdrawals, trades,
flushes, forged and replayed batches and restarts through SettlementPipeline with the real CommitteeCertifier on the
in-process chain; after every step: nothing lost, nothing settled twice, chain and ledger agree (reconciliation).

The bugs issue 13's audit found (a jam after a refused batch, a failed batch still settleable, a crash before the send,
withdrawals before a restart never followed) are deterministic regression tests below, with the real certifier.
"""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from market_sim.blockchain import Chain
from market_sim.blockchain.clients import TestToken
from market_sim.consensus.config import ConsensusConfig
from market_sim.core.errors import ContractRevertError
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.settlement import pack_signatures
from market_sim.settlement.pipeline import SettlementPipeline
from market_sim.settlement.reconcile import reconcile
from market_sim.settlement import setup
from market_sim.settlement.setup import build_stack
from market_sim.settlement.state import LEDGER_FILE, save_ledger
from market_sim.consensus.signing import GENESIS_HASH as GENESIS


INST = Instrument("WETH/USDC", tick_size=Decimal("0.01"), lot_size=Decimal("0.01"), asset_class="crypto",
                  base_decimals=18, quote_decimals=6)
TRADERS = ("a", "b", "c")
ASSETS = ("WETH", "USDC")
FUNDS = {"WETH": 5 * 10**18, "USDC": 20_000 * 10**6}
PRICE = 300_000  # ticks: 3000.00 USDC per WETH
MAX_BATCH = 4


def _stack(chain_id: int):
    """build_stack with the traders on chain accounts this process holds keys for, so they can withdraw."""
    chain = Chain.local(["deployer", *TRADERS], chain_id=chain_id)
    consensus = ConsensusConfig(nodes=4, byzantine=0, protocol="bft")
    original = setup.trader_address
    with mock.patch.object(setup, "trader_address", lambda t: chain.account(t) if t in TRADERS else original(t)):
        return build_stack(chain, {INST.symbol: INST}, list(TRADERS), FUNDS, consensus, max_batch=MAX_BATCH)


def _approved(committee, tid: int, buyer: str, seller: str, qty: int, aggressor: Side = Side.BUY) -> Trade | None:
    """The trade the matching engine would execute, if the committee approves it before execution (else None)."""
    buy = NewOrder(2 * tid, buyer, INST.symbol, Side.BUY, qty, price=PRICE)
    sell = NewOrder(2 * tid + 1, seller, INST.symbol, Side.SELL, qty, price=PRICE)
    trade = Trade(tid, tid, INST.symbol, PRICE, qty, 2 * tid, 2 * tid + 1, buyer, seller, aggressor)
    return trade if committee.validate_trade(trade, buy, sell) is None else None


class PipelineMachine(RuleBasedStateMachine):
    """One venue + committee + pipeline (with state files) per example."""

    def __init__(self) -> None:
        super().__init__()
        self.state_dir = Path(tempfile.mkdtemp(prefix="pipeline-sm-"))
        self.stack = _stack(1400)
        venue = self.stack.venue
        self.client, self.venue = venue.client, venue
        old = self.stack.pipeline
        self.encoder, self.certifier = old.encoder, old.certifier
        self.followers = old.followers  # the validators follow withdrawal requests and claims through the pipeline
        self.pipeline = SettlementPipeline(self.client, self.encoder, self.certifier, ledger=old.ledger,
                                           max_batch=MAX_BATCH, state_dir=self.state_dir, followers=self.followers)
        self.funder = venue.chain.account("deployer")
        for asset in ASSETS:
            TestToken.at(venue.chain, venue.tokens[asset]).mint(self.funder, 10**30)
        self.next_id = 1
        self.sent: set[int] = set()
        self.failed_before_restart: set[int] = set()
        self.withdrawn_unfollowed = False  # a claim the ledger has not followed yet (it does before certifying)
        self.settled_roots: dict[int, bytes] = {}
        self.refused = 0

    def teardown(self) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # ---- rules --------------------------------------------------------------------------------------------------
    @initialize(orders=st.lists(st.tuples(st.sampled_from(TRADERS), st.sampled_from(TRADERS), st.integers(1, 80),
                                          st.sampled_from([Side.BUY, Side.SELL])), min_size=3, max_size=6))
    def opening_trades(self, orders: list[tuple[str, str, int, Side]]) -> None:
        """Every example starts with a few trades already settled, so later rules act on a live batch chain."""
        self.trades(orders)
        self.pipeline.flush()

    @rule(orders=st.lists(st.tuples(st.sampled_from(TRADERS), st.sampled_from(TRADERS), st.integers(1, 80),
                                    st.sampled_from([Side.BUY, Side.SELL])), min_size=1, max_size=5))
    def trades(self, orders: list[tuple[str, str, int, Side]]) -> None:
        """The engine executes a few crossing orders; each trade is approved by the committee beforehand."""
        for buyer, seller, qty, aggressor in orders:
            if buyer == seller:
                seller = TRADERS[(TRADERS.index(buyer) + 1) % len(TRADERS)]
            tid = self.next_id
            self.next_id += 1
            trade = _approved(self.stack.committee, tid, buyer, seller, qty, aggressor)
            if trade is None:
                self.refused += 1
                continue
            self.sent.add(tid)
            self.pipeline.on_trade(trade)

    @rule()
    def flush(self) -> None:
        had_trades = bool(self.pipeline.pending)
        self.pipeline.flush()
        if had_trades:
            self.withdrawn_unfollowed = False

    @rule(who=st.sampled_from(TRADERS), asset=st.sampled_from(ASSETS), amount=st.integers(1, 10**18))
    def deposit(self, who: str, asset: str, amount: int) -> None:
        # A funding desk deposits for the trader and books it in the ledger (the pipeline follows withdrawals only).
        account, token = self.venue.accounts[who], self.venue.tokens[asset]
        self.client.deposit_for(account, token, amount, sender="deployer")
        self.pipeline.ledger.deposit(account, token, amount)
        save_ledger(self.pipeline.ledger, self.state_dir / LEDGER_FILE)  # the desk's booking survives a restart
        self.stack.committee.deposit(who, asset, amount)                  # and the validators learn of it

    @rule(who=st.sampled_from(TRADERS), asset=st.sampled_from(ASSETS), share=st.sampled_from([1, 2, 4, 10**6]))
    def withdraw(self, who: str, asset: str, share: int) -> None:
        # Straight to the contract, behind the pipeline's back: it follows the request before the next certification.
        account, token = self.venue.accounts[who], self.venue.tokens[asset]
        requested, _ = self.client.withdrawal_request(account, token)
        amount = (self.client.balance(account, token) - requested) // share
        if amount <= 0:
            return
        self.client.request_withdrawal(token, amount, sender=who)

    @rule(who=st.sampled_from(TRADERS), asset=st.sampled_from(ASSETS))
    def claim(self, who: str, asset: str) -> None:
        """Claim a pending request: only once a batch certified after it settled, or maxValidity blocks later."""
        account, token = self.venue.accounts[who], self.venue.tokens[asset]
        requested, at = self.client.withdrawal_request(account, token)
        if not requested:
            return
        ready = self.client.last_state_block >= at or self.client.head + 1 >= at + self.client.max_validity
        if not ready:
            with pytest.raises(ContractRevertError) as err:
                self.client.claim_withdrawal(token, sender=who)
            assert err.value.error_name == "WithdrawalNotReady"
            return
        self.client.claim_withdrawal(token, sender=who)
        self.withdrawn_unfollowed = True

    @rule(blocks=st.integers(1, 40))
    def blocks_pass(self, blocks: int) -> None:
        self.venue.chain.mine(blocks)

    @rule(count=st.integers(0, 2))
    def forged_batch_is_refused(self, count: int) -> None:
        """A batch of made-up trades with fewer than threshold committee signatures: the contract must refuse it."""
        ledger = self.pipeline.ledger
        tid = 10**9 + self.next_id
        fake = Trade(tid, tid, INST.symbol, PRICE, 1, 1, 2, "a", "b", Side.BUY)
        head = self.client.head - 1
        batch = self.pipeline.commitment.build(ledger.last_sequence + 1, ledger.last_batch_hash, [fake],
                                               state_block=head, expires_at=head + 8)
        digest = self.client.digest(batch.header)
        nodes = self.stack.committee.nodes[:count]
        signatures = pack_signatures([(n.address, n.key.sign(digest)) for n in nodes])
        before = self.client.last_sequence
        with pytest.raises(ContractRevertError) as err:
            self.client.submit(batch, signatures)
        assert err.value.error_name in {"InsufficientSignatures", "MalformedSignatures"}, str(err.value)
        assert self.client.last_sequence == before

    @precondition(lambda self: self.pipeline.ledger.last_sequence > 0)
    @rule()
    def replayed_batch_is_refused(self) -> None:
        """Re-sending the last settled batch with its whole committee certificate must revert (no double settle)."""
        seq = self.pipeline.ledger.last_sequence
        batch = self.pipeline.ledger.settled_batches[seq]
        signatures = pack_signatures(self.stack.committee.log.block(seq).qc.signatures)
        with pytest.raises(ContractRevertError) as err:
            self.client.submit(batch, signatures)
        assert err.value.error_name in {"UnexpectedSequence", "PrevHashMismatch", "InvalidSignature"}
        assert self.client.last_sequence == seq

    # Pending trades live in memory (the engine would deliver them again); custody events not yet followed are
    # followed after the restart from the ledger's persisted followed block.
    @precondition(lambda self: not self.pipeline.pending)
    @rule()
    def restart(self) -> None:
        """The settlement process stops and restarts from its state files."""
        self.failed_before_restart |= {f.trade.trade_id for f in self.pipeline.failed}
        self.pipeline = SettlementPipeline.restore(self.client, self.encoder, self.certifier, self.state_dir,
                                                   max_batch=MAX_BATCH, followers=self.followers)

    # ---- invariants ---------------------------------------------------------------------------------------------
    @invariant()
    def nothing_lost(self) -> None:
        p = self.pipeline
        assert p.accounted()
        failed = {f.trade.trade_id for f in p.failed} | self.failed_before_restart
        pending = {t.trade_id for t in p.pending}
        assert self.sent <= p.ledger.settled_trade_ids | failed | pending

    @invariant()
    def nothing_settled_twice(self) -> None:
        ledger = self.pipeline.ledger
        ids = [t.trade_id for b in ledger.settled_batches.values() for t in b.trades]
        assert len(ids) == len(set(ids)) == len(ledger.settled_trade_ids)
        assert self.client.last_sequence == ledger.last_sequence == len(ledger.settled_batches) + len(ledger.skipped)
        for seq, batch in ledger.settled_batches.items():
            root = self.settled_roots.setdefault(seq, batch.header.merkle_root)
            assert root == batch.header.merkle_root  # a settled height never changes its batch

    @invariant()
    def reconciled(self) -> None:
        if self.withdrawn_unfollowed:
            return  # the ledger adopts the chain's balance at the next certification; custody is checked below
        venue = self.venue
        report = reconcile(self.pipeline.ledger, self.client, accounts=[*venue.accounts.values(), venue.fee_account],
                           tokens=list(venue.tokens.values()), prove_trades=False)
        assert report.ok, report.summary()

    @invariant()
    def custody(self) -> None:
        venue = self.venue
        for token in venue.tokens.values():
            held = self.client.token(token).balance_of(self.client.address)
            owed = sum(self.client.balance(a, token) for a in [*venue.accounts.values(), venue.fee_account])
            assert held == owed


PipelineMachine.TestCase.settings = settings(max_examples=5, stateful_step_count=20, deadline=None, derandomize=True,
                                              suppress_health_check=[HealthCheck.too_slow])
TestPipelineMachine = pytest.mark.sweep(PipelineMachine.TestCase)  # ~20 s: `make test-extended` (and CI) runs it;
# the audit's regressions below are plain tests in the default run


# ---- issue 13's audit: each bug as a regression test with the real committee certifier -----------------------------
class _Rig:
    """One venue + committee + pipeline with state files, and trade/withdraw helpers."""

    def __init__(self, tmp_path: Path, chain_id: int, **options) -> None:
        self.stack = _stack(chain_id)
        self.venue, self.client = self.stack.venue, self.stack.venue.client
        old = self.stack.pipeline
        self.encoder, self.certifier, self.state_dir = old.encoder, old.certifier, tmp_path
        self.options = {"max_batch": MAX_BATCH, "followers": old.followers, **options}
        self.pipeline = SettlementPipeline(self.client, self.encoder, self.certifier, ledger=old.ledger,
                                           state_dir=tmp_path, **self.options)
        self.next_id = 1
        for token in self.venue.tokens.values():
            TestToken.at(self.venue.chain, token).mint(self.venue.chain.account("deployer"), 10**30)

    def trade(self, buyer: str = "a", seller: str = "b", qty: int = 10) -> Trade:
        tid, self.next_id = self.next_id, self.next_id + 1
        trade = _approved(self.stack.committee, tid, buyer, seller, qty)
        assert trade is not None
        return trade

    def request_all(self, who: str, asset: str) -> int:
        token = self.venue.tokens[asset]
        amount = self.client.balance(self.venue.accounts[who], token)
        self.client.request_withdrawal(token, amount, sender=who)
        return amount

    def restart(self) -> None:
        self.pipeline = SettlementPipeline.restore(self.client, self.encoder, self.certifier, self.state_dir,
                                                   **self.options)

    def reconciled(self) -> bool:
        v = self.venue
        return reconcile(self.pipeline.ledger, self.client, accounts=[*v.accounts.values(), v.fee_account],
                         tokens=list(v.tokens.values()), prove_trades=False).ok


def test_withdrawal_before_restart_is_followed(tmp_path):
    """Was: a restarted pipeline followed Withdrawn events from the current block, so a withdrawal made before the
    restart was never adopted. Now the ledger persists the last block it followed."""
    rig = _Rig(tmp_path, 1401)
    rig.pipeline.on_trade(rig.trade("a", "b"))
    rig.pipeline.flush()
    usdc, c = rig.venue.tokens["USDC"], rig.venue.accounts["c"]
    amount = rig.request_all("c", "USDC")                  # c is in no later trade
    rig.venue.chain.mine(rig.client.max_validity)          # no batch saw the request: the timeout lets c claim
    assert rig.client.claim_withdrawal(usdc, sender="c").amount == amount == FUNDS["USDC"]
    rig.restart()
    rig.pipeline.on_trade(rig.trade("a", "b"))
    rig.pipeline.flush()                                   # follows the request and the claim before certifying
    assert rig.pipeline.ledger.balance(c, usdc) == 0 and not rig.pipeline.ledger.reserved
    assert rig.reconciled() and rig.pipeline.settled_count == 2


class _RacingCertifier:
    """The real committee certifier, with `race` run right after the first certificate (before the send)."""

    def __init__(self, inner, race) -> None:
        self.inner, self.race, self.raced = inner, race, False

    def request(self, batch, trades, on_certified, on_refused):
        def certified(signatures):
            if not self.raced:
                self.raced = True
                self.race()
            on_certified(signatures)
        self.inner.request(batch, trades, certified, on_refused)

    def expired(self, batch):
        self.inner.expired(batch)


def test_withdrawal_racing_a_certified_batch_cannot_refuse_it(tmp_path):
    """Was (issue 13 (a)): a trader withdrew between certification and settlement, the chain refused the batch and
    the pipeline jammed. Now the withdrawal is only a request: the certified batch settles, the request waits for a
    batch that saw it, and every later trade settles."""
    rig = _Rig(tmp_path, 1402)
    a, usdc = rig.venue.accounts["a"], rig.venue.tokens["USDC"]
    usdc_before = rig.client.balance(a, usdc)
    rig.pipeline.certifier = _RacingCertifier(rig.certifier, lambda: rig.request_all("a", "USDC"))
    first, second = rig.trade("a", "b"), rig.trade("c", "b")
    rig.pipeline.on_trade(first)     # a buys 0.10 WETH for 300 USDC
    rig.pipeline.on_trade(second)
    rig.pipeline.flush()
    assert rig.pipeline.ledger.settled_trade_ids == {1, 2} and not rig.pipeline.reverts and not rig.pipeline.failed
    with pytest.raises(ContractRevertError) as err:  # batch 1 was certified before the request
        rig.client.claim_withdrawal(usdc, sender="a")
    assert err.value.error_name == "WithdrawalNotReady"
    later = rig.trade("c", "b")
    rig.pipeline.on_trade(later)
    rig.pipeline.flush()             # batch 2 is certified at a block after the request
    assert later.trade_id in rig.pipeline.ledger.settled_trade_ids
    # The validators followed the request: a's USDC is unavailable, so they refuse a's next buy before execution.
    assert _approved(rig.stack.committee, 99, "a", "c", 1) is None
    paid = rig.client.claim_withdrawal(usdc, sender="a")
    assert usdc_before == FUNDS["USDC"]
    assert paid.amount == FUNDS["USDC"] - 300 * 10**6  # the request, less what batch 1 (certified before it) spent
    assert rig.client.balance(a, usdc) == 0
    rig.pipeline.follow()
    assert rig.reconciled() and rig.pipeline.accounted()


class _LosingSubmitter:
    """The RPC node swallows the first `lose` settle transactions (never mined, never answered), then sends."""

    def __init__(self, client, lose: int = 1) -> None:
        from market_sim.settlement.submitter import DirectSubmitter
        self.direct, self.lose, self.lost = DirectSubmitter(client), lose, []

    def submit(self, batch, signatures, skipped, callbacks):
        if len(self.lost) < self.lose:
            self.lost.append((batch, signatures))
            return
        self.direct.submit(batch, signatures, skipped, callbacks)


def test_failed_batch_can_never_settle_later(tmp_path):
    """Was: a batch the pipeline listed as failed kept a valid certificate, so anyone could settle it later. Now the
    pipeline gives a batch up only once its certificate expired; its trades go into the next batch, which skips the
    expired one on chain, and the old certificate is refused for good."""
    rig = _Rig(tmp_path, 1403, validity=5)
    submitter = _LosingSubmitter(rig.client)
    rig.pipeline.submitter = submitter
    first = rig.trade("a", "b")
    rig.pipeline.on_trade(first)
    rig.pipeline.flush()                               # certified as batch 1, lost on the way
    assert rig.pipeline.settled_count == 0 and rig.pipeline.in_flight == (first,) and rig.pipeline.accounted()
    rig.pipeline.flush()                               # not expired yet: it waits, nothing is cut
    assert not rig.pipeline.expired
    rig.venue.chain.mine(5)
    later = rig.trade("c", "b")
    rig.pipeline.on_trade(later)
    rig.pipeline.flush()                               # batch 1 expired: requeued; batch 2 skips 1 and settles both
    assert rig.pipeline.expired == [1] and rig.pipeline.settled_count == 2 and not rig.pipeline.failed
    assert rig.client.last_sequence == 2 and rig.client.skipped_sequences() == [1]
    assert rig.client.batch_root(1) == bytes(32) and rig.pipeline.ledger.skipped[1].sequence == 1
    assert rig.pipeline.batches[0].skipped == 1
    lost, signatures = submitter.lost[0]
    with pytest.raises(ContractRevertError) as err:    # anyone re-submitting the given-up batch is refused
        rig.client.submit(lost, signatures)
    assert err.value.error_name in {"UnexpectedSequence", "CertificateExpired"}
    log = rig.stack.committee.log
    assert log.height == 2 and log.expired == {1} and log.verify().ok   # log and chain agree height by height
    assert rig.reconciled() and rig.pipeline.accounted()


def test_restart_after_crash_before_send_does_not_jam(tmp_path):
    """Was (issue 13 (c)): a restart after a crash between certifying and sending re-queued the batch although the
    committee had certified that height, and every later batch failed 'log and chain have diverged'. Now the journal
    holds the certificate: the restarted pipeline sends batch 1, then settles the new trade as batch 2."""
    rig = _Rig(tmp_path, 1404)
    sent = [rig.trade("a", "b")]
    head = rig.client.head - 1
    batch = rig.pipeline.commitment.build(1, rig.pipeline.ledger.last_batch_hash, sent, state_block=head,
                                          expires_at=head + rig.pipeline.validity)
    signatures = rig.certifier.certify(batch, sent)           # certified ...
    rig.pipeline.journal.record(batch, tuple(sent), signatures)  # ... journaled, and the process dies before the send
    rig.restart()
    assert rig.client.last_sequence == 1
    rig.pipeline.on_trade(rig.trade("c", "b"))
    rig.pipeline.flush()
    assert rig.pipeline.ledger.settled_trade_ids == {1, 2} and not rig.pipeline.failed and rig.reconciled()


def test_restart_after_crash_before_send_past_expiry_skips_the_batch(tmp_path):
    """The same crash, restarted after the certificate expired: batch 1 is given up and skipped, its trade settles
    in batch 2 together with a trade that arrived before the first flush."""
    rig = _Rig(tmp_path, 1405, validity=4)
    sent = [rig.trade("a", "b")]
    head = rig.client.head - 1
    batch = rig.pipeline.commitment.build(1, GENESIS, sent, state_block=head, expires_at=head + 4)
    rig.pipeline.journal.record(batch, tuple(sent), rig.certifier.certify(batch, sent))
    rig.venue.chain.mine(4)
    rig.restart()
    assert rig.pipeline.expired == [1] and [t.trade_id for t in rig.pipeline.pending] == [1]
    rig.pipeline.on_trade(rig.trade("c", "b"))
    rig.pipeline.flush()
    assert rig.pipeline.ledger.settled_trade_ids == {1, 2} and rig.client.skipped_sequences() == [1]
    assert rig.reconciled() and rig.pipeline.accounted()


def test_validator_removed_on_chain_is_left_out_of_the_certificate(tmp_path):
    """Was (issue 13 (b)): a validator removed on chain -> UnknownSigner, then every later batch failed. Now the
    certifier sends only signers the contract accepts."""
    rig = _Rig(tmp_path, 1406)
    removed = rig.stack.committee.nodes[0].address
    rig.client.remove_validator(removed, threshold=3)
    for _ in range(3):
        rig.pipeline.on_trade(rig.trade("a", "b"))
        rig.pipeline.flush()
    assert rig.pipeline.settled_count == 3 and not rig.pipeline.reverts and rig.reconciled()
