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
        "skipped": [_header_json(h) for _, h in sorted(ledger.skipped.items())],
        "batches": [{**_header_json(b.header), "mode": str(b.mode),
                     "trades": [list(t.as_tuple()) for t in b.trades]}
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
                                      state_block=entry.get("state_block", 0), expires_at=entry.get("expires_at", 0))
        _check_root(batch, entry, path)
        ledger.settled_batches[batch.sequence] = batch
        ledger.settled_trade_ids.update(t.trade_id for t in batch.trades)
    for account, token, amount in data["balances"]:
        ledger.correct(account, token, amount)
    for account, token, amount in data.get("reserved", ()):
        ledger.reserve(account, token, amount)
    for entry in data.get("skipped", ()):
        header = _header(entry)
        ledger.skipped[header.sequence] = header
    ledger.last_sequence = data["last_sequence"]
    ledger.last_batch_hash = bytes.fromhex(data["last_batch_hash"])
    ledger.last_state_block = data.get("last_state_block", 0)
    ledger.followed_block = data.get("followed_block", 0)
    return ledger


def _header_json(header: BatchHeader) -> dict:
    return {"sequence": header.sequence, "prev_hash": header.prev_hash.hex(), "merkle_root": header.merkle_root.hex(),
            "state_block": header.state_block, "expires_at": header.expires_at}


def _header(entry: dict) -> BatchHeader:
    return BatchHeader(entry["sequence"], bytes.fromhex(entry["prev_hash"]), bytes.fromhex(entry["merkle_root"]),
                       entry.get("state_block", 0), entry.get("expires_at", 0))


class Journal:
    """Batches sent but not yet confirmed, with the engine trades behind them; with a path, kept in a JSON file
    (rewritten on every change) so a restarted process can recover them."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.in_flight: InFlight = {}

    def record(self, batch: SettlementBatch, source: tuple[Trade, ...]) -> None:
        """Note a batch about to be sent."""
        self.in_flight[batch.sequence] = (batch, source)
        self._save()

    def forget(self, sequence: int) -> None:
        """The batch is booked (or abandoned): drop it."""
        if self.in_flight.pop(sequence, None) is not None:
            self._save()

    def _save(self) -> None:
        if self.path is not None:
            _write(self.path, {"in_flight": [
                {"sequence": seq, "prev_hash": batch.header.prev_hash.hex(),
                 "merkle_root": batch.header.merkle_root.hex(), "trades": [_trade_json(t) for t in source]}
                for seq, (batch, source) in sorted(self.in_flight.items())]})

    @classmethod
    def load(cls, path: Path, commitment: BatchCommitment) -> Journal:
        """The journal in `path` (an absent file is an empty journal); batches are rebuilt from their trades."""
        journal = cls(path)
        if path.exists():
            for entry in _read(path)["in_flight"]:
                source = tuple(Trade(**{**t, "aggressor": Side(t["aggressor"])}) for t in entry["trades"])
                batch = commitment.build(entry["sequence"], bytes.fromhex(entry["prev_hash"]), source)
                _check_root(batch, entry, path)
                journal.in_flight[batch.sequence] = (batch, source)
        return journal


def _trade_json(trade: Trade) -> dict:
    out = {f.name: getattr(trade, f.name) for f in fields(trade)}
    out["aggressor"] = int(trade.aggressor)
    return out


def _check_root(batch: SettlementBatch, entry: dict, path: Path) -> None:
    if batch.header.merkle_root.hex() != entry["merkle_root"]:
        raise SettlementError(f"{path}: batch {batch.sequence} rebuilt from its trades has root "
                              f"{batch.header.merkle_root.hex()}, the file says {entry['merkle_root']}")
