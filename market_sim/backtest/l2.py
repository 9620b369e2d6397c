"""The L2 replay backtest: historical depth diffs and trades replayed into the project's order book (a
`MatchingEngine` with one `OrderBook`), the agents' own orders resting and matching in it with a queue-position
model, order entry and market data delayed by the simulation's latency models.

The same `Agent` classes run here (a `MarketMaker` quotes on the replayed BTCUSDT book unchanged).

- Each replayed level is an aggregate order of the MARKET pseudo-account (`MatchingEngine.aggregate_levels`): a
  depth diff sets its lots in place (the level keeps its place in the queue), 0 removes it.
- The agents' commands go to the engine after `entry_latency`: it validates, matches (against the aggregate levels
  and the other agents' orders, price-time priority), rests, cancels and modifies them. What an order takes from an
  aggregate stays taken until that level's next diff (which sets the replayed total again). Stops are refused.
- A resting buy at P (sells mirror) joins the back of its level: `ahead` = the market's lots there then. A replayed
  trade whose aggressor sold at p < P went through it: it fills whole, at P (maker). A trade at p == P first eats
  `ahead`; what it trades beyond fills the order. When a replayed ask level appears at P or below, the book crossed
  it: it fills whole at P. These fills are engine trades against the MARKET pseudo-account
  (`MatchingEngine.trade_resting`), so the book always holds exactly the agents' open quantity.
- A level decrease at P that trades do not explain is a cancel; where it was in the queue is the `QueueModel`'s
  assumption: `PessimisticQueue` (cancels are behind us: ahead only shrinks when the level falls below it),
  `ProportionalQueue` (ahead shrinks by the decrease x ahead / level) and `ProbabilisticQueue(n)` (hftbacktest's
  power model: the share of a cancel that is ahead is f(ahead) / (f(ahead) + f(behind)), f(x) = x^n).

Market data (quotes, book snapshots and deltas) is the book's: the agents' resting orders show with the market's
lots. Latency: commands reach the venue after `entry_latency`; fills, order events and market data reach the agent
after `data_latency` (both `simulation.latency` models). The account is booked when the fill reaches the agent.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from market_sim.backtest.costs import NO_FEES, FeeSchedule
from market_sim.core.accounts import Accounts, Liquidity, book_fill
from market_sim.core.errors import ConfigError
from market_sim.core.events import (
    BookUpdate, OrderAccepted, OrderCancelled, OrderModified, OrderRejected, RejectReason, Trade,
)
from market_sim.core.instruments import Instrument
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder, OrderType, Side
from market_sim.market.engine import MatchingEngine
from market_sim.simulation.agents.base import Agent
from market_sim.simulation.latency import FixedLatency, LatencyModel
from market_sim.simulation.venues import BookDelta, BookSnapshot, Quote

__all__ = ["QueueModel", "PessimisticQueue", "ProportionalQueue", "ProbabilisticQueue", "L2Data", "L2Backtest",
           "L2Result", "l2_data_from_capture", "l2_data_from_frames"]

_BUY, _SELL = Side.BUY, Side.SELL


class QueueModel(Protocol):
    def cancelled(self, ahead: int, level_before: int, decrease: int) -> int:
        """The quantity ahead of us after `decrease` lots were cancelled from a level of `level_before` lots (our
        own order not included)."""


@dataclass(frozen=True, slots=True)
class PessimisticQueue:
    def cancelled(self, ahead: int, level_before: int, decrease: int) -> int:
        return min(ahead, level_before - decrease)


@dataclass(frozen=True, slots=True)
class ProportionalQueue:
    def cancelled(self, ahead: int, level_before: int, decrease: int) -> int:
        if level_before <= 0:
            return 0
        return min(ahead - decrease * ahead // level_before, level_before - decrease)


@dataclass(frozen=True, slots=True)
class ProbabilisticQueue:
    """hftbacktest's ProbQueueModel with PowerProbQueueFunc(n): expected position after a cancel."""

    n: float = 2.0

    def __post_init__(self) -> None:
        if not (isinstance(self.n, (int, float)) and self.n > 0):
            raise ConfigError("must be a positive number", key="queue.n", value=self.n)

    def cancelled(self, ahead: int, level_before: int, decrease: int) -> int:
        behind = max(0, level_before - ahead)
        fa, fb = float(ahead) ** self.n, float(behind) ** self.n
        p_behind = fb / (fa + fb) if fa + fb > 0 else 1.0
        est = ahead - (1.0 - p_behind) * decrease + min(behind - p_behind * decrease, 0.0)
        return max(0, min(int(est), level_before - decrease))


@dataclass(frozen=True, slots=True, eq=False)
class L2Data:
    """A replay: the initial book (snapshot) and, in time order, depth diffs (level = new absolute quantity) and
    trades, all integer ticks / lots on `instrument`'s grid, times in ns."""

    instrument: Instrument
    snapshot_ts: int
    snapshot_bids: dict[int, int]
    snapshot_asks: dict[int, int]
    ts: np.ndarray        # int64, per message
    kind: np.ndarray      # int8: 0 depth level, 1 trade
    side: np.ndarray      # int8: +1 bid / buy aggressor, -1 ask / sell aggressor
    price: np.ndarray     # int64 ticks
    qty: np.ndarray       # int64 lots

    def __len__(self) -> int:
        return len(self.ts)


def _ns(index: Any) -> np.ndarray:
    """A DatetimeIndex as int64 ns since the epoch, whatever its resolution (the readers give us or ns)."""
    return np.asarray(index.values.astype("datetime64[ns]").astype(np.int64))


def l2_data_from_capture(capture: Any, instrument: Instrument) -> L2Data:
    """An L2Data from `read_binance_jsonl(path, instrument)`: the first REST snapshot, then the depth diffs after
    its lastUpdateId and the trades after its time."""
    snap = capture.snapshot
    if snap.empty:
        raise ConfigError("the capture has no depth snapshot to start the book from", key="snapshot", value=0)
    last_id = int(snap["update_id"].iloc[0])
    snap = snap[snap["update_id"] == last_id]
    t0 = int(_ns(snap.index)[0])
    bids = {int(p): int(q) for p, q, s in zip(snap["price"], snap["quantity"], snap["side"]) if s == "bid" and q}
    asks = {int(p): int(q) for p, q, s in zip(snap["price"], snap["quantity"], snap["side"]) if s == "ask" and q}
    d = capture.depth
    d = d[d["update_id"] > last_id]
    tr = capture.trades
    tr = tr[_ns(tr.index) >= t0]
    ts = np.concatenate([_ns(d.index), _ns(tr.index)]).astype(np.int64)
    kind = np.concatenate([np.zeros(len(d), np.int8), np.ones(len(tr), np.int8)])
    side = np.concatenate([np.where(d["side"].to_numpy() == "bid", 1, -1).astype(np.int8),
                           np.where(tr["side"].to_numpy() == "buy", 1, -1).astype(np.int8)])
    price = np.concatenate([d["price"].to_numpy(np.int64), tr["price"].to_numpy(np.int64)])
    qty = np.concatenate([d["quantity"].to_numpy(np.int64), tr["quantity"].to_numpy(np.int64)])
    order = np.argsort(ts, kind="stable")
    return L2Data(instrument, t0, bids, asks, ts[order], kind[order], side[order], price[order], qty[order])


def l2_data_from_frames(depth: Any, trades: Any, instrument: Instrument, snapshot: Any = None) -> L2Data:
    """An L2Data from reader frames read with `instrument` (exact ticks / lots): `read_depth` rows (time, side
    bid|ask, price, quantity = the level's new quantity), `read_trades` rows (time, price, quantity, side = the
    aggressor buy|sell; a trade without a side counts as a buy), and optionally a depth frame of the starting
    book (else the book starts empty and the first diffs build it)."""
    for name, f in (("depth", depth), ("trades", trades)):
        if f["price"].dtype.kind not in "iu":
            raise ConfigError("read the data with the instrument (exact integer ticks and lots)", key=name,
                              value=str(f["price"].dtype))
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    t0 = int(min(_ns(depth.index)[:1].tolist() + _ns(trades.index)[:1].tolist() or [0]))
    if snapshot is not None and len(snapshot):
        t0 = int(_ns(snapshot.index)[0])
        for p, q, sd in zip(snapshot["price"], snapshot["quantity"], snapshot["side"]):
            if q:
                (bids if sd == "bid" else asks)[int(p)] = int(q)
    tside = trades["side"].to_numpy() if "side" in trades else np.full(len(trades), "buy")
    ts = np.concatenate([_ns(depth.index), _ns(trades.index)]).astype(np.int64)
    kind = np.concatenate([np.zeros(len(depth), np.int8), np.ones(len(trades), np.int8)])
    side = np.concatenate([np.where(depth["side"].to_numpy() == "bid", 1, -1).astype(np.int8),
                           np.where(tside == "sell", -1, 1).astype(np.int8)])
    price = np.concatenate([depth["price"].to_numpy(np.int64), trades["price"].to_numpy(np.int64)])
    qty = np.concatenate([depth["quantity"].to_numpy(np.int64), trades["quantity"].to_numpy(np.int64)])
    order = np.argsort(ts, kind="stable")
    return L2Data(instrument, t0, bids, asks, ts[order], kind[order], side[order], price[order], qty[order])


MARKET = "market"   # the pseudo-account owning the replayed (historical) liquidity in the book


class _Own:
    """An agent's order resting in the book, with the replay's estimate of the market's lots ahead of it."""

    __slots__ = ("order_id", "agent", "side", "price", "remaining", "ahead")

    def __init__(self, order_id: int, agent: Agent, side: Side, price: int, remaining: int, ahead: int) -> None:
        self.order_id, self.agent, self.side, self.price = order_id, agent, side, price
        self.remaining, self.ahead = remaining, ahead


class _L2Venue:
    __slots__ = ("name", "_bt", "engine")

    def __init__(self, name: str, bt: "L2Backtest") -> None:
        self.name, self._bt, self.engine = name, bt, bt.engine

    def quote(self, symbol: str, now: int) -> Quote:
        return self._bt._quote(now)


class L2Context:
    """The simulation-shaped world an agent sees in an L2 replay."""

    def __init__(self, bt: "L2Backtest") -> None:
        self.kernel = self
        self.now = bt.data.snapshot_ts
        self._bt = bt
        ins = bt.data.instrument
        self.instruments = {ins.symbol: ins}
        self.accounts = Accounts()
        self.venues = {bt.venue: _L2Venue(bt.venue, bt)}
        self._order_seq = 0
        self.bar_index = -1

    def tick_float(self, symbol: str) -> float:
        return float(self.instruments[symbol].tick_size)

    def lot_units(self, symbol: str) -> int:
        return self.instruments[symbol].base_units_per_lot

    def initial_ticks(self, symbol: str) -> int:
        b = self._bt
        bb, ba = b.book.bids.best, b.book.asks.best
        if bb is not None and ba is not None:
            return (bb + ba) // 2
        trades = b.data.price[b.data.kind == 1]
        return int(trades[0]) if len(trades) else (bb or ba or 1)

    def fundamental(self, symbol: str) -> float | None:
        return None

    def quote(self, venue: str, symbol: str) -> Quote:
        return self._bt._quote(self.now)

    def route(self, agent: Agent, venue: str, command: Any) -> None:
        bt = self._bt
        if venue != bt.venue:
            raise ConfigError(f"agent {agent.id} sent to an unknown venue (the replay's venue is {bt.venue})",
                              key="venue", value=venue)
        bt._at(self.now + bt.entry_latency.sample(agent.id, venue, bt._rng), bt._arrive, (agent, command))

    def wake(self, agent: Agent, t: int) -> None:
        self._bt._at(max(t, self.now), agent.on_wakeup, None)

    def subscribe_quotes(self, agent: Agent, venue: str, symbol: str) -> None:
        self._bt._check_symbol(symbol)
        self._bt._quote_subs.append(agent)

    subscribe = subscribe_quotes

    def subscribe_trades(self, agent: Agent, venue: str, symbol: str) -> None:
        self._bt._check_symbol(symbol)
        self._bt._trade_subs.append(agent)

    def subscribe_book(self, agent: Agent, venue: str, symbol: str) -> None:
        bt = self._bt
        bt._check_symbol(symbol)
        bt._book_subs.append(agent)
        bt.engine.emit_book_updates(True)
        bids, asks = bt.book.depth(len(bt.book.bids.levels) + len(bt.book.asks.levels))
        snap = BookSnapshot(self.now, bt.venue, symbol, bt._seq, tuple(bids), tuple(asks))
        bt._deliver(agent, agent.deliver_book_snapshot, snap)


@dataclass(slots=True)
class L2Result:
    messages: int
    fills: list[tuple]      # (ts, agent, side, price, lots, liquidity, order_id, fee)
    accounts: Accounts
    agents: list[Agent]
    final_mid: int
    cancelled: int = 0
    rejected: int = 0
    samples: list[tuple] = field(default_factory=list)   # (ts, agent, cash, position lots, 2 x mid ticks)
    instrument: Instrument | None = None
    initial_cash: dict[str, int] = field(default_factory=dict)

    def pnl(self, agent: str) -> int:
        """Realized + unrealized - fees in quote units, the position marked at the final mid."""
        from fractions import Fraction

        acct = self.accounts[agent]
        total = 0
        for pos in acct.positions.values():
            ins = self.agents[0]._sim.instruments[pos.symbol]
            total += pos.pnl(Fraction(self.final_mid * ins.quote_units_per_lot_tick, ins.base_units_per_lot))
        return total

    def frame(self, agent: str | None = None) -> Any:
        """Sampled equity (cash + position at the mid, currency units), cash, position value and exposure."""
        import pandas as pd

        agent = agent or self.agents[0].id
        ins = self.instrument
        rows = [r for r in self.samples if r[1] == agent]
        ts = np.array([r[0] for r in rows], dtype=np.int64)
        scale = 10.0 ** ins.quote_decimals
        cash = np.array([r[2] for r in rows], dtype=np.float64) / scale
        value = np.array([r[3] * r[4] for r in rows], dtype=np.float64) * ins.quote_units_per_lot_tick / 2 / scale
        eq = cash + value
        f = pd.DataFrame({"time": pd.to_datetime(ts, unit="ns"), "equity": eq, "cash": cash, "position_value": value,
                          "position": [r[3] for r in rows]})
        f["gross_exposure"] = np.abs(value) / eq
        f["net_exposure"] = value / eq
        f["drawdown"] = eq / np.maximum.accumulate(eq) - 1.0
        return f

    def fills_frame(self, agent: str | None = None) -> Any:
        import pandas as pd

        agent = agent or self.agents[0].id
        ins = self.instrument
        rows = [r for r in self.fills if r[1] == agent]
        f = pd.DataFrame(rows, columns=["ts", "agent", "side", "price_ticks", "quantity", "liquidity", "order_id",
                                        "fee"])
        f.insert(0, "time", pd.to_datetime(f["ts"], unit="ns"))
        f["price"] = f["price_ticks"] * float(ins.tick_size)
        f["fee_value"] = f["fee"] / 10.0 ** ins.quote_decimals
        return f.drop(columns=["ts"])

    def conventions(self) -> Any:
        """Returns per sample, annualised as a 24/7 market (365 days) at the sampling interval."""
        from market_sim.analysis.metrics import Conventions

        ts = self.frame()["time"]
        step = float(np.median(np.diff(ts.to_numpy().astype(np.int64)))) if len(ts) > 2 else 1e9
        return Conventions(periods_per_year=365 * 86_400e9 / step, interval=f"{step / 1e9:g}s samples, 24/7")

    def trades_frame(self, agent: str | None = None) -> Any:
        import pandas as pd

        from market_sim.analysis.metrics import Fill as MFill, trade_list

        ins = self.instrument
        f = self.fills_frame(agent)
        eq = self.frame(agent)
        mids = pd.Series((eq["position_value"] / eq["position"].where(eq["position"] != 0)).to_numpy(),
                         index=eq["time"]).ffill().bfill()
        lot = float(ins.lot_size)
        fills = [MFill(r.time, float(r.side * r.quantity * lot), float(r.price), float(r.fee_value))
                 for r in f.itertuples(index=False)]
        prices = (mids / lot) if mids.notna().any() else None
        rows = [{"side": "long" if t.side > 0 else "short", "entry_time": t.entry_time, "exit_time": t.exit_time,
                 "quantity": t.quantity, "entry_price": t.entry_price, "exit_price": t.exit_price, "pnl": t.pnl,
                 "fees": t.fees, "holding_seconds": t.holding_time / pd.Timedelta(seconds=1), "mae": t.mae,
                 "mfe": t.mfe, "open": t.open}
                for t in trade_list(fills, prices, mark_open=prices is not None)]
        cols = ["side", "entry_time", "exit_time", "quantity", "entry_price", "exit_price", "pnl", "fees",
                "holding_seconds", "mae", "mfe", "open"]
        return pd.DataFrame(rows, columns=cols)

    def summary(self, agent: str | None = None) -> dict[str, Any]:
        from market_sim.analysis.metrics import performance_report

        agent = agent or self.agents[0].id
        eq = self.frame(agent)
        trades = self.trades_frame(agent)
        closed = trades[~trades["open"].astype(bool)]
        rep = performance_report(eq.set_index("time")["equity"], self.conventions(), name=agent,
                                 trades=list(closed["pnl"]))
        d = rep.as_dict()
        f = self.fills_frame(agent)
        d.update(initial_equity=float(eq["equity"].iloc[0]), final_equity=float(eq["equity"].iloc[-1]),
                 fills=int(len(f)), fees=float(f["fee_value"].sum()),
                 traded_notional=float((f["price"] * f["quantity"] * float(self.instrument.lot_size)).sum()),
                 orders_cancelled=self.cancelled, orders_rejected=self.rejected, messages=self.messages,
                 exposure_time=float((eq["position"] != 0).mean()))
        for k in ("start", "end", "max_drawdown_peak", "max_drawdown_trough", "max_drawdown_recovery"):
            if d.get(k) is not None:
                d[k] = str(d[k])
        return d


class L2Backtest:
    def __init__(self, data: L2Data, agents: Agent | Sequence[Agent], *, queue: QueueModel = ProbabilisticQueue(),
                 entry_latency: LatencyModel = FixedLatency(1_000_000), data_latency: LatencyModel = FixedLatency(
                     1_000_000), fees: FeeSchedule = NO_FEES, cash: dict[str, int] | None = None, venue: str = "replay",
                 seed: int = 0, sample_ns: int = 1_000_000_000) -> None:
        self.data = data
        if isinstance(sample_ns, bool) or not isinstance(sample_ns, int) or sample_ns <= 0:
            raise ConfigError("must be a positive number of ns", key="sample_ns", value=sample_ns)
        self.sample_ns = sample_ns
        self._samples: list[tuple] = []
        self.agents = [agents] if isinstance(agents, Agent) else list(agents)
        if not self.agents:
            raise ConfigError("an L2 backtest needs at least one agent", key="agents", value=0)
        for agent in self.agents:
            if agent.id == MARKET:
                raise ConfigError(f"the replayed liquidity belongs to the {MARKET!r} pseudo-account; name the agent "
                                  "otherwise", key="agents", value=agent.id)
        self._agent = {a.id: a for a in self.agents}
        self.queue, self.entry_latency, self.data_latency, self.fees = queue, entry_latency, data_latency, fees
        self.venue = venue
        self.cash = dict(cash or {})
        self._rng = random.Random(seed)
        ins = data.instrument
        self._sym = ins.symbol
        # the project's matching engine and order book: the replayed levels are aggregate orders of MARKET
        self.engine = MatchingEngine([ins])
        self.book = self.engine.book(ins.symbol)
        self._bids, self._asks = self.book.bids, self.book.asks
        self._agg_bids = self.engine.aggregate_levels(ins.symbol, _BUY, MARKET)
        self._agg_asks = self.engine.aggregate_levels(ins.symbol, _SELL, MARKET)
        for p, q in data.snapshot_bids.items():
            self._agg_bids.set(p, q)
        for p, q in data.snapshot_asks.items():
            self._agg_asks.set(p, q)
        self._heap: list[tuple] = []
        self._hseq = 0
        self._own: dict[tuple[int, int], list[_Own]] = {}   # (side, price) -> the agents' resting orders, time order
        self._by_id: dict[int, _Own] = {}
        self._traded: dict[tuple[int, int], int] = {}       # (side, price): lots traded there since its last diff
        self._quote_subs: list[Agent] = []
        self._trade_subs: list[Agent] = []
        self._book_subs: list[Agent] = []
        self._seq = 0
        self._fills: list[tuple] = []
        self._tape_id = 0
        self._cancelled = self._rejected = 0
        self.ctx = L2Context(self)

    # ----- plumbing -----
    def _check_symbol(self, symbol: str) -> None:
        if symbol != self._sym:
            raise ConfigError("the replay has no data for this symbol", key="symbol", value=symbol)

    def _at(self, t: int, fn: Callable, arg: Any) -> None:
        self._hseq += 1
        heapq.heappush(self._heap, (t, self._hseq, fn, arg))

    def _deliver(self, agent: Agent, fn: Callable, arg: Any) -> None:
        self._at(self.ctx.now + self.data_latency.sample(self.venue, agent.id, self._rng), fn, arg)

    def _quote(self, now: int) -> Quote:
        b, a = self.book.best_bid(), self.book.best_ask()
        return Quote(now, self.venue, self._sym, b[0] if b else None, b[1] if b else 0, a[0] if a else None,
                     a[1] if a else 0, None)

    def _delta(self, t: int, side: Side, price: int) -> None:
        """Book subscribers: the level (side, price) of the project book as it stands now."""
        level = (self.book.bids if side is _BUY else self.book.asks).levels.get(price)
        self._seq += 1
        d = BookDelta(t, self._sym, side, price, 0 if level is None else level.shown, self.venue, self._seq)
        for a in self._book_subs:
            self._deliver(a, a.deliver_book_delta, d)

    # ----- the agents' commands at the venue (the matching engine) -----
    def _arrive(self, item: tuple[Agent, Any]) -> None:
        agent, cmd = item
        now = self.ctx.now
        kind = type(cmd)
        if kind is NewOrder:
            if cmd.order_type is not OrderType.LIMIT and cmd.order_type is not OrderType.MARKET:
                self._rejected += 1
                self._deliver(agent, lambda ev: agent.deliver_order_event(ev, True),
                              OrderRejected(now, cmd.order_id, agent.id, cmd.symbol, RejectReason.INVALID_ORDER,
                                            "the L2 replay takes limit and market orders (the replayed tape does "
                                            "not trigger stops)"))
                return
        elif kind is not CancelOrder and kind is not ModifyOrder:
            raise ConfigError(f"agent {agent.id} sent a command the L2 replay does not take", key="command",
                              value=type(cmd).__name__)
        if cmd.trader != agent.id:
            self._rejected += 1
            self._deliver(agent, lambda ev: agent.deliver_order_event(ev, kind is NewOrder),
                          OrderRejected(now, cmd.order_id, agent.id, self._sym, RejectReason.UNKNOWN_TRADER,
                                        f"agent {agent.id} sent an order in the name of {cmd.trader!r}"))
            return
        oid = cmd.order_id
        moved = None
        if kind is ModifyOrder:
            moved = self._by_id.get(oid)
        events = self.engine.process(cmd, now)
        requeue = kind is NewOrder
        by_id = self._by_id
        for ev in events:
            t = type(ev)
            if t is Trade:
                self._engine_trade(ev)
                continue
            if t is BookUpdate:
                if self._book_subs:
                    self._delta(now, ev.side, ev.price)
                continue
            trader = ev.order.trader if t is OrderAccepted else ev.trader
            target = self._agent.get(trader)
            if t is OrderCancelled:
                self._cancelled += 1
                o = by_id.get(ev.order_id)
                if o is not None:
                    if ev.remaining_quantity:
                        o.remaining = ev.remaining_quantity
                    else:
                        self._unrest(o)
            elif t is OrderRejected:
                self._rejected += 1
            elif t is OrderModified and moved is not None and ev.order_id == oid and by_id.get(oid) is moved:
                if ev.priority_kept:
                    moved.remaining = ev.quantity
                    moved = None
                else:           # re-queued at the back of its (new) level, or crossing: placed again below
                    self._unrest(moved)
                    requeue = True
            if target is not None:
                if t is OrderRejected and kind is NewOrder and ev.order_id == oid:
                    self._deliver(target, lambda e, a=target: a.deliver_order_event(e, True), ev)
                else:
                    self._deliver(target, target.deliver_order_event, ev)
        if requeue and oid not in by_id:
            st = self.engine.order(oid)
            if st is not None and st.trader == agent.id:
                o = _Own(oid, agent, st.side, st.price, st.quantity,
                         (self._agg_bids if st.side is _BUY else self._agg_asks).get(st.price))
                self._own.setdefault((int(st.side), st.price), []).append(o)
                by_id[oid] = o

    def _unrest(self, o: _Own) -> None:
        self._by_id.pop(o.order_id, None)
        key = (int(o.side), o.price)
        lst = self._own.get(key)
        if lst is not None:
            lst.remove(o)
            if not lst:
                del self._own[key]

    def _engine_trade(self, tr: Trade) -> None:
        """A match in the book from an agent's order: book each agent side (the aggressor takes, the resting order
        makes); a resting agent order shrinks in the replay's registry."""
        rest_side = _SELL if tr.aggressor is _BUY else _BUY
        for trader, side, order_id in ((tr.buyer, _BUY, tr.buy_order_id), (tr.seller, _SELL, tr.sell_order_id)):
            if trader == MARKET:
                if side is rest_side:   # an agent took replayed lots: no agent order can have more than that ahead
                    mine = self._own.get((int(side), tr.price))
                    if mine is not None:
                        left = (self._agg_bids if side is _BUY else self._agg_asks).get(tr.price)
                        for o in mine:
                            if o.ahead > left:
                                o.ahead = left
                continue
            agent = self._agent[trader]
            maker = side is rest_side
            self._book(agent, side, tr.price, tr.quantity, order_id, tr.trade_id, maker)
            if maker:
                o = self._by_id.get(order_id)
                if o is not None:
                    o.remaining -= tr.quantity
                    if o.remaining <= 0:
                        self._unrest(o)

    def _book(self, agent: Agent, side: Side, price: int, qty: int, order_id: int, trade_id: int,
              maker: bool) -> None:
        ins = self.data.instrument
        liq = Liquidity.MAKER if maker else Liquidity.TAKER
        fee = self.fees.fee(qty * price * ins.quote_units_per_lot_tick, qty, liq)
        now = self.ctx.now
        fill = book_fill(now, agent.id, self.venue, ins, side, price, qty, order_id=order_id, trade_id=trade_id,
                         maker=maker, fee=fee)
        self._fills.append((now, agent.id, int(side), price, qty, liq.value, order_id, fee))
        self._deliver(agent, self._book_and_deliver, (agent, fill))

    def _fill_resting(self, o: _Own, qty: int) -> None:
        """The replayed tape (or the replayed book crossing it) takes `qty` lots of an agent's resting order."""
        now = self.ctx.now
        tr = self.engine.trade_resting(o.order_id, qty, now, MARKET)[0]
        o.remaining -= qty
        if o.remaining <= 0:
            self._unrest(o)
        self._book(o.agent, o.side, tr.price, qty, o.order_id, tr.trade_id, True)
        if self._book_subs:
            self._delta(now, o.side, o.price)

    def _book_and_deliver(self, item: tuple[Agent, Any]) -> None:
        agent, fill = item
        self.ctx.accounts.apply(fill)
        agent.deliver_fill(fill)

    # ----- market data -----
    def _depth(self, t: int, side: int, price: int, qty: int) -> None:
        own = self._own
        quotes = self._quote_subs
        at_top = False
        if side > 0:
            if quotes:
                best = self._bids.best
                at_top = best is None or price >= best
            if qty and own:
                opp = self._asks.best
                if opp is not None and opp <= price:
                    self._crossed(-1, price)
            old = self._agg_bids.set(price, qty)
        else:
            if quotes:
                best = self._asks.best
                at_top = best is None or price <= best
            if qty and own:
                opp = self._bids.best
                if opp is not None and opp >= price:
                    self._crossed(1, price)
            old = self._agg_asks.set(price, qty)
        if not qty and not old:
            return
        if own:
            key = (side, price)
            mine = own.get(key)
            if mine is not None:
                traded = self._traded.pop(key, 0)
                dec = old - qty - traded
                if dec > 0:
                    for o in mine:
                        o.ahead = self.queue.cancelled(o.ahead, old - traded, dec)
        if self._book_subs:
            self._delta(t, _BUY if side > 0 else _SELL, price)
        if at_top:
            q = self._quote(t)
            for a in quotes:
                self._deliver(a, a.on_market_data, q)

    def _crossed(self, side: int, price: int) -> None:
        """A replayed level at `price` reached the agents' resting orders on `side` at or through it: the book
        crossed them, they fill whole at their price."""
        for (s, p), lst in list(self._own.items()):
            if s == side and (p >= price if side > 0 else p <= price):
                for o in list(lst):
                    self._fill_resting(o, o.remaining)

    def _trade(self, t: int, side: int, price: int, qty: int) -> None:
        # aggressor side +1 (buy) lifts asks: our resting sells at or below the price; -1 hits our bids
        own = self._own
        if own:
            rest_side = -side
            for (s, p), lst in list(own.items()):
                if s != rest_side:
                    continue
                through = p < price if rest_side < 0 else p > price
                if through:
                    for o in list(lst):
                        self._fill_resting(o, o.remaining)
                elif p == price:
                    left = qty
                    self._traded[(s, p)] = self._traded.get((s, p), 0) + qty
                    for o in list(lst):
                        if left <= 0:
                            break
                        if o.ahead >= left:
                            o.ahead -= left
                            left = 0
                            break
                        left -= o.ahead
                        o.ahead = 0
                        q = min(left, o.remaining)
                        left -= q
                        self._fill_resting(o, q)
        if self._trade_subs:
            self._tape_id += 1
            tr = Trade(t, self._tape_id, self._sym, price, qty, 0, 0, "", "", _BUY if side > 0 else _SELL)
            for a in self._trade_subs:
                self._deliver(a, a.on_trade, tr)

    # ----- the run -----
    def run(self, progress: Callable[[int, int], None] | None = None, chunk: int = 65_536) -> L2Result:
        ctx, data = self.ctx, self.data
        ins = data.instrument
        for k, agent in enumerate(self.agents):
            for ccy, v in self.cash.items():
                ctx.accounts[agent.id].credit(ccy, v)
            agent.bind(ctx, (ins.symbol,), {ins.symbol: self.venue}, k)
        for agent in self.agents:
            agent.on_start()
        heap = self._heap
        pop = heapq.heappop
        depth, trade = self._depth, self._trade
        n = len(data)
        step = self.sample_ns
        next_sample = data.snapshot_ts
        ctx.now = data.snapshot_ts
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            for t, k, s, p, q in zip(data.ts[a:b].tolist(), data.kind[a:b].tolist(), data.side[a:b].tolist(),
                                     data.price[a:b].tolist(), data.qty[a:b].tolist()):
                while heap and heap[0][0] <= t:
                    tt, _, fn, arg = pop(heap)
                    ctx.now = tt
                    fn(arg) if arg is not None else fn()
                ctx.now = t
                if t >= next_sample:
                    self._sample(next_sample if next_sample > data.snapshot_ts else t)
                    next_sample += step * ((t - next_sample) // step + 1)
                if k == 0:
                    depth(t, s, p, q)
                else:
                    trade(t, s, p, q)
            if progress is not None:
                progress(b, n)
        end = int(data.ts[-1]) if n else data.snapshot_ts
        while heap and heap[0][0] <= end:
            tt, _, fn, arg = pop(heap)
            ctx.now = tt
            fn(arg) if arg is not None else fn()
        ctx.now = end
        self._sample(end)
        for agent in self.agents:
            agent.on_stop()
        bb = self.book.bids.best or 0
        ba = self.book.asks.best or bb
        return L2Result(n, self._fills, ctx.accounts, self.agents, (bb + ba) // 2, self._cancelled, self._rejected,
                        samples=self._samples, instrument=ins, initial_cash=dict(self.cash))

    def _sample(self, t: int) -> None:
        """Each agent's cash and position, and the mid, at time t (before the message at t is applied)."""
        ins = self.data.instrument
        bb, ba = self.book.bids.best, self.book.asks.best
        mid2 = (bb + ba) if bb is not None and ba is not None else 2 * (bb or ba or 0)
        for agent in self.agents:
            acct = self.ctx.accounts[agent.id]
            self._samples.append((t, agent.id, acct.balance(ins.quote_asset), agent.position(ins.symbol), mid2))
