"""A hand-driven stand-in for the simulation behind the Agent API: the test sets the clock, hands the agent books,
quotes, trades and fills, and reads back the exact commands it sent (no kernel, no latency, no venue)."""

from __future__ import annotations

from typing import Any

from market_sim.core.accounts import Accounts, book_fill
from market_sim.core.events import CancelReason, OrderAccepted, OrderCancelled, Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import CancelOrder, NewOrder, Side
from market_sim.simulation.params import build_params
from market_sim.simulation.venues import BookDelta, BookSnapshot, Quote


class _Clock:
    now = 0


class _Venue:
    def __init__(self, sim: "FakeSim", name: str) -> None:
        self.sim, self.name = sim, name

    def quote(self, symbol: str, ts: int) -> Quote:
        return self.sim.quotes.get((self.name, symbol)) or Quote(ts, self.name, symbol, None, 0, None, 0, None)


class FakeSim:
    def __init__(self, symbols=("XYZ",), venues=("exchange",), tick="0.01") -> None:
        self.kernel = _Clock()
        self.accounts = Accounts()
        self.instruments = {s: Instrument(s, tick, base_asset=s, quote_asset="USD", base_decimals=0,
                                          quote_decimals=2) for s in symbols}
        self.venues = {v: _Venue(self, v) for v in venues}
        self.quotes: dict[tuple[str, str], Quote] = {}
        self._order_seq = 0
        self.sent: list[tuple[str, Any]] = []
        self.wakes: list[int] = []
        self.subscriptions: list[tuple[str, str, str]] = []

    # the Simulation surface the Agent base class uses
    def lot_units(self, symbol):
        return self.instruments[symbol].base_units_per_lot

    def tick_float(self, symbol):
        return float(self.instruments[symbol].tick_size)

    def initial_ticks(self, symbol):
        return 10_000

    def fundamental(self, symbol):
        return None

    def route(self, agent, venue, command):
        self.sent.append((venue, command))

    def wake(self, agent, t):
        self.wakes.append(t)

    def subscribe_quotes(self, agent, venue, symbol):
        self.subscriptions.append(("quotes", venue, symbol))

    def subscribe_trades(self, agent, venue, symbol):
        self.subscriptions.append(("trades", venue, symbol))

    def subscribe_book(self, agent, venue, symbol):
        self.subscriptions.append(("book", venue, symbol))


def make(cls, params: dict | None = None, symbols=("XYZ",), venues=("exchange",), seed=1, start=True):
    sim = FakeSim(symbols, venues)
    agent = cls(f"{cls.kind}-1", build_params(cls.Params, params or {}, cls.kind))
    agent.bind(sim, tuple(symbols), {s: venues[0] for s in symbols}, seed)
    if start:
        agent.on_start()
    return agent, sim


def orders(sim: FakeSim, clear: bool = True) -> list[tuple]:
    """The commands sent since the last call: ('new', venue, side, qty, price, type) / ('cancel', venue, oid)."""
    out = []
    for venue, c in sim.sent:
        if isinstance(c, NewOrder):
            out.append(("new", venue, c.side.name, c.quantity, c.price, c.order_type.name))
        elif isinstance(c, CancelOrder):
            out.append(("cancel", venue, c.order_id))
        else:
            out.append((type(c).__name__, venue))
    if clear:
        sim.sent.clear()
    return out


def fill(agent, sim: FakeSim, order_id: int, quantity: int | None = None, price: int | None = None,
         maker: bool = True) -> None:
    """Execute (part of) one of the agent's open orders: book it on the account, then deliver it."""
    o = agent.open_orders[order_id]
    q = o.remaining if quantity is None else quantity
    f = book_fill(sim.kernel.now, agent.id, o.venue, sim.instruments[o.symbol], o.side,
                  o.price if price is None else price, q, order_id=order_id, trade_id=1, maker=maker)
    sim.accounts.apply(f)
    agent.deliver_fill(f)


def accept(agent, sim: FakeSim, order_id: int) -> None:
    o = agent.open_orders[order_id]
    order = NewOrder(order_id, agent.id, o.symbol, o.side, o.remaining, price=o.price)
    agent.deliver_order_event(OrderAccepted(sim.kernel.now, order))


def cancelled(agent, sim: FakeSim, order_id: int) -> None:
    agent.deliver_order_event(OrderCancelled(sim.kernel.now, order_id, agent.id, "XYZ", 0, CancelReason.USER))


def set_quote(sim: FakeSim, bid, ask, bid_qty=10, ask_qty=10, symbol="XYZ", venue="exchange", last=None) -> Quote:
    q = Quote(sim.kernel.now, venue, symbol, bid, bid_qty, ask, ask_qty, last)
    sim.quotes[(venue, symbol)] = q
    return q


def snapshot(agent, sim, bids, asks, symbol="XYZ", venue="exchange", seq=0):
    agent.deliver_book_snapshot(BookSnapshot(sim.kernel.now, venue, symbol, seq, tuple(bids), tuple(asks)))


def delta(agent, sim, side: Side, price: int, quantity: int, symbol="XYZ", venue="exchange"):
    book = agent.books[symbol]
    agent.deliver_book_delta(BookDelta(sim.kernel.now, symbol, side, price, quantity, venue, book.seq + 1))


def trade(agent, sim, price: int, quantity: int, aggressor: Side, symbol="XYZ") -> None:
    agent.on_trade(Trade(sim.kernel.now, 1, symbol, price, quantity, 1, 2, "b", "s", aggressor))
