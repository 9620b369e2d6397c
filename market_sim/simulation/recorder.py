"""The recorder: collects a run's orders, order events, trades, book snapshots and agent PnL as column lists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from market_sim.core.events import Event, OrderAccepted, Trade
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder

if TYPE_CHECKING:
    from market_sim.simulation.metrics import MarketResult
    from market_sim.simulation.runner import Simulation

__all__ = ["Recorder", "TABLE_COLUMNS"]

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("ts", "agent", "venue", "action", "order_id", "symbol", "side", "order_type", "price", "quantity",
               "tif", "expire_at"),
    "order_events": ("ts", "venue", "event", "order_id", "trader", "symbol", "reason", "quantity", "price"),
    "trades": ("ts", "venue", "trade_id", "symbol", "price", "quantity", "buyer", "seller", "buy_order_id",
               "sell_order_id", "aggressor", "price_value"),
    "book_snapshots": ("ts", "venue", "symbol", "bid", "bid_qty", "ask", "ask_qty", "spread", "mid_value",
                       "bid_depth", "ask_depth", "last", "fundamental"),
    "pnl_series": ("ts", "agent", "group", "pnl"),
    "agent_pnl": ("agent", "group", "kind", "symbol", "position", "cash", "mark", "pnl", "fills", "volume"),
    "chain_transactions": ("ts", "chain", "tx_hash", "kind", "batch", "gas_used", "status"),
}


class Recorder:
    """Appends rows as tuples during the run; `tables()` turns them into DataFrame-ready column dicts."""

    def __init__(self, sim: "Simulation") -> None:
        self.sim = sim
        self._rows: dict[str, list[tuple]] = {name: [] for name in TABLE_COLUMNS if name != "chain_transactions"}
        self.orders = self._rows["orders"]
        self.events = self._rows["order_events"]
        self.trades = self._rows["trades"]
        self._order_symbol: dict[int, str] = {}
        self._last_snapshot = {"book": -1, "pnl": -1}

    def command(self, agent: str, venue: str, cmd: Any) -> None:
        now = self.sim.kernel.now
        tp = type(cmd)
        if tp is NewOrder:
            self._order_symbol[cmd.order_id] = cmd.symbol
            self.orders.append((now, agent, venue, "new", cmd.order_id, cmd.symbol, int(cmd.side),
                                str(cmd.order_type), cmd.price, cmd.quantity, str(cmd.tif), cmd.expire_at))
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
        self.trades.append((t.ts, venue, t.trade_id, t.symbol, t.price, t.quantity, t.buyer, t.seller,
                            t.buy_order_id, t.sell_order_id, int(t.aggressor), t.price * self.sim.tick_float(t.symbol)))

    def order_event(self, venue: str, ev: Event) -> None:
        if type(ev) is OrderAccepted:
            o = ev.order
            self.events.append((ev.ts, venue, "accepted", o.order_id, o.trader, o.symbol, None, o.quantity, o.price))
            return
        reason = getattr(ev, "reason", None)
        self.events.append((ev.ts, venue, _EVENT_NAMES.get(type(ev).__name__, type(ev).__name__),
                            getattr(ev, "order_id", None), getattr(ev, "trader", None), getattr(ev, "symbol", None),
                            None if reason is None else str(reason),
                            getattr(ev, "quantity", getattr(ev, "cancelled_quantity", None)),
                            getattr(ev, "price", None)))

    def mark(self, venue: str, symbol: str) -> int | None:
        """Mark price in ticks: mid, else last trade, else the fundamental/initial price."""
        q = self.sim.quote(venue, symbol)
        if q.bid is not None and q.ask is not None:
            return (q.bid + q.ask) // 2
        if q.last is not None:
            return q.last
        f = self.sim.fundamental(symbol)
        tick = self.sim.tick_float(symbol)
        return round(f / tick) if f is not None else self.sim.initial_ticks(symbol)

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

    def _agent_pnl(self, agent: Any) -> float:
        total = 0.0
        for symbol in agent.symbols:
            mark = self.mark(agent.venue_for(symbol), symbol)
            total += agent.pnl_ticks(symbol, mark) * self._value_per_tick_lot(symbol)
        return total

    def _value_per_tick_lot(self, symbol: str) -> float:
        inst = self.sim.instruments[symbol]
        return float(inst.tick_size * inst.lot_size)

    def snapshot_pnl(self) -> None:
        sim = self.sim
        now = sim.kernel.now
        if self._last_snapshot["pnl"] == now:
            return
        self._last_snapshot["pnl"] = now
        rows = self._rows["pnl_series"]
        for agent in sim.agents:
            rows.append((now, agent.id, sim.agent_groups[agent.id], round(self._agent_pnl(agent), 6)))

    def _final_pnl_rows(self) -> list[tuple]:
        sim = self.sim
        rows = []
        for agent in sim.agents:
            for symbol in agent.symbols:
                mark = self.mark(agent.venue_for(symbol), symbol)
                unit = self._value_per_tick_lot(symbol)
                rows.append((agent.id, sim.agent_groups[agent.id], agent.kind, symbol, agent.positions[symbol],
                             agent.cash[symbol] * unit, None if mark is None else mark * sim.tick_float(symbol),
                             agent.pnl_ticks(symbol, mark) * unit, agent.fills, agent.volume))
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
        return out

    def result(self) -> "MarketResult":
        """The market's figures as a typed result: counts, volume and price range per symbol, PnL per agent group."""
        from market_sim.simulation.metrics import MarketResult, SymbolStats

        sim = self.sim
        per_symbol: dict[str, list] = {}  # symbol -> [trades, volume, first, min, max, last]
        for ts, venue, trade_id, symbol, price, quantity, *_, price_value in self.trades:
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
        for agent, group, kind, symbol, position, cash, mark, pnl, fills, volume in self._final_pnl_rows():
            groups[group] = groups.get(group, 0.0) + pnl
        return MarketResult(
            scenario=sim.scenario.name, seed=sim.seed, duration_ns=sim.scenario.duration, agents=len(sim.agents),
            orders=sum(1 for o in self.orders if o[3] == "new"), commands=len(self.orders), trades=len(self.trades),
            volume=sum(t[5] for t in self.trades),
            symbols={k: SymbolStats(n, vol, *(round(x, 6) for x in prices))
                     for k, (n, vol, *prices) in sorted(per_symbol.items())},
            pnl_by_group={k: round(v, 6) for k, v in sorted(groups.items())})

    def metrics(self) -> dict[str, Any]:
        """The market result as metrics.json renders it (the runner adds the run's speed and section results)."""
        from market_sim.simulation.metrics import to_json

        return to_json(self.result())


_EVENT_NAMES = {"OrderRejected": "rejected", "OrderCancelled": "cancelled", "OrderModified": "modified",
                "OrderRepriced": "repriced", "OrderTriggered": "triggered", "TradeRejected": "trade_rejected"}
