"""LifecycleTracker on hand-built event sequences: exact lifecycle table, stage percentiles, exposure and blocks."""

from __future__ import annotations

from decimal import Decimal

from market_sim.core.bus import Bus
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import Side
from market_sim.settlement.lifecycle import BatchStageEvent as B
from market_sim.settlement.lifecycle import Stage, settlement_topic
from market_sim.settlement.lifecycle import TradeStageEvent as T
from market_sim.settlement.tracker import LifecycleTracker, StageLatency

S = 1_000_000_000
USDC = 10 ** 6
ETH = Instrument("ETH/USDC", tick_size="0.01", lot_size="1", base_decimals=18, quote_decimals=6)  # 1 tick-lot = 0.01


def trade(trade_id: int, ts: int, buyer: str, seller: str, lots: int) -> Trade:
    return Trade(ts, trade_id, "ETH/USDC", 100_000, lots, trade_id, 100 + trade_id, buyer, seller, Side.BUY)


# T1 alice<-bob 1000 USDC, T2 carol<-alice 2000, T3 bob<-carol 1000, T4 bob<-alice 1000 (fails), T5 carol<-dave 3000.
# Batch 1 {T1, T2} final in block 10; batch 2 {T3} expires, T3 is requeued into batch 3 (block 12, final);
# batch 4 {T5} is included in block 12, orphaned, included again in block 13, never final.
EVENTS = [
    trade(1, 1 * S, "alice", "bob", 1), T(1, Stage.EXECUTED, 1 * S),
    trade(2, 2 * S, "carol", "alice", 2), T(2, Stage.EXECUTED, 2 * S),
    B(1, Stage.CUT, 3 * S, 2),
    T(1, Stage.CERTIFIED, 4 * S, sequence=1), T(2, Stage.CERTIFIED, 4 * S, sequence=1), B(1, Stage.CERTIFIED, 4 * S, 2),
    B(1, Stage.SUBMITTED, 5 * S, 2, tx_hash="0xaa"),
    B(1, Stage.INCLUDED, 6 * S, 2, block=10, gas_used=100_000),
    trade(3, 7 * S, "bob", "carol", 1), T(3, Stage.EXECUTED, 7 * S),
    B(2, Stage.CUT, 7 * S + S // 2, 1), T(3, Stage.CERTIFIED, 8 * S, sequence=2), B(2, Stage.CERTIFIED, 8 * S, 1),
    B(2, Stage.SUBMITTED, 8 * S + S // 2, 1),
    B(1, Stage.FINAL, 9 * S, 2, block=10),
    trade(4, 10 * S, "bob", "alice", 1), T(4, Stage.EXECUTED, 10 * S),
    T(4, Stage.FAILED, 11 * S, detail="insufficient balance: bob needs 1,000 USDC"),
    trade(5, 15 * S, "carol", "dave", 3), T(5, Stage.EXECUTED, 15 * S),
    B(2, Stage.EXPIRED, 20 * S, 1, detail="past block 11"), T(3, Stage.REQUEUED, 20 * S, detail="batch 2 expired"),
    B(3, Stage.CUT, 20 * S, 1), B(4, Stage.CUT, 20 * S + S // 2, 1),
    T(3, Stage.CERTIFIED, 21 * S, sequence=3), B(3, Stage.CERTIFIED, 21 * S, 1),
    T(5, Stage.CERTIFIED, 21 * S, sequence=4), B(4, Stage.CERTIFIED, 21 * S, 1),
    B(3, Stage.SUBMITTED, 21 * S, 1), B(4, Stage.SUBMITTED, 21 * S, 1),
    B(3, Stage.INCLUDED, 22 * S, 1, block=12, gas_used=80_000), T(3, Stage.INCLUDED, 22 * S, sequence=3, block=12),
    B(4, Stage.INCLUDED, 22 * S, 1, block=12, gas_used=50_000),
    B(4, Stage.ORPHANED, 23 * S, 1, block=12),
    B(4, Stage.INCLUDED, 24 * S, 1, block=13, gas_used=50_000),
    B(3, Stage.FINAL, 25 * S, 1, block=12),
]


def tracked(events=EVENTS) -> LifecycleTracker:
    tracker = LifecycleTracker("exchange", {"ETH/USDC": ETH})
    bus = Bus()
    tracker.subscribe(bus)
    for e in events:
        bus.publish(e, ("exchange", "ETH/USDC") if type(e) is Trade else settlement_topic("exchange"))
    return tracker


def test_lifecycle_table_row_by_row():
    table = tracked().tables()["settlement_lifecycle"]
    rows = [dict(zip(table, values)) for values in zip(*table.values())]
    assert [r["trade_id"] for r in rows] == [1, 2, 3, 4, 5]
    assert [(r["buyer"], r["seller"], r["asset"], r["notional"], r["notional_value"]) for r in rows] == [
        ("alice", "bob", "USDC", 1000 * USDC, 1000.0), ("carol", "alice", "USDC", 2000 * USDC, 2000.0),
        ("bob", "carol", "USDC", 1000 * USDC, 1000.0), ("bob", "alice", "USDC", 1000 * USDC, 1000.0),
        ("carol", "dave", "USDC", 3000 * USDC, 3000.0)]
    times = [tuple(r[f"{s}_ns"] for s in ("executed", "certified", "submitted", "included", "final")) for r in rows]
    assert times == [(1 * S, 4 * S, 5 * S, 6 * S, 9 * S), (2 * S, 4 * S, 5 * S, 6 * S, 9 * S),
                     (7 * S, 21 * S, 21 * S, 22 * S, 25 * S), (10 * S, None, None, None, None),
                     (15 * S, 21 * S, 21 * S, 24 * S, None)]
    assert [(r["batch"], r["block"], r["outcome"], r["requeues"], r["orphaned"], r["reason"]) for r in rows] == [
        (1, 10, "final", 0, 0, ""), (1, 10, "final", 0, 0, ""), (3, 12, "final", 1, 0, "batch 2 expired"),
        (None, None, "failed", 0, 0, "insufficient balance: bob needs 1,000 USDC"), (4, 13, "included", 0, 1, "")]
    assert set(r["venue"] for r in rows) == {"exchange"}


def test_stage_latency_percentiles_nearest_rank():
    tracker = tracked()
    assert tracker.latencies() == {"executed_to_certified": [3 * S, 2 * S, 14 * S, 6 * S],
                                   "certified_to_included": [2 * S, 2 * S, 1 * S, 3 * S],
                                   "included_to_final": [3 * S, 3 * S, 3 * S],
                                   "executed_to_final": [8 * S, 7 * S, 18 * S]}
    assert tracker.stage_latency() == {
        "executed_to_certified": StageLatency(4, 3000.0, 14000.0, 14000.0, 14000.0),
        "certified_to_included": StageLatency(4, 2000.0, 3000.0, 3000.0, 3000.0),
        "included_to_final": StageLatency(3, 3000.0, 3000.0, 3000.0, 3000.0),
        "executed_to_final": StageLatency(3, 8000.0, 18000.0, 18000.0, 18000.0)}
    assert tracker.counts() == {"failed": 1, "final": 3, "included": 1}


def test_pending_exposure_per_account_and_in_total():
    tracker = tracked()
    exposure = tracker.tables()["settlement_exposure"]
    got = list(zip(exposure["ts"], exposure["account"], exposure["exposure"]))
    k = USDC
    assert got == [(1 * S, "alice", 1000 * k), (1 * S, "bob", 1000 * k),
                   (2 * S, "carol", 2000 * k), (2 * S, "alice", 3000 * k),
                   (7 * S, "bob", 2000 * k), (7 * S, "carol", 3000 * k),
                   (9 * S, "alice", 2000 * k), (9 * S, "bob", 1000 * k),     # T1 final
                   (9 * S, "carol", 1000 * k), (9 * S, "alice", 0),          # T2 final
                   (10 * S, "bob", 2000 * k), (10 * S, "alice", 1000 * k),   # T4 executed
                   (11 * S, "bob", 1000 * k), (11 * S, "alice", 0),          # T4 failed
                   (15 * S, "carol", 4000 * k), (15 * S, "dave", 3000 * k),
                   (25 * S, "bob", 0), (25 * S, "carol", 3000 * k)]          # T3 final (requeued on the way)
    assert set(exposure["asset"]) == {"USDC"} and exposure["exposure_value"][14] == 4000.0
    pending = tracker.tables()["settlement_pending"]
    assert list(zip(pending["ts"], pending["pending_trades"], pending["pending_notional"])) == [
        (1 * S, 1, 1000 * k), (2 * S, 2, 3000 * k), (7 * S, 3, 4000 * k), (9 * S, 2, 3000 * k), (9 * S, 1, 1000 * k),
        (10 * S, 2, 2000 * k), (11 * S, 1, 1000 * k), (15 * S, 2, 4000 * k), (25 * S, 1, 3000 * k)]
    assert tracker.max_pending() == {"USDC": 4000 * k}
    assert tracker.max_account_exposure() == {"USDC": (4000 * k, "carol")}
    assert tracker.quote_assets() == ["USDC"]


def test_batches_and_blocks():
    tracker = tracked()
    batches = tracker.tables()["settlement_batch_stages"]
    assert list(zip(batches["sequence"], batches["outcome"], batches["block"], batches["gas_used"])) == [
        (1, "final", 10, 100_000), (2, "expired", None, 0), (3, "final", 12, 80_000), (4, "included", 13, 50_000)]
    assert batches["tx_hash"][0] == "0xaa" and batches["detail"][1] == "past block 11"
    assert batches["expired_ns"] == [None, 20 * S, None, None] and batches["cut_ns"][3] == 20 * S + S // 2
    assert tracker.expired_sequences() == [2]
    assert tracker.tables()["settlement_blocks"] == {"block": [10, 12, 13], "first_included_ns": [6 * S, 22 * S, 24 * S],
                                                     "batches": [1, 1, 1], "trades": [2, 1, 1],
                                                     "gas_used": [100_000, 80_000, 50_000]}


def test_stage_events_before_the_trade_event_still_count_its_exposure():
    """A subscriber order where the pipeline's `executed` arrives before the venue's Trade."""
    events = [T(1, Stage.EXECUTED, 1 * S), trade(1, 1 * S, "alice", "bob", 1), T(1, Stage.FINAL, 3 * S, block=2)]
    tracker = tracked(events)
    assert tracker.max_pending() == {"USDC": 1000 * USDC}
    assert tracker.pending_rows == [(1 * S, "USDC", 1, 1000 * USDC), (3 * S, "USDC", 0, 0)]
    assert tracker.outcome(1) == "final" and tracker.latencies()["executed_to_final"] == [2 * S]


def test_events_out_of_time_order_give_exposure_in_time_order():
    """Finals replayed after every execution (as a post-run replay does) still net out at their own times."""
    events = [trade(1, 1 * S, "alice", "bob", 1), trade(2, 5 * S, "alice", "carol", 2),
              T(1, Stage.FINAL, 3 * S), T(2, Stage.FINAL, 6 * S)]
    tracker = tracked(events)
    assert tracker.pending_rows == [(1 * S, "USDC", 1, 1000 * USDC), (3 * S, "USDC", 0, 0),
                                    (5 * S, "USDC", 1, 2000 * USDC), (6 * S, "USDC", 0, 0)]
    assert tracker.max_pending() == {"USDC": 2000 * USDC}
    assert [r for r in tracker.exposure_rows if r[1] == "alice"] == [
        (1 * S, "alice", "USDC", 1000 * USDC), (3 * S, "alice", "USDC", 0), (5 * S, "alice", "USDC", 2000 * USDC),
        (6 * S, "alice", "USDC", 0)]


def test_a_trade_requeued_and_not_yet_recertified_says_requeued():
    events = [trade(1, 1 * S, "alice", "bob", 1), T(1, Stage.CERTIFIED, 2 * S, sequence=1),
              T(1, Stage.REQUEUED, 5 * S, detail="batch 1 expired")]
    tracker = tracked(events)
    assert tracker.outcome(1) == "requeued" and tracker.lifecycle_rows()[0]["batch"] is None
    assert tracker.latencies()["executed_to_certified"] == []


def test_18_decimal_quote_amounts_stay_exact():
    big = Instrument("ETH/DAI", tick_size="0.01", lot_size="1", quote_decimals=18)
    tracker = LifecycleTracker("exchange", {"ETH/DAI": big})
    tracker.on_trade(Trade(1, 1, "ETH/DAI", 300_000, 10, 1, 2, "alice", "bob", Side.BUY))  # 30,000 DAI
    tables = tracker.tables()
    assert tables["settlement_lifecycle"]["notional"] == [Decimal(30_000 * 10 ** 18)]
    assert tables["settlement_pending"]["pending_value"] == [30_000.0]


def test_no_events_no_rows_every_table_has_its_columns():
    tables = LifecycleTracker("exchange").tables()
    assert all(all(v == [] for v in t.values()) for t in tables.values())
    assert list(tables["settlement_blocks"]) == ["block", "first_included_ns", "batches", "trades", "gas_used"]
