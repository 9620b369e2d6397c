"""The settlement pipeline: trades from the matching engine are batched, certified, settled on chain and booked.

Batches are cut by size (max_batch trades) or by time (the oldest waiting trade has waited max_delay ns of
simulated time on the Kernel). Every trade the pipeline receives ends in exactly one of: settled (in one batch,
never two), failed (with the reason), or still pending. Before sending, a batch's trades are checked against the
ledger (which mirrors the contract) so a trader short of funds is refused off chain; the ledger first follows the
contract's Withdrawn events, so a balance withdrawn behind its back never yields a certified batch the contract refuses.
If the contract still reverts (a withdrawal racing the settle transaction), the decoded custom error decides what
happens (see _handle_revert). Each batch is written to a Journal before it
is sent, so a process that crashes between submit and confirm recovers by reading the chain (recover()); with a
state_dir the ledger and the journal live in JSON files and SettlementPipeline.restore() restarts from them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from market_sim.blockchain.clients import ErrorDef, SettlementErrors
from market_sim.core.errors import ConsensusError, ContractRevertError, SettlementError
from market_sim.core.events import Event, Trade
from market_sim.settlement.batch import BatchCommitment, SettlementBatch, SettlementMode
from market_sim.settlement.client import SettlementClient
from market_sim.settlement.ledger import Ledger
from market_sim.settlement.state import JOURNAL_FILE, LEDGER_FILE, Journal, load_ledger, save_ledger
from market_sim.settlement.trades import SettledTrade, TradeEncoder
from market_sim.simulation.kernel import Kernel

__all__ = ["Certifier", "FailedTrade", "BatchRecord", "SettlementPipeline"]


def _certificate_errors() -> tuple[ErrorDef, ...]:
    """Reverts caused by the certificate (a Byzantine signer slipped in): certify again."""
    e = SettlementErrors
    return (e.MalformedSignatures, e.InsufficientSignatures, e.InvalidSignature, e.UnknownSigner,
            e.SignersNotAscending)


def _ordering_errors() -> tuple[ErrorDef, ...]:
    """Reverts saying the chain's batch sequence moved past the ledger."""
    return (SettlementErrors.UnexpectedSequence, SettlementErrors.PrevHashMismatch)


class Certifier(Protocol):
    def certify(self, batch: SettlementBatch, trades: Sequence[Trade]) -> bytes:
        """A quorum certificate for `batch`: packed 65-byte signatures, signers ascending; raises ConsensusError."""
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


class SettlementPipeline:
    """Batches trades, gets them certified, settles them on chain and keeps the off-chain ledger."""

    def __init__(self, client: SettlementClient, encoder: TradeEncoder, certifier: Certifier, *,
                 ledger: Ledger | None = None, kernel: Kernel | None = None, max_batch: int = 500,
                 max_delay: int = 1_000_000_000, mode: SettlementMode = SettlementMode.NET,
                 journal: Journal | None = None, max_attempts: int = 3, state_dir: Path | None = None) -> None:
        if max_batch < 1 or max_delay < 1:
            raise SettlementError(f"max_batch and max_delay must be positive (got {max_batch}, {max_delay})")
        self.client = client
        self.encoder = encoder
        self.certifier = certifier
        self.fee_account = client.fee_account
        self.ledger = ledger if ledger is not None else Ledger(self.fee_account)
        self.kernel = kernel
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.mode = SettlementMode(mode)
        self.commitment = BatchCommitment(encoder, self.fee_account, client.token_index, self.mode)  # consensus hooks
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
        self.reverts: list[str] = []       # every decoded revert, in order
        self.corrections: list[str] = []   # ledger balances corrected from the chain after withdrawals, in order
        self._watched_block = client.chain.block_number  # Withdrawn events up to here are reflected in the ledger
        self.duplicates = 0                 # trades received again (ignored)
        self._seen: set[int] = set()        # ids of every trade received
        self._timer = None

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
        if len(self.pending) >= self.max_batch:
            self.flush(full_only=True)
        if self.pending and self._timer is None and self.kernel is not None:
            self._timer = self.kernel.schedule(self.max_delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self, *, full_only: bool = False) -> None:
        """Settle what is pending: every trade, or (full_only) only whole batches of max_batch."""
        if self._timer is not None and not full_only:
            Kernel.cancel(self._timer)
            self._timer = None
        while self.pending and (len(self.pending) >= self.max_batch or not full_only):
            trades, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
            self._settle(trades)
        if not self.pending and self._timer is not None:
            Kernel.cancel(self._timer)
            self._timer = None

    # ---- settling one batch -------------------------------------------------------------------------------------
    def _settle(self, trades: list[Trade]) -> None:
        started = time.perf_counter()
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
        self._follow_withdrawals()
        for attempt in range(1, self.max_attempts + 1):
            settled = self._solvent(settled, by_id)
            if not settled:
                return
            batch = SettlementBatch.build(self.ledger.last_sequence + 1, self.ledger.last_batch_hash, settled,
                                          fee_account=self.fee_account, token_index=self.client.token_index,
                                          mode=self.mode)
            source = tuple(by_id[t.trade_id] for t in settled)
            try:
                signatures = self.certifier.certify(batch, source)
            except ConsensusError as exc:
                for trade in source:
                    self._fail(trade, f"not certified: {exc}")
                return
            self.journal.record(batch, source)
            try:
                info = self.client.submit(batch, signatures)
            except ContractRevertError as exc:
                self.reverts.append(f"batch {batch.sequence}: {exc}")
                if self._handle_revert(exc, batch, source):
                    self.journal.forget(batch.sequence)
                    continue
                return
            self._book(batch, info.gas_used, info.delta_count, info.tx_hash, attempt, started)
            return
        for trade in settled:
            self._fail(by_id[trade.trade_id], f"gave up after {self.max_attempts} submissions")

    def _solvent(self, settled: list[SettledTrade], by_id: dict[int, Trade]) -> list[SettledTrade]:
        kept, refused = self.ledger.split_solvent(settled)
        for trade, (account, token, needed, available) in refused:
            self._fail(by_id[trade.trade_id],
                       f"insufficient balance: {account} needs {self.encoder.amount_text(token, needed)}, "
                       f"has {self.encoder.amount_text(token, available)}")
        return kept

    def _follow_withdrawals(self) -> None:
        """Adopt the chain's balance for every (account, token) withdrawn since the last look. Withdrawals are the only
        way a balance falls outside the pipeline's own batches, and a batch certified on a stale balance would be final
        in the trade log yet refused by the contract; so this runs before every certification."""
        head = self.client.chain.block_number
        if head <= self._watched_block:
            return
        for account, token in dict.fromkeys(self.client.withdrawals(self._watched_block + 1, head)):
            chain_balance = self.client.balance(account, token)
            if chain_balance != self.ledger.balance(account, token):
                self.ledger.correct(account, token, chain_balance)
                self.corrections.append(f"{account} token {token}: adopted the chain's {chain_balance} after a "
                                        "withdrawal")
        self._watched_block = head

    def _handle_revert(self, exc: ContractRevertError, batch: SettlementBatch, source: tuple[Trade, ...]) -> bool:
        """React to a decoded revert; True means 'rebuild and resubmit', False means the batch is finished."""
        if exc.is_any(_ordering_errors()):
            # The chain moved past our ledger: maybe this very batch settled (a lost confirmation) -> recover().
            self.journal.forget(batch.sequence)
            if self.client.batch_root(batch.sequence) == batch.header.merkle_root:
                self._book(batch, 0, len(batch.deltas or ()), "", 1, time.perf_counter())
                return False
            if self.client.last_sequence != self.ledger.last_sequence:
                self.pending[:0] = source  # kept, not lost: they settle once the ledger has caught up
                raise SettlementError(f"the contract is at batch {self.client.last_sequence} but the ledger at "
                                      f"{self.ledger.last_sequence}: another writer? run recover()") from exc
            return True
        if exc.is_(SettlementErrors.InsufficientBalance) and self.mode is SettlementMode.NET:
            # The ledger disagreed with the chain on this balance (in NET mode `available` is the balance before the
            # batch): adopt the chain's value, re-check solvency, re-batch without the trades it cannot carry.
            self.ledger.correct(exc.args["account"], exc.args["token"], exc.args["available"])
            return True
        if exc.is_any(_certificate_errors()):
            return True  # certify again (a Byzantine signer may have slipped into the certificate)
        self.journal.forget(batch.sequence)
        for trade in source:
            self._fail(trade, f"batch {batch.sequence} reverted: {exc}")
        return False

    def _book(self, batch: SettlementBatch, gas: int, deltas: int, tx_hash: str, attempts: int, started: float) -> None:
        self.ledger.apply(batch)
        if self.state_dir is not None:
            save_ledger(self.ledger, self.state_dir / LEDGER_FILE)
        self.journal.forget(batch.sequence)
        record = BatchRecord(batch.sequence, len(batch.trades), deltas, gas, tx_hash,
                             self.kernel.now if self.kernel is not None else 0, attempts,
                             time.perf_counter() - started)
        self.batches.append(record)

    def _fail(self, trade: Trade, reason: str) -> None:
        self.failed.append(FailedTrade(trade, reason))

    # ---- crash recovery -----------------------------------------------------------------------------------------
    def recover(self) -> list[int]:
        """After a restart: book journaled batches the chain settled, re-queue the others; returns booked sequences."""
        booked = []
        for sequence in sorted(self.journal.in_flight):
            batch, source = self.journal.in_flight[sequence]
            self.journal.forget(sequence)
            self._seen.update(t.trade_id for t in source)
            mine = self.ledger.settled_batches.get(sequence)
            if mine is not None and mine.header == batch.header:
                continue  # booked before the crash
            if (sequence == self.ledger.last_sequence + 1
                    and self.client.batch_root(sequence) == batch.header.merkle_root):
                self._book(batch, 0, len(batch.deltas or ()), "", 1, time.perf_counter())
                booked.append(sequence)
            else:
                self.pending.extend(t for t in source if t.trade_id not in self.ledger.settled_trade_ids)
        if self.client.last_sequence != self.ledger.last_sequence:
            raise SettlementError(f"after recovery the contract is at batch {self.client.last_sequence} but the "
                                  f"ledger at {self.ledger.last_sequence}")
        return booked

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

    def accounted(self) -> bool:
        """Every trade received is in exactly one of settled, failed, pending (nothing lost, nothing twice)."""
        failed = [f.trade.trade_id for f in self.failed]
        pending = [t.trade_id for t in self.pending]
        settled = self.ledger.settled_trade_ids
        if len(set(failed)) != len(failed) or len(set(pending)) != len(pending):
            return False
        if set(failed) & settled or set(pending) & settled or set(failed) & set(pending):
            return False
        return self._seen <= settled | set(failed) | set(pending)
