"""The L2 replay: queue-position models, trade-through and crossed-book fills, marketable orders against the
replayed levels, latency, and the shipped BTCUSDT capture with an unchanged MarketMaker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from market_sim.backtest.l2 import (
    L2Backtest, L2Data, PessimisticQueue, ProbabilisticQueue, ProportionalQueue, l2_data_from_capture,
)
from market_sim.core.accounts import Liquidity
from market_sim.core.errors import ConfigError
from market_sim.core.events import CancelReason, OrderCancelled, OrderRejected, RejectReason
from market_sim.core.instruments import Instrument
from market_sim.core.orders import OrderType, PostOnlyMode, Side
from market_sim.simulation.agents.base import Agent
from market_sim.simulation.agents.market_maker import MarketMaker, MarketMakerParams
from market_sim.simulation.latency import FixedLatency

INS = Instrument("XYZ", tick_size="0.01", lot_size="1", base_decimals=0, quote_decimals=2)
ROOT = Path(__file__).resolve().parents[3]
BTC_FILE = ROOT / "examples" / "data" / "btcusdt_20240808.binance-spot.jsonl.gz"

DEPTH, TRADE = 0, 1


def data(bids, asks, msgs):
    """msgs: (ts, kind, side, price, qty); depth side +1 bid / -1 ask, trade side = aggressor (+1 buy)."""
    a = np.array(msgs, dtype=np.int64).reshape(-1, 5)
    return L2Data(INS, 0, dict(bids), dict(asks), a[:, 0], a[:, 1].astype(np.int8), a[:, 2].astype(np.int8), a[:, 3],
                  a[:, 4])


class Sender(Agent):
    kind = "l2-sender-test"

    def __init__(self, orders):
        super().__init__("a")
        self.orders = orders
        self.got = []

    def on_start(self):
        for side, qty, price, typ in self.orders:
            self.submit("XYZ", side, qty, price, order_type=typ)

    def on_fill(self, fill):
        self.got.append((fill.ts, int(fill.side), fill.price, fill.quantity, fill.liquidity))


def run(d, orders, queue=ProbabilisticQueue(2), latency=0):
    agent = Sender(orders)
    L2Backtest(d, agent, queue=queue, entry_latency=FixedLatency(latency), data_latency=FixedLatency(0)).run()
    return agent


# we join the bid at 100 behind 10 lots; 5 more join behind us; 3 are cancelled (where?); a sell of 9 hits 100
QUEUE_MSGS = [(10, DEPTH, 1, 100, 15), (20, DEPTH, 1, 100, 12), (30, TRADE, -1, 100, 9), (31, DEPTH, 1, 100, 3)]


@pytest.mark.parametrize("queue, fills", [
    (PessimisticQueue(), []),                        # cancels behind us: 10 ahead, the 9 traded do not reach us
    (ProportionalQueue(), [(30, 1, 100, 1)]),        # ahead 10 - 3 * 10 // 15 = 8: one lot of the 9 is ours
    (ProbabilisticQueue(2), [(30, 1, 100, 2)]),      # 10 - 0.8 * 3 + min(5 - 0.2 * 3, 0) = 7.6 -> 7: two lots
])
def test_queue_models_place_cancels_differently(queue, fills):
    a = run(data({100: 10}, {102: 5}, QUEUE_MSGS), [(Side.BUY, 3, 100, OrderType.LIMIT)], queue=queue)
    assert [g[:4] for g in a.got] == fills
    assert all(g[4] is Liquidity.MAKER for g in a.got)


def test_queue_model_formulas():
    assert PessimisticQueue().cancelled(10, 15, 3) == 10
    assert PessimisticQueue().cancelled(10, 15, 8) == 7        # the level shrank below our place
    assert ProportionalQueue().cancelled(10, 15, 3) == 8
    assert ProbabilisticQueue(2).cancelled(10, 15, 3) == 7
    assert ProbabilisticQueue(1).cancelled(10, 15, 3) == 8     # 10 - (2/3) * 3 = 8


def test_a_trade_through_our_price_fills_the_whole_order():
    a = run(data({100: 10}, {102: 5}, [(10, TRADE, -1, 99, 1)]), [(Side.BUY, 3, 100, OrderType.LIMIT)])
    assert a.got == [(10, 1, 100, 3, Liquidity.MAKER)]


def test_the_opposite_best_reaching_our_price_fills_it():
    a = run(data({100: 10}, {102: 5}, [(10, DEPTH, -1, 100, 4)]), [(Side.BUY, 3, 100, OrderType.LIMIT)])
    assert a.got == [(10, 1, 100, 3, Liquidity.MAKER)]


def test_marketable_orders_take_the_replayed_levels():
    d = data({100: 10}, {102: 5, 103: 10}, [(10, DEPTH, 1, 99, 1)])
    a = run(d, [(Side.BUY, 7, None, OrderType.MARKET)])
    assert a.got == [(0, 1, 102, 5, Liquidity.TAKER), (0, 1, 103, 2, Liquidity.TAKER)]
    b = run(d, [(Side.SELL, 4, 100, OrderType.LIMIT)])
    assert b.got == [(0, -1, 100, 4, Liquidity.TAKER)]


def test_entry_latency_delays_the_order():
    msgs = [(5, TRADE, -1, 99, 1), (20, TRADE, -1, 99, 1)]
    assert run(data({100: 10}, {102: 5}, msgs), [(Side.BUY, 3, 100, OrderType.LIMIT)], latency=10).got == \
        [(20, 1, 100, 3, Liquidity.MAKER)]   # not live at t=5 (arrives at 10): only the second trade fills it


def test_market_maker_runs_unchanged_on_the_btcusdt_capture():
    from market_sim.data.readers import read_binance_jsonl

    ins = Instrument("BTCUSDT", tick_size="0.01", lot_size="0.000001", asset_class="crypto", base_asset="BTC",
                     quote_asset="USDT", base_decimals=8, quote_decimals=8)
    d = l2_data_from_capture(read_binance_jsonl(BTC_FILE, ins), ins)
    assert len(d.snapshot_bids) == 1000 and len(d.snapshot_asks) == 1000
    assert bool(np.all(np.diff(d.ts) >= 0))
    mm = MarketMaker("mm", MarketMakerParams(interval=1_000_000_000, half_spread_ticks=1, quantity=1000, levels=1,
                                             anchor="mid", max_inventory=20_000, skew_ticks_per_lot=0.0))
    res = L2Backtest(d, mm, queue=PessimisticQueue(), entry_latency=FixedLatency(5_000_000),
                     data_latency=FixedLatency(5_000_000)).run()
    assert res.messages == len(d) and len(res.fills) > 50
    acct = res.accounts["mm"]
    bought = sum(q for _, _, s, _, q, _, _, _ in res.fills if s > 0)
    sold = sum(q for _, _, s, _, q, _, _, _ in res.fills if s < 0)
    assert mm.position("BTCUSDT") == bought - sold == acct.balance("BTC") // ins.base_units_per_lot
    assert abs(mm.position("BTCUSDT")) <= 20_000 + 1000


def test_replay_from_depth_and_trade_csv_files(tmp_path):
    from market_sim.backtest.l2 import l2_data_from_frames
    from market_sim.data.readers import read_depth, read_trades

    (tmp_path / "depth.csv").write_text("time,side,price,quantity\n"
                                        "2024-01-01 00:00:00,bid,1.00,10\n2024-01-01 00:00:00,ask,1.02,5\n"
                                        "2024-01-01 00:00:02,bid,1.00,6\n")
    (tmp_path / "trades.csv").write_text("time,price,quantity,side\n2024-01-01 00:00:01,1.00,4,sell\n"
                                         "2024-01-01 00:00:03,0.99,1,sell\n")
    d = l2_data_from_frames(read_depth(tmp_path / "depth.csv", INS), read_trades(tmp_path / "trades.csv", INS), INS)
    assert d.snapshot_bids == {} and d.kind.tolist() == [0, 0, 1, 0, 1]

    class Later(Sender):
        def on_start(self):
            self.wake_up_in(500_000_000)   # after the first diffs built the book

        def on_wakeup(self):
            self.submit("XYZ", Side.BUY, 3, 100)

    a = Later([])
    L2Backtest(d, a, entry_latency=FixedLatency(0), data_latency=FixedLatency(0)).run()
    t3 = int(d.ts[-1])
    assert a.got == [(t3, 1, 100, 3, Liquidity.MAKER)]  # behind 10, 4 traded, then a sell through 100 at 0.99


def test_the_replayed_book_matches_binance_book_ticker_at_the_same_update_id():
    """Replaying the depth diffs after the snapshot gives, after every diff whose final update id also has a
    bookTicker message, exactly that message's best bid and ask (564 of them in the shipped capture)."""
    from market_sim.data.readers import read_binance_jsonl

    ins = Instrument("BTCUSDT", tick_size="0.01", lot_size="0.000001", asset_class="crypto", base_asset="BTC",
                     quote_asset="USDT", base_decimals=8, quote_decimals=8)
    cap = read_binance_jsonl(BTC_FILE, ins)
    bt = L2Backtest(l2_data_from_capture(cap, ins), Sender([]))
    d = cap.depth[cap.depth["update_id"] > int(cap.snapshot["update_id"].iloc[0])]
    ticker = {int(u): (int(b), int(a)) for u, b, a in zip(cap.quotes["update_id"], cap.quotes["bid_price"],
                                                          cap.quotes["ask_price"])}
    ids = d["update_id"].to_numpy()
    sides = np.where(d["side"].to_numpy() == "bid", 1, -1)
    checked = 0
    for k, (s, p, q) in enumerate(zip(sides, d["price"].to_numpy(), d["quantity"].to_numpy())):
        bt._depth(0, int(s), int(p), int(q))   # the replay's own per-level step, into the project book
        if (k + 1 == len(d) or ids[k + 1] != ids[k]) and int(ids[k]) in ticker:
            assert (bt.book.bids.best, bt.book.asks.best) == ticker[int(ids[k])], f"update {ids[k]}"
            checked += 1
    assert checked == 564


# ---- the replay runs on the project's order book (market_sim.market): exact fills and book states ----------------

class Scripted(Agent):
    """Sends the commands listed for a time (ns) when woken then; records fills and order events."""

    kind = "l2-scripted-test"

    def __init__(self, name, script):
        super().__init__(name)
        self.script = dict(script)
        self.got, self.events, self.ids = [], [], []

    def on_start(self):
        for t in sorted(self.script):
            self.wake_up_at(t)

    def on_wakeup(self):
        for cmd in self.script.pop(self.now, []):
            if cmd[0] == "cancel":
                self.cancel(self.ids[cmd[1]])
            elif cmd[0] == "modify":
                self.modify(self.ids[cmd[1]], **cmd[2])
            else:
                side, qty, price, kw = cmd
                self.ids.append(self.submit("XYZ", side, qty, price, **kw))

    def on_fill(self, fill):
        self.got.append((fill.ts, int(fill.side), fill.price, fill.quantity, fill.liquidity))

    def on_order_event(self, event):
        self.events.append(event)


def replay(d, *agents, queue=ProbabilisticQueue(2)):
    bt = L2Backtest(d, list(agents), queue=queue, entry_latency=FixedLatency(0), data_latency=FixedLatency(0))
    return bt, bt.run()


def test_the_replayed_levels_are_aggregate_orders_of_the_market_account_and_ours_rest_behind_them():
    d = data({100: 10, 99: 4}, {102: 5}, [(10, DEPTH, 1, 100, 12), (20, DEPTH, 1, 98, 3), (30, DEPTH, 1, 99, 0)])
    a = Scripted("a", {5: [(Side.BUY, 3, 100, {})]})
    bt, _ = replay(d, a)
    bids, asks = bt.book.l3()
    assert [(o.trader, o.price, o.quantity) for o in bids] == [("market", 100, 12), ("a", 100, 3), ("market", 98, 3)]
    assert [(o.trader, o.price, o.quantity) for o in asks] == [("market", 102, 5)]
    assert bt.book.depth() == ([(100, 15), (98, 3)], [(102, 5)])   # the book shows our order with the market's
    assert all(o.order_id < 0 for o in bids + asks if o.trader == "market")


def test_a_marketable_order_takes_the_book_and_its_impact_lasts_until_the_levels_next_update():
    # asks 102 x 5, 103 x 10. A buys 7 at market at t=5: 5 @ 102, 2 @ 103, leaving 103 x 8 (102 is gone). B buys 9 at
    # market at t=6: 8 @ 103 and 1 @ 104. At t=10 the data restore 102 x 5; C's buy of 6 at t=15 takes 5 @ 102, 1 @ 103
    # (the data's 103 x 10 came back at t=10 too).
    d = data({100: 10}, {102: 5, 103: 10, 104: 20}, [(10, DEPTH, -1, 102, 5), (10, DEPTH, -1, 103, 10),
                                                     (20, DEPTH, 1, 100, 10)])
    mk = {"order_type": OrderType.MARKET}
    a = Scripted("a", {5: [(Side.BUY, 7, None, mk)]})
    b = Scripted("b", {6: [(Side.BUY, 9, None, mk)]})
    c = Scripted("c", {15: [(Side.BUY, 6, None, mk)]})
    bt, res = replay(d, a, b, c)
    T = Liquidity.TAKER
    assert a.got == [(5, 1, 102, 5, T), (5, 1, 103, 2, T)]
    assert b.got == [(6, 1, 103, 8, T), (6, 1, 104, 1, T)]
    assert c.got == [(15, 1, 102, 5, T), (15, 1, 103, 1, T)]
    assert bt.book.depth()[1] == [(103, 9), (104, 19)]
    assert bt.book.stats().volume == 7 + 9 + 6


def test_the_agents_orders_match_each_other_in_the_book():
    # spread 100 / 103; A bids 101 x 4, then B sells 6 at 101: 4 with A (A maker, B taker), B's 2 rest at 101 ahead
    # of nothing (no market lots at 101): a replayed buy of 2 at 101 fills them.
    d = data({100: 10}, {103: 5}, [(20, TRADE, 1, 101, 2)])
    a = Scripted("a", {5: [(Side.BUY, 4, 101, {})]})
    b = Scripted("b", {6: [(Side.SELL, 6, 101, {})]})
    bt, res = replay(d, a, b)
    assert a.got == [(6, 1, 101, 4, Liquidity.MAKER)]
    assert b.got == [(6, -1, 101, 4, Liquidity.TAKER), (20, -1, 101, 2, Liquidity.MAKER)]
    assert res.accounts["a"].balance("XYZ") == 4 and res.accounts["b"].balance("XYZ") == -6
    assert bt.book.l3() == ([o for o in bt.book.l3()[0] if o.trader == "market"], [o for o in bt.book.l3()[1]
                                                                                   if o.trader == "market"])


def test_modify_keeps_or_loses_the_queue_place_as_the_engine_says():
    # bid 100 x 10. A joins it with 5 (10 ahead). At t=10 A cuts to 3 (keeps its place); a sell of 12 at 100 at t=20
    # eats the 10 ahead and fills 2 of A's 3. B joins with 5 and at t=25 moves to 99 (behind the 4 market lots
    # there); a sell of 6 at 99 at t=30 goes through A's 100 (A's last lot fills whole) and fills 2 of B's 5.
    d = data({100: 10, 99: 4}, {102: 5}, [(20, TRADE, -1, 100, 12), (30, TRADE, -1, 99, 6)])
    a = Scripted("a", {5: [(Side.BUY, 5, 100, {})], 10: [("modify", 0, {"quantity": 3})]})
    b = Scripted("b", {21: [(Side.BUY, 5, 100, {})], 25: [("modify", 0, {"price": 99})]})
    replay(d, a, b, queue=PessimisticQueue())
    assert a.got == [(20, 1, 100, 2, Liquidity.MAKER), (30, 1, 100, 1, Liquidity.MAKER)]
    assert b.got == [(30, 1, 99, 2, Liquidity.MAKER)]
    assert [type(e).__name__ for e in a.events] == ["OrderAccepted", "OrderModified"]
    assert a.events[1].priority_kept and not b.events[1].priority_kept


def test_post_only_stops_and_cancels_follow_the_engine():
    d = data({100: 10}, {102: 5}, [(20, TRADE, -1, 99, 1)])
    a = Scripted("a", {5: [(Side.BUY, 1, 102, {"post_only": PostOnlyMode.REJECT}),
                           (Side.BUY, 1, None, {"order_type": OrderType.STOP, "stop_price": 103}),
                           (Side.BUY, 2, 100, {})],
                       10: [("cancel", 2), ("cancel", 2)]})
    bt, res = replay(d, a)
    rejected = [e for e in a.events if isinstance(e, OrderRejected)]
    assert [e.reason for e in rejected] == [RejectReason.POST_ONLY_WOULD_TAKE, RejectReason.INVALID_ORDER,
                                            RejectReason.UNKNOWN_ORDER]
    assert [e.reason for e in a.events if isinstance(e, OrderCancelled)] == [CancelReason.USER]
    assert a.got == [] and a.open_orders == {} and res.cancelled == 1 and res.rejected == 3
    assert bt.book.l3() == ([o for o in bt.book.l3()[0] if o.trader == "market"], bt.book.l3()[1])


def test_an_agent_may_not_be_named_market():
    with pytest.raises(ConfigError, match="pseudo-account"):
        L2Backtest(data({100: 1}, {101: 1}, [(1, TRADE, 1, 101, 1)]), Scripted("market", {}))
