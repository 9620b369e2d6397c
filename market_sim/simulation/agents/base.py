"""The Agent base class: override the on_* hooks, act with submit/cancel/modify/send and wake_up_in.

An agent reaches venues only through the simulation it is bound to: commands travel with the configured
agent→venue latency, and fills and order events come back with the venue→agent latency. Prices and quantities
are integer ticks and lots; use `to_ticks` to turn a float analytics value (a fundamental price) into ticks.

Hooks (all optional):
    on_start()               once, at simulated time 0 (after every venue exists)
    on_wakeup()              at times requested with wake_up_in / wake_up_at (deferred while the market is closed)
    on_market_data(quote)    top-of-book changes of symbols subscribed with subscribe(symbol)
    on_book_snapshot(snap)   the full-depth book once after subscribe_book(symbol) (BookSnapshot, with its seq)
    on_book_delta(delta)     then every L2 change (BookDelta: one level's new quantity, seq +1 each)
    on_trade(trade)          every trade of symbols subscribed with subscribe_trades(symbol)
    on_fill(fill)            one of the agent's orders traded (a core Fill; the account is already booked)
    on_order_event(event)    OrderAccepted / OrderRejected / OrderCancelled / OrderModified for its orders
    on_stop()                at the end of the run

Market data reaches the agent with the venue→agent latency and is paid for only by subscribers: a venue builds
L2 deltas only while someone subscribes to them. `self.books[symbol]` is the agent's L2 copy (an L2Book kept
from the snapshot and the deltas it has received).

Holdings live in the agent's core Account (`self.account`, market_sim.core.accounts): balances per asset in base
units (cash per currency, e.g. "USD" cents) and a Position per instrument. `position(symbol)` is the position in
lots, derived from the account. A fill is booked on the account when its execution report reaches the agent (the
venue→agent latency), so the account is what the agent knows; `on_fill` runs right after.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from market_sim.core.accounts import Fill
from market_sim.core.errors import ConfigError
from market_sim.simulation.registry import KindRegistry
from market_sim.core.events import Event, OrderCancelled, OrderModified, OrderRejected, Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import (
    CancelOrder, ModifyOrder, NewOrder, OrderType, PostOnlyMode, Side, STPMode, TimeInForce,
)
from market_sim.simulation.params import NoParams
from market_sim.simulation.venues import BookDelta, BookSnapshot, L2Book, OrderBookVenue, Quote

if TYPE_CHECKING:
    from market_sim.core.accounts import Account
    from market_sim.simulation.runner import Simulation

__all__ = ["Agent", "Fill", "OpenOrder", "register_agent_type", "agent_types", "mid_ticks"]


def mid_ticks(bid: int, ask: int) -> int:
    """The mid of bid and ask in whole ticks, a half tick rounded to the even neighbour.

    Rounding half a tick always down (`(bid + ask) // 2`) biases every price derived from the mid downwards; agents
    that re-quote around it then ratchet the market down by a fraction of a tick per re-quote (random-market drifted
    tens of bps below its fundamentals within minutes). Half-to-even has no bias."""
    total = bid + ask
    half = total >> 1
    return half + 1 if total & 1 and half & 1 else half


class _Lots(Mapping[str, int]):
    """Read-only view of an agent's positions in lots per traded symbol (derived from its account)."""

    __slots__ = ("_agent",)

    def __init__(self, agent: "Agent") -> None:
        self._agent = agent

    def __getitem__(self, symbol: str) -> int:
        return self._agent.position(symbol)

    def __iter__(self) -> Iterator[str]:
        return iter(self._agent.symbols)

    def __len__(self) -> int:
        return len(self._agent.symbols)


class OpenOrder:
    """The agent's view of one of its live orders (remaining lots; price in ticks)."""

    __slots__ = ("order_id", "venue", "symbol", "side", "price", "remaining", "submitted_at")

    def __init__(self, order_id: int, venue: str, symbol: str, side: Side, price: int | None, remaining: int,
                 submitted_at: int) -> None:
        self.order_id, self.venue, self.symbol, self.side = order_id, venue, symbol, side
        self.price, self.remaining, self.submitted_at = price, remaining, submitted_at

    def __repr__(self) -> str:
        return f"OpenOrder({self.order_id}, {self.symbol}, {self.side}, {self.remaining}@{self.price})"


class Agent:
    """Base class of every trading agent; subclasses set `kind`, optionally `Params`, and override hooks."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    _plain_quote: ClassVar[bool] = True  # quote() is Agent.quote: reference_ticks may skip building a Quote

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._plain_quote = cls.quote is Agent.quote

    def __init__(self, agent_id: str, params: Any = None) -> None:
        self.id = agent_id
        self.params = params if params is not None else self.Params()
        self.rng = random.Random(0)
        self.symbols: tuple[str, ...] = ()
        self.open_orders: dict[int, OpenOrder] = {}
        self.books: dict[str, L2Book] = {}  # symbol -> L2 copy, for symbols subscribed with subscribe_book
        self.fills = 0
        self.volume = 0  # lots traded
        self._sim: Simulation | None = None
        self._account: Account | None = None
        self._venue_of: dict[str, str] = {}
        self._lot_units: dict[str, int] = {}  # symbol -> base units per lot

    # ----- wiring (called by the runner) -----
    def bind(self, sim: "Simulation", symbols: tuple[str, ...], venue_of: dict[str, str], seed: int) -> None:
        """Attach to a simulation: the symbols it trades, the venue for each symbol, its RNG seed."""
        self._sim = sim
        self.symbols = symbols
        self._venue_of = venue_of
        self.rng = random.Random(seed)
        self._account = sim.accounts[self.id]
        self._lot_units = {s: sim.lot_units(s) for s in sim.instruments}

    @property
    def account(self) -> "Account":
        """The agent's account in the simulation's accounts (balances per asset, positions per instrument)."""
        return self._account if self._account is not None else self._sim.accounts[self.id]

    @property
    def positions(self) -> Mapping[str, int]:
        """Position in lots per traded symbol (read-only, from the account)."""
        return _Lots(self)

    # ----- hooks -----
    def on_start(self) -> None:
        """Called once at the start of the run."""

    def on_wakeup(self) -> None:
        """Called at each requested wake-up."""

    def on_market_data(self, quote: Quote) -> None:
        """Called when a subscribed symbol's top of book changes."""

    def on_fill(self, fill: Fill) -> None:
        """Called after one of the agent's orders traded (price in ticks, quantity in lots, side, order_id, maker,
        symbol, venue, ts; the base/quote amounts moved in asset units)."""

    def on_book_snapshot(self, snapshot: BookSnapshot) -> None:
        """Called once per subscribe_book with the full-depth book (self.books[symbol] already holds it)."""

    def on_book_delta(self, delta: BookDelta) -> None:
        """Called for every L2 change of a book subscribed with subscribe_book (self.books[symbol] applied it)."""

    def on_trade(self, trade: Trade) -> None:
        """Called for every trade of a symbol subscribed with subscribe_trades."""

    def on_order_event(self, event: Event) -> None:
        """Called for accept/reject/cancel/modify events of the agent's orders."""

    def on_stop(self) -> None:
        """Called at the end of the run."""

    # ----- reading the world -----
    @property
    def now(self) -> int:
        """Simulated time in ns."""
        return self._sim.kernel.now

    def instrument(self, symbol: str) -> Instrument:
        return self._sim.instruments[symbol]

    def venue_for(self, symbol: str) -> str:
        """Name of the venue this agent trades `symbol` on."""
        return self._venue_of[symbol]

    def quote(self, symbol: str, venue: str | None = None) -> Quote:
        """The venue's current top of book for `symbol`."""
        sim = self._sim
        return sim.venues[venue or self._venue_of[symbol]].quote(symbol, sim.kernel.now)

    def fundamental(self, symbol: str) -> float | None:
        """The external price process value for `symbol` now, if the scenario defines one."""
        return self._sim.fundamental(symbol)

    def to_ticks(self, symbol: str, price: float) -> int:
        """A float price rounded to the nearest tick (at least 1 tick)."""
        if not math.isfinite(price):
            raise ConfigError("price must be finite", key=f"{self.id}.price", value=price)
        return max(1, round(price / self._sim.tick_float(symbol)))

    def reference_ticks(self, symbol: str) -> int:
        """Best guess of the price in ticks: mid, else last trade, else one side, else fundamental/initial price."""
        sim = self._sim
        venue = sim.venues[self._venue_of[symbol]]
        if type(venue) is OrderBookVenue and self._plain_quote:
            # The same answer from the book, without a Quote per decision (noise and momentum traders ask here at
            # every wake-up); another venue kind, or an agent with its own quote(), goes through quote().
            ref = venue.reference(symbol)
            return ref if ref is not None else self.fundamental_ticks(symbol)
        q = self.quote(symbol)
        if q.bid is not None and q.ask is not None:
            return mid_ticks(q.bid, q.ask)
        if q.last is not None:
            return q.last
        if q.bid is not None or q.ask is not None:
            return q.bid if q.bid is not None else q.ask
        return self.fundamental_ticks(symbol)

    def fundamental_ticks(self, symbol: str) -> int:
        """The fundamental value in ticks, or the instrument's initial price when no process drives it."""
        f = self.fundamental(symbol)
        return self.to_ticks(symbol, f) if f is not None else self._sim.initial_ticks(symbol)

    def position(self, symbol: str) -> int:
        """Signed position in lots (from the account; a fraction of a lot, from an AMM fill, rounds toward zero)."""
        pos = self._account.positions.get(symbol) if self._account is not None else None
        if pos is None:
            return 0
        q = pos.quantity
        units = self._lot_units[symbol]
        return q // units if q >= 0 else -(-q // units)

    def balance(self, asset: str) -> int:
        """The account's balance of an asset in base units (cash per currency: balance("USD") in cents)."""
        return self.account.balance(asset)

    # ----- acting -----
    def submit(self, symbol: str, side: Side, quantity: int, price: int | None = None, *,
               order_type: OrderType = OrderType.LIMIT, tif: TimeInForce = TimeInForce.GTC,
               expire_at: int | None = None, post_only: PostOnlyMode | None = None,
               stp: STPMode = STPMode.NONE, venue: str | None = None, stop_price: int | None = None) -> int:
        """Send a new order; returns its order id (`stop_price`: the trigger of a STOP / STOP_LIMIT order)."""
        sim = self._sim
        venue = venue or self._venue_of[symbol]
        sim._order_seq += 1
        oid = sim._order_seq
        order = NewOrder(oid, self.id, symbol, side, quantity, order_type, price, stop_price, tif, expire_at,
                         None, False, post_only, stp)
        self.open_orders[oid] = OpenOrder(oid, venue, symbol, side, price, quantity, sim.kernel.now)
        sim.route(self, venue, order)
        return oid

    def cancel(self, order_id: int) -> None:
        """Ask the venue to cancel an order (the OrderCancelled event confirms it)."""
        o = self.open_orders.get(order_id)
        if o is not None:
            self._sim.route(self, o.venue, CancelOrder(order_id, self.id))

    def cancel_all(self, symbol: str | None = None) -> None:
        """Cancel every open order (of one symbol)."""
        for oid, o in list(self.open_orders.items()):
            if symbol is None or o.symbol == symbol:
                self.cancel(oid)

    def modify(self, order_id: int, quantity: int | None = None, price: int | None = None) -> None:
        """Change an order's total open quantity and/or price."""
        o = self.open_orders.get(order_id)
        if o is not None:
            self._sim.route(self, o.venue, ModifyOrder(order_id, self.id, quantity, price))

    def send(self, venue: str, command: Any) -> None:
        """Send any command a venue kind accepts (e.g. an AMM swap) with the agent→venue latency."""
        self._sim.route(self, venue, command)

    def wake_up_in(self, delay: int) -> None:
        """Request on_wakeup after `delay` ns."""
        self._sim.wake(self, self._sim.kernel.now + max(0, int(delay)))

    def wake_up_at(self, t: int) -> None:
        """Request on_wakeup at simulated time t (ns)."""
        self._sim.wake(self, max(t, self._sim.kernel.now))

    def subscribe(self, symbol: str, venue: str | None = None) -> None:
        """Receive on_market_data when the top of book of `symbol` changes."""
        self._sim.subscribe_quotes(self, venue or self._venue_of[symbol], symbol)

    def subscribe_book(self, symbol: str, venue: str | None = None) -> None:
        """Receive the full-depth book (on_book_snapshot) and then every L2 change (on_book_delta)."""
        self._sim.subscribe_book(self, venue or self._venue_of[symbol], symbol)

    def subscribe_trades(self, symbol: str, venue: str | None = None) -> None:
        """Receive on_trade for every trade of `symbol`."""
        self._sim.subscribe_trades(self, venue or self._venue_of[symbol], symbol)

    # ----- bookkeeping (called by the runner on delivery) -----
    def deliver_fill(self, fill: Fill) -> None:
        """Update open orders and counters (the runner booked the fill on the account), then call on_fill."""
        self.fills += 1
        self.volume += fill.quantity
        o = self.open_orders.get(fill.order_id)
        if o is not None:
            o.remaining -= fill.quantity
            if o.remaining <= 0:
                del self.open_orders[fill.order_id]
        self.on_fill(fill)

    def deliver_book_snapshot(self, snapshot: BookSnapshot) -> None:
        self.books[snapshot.symbol] = L2Book.from_snapshot(snapshot)
        self.on_book_snapshot(snapshot)

    def deliver_book_delta(self, delta: BookDelta) -> None:
        book = self.books.get(delta.symbol)
        if book is not None:
            book.apply(delta)
        self.on_book_delta(delta)

    def deliver_order_event(self, event: Event, new_order_rejected: bool = False) -> None:
        """Update open orders, then call on_order_event (`new_order_rejected`: the rejection was of a NewOrder)."""
        if isinstance(event, OrderCancelled) or (new_order_rejected and isinstance(event, OrderRejected)):
            self.open_orders.pop(event.order_id, None)
        elif isinstance(event, OrderModified):
            o = self.open_orders.get(event.order_id)
            if o is not None:
                o.remaining = event.quantity
                if event.price is not None:
                    o.price = event.price
        self.on_order_event(event)

    def mark_pnl(self, symbol: str, mark: Fraction | None) -> int:
        """PnL of one symbol in integer quote units (the instrument's quote asset): realized + unrealized at `mark`
        (quote units per base unit) - fees, from the account's position."""
        pos = self.account.positions.get(symbol)
        return 0 if pos is None else pos.pnl(mark)


AGENT_TYPES: KindRegistry[type[Agent]] = KindRegistry("agent type")


def register_agent_type(cls: type[Agent]) -> type[Agent]:
    """Make an Agent subclass usable as `type = "<cls.kind>"` in [[agents]] (usable as a decorator)."""
    return AGENT_TYPES.register(cls)


def agent_types() -> dict[str, type[Agent]]:
    """Registered agent kinds."""
    return AGENT_TYPES.all()
