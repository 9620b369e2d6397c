"""Durable pipeline state: the ledger and the journal of in-flight batches as JSON files, for restarts."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

from market_sim.core.errors import SettlementError
from market_sim.core.events import Trade
from market_sim.core.orders import Side
from market_sim.settlement.batch import BatchCommitment, BatchHeader, SettlementBatch, SettlementMode
from market_sim.settlement.deltas import TokenIndex
from market_sim.settlement.ledger import Ledger
from market_sim.settlement.margin import BorrowChange
from market_sim.settlement.trades import SettledTrade

__all__ = ["Journal", "LEDGER_FILE", "JOURNAL_FILE", "save_ledger", "load_ledger"]

InFlight = dict[int, tuple[SettlementBatch, tuple[Trade, ...]]]

LEDGER_FILE = "ledger.json"
JOURNAL_FILE = "journal.json"


def _write(path: Path, data: dict) -> None:
    # Write-then-rename: a crash mid-write leaves the previous file, never half of one.
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SettlementError(f"cannot read settlement state {path}: {exc}") from None


def save_ledger(ledger: Ledger, path: Path) -> None:
    """Write the ledger: balances, head of the batch chain and every settled batch's trades."""
    _write(path, {
        "fee_account": ledger.fee_account,
        "balances": [[a, t, v] for (a, t), v in sorted(ledger.balances().items())],
        "last_sequence": ledger.last_sequence,
        "last_batch_hash": ledger.last_batch_hash.hex(),
        "last_state_block": ledger.last_state_block,
        "followed_block": ledger.followed_block,
        "reserved": [[a, t, v] for (a, t), v in sorted(ledger.reserved.items())],
        "debts": [[a, t, v] for (a, t), v in sorted(ledger.debts.items())],
        "marks": sorted(ledger.marks.items()),
        "skipped": [_header_json(h) for _, h in sorted(ledger.skipped.items())],
        "batches": [{**_header_json(b.header), "mode": str(b.mode),
                     "trades": [list(t.as_tuple()) for t in b.trades], **_margin_json(b)}
                    for _, b in sorted(ledger.settled_batches.items())],
    })


def load_ledger(path: Path, token_index: TokenIndex) -> Ledger:
    """Read a ledger written by save_ledger; every batch is rebuilt and must reproduce its recorded root."""
    data = _read(path)
    ledger = Ledger(data["fee_account"])
    for entry in data["batches"]:
        batch = SettlementBatch.build(entry["sequence"], bytes.fromhex(entry["prev_hash"]),
                                      [SettledTrade(*t) for t in entry["trades"]], fee_account=ledger.fee_account,
                                      token_index=token_index, mode=SettlementMode(entry["mode"]),
                                      state_block=entry.get("state_block", 0), expires_at=entry.get("expires_at", 0),
                                      **_margin_args(entry))
        _check_root(batch, entry, path)
        ledger.settled_batches[batch.sequence] = batch
        ledger.settled_trade_ids.update(t.trade_id for t in batch.trades)
    for account, token, amount in data["balances"]:
        ledger.correct(account, token, amount)
    for account, token, amount in data.get("reserved", ()):
        ledger.reserve(account, token, amount)
    ledger.debts.update({(a, t): v for a, t, v in data.get("debts", ())})
    ledger.marks.update(dict(data.get("marks", ())))
    for entry in data.get("skipped", ()):
        header = _header(entry)
        ledger.skipped[header.sequence] = header
    ledger.last_sequence = data["last_sequence"]
    ledger.last_batch_hash = bytes.fromhex(data["last_batch_hash"])
    ledger.last_state_block = data.get("last_state_block", 0)
    ledger.followed_block = data.get("followed_block", 0)
    return ledger


def _margin_json(batch: SettlementBatch) -> dict:
    """A margin batch's borrows, marks and liquidated accounts (issue 16); nothing for other modes."""
    if batch.margin is None:
        return {}
    m = batch.margin
    return {"margin": {"borrows": [[b.account, b.token, b.principal, b.fee] for b in m.borrows],
                       "marks": list(m.marks), "liquidated": list(m.liquidated)}}


def _margin_args(entry: dict) -> dict:
    margin = entry.get("margin")
    if margin is None:
        return {}
    return {"borrows": tuple(BorrowChange(*b) for b in margin["borrows"]), "marks": tuple(margin["marks"]),
            "liquidated": tuple(margin["liquidated"])}


def _header_json(header: BatchHeader) -> dict:
    return {"sequence": header.sequence, "prev_hash": header.prev_hash.hex(), "merkle_root": header.merkle_root.hex(),
            "state_block": header.state_block, "expires_at": header.expires_at}


def _header(entry: dict) -> BatchHeader:
    return BatchHeader(entry["sequence"], bytes.fromhex(entry["prev_hash"]), bytes.fromhex(entry["merkle_root"]),
                       entry.get("state_block", 0), entry.get("expires_at", 0))


class Journal:
    """Certified batches not yet settled, with the engine trades behind them and their certificates, and the
    certified batches that expired unsettled (to be skipped by the next settle transaction); with a path, kept in a
    JSON file (rewritten on every change) so a restarted process can send, book or skip them."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.in_flight: InFlight = {}
        self.certificates: dict[int, bytes] = {}
        self.expired: dict[int, BatchHeader] = {}

    def record(self, batch: SettlementBatch, source: tuple[Trade, ...], signatures: bytes = b"") -> None:
        """Note a certified batch about to be sent (with its certificate, so a restart can send it)."""
        self.in_flight[batch.sequence] = (batch, source)
        if signatures:
            self.certificates[batch.sequence] = signatures
        self._save()

    def forget(self, sequence: int) -> None:
        """The batch is booked: drop it (and every expired batch below it, skipped by then)."""
        changed = self.in_flight.pop(sequence, None) is not None
        changed |= self.certificates.pop(sequence, None) is not None
        for seq in [s for s in self.expired if s < sequence]:
            del self.expired[seq]
            changed = True
        if changed:
            self._save()

    def expire(self, sequence: int) -> None:
        """The batch's certificate expired unsettled: it can never settle; the next settle skips it."""
        entry = self.in_flight.pop(sequence, None)
        self.certificates.pop(sequence, None)
        if entry is not None:
            self.expired[sequence] = entry[0].header
        self._save()

    def _save(self) -> None:
        if self.path is not None:
            _write(self.path, {
                "in_flight": [{**_header_json(batch.header), "trades": [_trade_json(t) for t in source],
                               "signatures": self.certificates.get(seq, b"").hex(), **_margin_json(batch)}
                              for seq, (batch, source) in sorted(self.in_flight.items())],
                "expired": [_header_json(h) for _, h in sorted(self.expired.items())]})

    @classmethod
    def load(cls, path: Path, commitment: BatchCommitment) -> Journal:
        """The journal in `path` (an absent file is an empty journal); batches are rebuilt from their trades."""
        journal = cls(path)
        if path.exists():
            data = _read(path)
            for entry in data["in_flight"]:
                source = tuple(Trade(**{**t, "aggressor": Side(t["aggressor"])}) for t in entry["trades"])
                batch = commitment.build(entry["sequence"], bytes.fromhex(entry["prev_hash"]), source,
                                         state_block=entry.get("state_block", 0), expires_at=entry.get("expires_at", 0),
                                      **_margin_args(entry))
                _check_root(batch, entry, path)
                journal.in_flight[batch.sequence] = (batch, source)
                if entry.get("signatures"):
                    journal.certificates[batch.sequence] = bytes.fromhex(entry["signatures"])
            for entry in data.get("expired", ()):
                header = _header(entry)
                journal.expired[header.sequence] = header
        return journal


def _trade_json(trade: Trade) -> dict:
    out = {f.name: getattr(trade, f.name) for f in fields(trade)}
    out["aggressor"] = int(trade.aggressor)
    return out


def _check_root(batch: SettlementBatch, entry: dict, path: Path) -> None:
    if batch.header.merkle_root.hex() != entry["merkle_root"]:
        raise SettlementError(f"{path}: batch {batch.sequence} rebuilt from its trades has root "
                              f"{batch.header.merkle_root.hex()}, the file says {entry['merkle_root']}")
