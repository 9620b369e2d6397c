"""The settlement pipeline: trades from the matching engine are batched, certified, settled on chain and booked.

Batches are cut by size (max_batch trades) or by time (the oldest waiting trade has waited max_delay ns of
simulated time on the Kernel). Every trade the pipeline receives ends in exactly one of: settled (in one batch,
never two), failed (with the reason), or still pending. No trade is lost, none settles twice, and nothing jams:

- **A batch moves cut -> certified -> submitted -> included -> final** through callbacks: the certifier answers
  `request(batch, trades, on_certified, on_refused)` now or later, the submitter reports `on_included`,
  `on_final`, `on_orphaned` or `on_reverted` (settlement.submitter). The synchronous CommitteeCertifier and
  DirectSubmitter answer at once, so `flush()` settles before it returns; a kernel-driven certifier or block
  producer plugs in unchanged. One batch is on its way at a time; the next is cut once it is included.
- **Every batch names a stateBlock and expires.** Before cutting, the pipeline follows the contract's withdrawal
  requests and claims up to the chain head (the stateBlock) into its Ledger (and, through `followers`, into the
  validators' view): requested amounts are unavailable to new batches, deposits count at once. The certificate is
  valid up to block stateBlock + validity; the contract refuses it after, and refuses claims that could make it
  insolvent (Settlement.sol), so a certified batch is solvent whenever it settles.
- **The pipeline gives a batch up only once it expired** (the next block is past expiresAt): it can then never
  settle. Its trades are requeued (re-checked at the next cut: the valid ones go into a later batch, the insolvent
  ones fail with the reason), the validators free them, and the next settle transaction skips the expired header on
  chain. So the committee log and the chain never diverge (every log height is settled or skipped). A revert that
  does not mean expiry (a certificate short of accepted signers, a balance the ledger got wrong) leaves the batch
  waiting for its expiry; certificate reverts are answered with a re-filtered certificate first.
- **Crash and restart:** each certified batch is written with its certificate to the Journal before it is sent;
  with a state_dir the ledger (including the last block it followed) and the journal live in JSON files and
  SettlementPipeline.restore() books what the chain settled, re-sends what can still settle and skips what expired.

Lifecycle events (settlement.lifecycle) go to `emit` (the scenario wires it to the simulation's bus).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from market_sim.blockchain.clients import ErrorDef, SettlementErrors
from market_sim.blockchain.producer import is_unreachable
from market_sim.core.errors import ContractRevertError, SettlementError
from market_sim.core.events import Event, Trade
from market_sim.settlement.batch import BatchCommitment, BatchHeader, SettlementBatch, SettlementMode
from market_sim.settlement.certifier import OnCertified, OnRefused
from market_sim.settlement.client import SettledBatchInfo, SettlementClient
from market_sim.settlement.ledger import Ledger
from market_sim.settlement.lifecycle import BatchStageEvent, Stage, TradeStageEvent
from market_sim.settlement.state import JOURNAL_FILE, LEDGER_FILE, Journal, load_ledger, save_ledger
from market_sim.settlement.submitter import DirectSubmitter, SubmitCallbacks, Submitter
from market_sim.settlement.trades import SettledTrade, TradeEncoder
from market_sim.simulation.kernel import Kernel

__all__ = ["Certifier", "FailedTrade", "BatchRecord", "SettlementPipeline", "CustodyFollower"]

# (kind, account, token, amount): kind "requested" (amount = the account's whole pending request) or "withdrawn"
CustodyFollower = Callable[[str, str, str, int], None]


def _certificate_errors() -> tuple[ErrorDef, ...]:
    """Reverts caused by the certificate (a signer the contract no longer accepts): certify again."""
    e = SettlementErrors
    return (e.MalformedSignatures, e.InsufficientSignatures, e.InvalidSignature, e.UnknownSigner,
            e.SignersNotAscending)


def _ordering_errors() -> tuple[ErrorDef, ...]:
    """Reverts saying the chain's batch sequence moved past the ledger."""
    return (SettlementErrors.UnexpectedSequence, SettlementErrors.PrevHashMismatch)


class Certifier(Protocol):
    def request(self, batch: SettlementBatch, trades: Sequence[Trade], on_certified: OnCertified,
                on_refused: OnRefused) -> None:
        """Certify `batch`; call on_certified(packed signatures) or on_refused(reason) once, now or later."""
        ...

    def expired(self, batch: SettlementBatch) -> None:
        """Certified `batch` expired unsettled: free its trades for a later batch."""
        ...


@dataclass(frozen=True, slots=True)
class FailedTrade:
    """A trade that will not settle, and why."""

    trade: Trade
    reason: str


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One settled batch as the pipeline saw it."""

    sequence: int
    trade_count: int
    delta_count: int
    gas_used: int
    tx_hash: str
    sim_time: int          # kernel time (ns) at which it was cut
    attempts: int          # submissions it took (1 unless a revert was handled)
    wall_seconds: float    # build + certify + submit + confirm
    block: int = 0         # the block it was included in
    skipped: int = 0       # expired batches its transaction skipped


@dataclass(eq=False)
class _Flight:
    """A certified batch on its way to the chain."""

    batch: SettlementBatch
    source: tuple[Trade, ...]
    signatures: bytes
    cut_at: int
    started: float
    attempts: int = 0
    skipped: tuple[BatchHeader, ...] = ()
    stage: Stage = Stage.CERTIFIED
    booked: bool = False
    waiting: str = ""       # why it is waiting for its expiry (a revert it cannot fix), if it is
    unsent: bool = False    # the node was unreachable when it was to be sent: sent again on the next poll


class SettlementPipeline:
    """Batches trades, gets them certified, settles them on chain and keeps the off-chain ledger."""

    def __init__(self, client: SettlementClient, encoder: TradeEncoder, certifier: Certifier, *,
                 ledger: Ledger | None = None, kernel: Kernel | None = None, max_batch: int = 500,
                 max_delay: int = 1_000_000_000, mode: SettlementMode = SettlementMode.NET,
                 journal: Journal | None = None, max_attempts: int = 3, state_dir: Path | None = None,
                 submitter: Submitter | None = None, validity: int | None = None,
                 emit: Callable[[object], None] | None = None, followers: Iterable[CustodyFollower] = ()) -> None:
        if max_batch < 1 or max_delay < 1:
            raise SettlementError(f"max_batch and max_delay must be positive (got {max_batch}, {max_delay})")
        self.client = client
        self.encoder = encoder
        self.certifier = certifier
        self.submitter: Submitter = submitter if submitter is not None else DirectSubmitter(client)
        self.fee_account = client.fee_account
        self.ledger = ledger if ledger is not None else Ledger(self.fee_account)
        self.kernel = kernel
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.mode = SettlementMode(mode)
        limit = client.max_validity
        if validity is not None and not 1 <= validity <= limit:
            raise SettlementError(f"validity must be 1..{limit} blocks (the contract's maxValidity), got {validity}")
        self.validity = validity if validity is not None else limit  # blocks a certificate stays valid
        self.emit = emit
        self.followers: list[CustodyFollower] = list(followers)
        # gate(next sequence) -> False holds the next cut (e.g. a validator-set change on chain must land first);
        # the gate calls flush() once it opens
        self.gates: list[Callable[[int], bool]] = []
        self.commitment = BatchCommitment(encoder, self.fee_account, client.token_index, self.mode)  # consensus hooks
        self.options = None  # settlement.options.OptionDesk: builds batches with option leaves (issue 17)
        if self.ledger.followed_block == 0:
            self.ledger.followed_block = client.head  # custody events up to here are reflected in the ledger
        self.state_dir = Path(state_dir) if state_dir is not None else None
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            save_ledger(self.ledger, self.state_dir / LEDGER_FILE)
        if journal is None:
            journal = Journal(self.state_dir / JOURNAL_FILE if self.state_dir is not None else None)
        self.journal = journal
        self.max_attempts = max_attempts
        self.pending: list[Trade] = []
        self.failed: list[FailedTrade] = []
        self.batches: list[BatchRecord] = []
        self.expired: list[int] = []       # sequences given up after their certificate expired, in order
        self.reverts: list[str] = []       # every decoded revert, in order
        self.corrections: list[str] = []   # ledger balances corrected from the chain, in order
        self.duplicates = 0                 # trades received again (ignored)
        self._seen: set[int] = set()        # ids of every trade received
        self._requeued: Counter[int] = Counter()  # trade id -> times its batch expired
        self._flight: _Flight | None = None  # the certified batch on its way (one at a time)
        self._certifying = False
        self._flushing = False
        self._timer = None
        self._unfinal: set[int] = set()      # sequences included, not final yet
        self.node_unreachable = 0            # chain reads or sends that could not reach the node (retried later)
        self.retry_delay = 1_000_000_000     # ... after this much simulated time (ns)
        self.margin = None  # MARGIN mode: the MarginPlanner (settlement.margin_pipeline) admits and plans batches

    @classmethod
    def restore(cls, client: SettlementClient, encoder: TradeEncoder, certifier: Certifier, state_dir: Path,
                **options: object) -> SettlementPipeline:
        """A pipeline restarted from `state_dir` (its ledger and journal files), recovered against the chain."""
        state_dir = Path(state_dir)
        pipeline = cls(client, encoder, certifier, ledger=load_ledger(state_dir / LEDGER_FILE, client.token_index),
                       state_dir=state_dir, **options)  # type: ignore[arg-type]
        pipeline.journal = Journal.load(state_dir / JOURNAL_FILE, pipeline.commitment)
        pipeline.recover()
        return pipeline

    # ---- intake -------------------------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """Engine subscriber: takes the Trade events, ignores the rest."""
        if type(event) is Trade:
            self.on_trade(event)

    def on_trade(self, trade: Trade) -> None:
        """Queue a trade; cuts a batch when max_batch trades wait, starts the max_delay timer for the first one."""
        if trade.trade_id in self._seen:
            self.duplicates += 1
            return
        self._seen.add(trade.trade_id)
        self.pending.append(trade)
        if self.emit is not None:
            self.emit(TradeStageEvent(trade.trade_id, Stage.EXECUTED, self._now()))
        if len(self.pending) >= self.max_batch:
            self.flush(full_only=True)
        if self.pending and self._timer is None and self.kernel is not None:
            self._timer = self.kernel.schedule(self.max_delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self, *, full_only: bool = False) -> None:
        """Settle what is pending: every trade, or (full_only) only whole batches of max_batch. A batch on its way
        that has expired is given up first; while one is on its way (or waiting for its expiry), trades wait."""
        if self._timer is not None and not full_only:
            Kernel.cancel(self._timer)
            self._timer = None
        self._flushing = True
        try:
            self.poll()
            while self.pending and self._idle and (len(self.pending) >= self.max_batch or not full_only) \
                    and all(gate(self._tip()[0] + 1) for gate in self.gates):
                trades, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
                if not self._cut(trades):  # the node could not be reached: the trades wait, tried again later
                    self.pending[:0] = trades
                    self._retry_later()
                    break
        finally:
            self._flushing = False
        if not self.pending and self._timer is not None:
            Kernel.cancel(self._timer)
            self._timer = None

    def on_block(self) -> None:
        """A new block (the block producer's clock): give up an expired batch, cut what waited while one was on its
        way."""
        self.poll()
        self._resume()

    def _resume(self) -> None:
        """The pipeline became idle (a batch included, given up or refused): cut the trades that waited, now if a
        batch is full or the oldest has waited max_delay, else when it will have."""
        if self._flushing or not self.pending or not self._idle or self.kernel is None:
            return  # (without a kernel the caller drives flush())
        if len(self.pending) >= self.max_batch:
            self.flush(full_only=True)
            return
        due = min(t.ts for t in self.pending) + self.max_delay
        if due <= self.kernel.now:
            self.flush()
        elif self._timer is None:
            self._timer = self.kernel.schedule_at(due, self._on_timer)

    @property
    def settling(self) -> bool:
        """Whether anything is still on its way: trades waiting, a batch being certified or sent, or included and
        not final yet."""
        return bool(self.pending or not self._idle or self._unfinal)
    def poll(self) -> None:
        """Give up the batch on its way if its certificate expired (the next block is past expiresAt), requeueing
        its trades; a clock calls this on every new block."""
        try:
            self._poll()
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            self._unreachable()

    def _unreachable(self) -> None:
        self.node_unreachable += 1
        self._retry_later()

    def _retry_later(self) -> None:
        if self.kernel is not None and self._timer is None:
            self._timer = self.kernel.schedule(self.retry_delay, self._on_timer)

    def _poll(self) -> None:
        flight = self._flight
        if flight is not None and flight.unsent and not flight.booked:
            flight.unsent = False
            self._send(flight)
            flight = self._flight
        if flight is not None and not flight.booked and flight.batch.header.expired(self.client.head + 1):
            if self._settled_on_chain(flight.batch):  # it did settle; only the answer got lost
                self._book(flight, 0, len(flight.batch.deltas or ()), "", 0)
                self._stage(flight, Stage.INCLUDED)
                self._stage(flight, Stage.FINAL)
                self._flight = None
            else:
                self._expire(flight)

    def _settled_on_chain(self, batch: SettlementBatch) -> bool:
        """Whether the chain settled exactly this batch (its root at its sequence; its hash if it is the last)."""
        if self.client.batch_root(batch.sequence) != batch.header.merkle_root:
            return False
        return self.client.last_sequence != batch.sequence or self.client.last_batch_hash == batch.batch_hash

    @property
    def _idle(self) -> bool:
        return self._flight is None and not self._certifying

    # ---- one batch ----------------------------------------------------------------------------------------------
    def _cut(self, trades: list[Trade]) -> bool:
        """Build, check and hand the batch to the certifier; False (nothing done) if the node was unreachable."""
        started = time.perf_counter()
        try:
            self.follow()
            head = self.client.head
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            self.node_unreachable += 1
            return False
        by_id = {t.trade_id: t for t in trades}
        settled: list[SettledTrade] = []
        for trade in trades:
            if trade.trade_id in self.ledger.settled_trade_ids:
                self.duplicates += 1
                continue
            try:
                settled.append(self.encoder.settled(trade))
            except SettlementError as exc:
                self._fail(trade, f"cannot encode: {exc}")
        settled = self._solvent(settled, by_id) if self.margin is None else self._margin_admit(settled, by_id)
        if not settled:
            return True
        # The stateBlock is below the head: the transaction lands in a later block, and a revert is decoded by a call
        # at the head (eth-tester), which must judge the window as the block did. Requests in the head block were
        # followed too (more conservative than the stateBlock says).
        state_block = max(head - 1, 0)
        sequence, prev_hash = self._tip()
        source = tuple(by_id[t.trade_id] for t in settled)
        if self.options is not None:
            batch = self.options.build(sequence + 1, prev_hash, settled, source, state_block=state_block,
                                       expires_at=state_block + self.validity)
        else:
            batch = SettlementBatch.build(sequence + 1, prev_hash, settled, fee_account=self.fee_account,
                                          token_index=self.client.token_index, mode=self.mode,
                                          state_block=state_block, expires_at=state_block + self.validity,
                                          **(self.margin.batch_options(settled) if self.margin is not None else {}))
        cut_at = self._now()
        self._batch_event(batch, Stage.CUT)
        self._certifying = True
        self.certifier.request(batch, source, partial(self._on_certified, batch, source, cut_at, started),
                               partial(self._on_refused, batch, source))
        return True

    def _on_certified(self, batch: SettlementBatch, source: tuple[Trade, ...], cut_at: int, started: float,
                      signatures: bytes) -> None:
        self._certifying = False
        self.journal.record(batch, source, signatures)
        flight = _Flight(batch, source, signatures, cut_at, started)
        self._flight = flight
        self._stage(flight, Stage.CERTIFIED)
        self._send(flight)

    def _on_refused(self, batch: SettlementBatch, source: tuple[Trade, ...], reason: str) -> None:
        self._certifying = False
        if self.options is not None:
            self.options.refused(batch, reason)
        for trade in source:
            self._fail(trade, f"not certified: {reason}", batch.sequence)
        self._resume()

    def _send(self, flight: _Flight) -> None:
        flight.skipped = self._skips_for(flight.batch)
        flight.attempts += 1
        flight.waiting = ""
        self._stage(flight, Stage.SUBMITTED)  # (again after an unreachable node: the tracker keeps the last time)
        callbacks = SubmitCallbacks(
            on_included=partial(self._on_included, flight), on_final=partial(self._on_final, flight),
            on_reverted=partial(self._on_reverted, flight), on_orphaned=partial(self._on_orphaned, flight))
        try:
            self.submitter.submit(flight.batch, flight.signatures, flight.skipped, callbacks)
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            flight.unsent, flight.waiting = True, "node unreachable"
            self._unreachable()

    def _on_included(self, flight: _Flight, info: SettledBatchInfo) -> None:
        if not flight.booked:
            self._book(flight, info.gas_used, info.delta_count, info.tx_hash, info.block)
        self._stage(flight, Stage.INCLUDED, info)
        self._unfinal.add(flight.batch.sequence)
        if self._flight is flight:
            self._flight = None  # the next batch may be cut (it chains onto this one)
            self._resume()

    def _on_final(self, flight: _Flight, info: SettledBatchInfo) -> None:
        self._unfinal.discard(flight.batch.sequence)
        self._stage(flight, Stage.FINAL, info)

    def _on_orphaned(self, flight: _Flight, info: SettledBatchInfo) -> None:
        self._stage(flight, Stage.ORPHANED, info)  # the block producer re-includes the transaction

    def _on_reverted(self, flight: _Flight, exc: ContractRevertError | SettlementError) -> None:
        batch = flight.batch
        self.reverts.append(f"batch {batch.sequence}: {exc}")
        if not isinstance(exc, ContractRevertError):
            self._wait(flight, str(exc))
            return
        if exc.is_any(_ordering_errors()):
            # The chain moved past our ledger: maybe this very batch settled (a lost confirmation).
            if self._settled_on_chain(batch):
                self._book(flight, 0, len(batch.deltas or ()), "", 0)
                self._stage(flight, Stage.INCLUDED)
                self._stage(flight, Stage.FINAL)
                self._flight = None
                return
            if self.client.last_sequence > self.ledger.last_sequence:
                self._wait(flight, "another writer")
                raise SettlementError(f"the contract is at batch {self.client.last_sequence} but the ledger at "
                                      f"{self.ledger.last_sequence}: another writer? run recover()") from exc
        elif exc.is_(SettlementErrors.CertificateExpired):
            self._expire(flight)
            return
        elif exc.is_any(_certificate_errors()) and flight.attempts < self.max_attempts:
            # A signer the contract no longer accepts: ask for the certificate again (filtered to current signers).
            self.certifier.request(batch, flight.source, partial(self._recertified, flight),
                                   partial(self._wait, flight))
            return
        elif exc.is_(SettlementErrors.InsufficientBalance) and self.mode is SettlementMode.NET:
            # Cannot happen for a batch certified at its stateBlock, unless the ledger was told a wrong deposit:
            # adopt the chain's value (in NET mode `available` is the balance before the batch).
            account, token, available = exc.args["account"], exc.args["token"], exc.args["available"]
            self.ledger.correct(account, token, available)
            self.corrections.append(f"{account} token {token}: adopted the chain's {available} after a revert")
        self._wait(flight, str(exc))

    def _recertified(self, flight: _Flight, signatures: bytes) -> None:
        if signatures == flight.signatures:
            self._wait(flight, "no better certificate")
            return
        flight.signatures = signatures
        self.journal.record(flight.batch, flight.source, signatures)
        self._send(flight)

    def _wait(self, flight: _Flight, reason: str) -> None:
        """The batch cannot settle now: it waits (trades queued behind it) until it settles or expires."""
        flight.waiting = reason

    def _expire(self, flight: _Flight) -> None:
        """Give the batch up: its certificate expired, so it can never settle. Requeue its trades."""
        batch = flight.batch
        self.journal.expire(batch.sequence)
        if self._flight is flight:
            self._flight = None
        self.expired.append(batch.sequence)
        self._batch_event(batch, Stage.EXPIRED, detail=flight.waiting or "not included before its expiry")
        self.certifier.expired(batch)
        if self.options is not None:
            self.options.requeue(batch)
        requeued = []
        for trade in flight.source:
            self._requeued[trade.trade_id] += 1
            if self._requeued[trade.trade_id] >= self.max_attempts:
                self._fail(trade, f"gave up after {self._requeued[trade.trade_id]} expired batches", batch.sequence)
                continue
            requeued.append(trade)
            if self.emit is not None:
                self.emit(TradeStageEvent(trade.trade_id, Stage.REQUEUED, self._now(), batch.sequence,
                                          detail=f"batch {batch.sequence} expired"))
        self.pending[:0] = requeued
        self._resume()

    # ---- chain state --------------------------------------------------------------------------------------------
    def follow(self) -> None:
        """Take in the contract's withdrawal requests and claims up to the chain head (the next batch's stateBlock),
        into the ledger and every follower (the validators' view)."""
        head = self.client.head
        start = self.ledger.followed_block + 1
        if head < start:
            return
        for _, _, kind, account, token, amount in self.client.custody_events(start, head):
            if kind == "requested":
                self.ledger.reserve(account, token, amount)
            else:
                self.ledger.claimed(account, token, amount)
            for follower in self.followers:
                follower(kind, account, token, amount)
        self.ledger.followed_block = head
        if self.state_dir is not None:
            save_ledger(self.ledger, self.state_dir / LEDGER_FILE)

    def _tip(self) -> tuple[int, bytes]:
        """(sequence, hash) of the last batch certified: settled, on its way, or expired (to be skipped)."""
        headers = [b.header for b, _ in self.journal.in_flight.values()] + list(self.journal.expired.values())
        headers = [h for h in headers if h.sequence > self.ledger.last_sequence]
        if not headers:
            return self.ledger.last_sequence, self.ledger.last_batch_hash
        top = max(headers, key=lambda h: h.sequence)
        return top.sequence, top.struct_hash()

    def _skips_for(self, batch: SettlementBatch) -> tuple[BatchHeader, ...]:
        """The expired headers between the ledger's last batch and `batch`, which its transaction skips."""
        return tuple(h for s, h in sorted(self.journal.expired.items())
                     if self.ledger.last_sequence < s < batch.sequence)

    def _solvent(self, settled: list[SettledTrade], by_id: dict[int, Trade]) -> list[SettledTrade]:
        kept, refused = self.ledger.split_solvent(settled)
        for trade, (account, token, needed, available) in refused:
            self._fail(by_id[trade.trade_id],
                       f"insufficient balance: {account} needs {self.encoder.amount_text(token, needed)}, "
                       f"has {self.encoder.amount_text(token, available)}")
        return kept

    def _margin_admit(self, settled: list[SettledTrade], by_id: dict[int, Trade]) -> list[SettledTrade]:
        self.margin.note(by_id.values())
        kept, refused = self.margin.admit(settled)
        for trade, reason in refused:
            self._fail(by_id[trade.trade_id], reason)
        return kept

    def _book(self, flight: _Flight, gas: int, deltas: int, tx_hash: str, block: int) -> None:
        batch = flight.batch
        self.ledger.apply(batch, flight.skipped)
        if self.margin is not None:
            self.margin.booked(batch)
        flight.booked = True
        if self.options is not None:
            self.options.booked(batch)
        if self.state_dir is not None:
            save_ledger(self.ledger, self.state_dir / LEDGER_FILE)
        self.journal.forget(batch.sequence)
        self.batches.append(BatchRecord(batch.sequence, len(batch.trades), deltas, gas, tx_hash, flight.cut_at,
                                        max(flight.attempts, 1), time.perf_counter() - flight.started, block,
                                        len(flight.skipped)))

    def _fail(self, trade: Trade, reason: str, sequence: int | None = None) -> None:
        self.failed.append(FailedTrade(trade, reason))
        if self.emit is not None:
            self.emit(TradeStageEvent(trade.trade_id, Stage.FAILED, self._now(), sequence, detail=reason))

    # ---- events -------------------------------------------------------------------------------------------------
    def _now(self) -> int:
        return self.kernel.now if self.kernel is not None else 0

    def _batch_event(self, batch: SettlementBatch, stage: Stage, info: SettledBatchInfo | None = None,
                     detail: str = "") -> None:
        if self.emit is not None:
            self.emit(BatchStageEvent(batch.sequence, stage, self._now(), len(batch.trades),
                                      info.block if info is not None else None,
                                      info.gas_used if info is not None else 0,
                                      info.tx_hash if info is not None else "", detail))

    def _stage(self, flight: _Flight, stage: Stage, info: SettledBatchInfo | None = None) -> None:
        flight.stage = stage
        if self.emit is None:
            return
        self._batch_event(flight.batch, stage, info)
        now, seq = self._now(), flight.batch.sequence
        block = info.block if info is not None and stage is not Stage.CERTIFIED else None
        for trade in flight.source:
            self.emit(TradeStageEvent(trade.trade_id, stage, now, seq, block))

    # ---- crash recovery -----------------------------------------------------------------------------------------
    def recover(self) -> list[int]:
        """After a restart: book journaled batches the chain settled, re-send the ones that can still settle, give
        up (requeue) the expired ones; returns the sequences booked or re-sent and settled."""
        self._flushing = True  # no batch is cut while the journal is worked through
        try:
            return self._recover()
        finally:
            self._flushing = False

    def _recover(self) -> list[int]:
        booked = []
        for sequence in sorted(self.journal.in_flight):
            batch, source = self.journal.in_flight[sequence]
            self._seen.update(t.trade_id for t in source)
            mine = self.ledger.settled_batches.get(sequence)
            if mine is not None and mine.header == batch.header:
                self.journal.forget(sequence)
                continue  # booked before the crash
            flight = _Flight(batch, source, self.journal.certificates.get(sequence, b""), self._now(),
                             time.perf_counter(), attempts=1, stage=Stage.SUBMITTED)
            flight.skipped = self._skips_for(batch)
            if self._settled_on_chain(batch):
                self._book(flight, 0, len(batch.deltas or ()), "", 0)
                booked.append(sequence)
                continue
            self._flight = flight
            if batch.header.expired(self.client.head + 1):
                self._expire(flight)
            elif not flight.signatures:  # journaled before certification finished: certify (or reuse) now
                self._certifying = True
                self.certifier.request(batch, source, partial(self._restored_certificate, flight),
                                       partial(self._restored_refusal, flight))
            else:
                self._send(flight)
            if self._flight is flight:
                break  # waiting (for its expiry): later ones follow it
            if flight.booked:
                booked.append(sequence)
        if self._flight is None and self.client.last_sequence != self.ledger.last_sequence:
            raise SettlementError(f"after recovery the contract is at batch {self.client.last_sequence} but the "
                                  f"ledger at {self.ledger.last_sequence}")
        return booked

    def _restored_certificate(self, flight: _Flight, signatures: bytes) -> None:
        self._certifying = False
        flight.signatures = signatures
        self.journal.record(flight.batch, flight.source, signatures)
        self._send(flight)

    def _restored_refusal(self, flight: _Flight, reason: str) -> None:
        self._certifying = False
        self.journal.forget(flight.batch.sequence)
        self._flight = None
        self.pending.extend(t for t in flight.source if t.trade_id not in self.ledger.settled_trade_ids)

    # ---- figures ------------------------------------------------------------------------------------------------
    @property
    def received(self) -> int:
        return len(self._seen)

    @property
    def settled_count(self) -> int:
        return len(self.ledger.settled_trade_ids)

    @property
    def gas_used(self) -> int:
        return sum(b.gas_used for b in self.batches)

    @property
    def in_flight(self) -> tuple[Trade, ...]:
        """Trades of the batch on its way (certified, not yet booked)."""
        flight = self._flight
        return flight.source if flight is not None and not flight.booked else ()

    def accounted(self) -> bool:
        """Every trade received is in exactly one of settled, failed, pending, in flight (nothing lost, nothing
        twice)."""
        failed = [f.trade.trade_id for f in self.failed]
        pending = [t.trade_id for t in self.pending] + [t.trade_id for t in self.in_flight]
        settled = self.ledger.settled_trade_ids
        if len(set(failed)) != len(failed) or len(set(pending)) != len(pending):
            return False
        if set(failed) & settled or set(pending) & settled or set(failed) & set(pending):
            return False
        return self._seen <= settled | set(failed) | set(pending)
