"""Call auctions around a continuous book, with circuit breakers: the `call-auction` mechanism.

Schedule of every symbol (simulated time; one trading day per run):

    [0, open_call)                opening call: orders collect in a sealed auction book, the indicative price and
                                  imbalance are published every `indicative_interval`; at open_call the book
                                  uncrosses (market_sim.mechanisms.uncross: max volume, min imbalance, reference)
    [open_call, close_at - close_call)   continuous trading in price-time priority (the MatchingEngine)
    [close_at - close_call, close_at)    closing call: the continuous book's resting orders move into the auction
                                  book (in priority order) with the on-close orders; uncross at close_at
    [close_at, ...)               closed: new orders are rejected (WRONG_PHASE)

Order types: MOO = MARKET + TimeInForce.OPG, LOO = LIMIT + OPG (only for the opening call; what is left after the
opening cross is cancelled), MOC = MARKET + CLS, LOC = LIMIT + CLS (accepted any time before the close, held
unshown until the closing call). Other limit orders entered during a call take part in its uncross and go on into
continuous trading with what is left; market orders entered during a call that are not filled by it are cancelled;
IOC/FOK orders are refused during a call.

Circuit breakers (all off by default):
- Limit Up-Limit Down: with `luld_band_bps` > 0, no continuous trade may print outside reference +- band, the
  reference being the mean trade price of the last `luld_window` (the last auction price before any trade). A
  refused trade (TradeRejected, reason "luld ...") starts a volatility interruption: the symbol switches to a call
  for `volatility_auction` and reopens with an uncross (Xetra's volatility interruption).
- Market-wide halt: with `market_halt_bps` > 0, when the equal-weighted mean move of the venue's symbols from their
  first price of the day falls by that much, every symbol halts for `halt_duration`; orders may be entered and
  cancelled but nothing executes until the halt ends with an uncross (the reopening cross).
- Single-instrument halt: a `Halt(symbol, duration)` command (regulatory halts, news pending) does the same for one
  symbol.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from market_sim.core.errors import ConfigError
from market_sim.core.events import (
    AuctionIndicative, CancelReason, Event, OrderAccepted, OrderRejected, RejectReason, Trade, TradeRejected,
    TradingStatus, BookUpdate,
)
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder, OrderType, Side, TimeInForce
from market_sim.mechanisms.base import MechanismVenue, register_mechanism
from market_sim.mechanisms.book import AuctionBook
from market_sim.simulation.params import param

__all__ = ["CallAuctionVenue", "CallAuctionParams", "Halt"]

OPEN_CALL, CONTINUOUS, CLOSE_CALL, CLOSED = "open_call", "continuous", "close_call", "closed"
VOLATILITY, HALTED = "volatility_auction", "halted"
_CALLS = (OPEN_CALL, CLOSE_CALL, VOLATILITY, HALTED)


@dataclass(frozen=True, slots=True)
class Halt:
    """Halt one symbol for `duration` ns (orders may still be entered and cancelled; nothing executes), then reopen
    it with an uncross. Sent to the venue like an order command (trader: who asked, e.g. "regulator")."""

    symbol: str
    duration: int
    trader: str = "regulator"
    reason: str = "single-instrument halt"


@dataclass(frozen=True, slots=True)
class CallAuctionParams:
    """Keys of a call-auction venue."""

    open_call: int = param(300_000_000_000, duration=True, help="length of the opening call from t = 0; 0: none")
    close_call: int = param(300_000_000_000, duration=True, help="length of the closing call before close_at; 0: none")
    close_at: int | None = param(None, duration=True, help="time of the closing cross (default: the run's end)")
    indicative_interval: int = param(1_000_000_000, duration=True,
                                     help="how often the indicative price and imbalance are published during a call")
    reference_price: int = param(0, min=0, help="reference price (ticks) before any trade; 0: the instrument's "
                                                "initial price if it has one")
    luld_band_bps: int = param(0, min=0, help="Limit Up-Limit Down band half-width in bps of the reference; 0: off")
    luld_window: int = param(300_000_000_000, duration=True, help="the LULD reference: mean trade price over this")
    volatility_auction: int = param(120_000_000_000, duration=True, help="length of a volatility interruption's call")
    market_halt_bps: int = param(0, min=0, help="halt every symbol when their mean fall from the day's first price "
                                                "reaches this many bps; 0: off")
    halt_duration: int = param(900_000_000_000, duration=True, help="length of a halt")


class _Symbol:
    __slots__ = ("phase", "book", "pool", "window", "first", "call_end", "ind")

    def __init__(self, symbol: str) -> None:
        self.phase = CONTINUOUS
        self.book = AuctionBook(symbol)     # the call's sealed book
        self.pool = AuctionBook(symbol)     # on-close orders waiting for the closing call
        self.window: deque[tuple[int, int]] = deque()  # (ts, price) of recent trades (LULD reference)
        self.first: int | None = None       # first price of the day (market-wide halt)
        self.call_end = 0
        self.ind: tuple | None = None       # the last indicative published


@register_mechanism
class CallAuctionVenue(MechanismVenue):
    """opening and closing call auctions around a continuous book, MOO/LOO/MOC/LOC orders, LULD bands,
    volatility interruptions and halts"""

    mechanism = "call-auction"
    Params = CallAuctionParams

    def __init__(self, name, instruments, params=None, sim=None) -> None:
        super().__init__(name, instruments, params, sim)
        from market_sim.market import MatchingEngine

        p = self.params
        outer = sim.trade_validator if sim is not None else None
        self._outer = outer
        self.engine = MatchingEngine(list(self.instruments.values()), traders=None,
                                     validator=self if (p.luld_band_bps or outer is not None) else None)
        self.state = {s: _Symbol(s) for s in self.symbols}
        self.trades = 0
        for s, inst in self.instruments.items():
            ref = p.reference_price or self._initial(inst)
            self.last_price[s] = ref
        end = p.close_at if p.close_at is not None else (sim.scenario.duration if sim is not None else None)
        self.close_at = end
        if p.open_call:
            for st in self.state.values():
                st.phase, st.call_end = OPEN_CALL, p.open_call
        if sim is not None:
            if p.open_call:
                self.at(p.open_call, self._open_cross)
                self._tick_indicative(0)
            if end is not None and p.close_call and end - p.close_call >= p.open_call:
                self.at(end - p.close_call, self._start_close)
            if end is not None:
                self.at(end, self._close_cross)

    @staticmethod
    def _initial(inst: Any) -> int | None:
        ip = getattr(inst, "initial_price", None)
        tick = getattr(inst, "tick_size", None)
        if ip is None or not tick:
            return None
        try:
            from fractions import Fraction

            return max(1, round(Fraction(str(ip)) / Fraction(str(tick))))
        except (TypeError, ValueError, ZeroDivisionError):
            return None

    # ----- the trade validator (LULD bands; then the simulation's own validator)
    def band(self, symbol: str, ts: int) -> tuple[int, int] | None:
        bps = self.params.luld_band_bps
        if not bps:
            return None
        st = self.state[symbol]
        w = st.window
        while w and w[0][0] < ts - self.params.luld_window:
            w.popleft()
        ref = (sum(p for _, p in w) // len(w)) if w else self.last_price[symbol]
        if ref is None:
            return None
        half = max(1, ref * bps // 10_000)
        return ref - half, ref + half

    def validate_trade(self, trade: Trade, buy: NewOrder, sell: NewOrder) -> str | None:
        b = self.band(trade.symbol, trade.ts)
        if b is not None and not b[0] <= trade.price <= b[1]:
            return f"luld: price {trade.price} outside band [{b[0]}, {b[1]}]"
        if self._outer is not None:
            return self._outer.validate_trade(trade, buy, sell)
        return None

    # ----- commands
    def handle(self, command: Any, ts: int) -> list[Event]:
        tp = type(command)
        if tp is NewOrder:
            st = self.state.get(command.symbol)
            if st is None or command.order_id in self._owner:
                return super().handle(command, ts)
            tif, phase = command.tif, st.phase
            if phase is CONTINUOUS and tif is not TimeInForce.OPG and tif is not TimeInForce.CLS:
                return self._continuous(command, ts)
            return super().handle(command, ts)
        if tp is Halt:
            return self.halt(command.symbol, ts, command.duration, command.reason)
        if command.order_id in self._owner:
            return super().handle(command, ts)
        if tp is CancelOrder or tp is ModifyOrder:
            return self._drop_updates(self.engine.process(command, ts))
        raise ConfigError("not an order command", key="command", value=command)

    @staticmethod
    def _drop_updates(events: list[Event]) -> list[Event]:
        return events

    def _continuous(self, cmd: NewOrder, ts: int) -> list[Event]:
        events = self.engine.process(cmd, ts)
        refused = False
        for ev in events:
            tp = type(ev)
            if tp is Trade:
                self._traded(ev.symbol, ev.ts, ev.price)
            elif tp is TradeRejected and ev.reason.startswith("luld"):
                refused = True
        if refused and self.state[cmd.symbol].phase is CONTINUOUS:
            events.extend(self._to_call(cmd.symbol, ts, VOLATILITY, self.params.volatility_auction,
                                        "limit up-limit down band reached"))
        halt = self.params.market_halt_bps
        if halt and any(type(ev) is Trade for ev in events) and self._market_fall() >= halt:
            for s in self.symbols:
                if self.state[s].phase is CONTINUOUS:
                    events.extend(self._to_call(s, ts, HALTED, self.params.halt_duration, "market-wide halt"))
        return events

    def _traded(self, symbol: str, ts: int, price: int) -> None:
        st = self.state[symbol]
        self.last_price[symbol] = price
        self.trades += 1
        if st.first is None:
            st.first = price
        if self.params.luld_band_bps:
            st.window.append((ts, price))

    def _market_fall(self) -> int:
        moves = [(st.first - self.last_price[s]) * 10_000 // st.first for s, st in self.state.items()
                 if st.first and self.last_price[s] is not None]
        return sum(moves) // len(moves) if moves else 0

    def on_new(self, cmd: NewOrder, ts: int, events: list[Event]) -> None:
        st = self.state[cmd.symbol]
        phase, tif = st.phase, cmd.tif
        if phase is CLOSED:
            events.append(OrderRejected(ts, cmd.order_id, cmd.trader, cmd.symbol, RejectReason.WRONG_PHASE,
                                        "the closing auction is over"))
            return
        if tif is TimeInForce.OPG and phase is not OPEN_CALL:
            events.append(OrderRejected(ts, cmd.order_id, cmd.trader, cmd.symbol, RejectReason.WRONG_PHASE,
                                        "on-open orders are taken during the opening call only"))
            return
        if phase in _CALLS and tif in (TimeInForce.IOC, TimeInForce.FOK):
            events.append(OrderRejected(ts, cmd.order_id, cmd.trader, cmd.symbol, RejectReason.WRONG_PHASE,
                                        f"{tif} orders are refused during a call ({phase})"))
            return
        self.accept(cmd, ts, events)
        if tif is TimeInForce.CLS and phase is not CLOSE_CALL:
            st.pool.add(cmd)
        else:
            st.book.add(cmd)

    def on_cancel(self, cmd: CancelOrder, symbol: str, ts: int, events: list[Event]) -> None:
        st = self.state[symbol]
        o = st.book.remove(cmd.order_id) or st.pool.remove(cmd.order_id)
        self.done(cmd.order_id)
        events.append(self.cancelled(ts, o.cmd, o.qty, CancelReason.USER))

    # ----- phases
    def _tick_indicative(self, ts: int) -> None:
        iv = self.params.indicative_interval
        if iv and self.sim is not None:
            self.at(ts + iv, self._indicative)

    def _indicative(self, ts: int) -> list[Event]:
        events: list[Event] = []
        live = False
        for s, st in self.state.items():
            if st.phase not in _CALLS or ts >= st.call_end:
                continue
            live = True
            c = st.book.cross(self.last_price[s])
            key = (c.price, c.matched, c.imbalance)
            if key != st.ind:
                st.ind = key
                events.append(AuctionIndicative(ts, s, c.price, c.matched, c.imbalance, st.phase))
        if live:
            self._tick_indicative(ts)
        return events

    def _to_call(self, symbol: str, ts: int, phase: str, duration: int, reason: str) -> list[Event]:
        """Move the continuous book of `symbol` into its auction book and start a call (volatility or halt)."""
        st = self.state[symbol]
        self._engine_to_book(symbol, st.book)
        st.phase, st.call_end, st.ind = phase, ts + duration, None
        self.at(ts + duration, lambda t: self._reopen(symbol, t))
        self._tick_indicative(ts)
        return [TradingStatus(ts, symbol, phase, reason)]

    def halt(self, symbol: str, ts: int, duration: int, reason: str) -> list[Event]:
        st = self.state.get(symbol)
        if st is None or type(duration) is not int or duration <= 0:
            raise ConfigError("a halt needs a listed symbol and a positive duration", key="halt", value=symbol)
        if st.phase is not CONTINUOUS:
            return []
        return self._to_call(symbol, ts, HALTED, duration, reason)

    def _engine_to_book(self, symbol: str, book: AuctionBook) -> None:
        eb = self.engine.book(symbol)
        bids, asks = eb.l3(include_hidden=True)
        states = [o for pair in zip(bids, asks) for o in pair] + bids[len(asks):] + asks[len(bids):]
        for o in states:
            self.engine.process(CancelOrder(o.order_id, o.trader), 0)
            tif = o.tif if o.tif in (TimeInForce.DAY, TimeInForce.GTC) else TimeInForce.GTC
            cmd = NewOrder(o.order_id, o.trader, symbol, o.side, o.quantity, OrderType.LIMIT, o.price, tif=tif)
            book.add(cmd)
            self._owner[o.order_id] = (o.trader, symbol)

    def _book_to_engine(self, symbol: str, book: AuctionBook, ts: int, events: list[Event]) -> None:
        for o in sorted(book.orders.values(), key=lambda o: o.seq):
            c = o.cmd
            book.remove(c.order_id)
            self.done(c.order_id)
            if c.order_type is OrderType.MARKET or c.tif is TimeInForce.OPG or c.tif is TimeInForce.CLS:
                events.append(self.cancelled(ts, c, o.qty, CancelReason.NO_LIQUIDITY if c.order_type is
                                             OrderType.MARKET else CancelReason.EXPIRED))
                continue
            from dataclasses import replace

            for ev in self.engine.process(replace(c, quantity=o.qty), ts):
                if type(ev) is not OrderAccepted:
                    events.append(ev)
                    if type(ev) is Trade:
                        self._traded(ev.symbol, ev.ts, ev.price)

    def _uncross(self, symbol: str, ts: int, events: list[Event]) -> None:
        st = self.state[symbol]
        cross, trades = st.book.uncross(ts, self.last_price[symbol], self.next_trade_id)
        events.append(AuctionIndicative(ts, symbol, cross.price, cross.matched, cross.imbalance, st.phase))
        for t in trades:
            events.append(t)
            for oid in (t.buy_order_id, t.sell_order_id):
                if oid not in st.book.orders:
                    self.done(oid)
        if trades:
            self._traded(symbol, ts, cross.price)
            st.window.clear()
            st.window.append((ts, cross.price))

    def _open_cross(self, ts: int) -> list[Event]:
        events: list[Event] = []
        for s, st in self.state.items():
            if st.phase is not OPEN_CALL:
                continue
            self._uncross(s, ts, events)
            st.phase = CONTINUOUS
            events.append(TradingStatus(ts, s, CONTINUOUS, "opening cross"))
            self._book_to_engine(s, st.book, ts, events)
        return events

    def _reopen(self, symbol: str, ts: int) -> list[Event]:
        st = self.state[symbol]
        if st.phase not in (VOLATILITY, HALTED):
            return []
        events: list[Event] = []
        self._uncross(symbol, ts, events)
        st.phase = CONTINUOUS
        events.append(TradingStatus(ts, symbol, CONTINUOUS, "reopening cross"))
        self._book_to_engine(symbol, st.book, ts, events)
        return events

    def _start_close(self, ts: int) -> list[Event]:
        events: list[Event] = []
        for s, st in self.state.items():
            if st.phase is CLOSED:
                continue
            if st.phase is CONTINUOUS:
                self._engine_to_book(s, st.book)
            st.phase, st.call_end, st.ind = CLOSE_CALL, self.close_at, None
            for o in sorted(st.pool.orders.values(), key=lambda o: o.seq):
                st.pool.remove(o.cmd.order_id)
                st.book.add(o.cmd, o.qty)
            events.append(TradingStatus(ts, s, CLOSE_CALL, "closing call"))
        self._tick_indicative(ts)
        return events

    def _close_cross(self, ts: int) -> list[Event]:
        events: list[Event] = []
        for s, st in self.state.items():
            if st.phase is CLOSED:
                continue
            if st.phase is CONTINUOUS:  # no closing call: cross what rests with the on-close orders
                self._engine_to_book(s, st.book)
            for o in sorted(st.pool.orders.values(), key=lambda o: o.seq):
                st.pool.remove(o.cmd.order_id)
                st.book.add(o.cmd, o.qty)
            st.phase = CLOSE_CALL
            self._uncross(s, ts, events)
            st.phase = CLOSED
            events.append(TradingStatus(ts, s, CLOSED, "closing cross"))
            for ev in st.book.cancel_all(ts, CancelReason.EXPIRED):
                self.done(ev.order_id)
                events.append(ev)
        return events

    # ----- market data
    def quote(self, symbol: str, ts: int):
        st = self.state[symbol]
        if st.phase is CONTINUOUS:
            from market_sim.simulation.venues import Quote

            book = self.engine.book(symbol)
            bid, ask = book.best_bid(), book.best_ask()
            return Quote(ts, self.name, symbol, bid[0] if bid else None, bid[1] if bid else 0,
                         ask[0] if ask else None, ask[1] if ask else 0, self.last_price[symbol])
        return super().quote(symbol, ts)

    def depth(self, symbol: str, levels: int = 10):
        st = self.state[symbol]
        if st.phase is CONTINUOUS:
            bids, asks = self.engine.book(symbol).depth(levels)
            return list(bids), list(asks)
        return st.book.depth(levels)

    def phase(self, symbol: str) -> str:
        return self.state[symbol].phase

    def end_session(self, ts: int) -> list[Event]:
        events = [ev for ev in self.engine.end_session(ts) if type(ev) is not BookUpdate]
        for st in self.state.values():
            for book in (st.book, st.pool):
                for ev in book.cancel_all(ts, CancelReason.EXPIRED, keep=lambda o: o.cmd.tif is not TimeInForce.DAY):
                    self.done(ev.order_id)
                    events.append(ev)
        return events

    def expire(self, ts: int) -> list[Event]:
        return self.engine.expire(ts)


_ = Side
