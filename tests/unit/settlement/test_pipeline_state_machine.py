"""Stateful fuzzing of the real settlement pipeline (issue 22): hypothesis drives random deposits, withdrawals, trades,
flushes, forged and replayed batches and restarts through SettlementPipeline with the real CommitteeCertifier on the
in-process chain; after every step: nothing lost, nothing settled twice, chain and ledger agree (reconciliation).

Known pipeline bugs (issue 13's audit) are not fixed here: each is a deterministic xfail(strict=True) test below, so
the suite passes while the bug stands and turns red (XPASS) the day it is fixed, to be flipped into a plain test.
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
        self.pipeline = SettlementPipeline(self.client, self.encoder, self.certifier, ledger=old.ledger,
                                           max_batch=MAX_BATCH, state_dir=self.state_dir)
        self.funder = venue.chain.account("deployer")
        for asset in ASSETS:
            TestToken.at(venue.chain, venue.tokens[asset]).mint(self.funder, 10**30)
        self.next_id = 1
        self.sent: set[int] = set()
        self.failed_before_restart: set[int] = set()
        self.withdrawn_unfollowed = False  # a withdrawal the ledger has not followed yet (it does before certifying)
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
        # Straight to the contract, behind the pipeline's back: it must follow the Withdrawn event before certifying.
        account, token = self.venue.accounts[who], self.venue.tokens[asset]
        amount = self.client.balance(account, token) // share
        if amount == 0:
            return
        self.client.withdraw(token, amount, sender=who)
        self.stack.committee.deposit(who, asset, -amount)  # validators told (issue 13: they do not follow by themselves)
        self.withdrawn_unfollowed = True

    @rule(count=st.integers(0, 2))
    def forged_batch_is_refused(self, count: int) -> None:
        """A batch of made-up trades with fewer than threshold committee signatures: the contract must refuse it."""
        ledger = self.pipeline.ledger
        tid = 10**9 + self.next_id
        fake = Trade(tid, tid, INST.symbol, PRICE, 1, 1, 2, "a", "b", Side.BUY)
        batch = self.pipeline.commitment.build(ledger.last_sequence + 1, ledger.last_batch_hash, [fake])
        digest = self.client.digest(batch.header)
        nodes = self.stack.committee.nodes[:count]
        signatures = pack_signatures([(n.address, n.key.sign(digest)) for n in nodes])
        before = self.client.last_sequence
        with pytest.raises(ContractRevertError) as err:
            self.client.submit(batch, signatures)
        assert err.value.error_name in {"InsufficientSignatures", "MalformedSignatures"}
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

    # A withdrawal not yet followed is lost by a restart (test_withdrawal_before_restart_is_followed, xfail below).
    @precondition(lambda self: not self.pipeline.pending and not self.withdrawn_unfollowed)
    @rule()
    def restart(self) -> None:
        """The settlement process stops and restarts from its state files."""
        self.failed_before_restart |= {f.trade.trade_id for f in self.pipeline.failed}
        self.pipeline = SettlementPipeline.restore(self.client, self.encoder, self.certifier, self.state_dir,
                                                   max_batch=MAX_BATCH)

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
        assert self.client.last_sequence == ledger.last_sequence == len(ledger.settled_batches)
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
TestPipelineMachine = PipelineMachine.TestCase


# ---- known bugs found by the machine's rules or listed by issue 13's audit: recorded, not fixed here --------------
class _Rig:
    """One venue + committee + pipeline with state files, and trade/withdraw helpers for the xfail tests."""

    def __init__(self, tmp_path: Path, chain_id: int) -> None:
        self.stack = _stack(chain_id)
        self.venue, self.client = self.stack.venue, self.stack.venue.client
        old = self.stack.pipeline
        self.encoder, self.certifier, self.state_dir = old.encoder, old.certifier, tmp_path
        self.pipeline = SettlementPipeline(self.client, self.encoder, self.certifier, ledger=old.ledger,
                                           max_batch=MAX_BATCH, state_dir=tmp_path)
        self.next_id = 1
        for token in self.venue.tokens.values():
            TestToken.at(self.venue.chain, token).mint(self.venue.chain.account("deployer"), 10**30)

    def trade(self, buyer: str = "a", seller: str = "b", qty: int = 10) -> Trade:
        tid, self.next_id = self.next_id, self.next_id + 1
        trade = _approved(self.stack.committee, tid, buyer, seller, qty)
        assert trade is not None
        return trade

    def withdraw_all(self, who: str, asset: str) -> None:
        token = self.venue.tokens[asset]
        self.client.withdraw(token, self.client.balance(self.venue.accounts[who], token), sender=who)

    def restart(self) -> None:
        self.pipeline = SettlementPipeline.restore(self.client, self.encoder, self.certifier, self.state_dir,
                                                   max_batch=MAX_BATCH)

    def reconciled(self) -> bool:
        v = self.venue
        return reconcile(self.pipeline.ledger, self.client, accounts=[*v.accounts.values(), v.fee_account],
                         tokens=list(v.tokens.values()), prove_trades=False).ok


@pytest.mark.xfail(strict=True, reason="bug: a restarted pipeline starts following Withdrawn events at the current "
                   "block, so a withdrawal made before the restart (not yet followed) is never adopted: the ledger "
                   "keeps the old balance and reconciliation stays dirty (found by PipelineMachine's restart rule)")
def test_withdrawal_before_restart_is_followed(tmp_path):
    rig = _Rig(tmp_path, 1401)
    rig.pipeline.on_trade(rig.trade("a", "b"))
    rig.pipeline.flush()
    rig.withdraw_all("c", "USDC")           # c is in no later trade
    rig.restart()
    rig.pipeline.on_trade(rig.trade("a", "b"))
    rig.pipeline.flush()                    # certifies after following withdrawals
    assert rig.reconciled()


class _RacingCertifier:
    """The real committee certifier, with a trader withdrawing everything right after the first certificate."""

    def __init__(self, inner, race) -> None:
        self.inner, self.race, self.raced = inner, race, False

    def certify(self, batch, trades):
        signatures = self.inner.certify(batch, trades)
        if not self.raced:
            self.raced = True
            self.race()
        return signatures


@pytest.mark.xfail(strict=True, reason="bug (issue 13): after the chain refuses a certified batch (a withdrawal raced "
                   "it) the rebuilt batch for the same height fails 'log and chain have diverged', and so does every "
                   "later trade: the pipeline jams")
def test_pipeline_does_not_jam_after_a_refused_batch(tmp_path):
    rig = _Rig(tmp_path, 1402)
    rig.pipeline.certifier = _RacingCertifier(rig.certifier, lambda: rig.withdraw_all("a", "USDC"))
    rig.pipeline.on_trade(rig.trade("a", "b"))   # a buys: refused on chain after a's withdrawal
    rig.pipeline.on_trade(rig.trade("c", "b"))   # valid
    rig.pipeline.flush()
    later = rig.trade("c", "b")
    rig.pipeline.on_trade(later)
    rig.pipeline.flush()
    assert later.trade_id in rig.pipeline.ledger.settled_trade_ids


@pytest.mark.xfail(strict=True, reason="bug (issue 13): a batch the pipeline lists as failed keeps a valid committee "
                   "certificate, so once the trader re-deposits anyone can submit it and the 'failed' trades settle")
def test_failed_batch_can_never_settle_later(tmp_path):
    rig = _Rig(tmp_path, 1403)
    rig.pipeline.certifier = _RacingCertifier(rig.certifier, lambda: rig.withdraw_all("a", "USDC"))
    refused = rig.trade("a", "b")
    rig.pipeline.on_trade(refused)
    rig.pipeline.flush()
    assert refused.trade_id in {f.trade.trade_id for f in rig.pipeline.failed}
    block = rig.stack.committee.log.block(1)
    batch = rig.pipeline.commitment.build(1, rig.pipeline.ledger.last_batch_hash, [refused])
    account, token = rig.venue.accounts["a"], rig.venue.tokens["USDC"]
    rig.client.deposit_for(account, token, FUNDS["USDC"], sender="deployer")
    with pytest.raises(ContractRevertError):
        rig.client.submit(batch, pack_signatures(block.qc.signatures))


@pytest.mark.xfail(strict=True, reason="bug (issue 13 (c)): a restart after a crash between certifying and sending "
                   "re-queues the batch, but the committee already certified that height, so the rebuilt batch "
                   "(with a new trade) fails 'log and chain have diverged' and every later trade with it")
def test_restart_after_crash_before_send_does_not_jam(tmp_path):
    rig = _Rig(tmp_path, 1404)
    sent = [rig.trade("a", "b")]
    batch = rig.pipeline.commitment.build(1, rig.pipeline.ledger.last_batch_hash, sent)
    rig.certifier.certify(batch, sent)           # certified ...
    rig.pipeline.journal.record(batch, tuple(sent))  # ... journaled, and the process dies before the send
    rig.restart()
    rig.pipeline.on_trade(rig.trade("c", "b"))
    rig.pipeline.flush()
    assert rig.pipeline.ledger.settled_trade_ids == {1, 2} and not rig.pipeline.failed
