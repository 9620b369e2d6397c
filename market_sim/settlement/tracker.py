"""The lifecycle tracker: a trade's path to finality, in simulated time, from the settlement events on the bus.

It consumes the pipeline's `TradeStageEvent` / `BatchStageEvent` (topic `settlement_topic(venue)`) and the venue's
`Trade` events (buyer, seller, notional), and turns them into

- the trade-lifecycle table: one row per trade with its executed / certified / submitted / included / final times
  (simulated ns), batch, block and outcome (final, failed, requeued and still pending, or the last stage reached),
  with the reason of a failure or a requeue;
- latency percentiles per stage (executed→certified, certified→included, included→final, executed→final);
- pending (unsettled) exposure over time: the notional of the trades executed but not yet final, per account and in
  total (a trade counts for its buyer and for its seller; the total counts it once);
- batches (their stage times, block, gas) and batches and gas per block.

A batch event also moves the trades known to be in that batch (so a publisher may send per-trade events only for
executed, requeued and failed); a trade event for the same transition sets the same time again. A trade's
`orphaned` stage clears its inclusion (it is included again later); `requeued` clears certified to included and its
batch (it goes into a later batch). Exposure ends when a trade is final or failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from market_sim.consensus.cluster import percentiles
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.settlement.lifecycle import BatchStageEvent, Stage, TradeStageEvent, settlement_topic

__all__ = ["LifecycleTracker", "StageLatency", "LATENCY_STAGES", "LIFECYCLE_COLUMNS", "BATCH_COLUMNS",
           "BLOCK_COLUMNS", "EXPOSURE_COLUMNS", "PENDING_COLUMNS"]

_TIMED = (Stage.EXECUTED, Stage.CERTIFIED, Stage.SUBMITTED, Stage.INCLUDED, Stage.FINAL)
# (name, from stage, to stage): the latencies reported per stage.
LATENCY_STAGES = (("executed_to_certified", Stage.EXECUTED, Stage.CERTIFIED),
                  ("certified_to_included", Stage.CERTIFIED, Stage.INCLUDED),
                  ("included_to_final", Stage.INCLUDED, Stage.FINAL),
                  ("executed_to_final", Stage.EXECUTED, Stage.FINAL))
LIFECYCLE_COLUMNS = ("trade_id", "venue", "symbol", "buyer", "seller", "asset", "notional", "notional_value",
                     "executed_ns", "certified_ns", "submitted_ns", "included_ns", "final_ns", "batch", "block",
                     "outcome", "requeues", "orphaned", "reason")
BATCH_COLUMNS = ("sequence", "trades", "cut_ns", "certified_ns", "submitted_ns", "included_ns", "final_ns",
                 "expired_ns", "block", "gas_used", "tx_hash", "outcome", "detail")
BLOCK_COLUMNS = ("block", "first_included_ns", "batches", "trades", "gas_used")
EXPOSURE_COLUMNS = ("ts", "account", "asset", "exposure", "exposure_value")
PENDING_COLUMNS = ("ts", "asset", "pending_trades", "pending_notional", "pending_value")
_INT64 = 2 ** 63


@dataclass(frozen=True, slots=True)
class StageLatency:
    """Latency of one stage over the trades that went through it, simulated time in ms (nearest-rank)."""

    trades: int = 0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None


class _Trade:
    __slots__ = ("trade_id", "symbol", "buyer", "seller", "asset", "notional", "times", "sequence", "block",
                 "failed", "requeues", "orphaned", "reason", "open")

    def __init__(self, trade_id: int) -> None:
        self.trade_id = trade_id
        self.symbol = self.buyer = self.seller = self.asset = ""
        self.notional = 0
        self.times: dict[Stage, int] = {}
        self.sequence: int | None = None
        self.block: int | None = None
        self.failed = False
        self.requeues = 0
        self.orphaned = 0
        self.reason = ""
        self.open = False  # counted in the pending exposure now


class _Batch:
    __slots__ = ("sequence", "trades", "times", "block", "gas_used", "tx_hash", "detail", "failed")

    def __init__(self, sequence: int) -> None:
        self.sequence = sequence
        self.trades = 0
        self.times: dict[Stage, int] = {}
        self.block: int | None = None
        self.gas_used = 0
        self.tx_hash = ""
        self.detail = ""
        self.failed = False


class LifecycleTracker:
    """Follows every trade and batch of one settlement venue through its stages (see the module docstring).

    `instruments` (symbol -> Instrument) gives a trade's notional in quote units (quantity x price x
    quote_units_per_lot_tick) and its quote asset; without an instrument a trade's notional is 0.
    """

    def __init__(self, venue: str, instruments: Mapping[str, Instrument] | None = None) -> None:
        self.venue = venue
        self._scale = {s: (i.quote_asset, i.quote_units_per_lot_tick, i.quote_decimals)
                       for s, i in (instruments or {}).items()}
        self._decimals = {asset: d for asset, _, d in self._scale.values()}
        self._trades: dict[int, _Trade] = {}
        self._batches: dict[int, _Batch] = {}
        self._members: dict[int, set[int]] = {}  # batch sequence -> trade ids last seen in it
        # exposure changes as they arrive: (ts, trade id, +1 opened / -1 closed, notional, asset, accounts); the
        # tables put them in time order (events may arrive out of it, e.g. replayed after the run)
        self._changes: list[tuple[int, int, int, int, str, tuple[str, ...]]] = []
        self.stage_events = 0  # TradeStageEvent / BatchStageEvent received

    # ---- wiring -------------------------------------------------------------------------------------------------
    def subscribe(self, bus: Any, topic: tuple | None = None,
                  trade_topics: Iterable[tuple] | None = None) -> None:
        """Listen on `bus` to the settlement events under `topic` (default settlement_topic(venue); ("settlement",)
        receives every settlement venue's) and to the trades under `trade_topics` (default [(venue,)])."""
        topic = topic if topic is not None else settlement_topic(self.venue)
        bus.subscribe(TradeStageEvent, self.on_trade_stage, topic)
        bus.subscribe(BatchStageEvent, self.on_batch_stage, topic)
        for trades in trade_topics if trade_topics is not None else [(self.venue,)]:
            bus.subscribe(Trade, self.on_trade, trades)

    # ---- intake -------------------------------------------------------------------------------------------------
    def _trade(self, trade_id: int) -> _Trade:
        t = self._trades.get(trade_id)
        if t is None:
            t = self._trades[trade_id] = _Trade(trade_id)
        return t

    def on_trade(self, trade: Trade) -> None:
        """A venue's Trade: who bought and sold, and how much it is worth (its executed time if none is given)."""
        if type(trade) is not Trade:
            return
        t = self._trade(trade.trade_id)
        t.symbol, t.buyer, t.seller = trade.symbol, trade.buyer, trade.seller
        scale = self._scale.get(trade.symbol)
        if scale is not None:
            t.asset, t.notional = scale[0], trade.quantity * trade.price * scale[1]
        if Stage.EXECUTED not in t.times:
            self._stamp(t, Stage.EXECUTED, trade.ts)
        else:
            self._reopen(t, t.times[Stage.EXECUTED])

    def on_trade_stage(self, event: TradeStageEvent) -> None:
        self.stage_events += 1
        t = self._trade(event.trade_id)
        if event.sequence is not None and event.stage not in (Stage.REQUEUED, Stage.FAILED):
            self._join(t, event.sequence)
        self._apply(t, event.stage, event.ts, event.block, event.detail)

    def on_batch_stage(self, event: BatchStageEvent) -> None:
        self.stage_events += 1
        b = self._batches.get(event.sequence)
        if b is None:
            b = self._batches[event.sequence] = _Batch(event.sequence)
        if event.trade_count:
            b.trades = event.trade_count
        if event.stage is Stage.ORPHANED:
            for stage in (Stage.INCLUDED, Stage.FINAL):
                b.times.pop(stage, None)
            b.block = None
        else:
            b.times[event.stage] = event.ts
        if event.block is not None and event.stage is not Stage.ORPHANED:
            b.block = event.block
        if event.gas_used:
            b.gas_used = event.gas_used
        if event.tx_hash:
            b.tx_hash = event.tx_hash
        if event.detail:
            b.detail = event.detail
        if event.stage is Stage.FAILED:
            b.failed = True
        if event.stage in (Stage.CERTIFIED, Stage.SUBMITTED, Stage.INCLUDED, Stage.FINAL, Stage.ORPHANED):
            for trade_id in sorted(self._members.get(event.sequence, ())):
                t = self._trades[trade_id]
                if event.stage is Stage.ORPHANED or event.stage not in t.times:
                    self._apply(t, event.stage, event.ts, event.block, "")

    def _join(self, t: _Trade, sequence: int) -> None:
        if t.sequence != sequence:
            if t.sequence is not None:
                self._members.get(t.sequence, set()).discard(t.trade_id)
            t.sequence = sequence
            self._members.setdefault(sequence, set()).add(t.trade_id)

    def _apply(self, t: _Trade, stage: Stage, ts: int, block: int | None, detail: str) -> None:
        if stage in _TIMED:
            if block is not None:
                t.block = block
            self._stamp(t, stage, ts)
        elif stage is Stage.ORPHANED:
            if Stage.INCLUDED in t.times or Stage.FINAL in t.times:
                t.orphaned += 1
            t.times.pop(Stage.INCLUDED, None)
            t.times.pop(Stage.FINAL, None)
            t.block = None
            self._reopen(t, ts)
        elif stage is Stage.REQUEUED:
            t.requeues += 1
            t.reason = detail or t.reason
            for s in (Stage.CERTIFIED, Stage.SUBMITTED, Stage.INCLUDED, Stage.FINAL):
                t.times.pop(s, None)
            if t.sequence is not None:
                self._members.get(t.sequence, set()).discard(t.trade_id)
            t.sequence = t.block = None
            self._reopen(t, ts)
        elif stage is Stage.FAILED:
            t.failed = True
            t.reason = detail or t.reason
            self._close(t, ts)

    def _stamp(self, t: _Trade, stage: Stage, ts: int) -> None:
        t.times[stage] = ts
        if stage is Stage.EXECUTED:
            self._reopen(t, ts)
        elif stage is Stage.FINAL:
            self._close(t, ts)

    # ---- exposure -----------------------------------------------------------------------------------------------
    def _reopen(self, t: _Trade, ts: int) -> None:
        if not t.open and t.symbol and not t.failed and Stage.FINAL not in t.times and Stage.EXECUTED in t.times:
            t.open = True
            self._move(t, ts, +1)

    def _close(self, t: _Trade, ts: int) -> None:
        if t.open:
            t.open = False
            self._move(t, ts, -1)

    def _move(self, t: _Trade, ts: int, sign: int) -> None:
        accounts = tuple(a for a in dict.fromkeys((t.buyer, t.seller)) if a)
        self._changes.append((ts, len(self._changes), sign, t.notional, t.asset, accounts))

    def _ordered(self) -> list[tuple[int, int, int, int, str, tuple[str, ...]]]:
        return sorted(self._changes, key=lambda c: (c[0], c[1]))  # by time, then arrival

    @property
    def exposure_rows(self) -> list[tuple[int, str, str, int]]:
        """(ts, account, asset, the account's exposure after the change), in time order."""
        values: dict[tuple[str, str], int] = {}
        out = []
        for ts, _, sign, notional, asset, accounts in self._ordered():
            for account in accounts:
                value = values[(account, asset)] = values.get((account, asset), 0) + sign * notional
                out.append((ts, account, asset, value))
        return out

    @property
    def pending_rows(self) -> list[tuple[int, str, int, int]]:
        """(ts, asset, trades pending, notional pending after the change; each trade once), in time order."""
        pending: dict[str, list[int]] = {}
        out = []
        for ts, _, sign, notional, asset, _ in self._ordered():
            p = pending.setdefault(asset, [0, 0])
            p[0] += sign
            p[1] += sign * notional
            out.append((ts, asset, p[0], p[1]))
        return out

    # ---- figures ------------------------------------------------------------------------------------------------
    def outcome(self, trade_id: int) -> str:
        """final | failed | requeued (out of an expired batch, not settled yet) | the last stage it reached."""
        t = self._trades[trade_id]
        if Stage.FINAL in t.times:
            return "final"
        if t.failed:
            return "failed"
        reached = [s for s in _TIMED if s in t.times]
        if t.requeues and reached[-1:] == [Stage.EXECUTED]:
            return "requeued"
        return str(reached[-1]) if reached else "unknown"

    def latencies(self) -> dict[str, list[int]]:
        """Stage name -> the latencies (ns) of every trade that has both stamps, in trade id order."""
        out: dict[str, list[int]] = {name: [] for name, _, _ in LATENCY_STAGES}
        for trade_id in sorted(self._trades):
            times = self._trades[trade_id].times
            for name, a, b in LATENCY_STAGES:
                if a in times and b in times:
                    out[name].append(times[b] - times[a])
        return out

    def stage_latency(self) -> dict[str, StageLatency]:
        """Stage name -> count and p50 / p90 / p99 / max in ms of simulated time."""
        out = {}
        for name, values in self.latencies().items():
            if not values:
                out[name] = StageLatency()
                continue
            p = percentiles(values)
            out[name] = StageLatency(len(values), *(round(p[k] / 1e6, 3) for k in ("p50", "p90", "p99", "max")))
        return out

    def counts(self) -> dict[str, int]:
        """Trades per outcome, sorted by outcome."""
        out: dict[str, int] = {}
        for trade_id in self._trades:
            o = self.outcome(trade_id)
            out[o] = out.get(o, 0) + 1
        return dict(sorted(out.items()))

    def value(self, asset: str, units: int) -> float:
        """Quote units of `asset` in whole tokens."""
        return units / 10 ** self._decimals.get(asset, 0)

    def quote_assets(self) -> list[str]:
        return sorted({c[4] for c in self._changes})

    def max_pending(self) -> dict[str, int]:
        """Asset -> the largest total notional pending at any time (each trade once)."""
        out: dict[str, int] = {}
        for _, asset, _, notional in self.pending_rows:
            out[asset] = max(out.get(asset, 0), notional)
        return out

    def max_account_exposure(self) -> dict[str, tuple[int, str]]:
        """Asset -> (largest exposure of one account at any time, that account; the first to reach it)."""
        out: dict[str, tuple[int, str]] = {}
        for _, account, asset, value in self.exposure_rows:
            if value > out.get(asset, (0, ""))[0]:
                out[asset] = (value, account)
        return out

    def lifecycle_rows(self) -> list[dict[str, Any]]:
        rows = []
        for trade_id in sorted(self._trades):
            t = self._trades[trade_id]
            times = t.times
            rows.append({"trade_id": trade_id, "venue": self.venue, "symbol": t.symbol, "buyer": t.buyer,
                         "seller": t.seller, "asset": t.asset, "notional": t.notional,
                         "notional_value": self.value(t.asset, t.notional),
                         **{f"{s}_ns": times.get(s) for s in _TIMED},
                         "batch": t.sequence, "block": t.block, "outcome": self.outcome(trade_id),
                         "requeues": t.requeues, "orphaned": t.orphaned, "reason": t.reason})
        return rows

    def batch_rows(self) -> list[dict[str, Any]]:
        rows = []
        for sequence in sorted(self._batches):
            b = self._batches[sequence]
            stages = (Stage.CUT, Stage.CERTIFIED, Stage.SUBMITTED, Stage.INCLUDED, Stage.FINAL, Stage.EXPIRED)
            reached = [s for s in stages if s in b.times]
            outcome = "failed" if b.failed else "expired" if Stage.EXPIRED in b.times else \
                str(reached[-1]) if reached else "unknown"
            rows.append({"sequence": sequence, "trades": b.trades,
                         **{f"{s}_ns": b.times.get(s) for s in stages},
                         "block": b.block, "gas_used": b.gas_used, "tx_hash": b.tx_hash, "outcome": outcome,
                         "detail": b.detail})
        return rows

    def expired_sequences(self) -> list[int]:
        """Batches that expired unsettled (the chain skips their heights)."""
        return sorted(s for s, b in self._batches.items() if Stage.EXPIRED in b.times)

    def block_rows(self) -> list[dict[str, Any]]:
        """Per block holding an included batch: when the first was included, batches, trades, gas used."""
        blocks: dict[int, list[int]] = {}
        for b in self._batches.values():
            if b.block is None or Stage.INCLUDED not in b.times:
                continue
            row = blocks.setdefault(b.block, [b.times[Stage.INCLUDED], 0, 0, 0])
            row[0] = min(row[0], b.times[Stage.INCLUDED])
            row[1] += 1
            row[2] += b.trades
            row[3] += b.gas_used
        return [{"block": n, "first_included_ns": r[0], "batches": r[1], "trades": r[2], "gas_used": r[3]}
                for n, r in sorted(blocks.items())]

    def exposure_table(self) -> dict[str, list]:
        cols: dict[str, list] = {c: [] for c in EXPOSURE_COLUMNS}
        for ts, account, asset, value in self.exposure_rows:
            for c, v in zip(EXPOSURE_COLUMNS, (ts, account, asset, value, self.value(asset, value))):
                cols[c].append(v)
        _exact(cols, "exposure")
        return cols

    def pending_table(self) -> dict[str, list]:
        cols: dict[str, list] = {c: [] for c in PENDING_COLUMNS}
        for ts, asset, trades, notional in self.pending_rows:
            for c, v in zip(PENDING_COLUMNS, (ts, asset, trades, notional, self.value(asset, notional))):
                cols[c].append(v)
        _exact(cols, "pending_notional")
        return cols

    def tables(self) -> dict[str, dict[str, list]]:
        """The section's tables as column dicts (every table has its columns even when empty)."""
        out = {"settlement_lifecycle": _columns(self.lifecycle_rows(), LIFECYCLE_COLUMNS),
               "settlement_batch_stages": _columns(self.batch_rows(), BATCH_COLUMNS),
               "settlement_blocks": _columns(self.block_rows(), BLOCK_COLUMNS),
               "settlement_exposure": self.exposure_table(),
               "settlement_pending": self.pending_table()}
        _exact(out["settlement_lifecycle"], "notional")
        return out


def _columns(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...]) -> dict[str, list]:
    out: dict[str, list] = {c: [] for c in columns}
    for row in rows:
        for c in columns:
            out[c].append(row[c])
    return out


def _exact(cols: dict[str, list], name: str, convert: Callable[[int], Any] = Decimal) -> None:
    """An exact integer column that overflows int64 (18-decimal assets) is stored as Decimal."""
    if any(not -_INT64 <= v < _INT64 for v in cols[name]):
        cols[name] = [convert(v) for v in cols[name]]
