"""The recorder: collects a run's orders, order events, trades, book snapshots and agent PnL as column lists.

It is a bus subscriber: for every venue it subscribes to Trade and to the venue's order events (topic (venue,)),
so nothing calls it from the venues' path. Agents' commands are recorded when sent (`command`).

PnL (pnl_series, agent_pnl, metrics.pnl_by_group) comes from each agent's account positions, in integer units of
the instrument's quote asset (cents for USD at 2 decimals), one row per agent and quote currency:
realized + unrealized - fees, the open quantity marked to the mid ((bid + ask) / 2, exact), else the last trade,
else the fundamental (rounded to a tick), else the initial price; unrealized value truncates toward zero to a
quote unit. metrics.pnl_by_group shows the same in currency units (a float, summed over currencies as before).

Fees: the trades table's buyer_fee and seller_fee are what the venue's FeeSchedule charged each side (integer quote
units, negative for a rebate; 0 on a venue without fees); agent_pnl.fees is what each agent's account booked.
metrics.fees_by_venue (venue revenue: every fee charged minus rebates paid) and metrics.fees_by_group (fees the
agents' accounts booked) are in currency units, like pnl_by_group, and empty when nobody was charged.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import TYPE_CHECKING, Any

from market_sim.core.events import BookUpdate, Event, OrderAccepted, OrderCancelled, Trade
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from market_sim.simulation.metrics import MarketResult
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.venues import Venue

__all__ = ["Recorder", "TABLE_COLUMNS"]

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("ts", "agent", "venue", "action", "order_id", "symbol", "side", "order_type", "price", "quantity",
               "tif", "expire_at"),
    "order_events": ("ts", "venue", "event", "order_id", "trader", "symbol", "reason", "quantity", "price"),
    "trades": ("ts", "venue", "trade_id", "symbol", "price", "quantity", "buyer", "seller", "buy_order_id",
               "sell_order_id", "aggressor", "price_value", "buyer_fee", "seller_fee"),
    "book_snapshots": ("ts", "venue", "symbol", "bid", "bid_qty", "ask", "ask_qty", "spread", "mid_value",
                       "bid_depth", "ask_depth", "last", "fundamental"),
    "pnl_series": ("ts", "agent", "group", "currency", "pnl", "pnl_value"),
    "agent_pnl": ("agent", "group", "kind", "symbol", "currency", "position", "cost", "realized", "fees", "mark",
                  "pnl", "pnl_value", "fills", "volume"),
}
# Exact integer columns in quote units: 18-decimal assets overflow int64, so such a column is stored as Decimal
# (parquet decimal128) when it must be; *_value columns are the same in currency units as floats, for plots.
_BIG_INT_COLUMNS = {"pnl_series": ("pnl",), "agent_pnl": ("cost", "realized", "fees", "pnl"),
                    "trades": ("buyer_fee", "seller_fee")}
_INT64 = 2 ** 63


class Recorder:
    """Appends rows as tuples during the run; `tables()` turns them into DataFrame-ready column dicts."""

    def __init__(self, sim: "Simulation") -> None:
        self.sim = sim
        self._kernel = sim.kernel
        self._tick = sim._tick  # symbol -> tick size as a float (sim.tick_float without the call per trade)
        self._fees = sim._fees  # (venue, symbol) -> FeeSchedule where fills pay fees (filled as venues are added)
        self._rows: dict[str, list[tuple]] = {name: [] for name in TABLE_COLUMNS if name != "agent_pnl"}
        self.orders = self._rows["orders"]
        self.events = self._rows["order_events"]
        self.trades = self._rows["trades"]
        self._order_symbol: dict[int, str] = {}
        self._last_snapshot = {"book": -1, "pnl": -1}

    def attach(self, venue: "Venue") -> None:
        """Subscribe to a venue's trades and order events on the simulation's bus."""
        bus, name = self.sim.bus, venue.name
        bus.subscribe(Trade, partial(self.trade, name), (name,))
        types = getattr(venue, "event_types", None)
        if types is None:  # a venue that does not declare its events: take them all
            bus.subscribe(Event, partial(self._any_event, name), (name,))
        else:
            handler = partial(self.order_event, name)
            for tp in types:
                bus.subscribe(tp, handler, (name,))

    def _any_event(self, venue: str, ev: Event) -> None:
        if not isinstance(ev, (Trade, BookUpdate)):
            self.order_event(venue, ev)

    def command(self, agent: str, venue: str, cmd: Any) -> None:
        now = self._kernel.now
        tp = type(cmd)
        if tp is NewOrder:  # rows hold plain values (not enum members) so the GC can stop tracking them
            self._order_symbol[cmd.order_id] = cmd.symbol
            self.orders.append((now, agent, venue, "new", cmd.order_id, cmd.symbol, _PLAIN[cmd.side],
                                _PLAIN[cmd.order_type], cmd.price, cmd.quantity, _PLAIN[cmd.tif], cmd.expire_at))
        elif tp is CancelOrder:
            self.orders.append((now, agent, venue, "cancel", cmd.order_id, self._order_symbol.get(cmd.order_id),
                                None, None, None, None, None, None))
        elif tp is ModifyOrder:
            self.orders.append((now, agent, venue, "modify", cmd.order_id, self._order_symbol.get(cmd.order_id),
                                None, None, cmd.price, cmd.quantity, None, None))
        else:
            self.orders.append((now, agent, venue, type(cmd).__name__, None, getattr(cmd, "symbol", None),
                                None, None, None, None, None, None))

    def trade(self, venue: str, t: Trade) -> None:
        fees = self._fees.get((venue, t.symbol)) if self._fees else None
        if fees is None:
            buy_fee = sell_fee = 0
        else:  # the fees the runner charges the two fills (quote units; negative: a rebate)
            maker_fee, taker_fee = fees.trade_fees(t.quantity * t.price * self.sim._units[t.symbol][3], t.quantity)
            buy_fee, sell_fee = (maker_fee, taker_fee) if t.aggressor is Side.SELL else (taker_fee, maker_fee)
        self.trades.append((t.ts, venue, t.trade_id, t.symbol, t.price, t.quantity, t.buyer, t.seller,
                            t.buy_order_id, t.sell_order_id, _PLAIN[t.aggressor],
                            t.price * self._tick[t.symbol], buy_fee, sell_fee))

    def order_event(self, venue: str, ev: Event) -> None:
        tp = type(ev)
        if tp is OrderAccepted:
            o = ev.order
            self.events.append((ev.ts, venue, "accepted", o.order_id, o.trader, o.symbol, None, o.quantity, o.price))
            return
        if tp is OrderCancelled:
            self.events.append((ev.ts, venue, "cancelled", ev.order_id, ev.trader, ev.symbol, _plain(ev.reason),
                                ev.cancelled_quantity, None))
            return
        reason = getattr(ev, "reason", None)
        self.events.append((ev.ts, venue, _EVENT_NAMES.get(type(ev).__name__, type(ev).__name__),
                            getattr(ev, "order_id", None), getattr(ev, "trader", None), getattr(ev, "symbol", None),
                            None if reason is None else _plain(reason),
                            getattr(ev, "quantity", getattr(ev, "cancelled_quantity", None)),
                            getattr(ev, "price", None)))

    def mark_ticks(self, venue: str, symbol: str) -> Fraction | int:
        """Mark price in ticks (exact): mid, else last trade, else the fundamental (to a tick), else initial."""
        q = self.sim.quote(venue, symbol)
        if q.bid is not None and q.ask is not None:
            return Fraction(q.bid + q.ask, 2)
        if q.last is not None:
            return q.last
        f = self.sim.fundamental(symbol)
        tick = self.sim.tick_float(symbol)
        return round(f / tick) if f is not None else self.sim.initial_ticks(symbol)

    def mark(self, venue: str, symbol: str) -> Fraction:
        """Mark price in quote units per base unit (what Position.pnl takes)."""
        _, per_lot, _, per_lot_tick = self.sim._units[symbol]
        return Fraction(self.mark_ticks(venue, symbol)) * per_lot_tick / per_lot

    def snapshot_books(self) -> None:
        sim = self.sim
        now = sim.kernel.now
        if self._last_snapshot["book"] == now:  # the final snapshot may coincide with a periodic one
            return
        self._last_snapshot["book"] = now
        levels = sim.scenario.output.depth_levels
        rows = self._rows["book_snapshots"]
        for vname, venue in sim.venues.items():
            for symbol in venue.symbols:
                q = venue.quote(symbol, now)
                bids, asks = venue.depth(symbol, levels)
                tick = sim.tick_float(symbol)
                mid = None if q.bid is None or q.ask is None else (q.bid + q.ask) * tick / 2
                spread = None if q.bid is None or q.ask is None else q.ask - q.bid
                rows.append((now, vname, symbol, q.bid, q.bid_qty, q.ask, q.ask_qty, spread, mid,
                             sum(x[1] for x in bids), sum(x[1] for x in asks), q.last, sim.fundamental(symbol)))

    def _pnl_by_currency(self, agent: Any, marks: dict[tuple[str, str], Fraction]) -> dict[str, int]:
        out: dict[str, int] = {}
        units = self.sim._units
        for symbol in agent.symbols:
            key = (agent.venue_for(symbol), symbol)
            mark = marks.get(key)
            if mark is None:
                mark = marks[key] = self.mark(*key)
            cur = units[symbol][2]
            out[cur] = out.get(cur, 0) + agent.mark_pnl(symbol, mark)
        return out

    def snapshot_pnl(self) -> None:
        sim = self.sim
        now = sim.kernel.now
        if self._last_snapshot["pnl"] == now:
            return
        self._last_snapshot["pnl"] = now
        rows = self._rows["pnl_series"]
        marks: dict[tuple[str, str], Fraction] = {}
        scale = self._scale()
        for agent in sim.agents:
            group = sim.agent_groups[agent.id]
            for cur, pnl in sorted(self._pnl_by_currency(agent, marks).items()):
                rows.append((now, agent.id, group, cur, pnl, pnl / scale[cur]))

    def _scale(self) -> dict[str, int]:
        """Quote units per currency unit, per quote asset."""
        return {i.quote_asset: 10 ** i.quote_decimals for i in self.sim.instruments.values()}

    def _final_pnl_rows(self) -> list[tuple]:
        sim = self.sim
        rows = []
        marks: dict[tuple[str, str], Fraction] = {}
        scale = self._scale()
        for agent in sim.agents:
            acct = agent.account
            for symbol in agent.symbols:
                key = (agent.venue_for(symbol), symbol)
                mark = marks.get(key)
                if mark is None:
                    mark = marks[key] = self.mark(*key)
                _, per_lot, cur, per_lot_tick = sim._units[symbol]
                pos = acct.positions.get(symbol)
                price = float(mark * per_lot / per_lot_tick) * sim.tick_float(symbol)
                rows.append((agent.id, sim.agent_groups[agent.id], agent.kind, symbol, cur, agent.position(symbol),
                             pos.cost if pos else 0, pos.realized if pos else 0, pos.fees if pos else 0, price,
                             (pnl := agent.mark_pnl(symbol, mark)), pnl / scale[cur], pos.fills if pos else 0,
                             pos.volume // per_lot if pos else 0))
        return rows

    def tables(self) -> dict[str, dict[str, list]]:
        """Every table as {column: values}."""
        out = {}
        rows = dict(self._rows)
        rows["agent_pnl"] = self._final_pnl_rows()
        for name, data in rows.items():
            cols = TABLE_COLUMNS[name]
            values = list(zip(*data)) if data else [()] * len(cols)
            out[name] = {c: list(v) for c, v in zip(cols, values)}
            for c in _BIG_INT_COLUMNS.get(name, ()):
                col = out[name][c]
                if any(not -_INT64 <= v < _INT64 for v in col):
                    out[name][c] = [Decimal(v) for v in col]
        return out

    def result(self) -> "MarketResult":
        """The market's figures as a typed result: counts, volume and price range per symbol, PnL per agent group."""
        from market_sim.simulation.metrics import MarketResult, SymbolStats

        sim = self.sim
        per_symbol: dict[str, list] = {}  # symbol -> [trades, volume, first, min, max, last]
        fees_by_venue: dict[str, float] = {}
        scale = self._scale()
        units = sim._units
        for ts, venue, trade_id, symbol, price, quantity, *_, price_value, buy_fee, sell_fee in self.trades:
            if buy_fee or sell_fee:
                fees_by_venue[venue] = fees_by_venue.get(venue, 0.0) + (buy_fee + sell_fee) / scale[units[symbol][2]]
            s = per_symbol.get(symbol)
            if s is None:
                per_symbol[symbol] = [1, quantity, price_value, price_value, price_value, price_value]
                continue
            s[0] += 1
            s[1] += quantity
            s[3] = min(s[3], price_value)
            s[4] = max(s[4], price_value)
            s[5] = price_value
        groups: dict[str, float] = {}
        group_fees: dict[str, float] = {}
        for row in self._final_pnl_rows():  # agent, group, ..., fees, mark, pnl, pnl_value (float, for the summary)
            groups[row[1]] = groups.get(row[1], 0.0) + row[11]
            if row[8]:
                group_fees[row[1]] = group_fees.get(row[1], 0.0) + row[8] / scale[row[4]]
        return MarketResult(
            scenario=sim.scenario.name, seed=sim.seed, duration_ns=sim.scenario.duration, agents=len(sim.agents),
            orders=sum(1 for o in self.orders if o[3] == "new"), commands=len(self.orders), trades=len(self.trades),
            volume=sum(t[5] for t in self.trades),
            symbols={k: SymbolStats(n, vol, *(round(x, 6) for x in prices))
                     for k, (n, vol, *prices) in sorted(per_symbol.items())},
            pnl_by_group={k: round(v, 6) for k, v in sorted(groups.items())},
            fees_by_venue={k: round(v, 6) for k, v in sorted(fees_by_venue.items())},
            fees_by_group={k: round(v, 6) for k, v in sorted(group_fees.items())})

    def metrics(self) -> dict[str, Any]:
        """The market result as metrics.json renders it (the runner adds the run's speed and section results)."""
        from market_sim.simulation.metrics import to_json

        return to_json(self.result())


# enum member -> its plain value as the tables show it (Side -> int, the StrEnums -> str)
_PLAIN: dict[Any, Any] = {m: int(m) for m in Side}
_PLAIN.update({m: str(m) for e in (OrderType, TimeInForce) for m in e})


def _plain(v: Any) -> Any:
    """A reason's plain str (cached per member)."""
    p = _PLAIN.get(v)
    if p is None:
        p = _PLAIN[v] = str(v)
    return p


_EVENT_NAMES = {"OrderRejected": "rejected", "OrderCancelled": "cancelled", "OrderModified": "modified",
                "OrderRepriced": "repriced", "OrderTriggered": "triggered", "TradeRejected": "trade_rejected"}
