"""The bar backtest: the simulator's agents, unchanged, trading on historical OHLCV bars.

An agent is bound to a `BarContext` that stands where a `Simulation` stands for it (clock, instruments, accounts,
venues, `route`, `wake`, quote subscriptions), so the same class runs in both. Time advances bar by bar over the
union of the series' timestamps; at each bar:

1. orders already working fill against this bar by the `FillRules` (below), in the order they were sent;
2. quote subscribers get a `Quote` whose `last` is the bar's close (no bid/ask: bars have none);
3. agents whose wake-up time has come (`wake_up_in` / `wake_up_at`: the first bar at or after the time) run
   `on_wakeup`; what they send now can fill from the next bar on.

`now` is the bar's timestamp throughout; fills of bar i are stamped with it. The account is booked at once
(no latency in bar mode). An agent may define `precompute(symbol, closes)`: it is called before the run with the
closes (ticks, one per timeline step, carried forward over a symbol's missing bars) so indicators can be computed
with numpy; `bar_index` (the context's) is then the current step.

Fill rules (conservative by default; each stated in `FillRules` and in every report):
- MARKET: at the next bar's open, plus slippage (clamped to the bar's range; a limit order filled as a taker
  at the open is never slipped through its limit).
- LIMIT buy at p: the open if open <= p (a gap through the limit fills at the better open, as a taker); else p if
  low < p (maker); a low exactly at p fills only with `fill_on_touch` (by default the bar may have touched p
  without reaching the queue). Sells mirror with high.
- STOP buy at s (stop-market): the open if open >= s, else s if high >= s (a touch triggers), plus slippage. A
  STOP_LIMIT triggers the same way and becomes a limit from the next bar on (the order of the trigger and the
  later prices within the bar is unknown).
- Participation cap: at most `participation` x the bar's volume per symbol and bar over all orders; the rest of
  a GTC order works on (a market order's rest at the next open), the rest of an IOC is cancelled, a FOK that
  cannot fill whole is cancelled.
- TIF: DAY and IOC orders live for one bar, GTD until its expire_at, GTC until filled or cancelled. A post-only
  limit that is marketable at the open is rejected.

Borrow fees (`borrow=BorrowFees(rate_bps)`, the risk package's model, market_sim.risk.borrow): at each bar, before
its orders fill, every short position held since the previous bar pays its annual rate on its market value at the
previous close for the calendar time elapsed (365-day year), exact in quote base units with the fraction carried
to the next bar; booked on the account as a `borrow_fee` Transfer and listed in `RawResult.borrow_fees`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from market_sim.backtest.bars import BarSeries
from market_sim.backtest.costs import NO_FEES, NO_SLIPPAGE, FeeSchedule, Slippage
from market_sim.core.accounts import Accounts, Fill, Liquidity, Transfer, book_fill
from market_sim.core.errors import ConfigError
from market_sim.core.events import (
    CancelReason, OrderAccepted, OrderCancelled, OrderModified, OrderRejected, RejectReason,
)
from market_sim.core.instruments import Instrument
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder, OrderType, Side, TimeInForce
from market_sim.risk.borrow import BorrowFees, accrue_borrow_fee
from market_sim.simulation.agents.base import Agent
from market_sim.simulation.venues import Quote

__all__ = ["FillRules", "BarBacktest", "BarContext", "RawResult"]

_NEVER = 2**63 - 1
_BUY = Side.BUY


@dataclass(frozen=True, slots=True)
class FillRules:
    """How orders fill against bars (see the module docstring)."""

    fill_on_touch: bool = False        # a limit at exactly the bar's low (buy) / high (sell) fills
    participation: float | None = None  # max share of a bar's volume traded per symbol (None: no cap)
    slippage: Slippage = NO_SLIPPAGE

    def __post_init__(self) -> None:
        p = self.participation
        if p is not None and not (isinstance(p, (int, float)) and math.isfinite(p) and 0 < p <= 1):
            raise ConfigError("must be a fraction in (0, 1]", key="participation", value=p)
        if not isinstance(self.slippage, Slippage):
            raise ConfigError("must be a slippage model (price(side, price, quantity, bar_volume, bar_range))",
                              key="slippage", value=self.slippage)

    def describe(self) -> str:
        cap = "none" if self.participation is None else f"{self.participation:.2%} of bar volume"
        touch = "fills at a touch of the bar's extreme" if self.fill_on_touch else \
            "fills only when the bar trades through it (a touch of the extreme is not enough)"
        return (f"market orders at the next bar's open; limit {touch}, a gap fills at the open; stops trigger on a "
                f"touch and fill at the stop or a worse open; stop-limits become limits from the next bar; "
                f"participation cap {cap}; slippage {type(self.slippage).__name__}"
                f"{'' if type(self.slippage).__name__ == 'NoSlippage' else ' ' + repr(self.slippage)}")


class _Order:
    __slots__ = ("order", "agent", "sym", "side", "remaining", "type", "price", "stop", "tif", "expire_at",
                 "eligible", "triggered")

    def __init__(self, order: NewOrder, agent: Agent, sym: int, eligible: int) -> None:
        self.order, self.agent, self.sym = order, agent, sym
        self.side, self.remaining, self.type = order.side, order.quantity, order.order_type
        self.price, self.stop, self.tif, self.expire_at = order.price, order.stop_price, order.tif, order.expire_at
        self.eligible = eligible   # first timeline step it can fill at
        self.triggered = False


class _BarVenue:
    """What `Agent.quote` reads in bar mode: the last close as `last`, no bid or ask."""

    __slots__ = ("name", "_ctx")

    def __init__(self, name: str, ctx: "BarContext") -> None:
        self.name, self._ctx = name, ctx

    def quote(self, symbol: str, now: int) -> Quote:
        ctx = self._ctx
        j = ctx._sym_index.get(symbol)
        if j is None:
            raise ConfigError("no bars for this symbol in the backtest", key="symbol", value=symbol)
        return Quote(now, self.name, symbol, None, 0, None, 0, ctx._last[j])


class BarContext:
    """The simulation-shaped world an agent sees in a bar backtest (what `Agent` reads through `self._sim`)."""

    def __init__(self, series: Sequence[BarSeries], venue: str) -> None:
        self.kernel = self          # Agent.now reads self._sim.kernel.now
        self.now = int(series[0].ts[0]) if series else 0
        self.bar_index = -1
        self.instruments: dict[str, Instrument] = {s.symbol: s.instrument for s in series}
        self.accounts = Accounts()
        self.venue = venue
        self.venues = {venue: _BarVenue(venue, self)}
        self._sym_index = {s.symbol: j for j, s in enumerate(series)}
        self._first_open = [int(s.open[0]) for s in series]
        self._last: list[int | None] = [None] * len(series)
        self._order_seq = 0
        self._engine: BarBacktest | None = None
        self.next_wake = _NEVER
        self._wakes: dict[Agent, int] = {}

    # --- what Agent calls ---
    def tick_float(self, symbol: str) -> float:
        return float(self.instruments[symbol].tick_size)

    def lot_units(self, symbol: str) -> int:
        return self.instruments[symbol].base_units_per_lot

    def initial_ticks(self, symbol: str) -> int:
        return self._first_open[self._sym_index[symbol]]

    def fundamental(self, symbol: str) -> float | None:
        return None

    def quote(self, venue: str, symbol: str) -> Quote:
        return self.venues[venue].quote(symbol, self.now)

    def route(self, agent: Agent, venue_name: str, command: Any) -> None:
        if venue_name != self.venue:
            raise ConfigError(f"agent {agent.id} sent to an unknown venue (the backtest's venue is {self.venue})",
                              key="venue", value=venue_name)
        self._engine._command(agent, command)

    def wake(self, agent: Agent, t: int) -> None:
        self._wakes[agent] = t
        if t < self.next_wake:
            self.next_wake = t

    def subscribe_quotes(self, agent: Agent, venue: str, symbol: str) -> None:
        if symbol not in self._sym_index:
            raise ConfigError("no bars for this symbol in the backtest", key="symbol", value=symbol)
        self._engine._quote_subs.setdefault(self._sym_index[symbol], []).append(agent)

    subscribe = subscribe_quotes

    def subscribe_trades(self, agent: Agent, venue: str, symbol: str) -> None:
        raise ConfigError("a bar backtest has no trade feed (bars only); use subscribe(symbol) for bar closes",
                          key="subscribe_trades", value=symbol)

    def subscribe_book(self, agent: Agent, venue: str, symbol: str) -> None:
        raise ConfigError("a bar backtest has no order book; L2 strategies need the tick / L2 mode",
                          key="subscribe_book", value=symbol)


@dataclass(slots=True)
class RawResult:
    """What a bar backtest produced: the timeline, each agent's fills (rows) and accounts; `result.py` turns it
    into equity curves and metrics."""

    series: list[BarSeries]
    timeline: np.ndarray
    closes: list[np.ndarray]           # per symbol, on the timeline, carried forward (ticks)
    fills: list[tuple]                 # (step, ts, agent, symbol, side, lots, price, quote_amount, fee, liquidity, order_id)
    accounts: Accounts
    agents: list[Agent]
    initial_cash: dict[str, dict[str, int]]
    rules: FillRules
    fees: FeeSchedule
    cancelled: int = 0
    rejected: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    borrow: BorrowFees | None = None
    borrow_fees: list[tuple] = field(default_factory=list)  # (step, ts, agent, symbol, currency, quote units)


class BarBacktest:
    """Run agents over bar series. `cash`: initial balances per currency in base units (the same for every
    agent, or a mapping agent id -> balances)."""

    def __init__(self, series: BarSeries | Sequence[BarSeries], agents: Agent | Sequence[Agent], *,
                 cash: Mapping[str, int] | Mapping[str, Mapping[str, int]] | None = None,
                 fees: FeeSchedule = NO_FEES, rules: FillRules = FillRules(), venue: str = "backtest",
                 seed: int = 0, precompute: bool = True, borrow: BorrowFees | None = None) -> None:
        self.series = [series] if isinstance(series, BarSeries) else list(series)
        self.agents = [agents] if isinstance(agents, Agent) else list(agents)
        if not self.series:
            raise ConfigError("a backtest needs at least one bar series", key="bars", value=0)
        if not self.agents:
            raise ConfigError("a backtest needs at least one agent", key="agents", value=0)
        syms = [s.symbol for s in self.series]
        if len(set(syms)) != len(syms):
            raise ConfigError("each symbol may have one bar series", key="bars", value=syms)
        ids = [a.id for a in self.agents]
        if len(set(ids)) != len(ids):
            raise ConfigError("agent ids must be unique", key="agents", value=ids)
        if not isinstance(fees, FeeSchedule):
            raise ConfigError("must be a market_sim.core.fees.FeeSchedule", key="fees", value=fees)
        if borrow is not None and not isinstance(borrow, BorrowFees):
            raise ConfigError("must be a market_sim.risk.borrow.BorrowFees (annual bps)", key="borrow", value=borrow)
        self.fees, self.rules, self.seed, self.precompute = fees, rules, seed, precompute
        self.borrow = borrow
        self._shorts: dict[tuple[str, int], None] = {}   # (agent, symbol index) short now (only with borrow fees)
        self._borrow_carry: dict[tuple[str, int], Any] = {}
        self._borrow_rows: list[tuple] = []
        cash = dict(cash or {})
        if cash and all(isinstance(v, Mapping) for v in cash.values()):
            self.cash = {a: dict(cash.get(a, {})) for a in ids}
        else:
            self.cash = {a: dict(cash) for a in ids}
        for a, balances in self.cash.items():
            for ccy, v in balances.items():
                if isinstance(v, bool) or not isinstance(v, int):
                    raise ConfigError("initial cash must be an integer in base units", key=f"cash.{a}.{ccy}",
                                      value=v)
        self.ctx = BarContext(self.series, venue)
        self.ctx._engine = self
        self._pending: list[_Order] = []
        self._quote_subs: dict[int, list[Agent]] = {}
        self._fills: list[tuple] = []
        self._trade_id = 0
        self._cancelled = self._rejected = 0
        self._step = -1
        # timeline: union of the series' timestamps; per symbol the row at each step (-1: no bar then)
        if len(self.series) == 1:
            self.timeline = self.series[0].ts
            self._rows = None
        else:
            self.timeline = np.unique(np.concatenate([s.ts for s in self.series]))
            self._rows = []
            for s in self.series:
                pos = np.searchsorted(s.ts, self.timeline)
                hit = (pos < len(s.ts)) & (s.ts[np.minimum(pos, len(s.ts) - 1)] == self.timeline)
                self._rows.append(np.where(hit, pos, -1))
        self._ran = False

    # ----- closes on the timeline (carried forward; before the first bar: the first open) -----
    def _timeline_closes(self) -> list[np.ndarray]:
        if self._rows is None:
            return [self.series[0].close]
        out = []
        for s, rows in zip(self.series, self._rows):
            idx = np.maximum.accumulate(np.where(rows >= 0, np.arange(len(rows)), -1))
            c = np.where(idx >= 0, s.close[rows[np.maximum(idx, 0)]], s.open[0])
            out.append(c.astype(np.int64))
        return out

    # ----- commands from agents -----
    def _command(self, agent: Agent, cmd: Any) -> None:
        ctx = self.ctx
        if isinstance(cmd, NewOrder):
            why = self._invalid(cmd)
            if why is not None:
                self._rejected += 1
                agent.deliver_order_event(OrderRejected(ctx.now, cmd.order_id, agent.id, cmd.symbol, why[0], why[1]),
                                          new_order_rejected=True)
                return
            self._pending.append(_Order(cmd, agent, ctx._sym_index[cmd.symbol], self._step + 1))
            agent.deliver_order_event(OrderAccepted(ctx.now, cmd))
        elif isinstance(cmd, CancelOrder):
            for k, o in enumerate(self._pending):
                if o.order.order_id == cmd.order_id and o.agent is agent:
                    del self._pending[k]
                    self._cancel(o, CancelReason.USER)
                    return
            agent.deliver_order_event(OrderRejected(ctx.now, cmd.order_id, agent.id, "", RejectReason.UNKNOWN_ORDER,
                                                    "no such open order"))
        elif isinstance(cmd, ModifyOrder):
            for o in self._pending:
                if o.order.order_id == cmd.order_id and o.agent is agent:
                    if cmd.quantity is not None:
                        if cmd.quantity <= 0:
                            break
                        o.remaining = cmd.quantity
                    if cmd.price is not None:
                        if cmd.price <= 0:
                            break
                        o.price = cmd.price
                    agent.deliver_order_event(OrderModified(ctx.now, o.order.order_id, agent.id, o.order.symbol,
                                                            o.remaining, o.price, False))
                    return
            agent.deliver_order_event(OrderRejected(ctx.now, cmd.order_id, agent.id, "", RejectReason.UNKNOWN_ORDER,
                                                    "no such open order, or an invalid quantity or price"))
        else:
            raise ConfigError(f"agent {agent.id} sent a command a bar backtest does not take",
                              key="command", value=type(cmd).__name__)

    def _invalid(self, o: NewOrder) -> tuple[RejectReason, str] | None:
        if o.symbol not in self.ctx._sym_index:
            return RejectReason.UNKNOWN_INSTRUMENT, f"no bars for {o.symbol}"
        if o.quantity <= 0:
            return RejectReason.INVALID_QUANTITY, "quantity must be positive"
        if o.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and (o.price is None or o.price <= 0):
            return RejectReason.INVALID_PRICE, "a limit order needs a positive price"
        if o.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and (o.stop_price is None or o.stop_price <= 0):
            return RejectReason.INVALID_STOP_PRICE, "a stop order needs a positive stop price"
        if o.tif is TimeInForce.GTD and o.expire_at is None:
            return RejectReason.INVALID_EXPIRY, "a GTD order needs expire_at"
        if o.display_quantity is not None or o.hidden:
            return RejectReason.INVALID_ORDER, "icebergs and hidden orders need the L2 mode"
        return None

    def _cancel(self, o: _Order, reason: CancelReason) -> None:
        self._cancelled += 1
        o.agent.deliver_order_event(OrderCancelled(self.ctx.now, o.order.order_id, o.agent.id, o.order.symbol,
                                                   o.remaining, reason))

    # ----- matching against one bar -----
    def _match(self, i: int) -> None:
        rules = self.rules
        cap_share = rules.participation
        slip = rules.slippage
        rows = self._rows
        series = self.series
        used: dict[int, int] = {}
        keep: list[_Order] = []
        pending, self._pending = self._pending, []   # orders sent from on_fill/on_order_event land in the new list
        for o in pending:
            if o.eligible > i:
                keep.append(o)
                continue
            s = series[o.sym]
            r = i if rows is None else int(rows[o.sym][i])
            if r < 0:  # no bar for this symbol now
                if o.tif is TimeInForce.GTD and self.ctx.now > o.expire_at:
                    self._cancel(o, CancelReason.EXPIRED)
                else:
                    keep.append(o)
                continue
            if o.tif is TimeInForce.GTD and self.ctx.now > o.expire_at:
                self._cancel(o, CancelReason.EXPIRED)
                continue
            op, hi, lo, vol = int(s.open[r]), int(s.high[r]), int(s.low[r]), int(s.volume[r])
            buy = o.side is _BUY
            price: int | None = None
            taker = True
            limit: int | None = None  # the limit price of a LIMIT (or triggered STOP_LIMIT) order
            t = o.type
            if t is OrderType.STOP or (t is OrderType.STOP_LIMIT and not o.triggered):
                st = o.stop
                if buy and op >= st or not buy and op <= st:
                    price = op
                elif buy and hi >= st or not buy and lo <= st:
                    price = st
                if price is not None and t is OrderType.STOP_LIMIT:
                    o.triggered = True
                    o.eligible = i + 1
                    keep.append(o)
                    continue
            elif t is OrderType.MARKET:
                price = op
            else:  # LIMIT, or a triggered STOP_LIMIT
                p = limit = o.price
                if buy and op <= p or not buy and op >= p:
                    if o.order.post_only is not None and t is OrderType.LIMIT and o.eligible == i \
                            and o.tif is not TimeInForce.IOC:
                        self._rejected += 1
                        o.agent.deliver_order_event(OrderRejected(self.ctx.now, o.order.order_id, o.agent.id,
                                                                  o.order.symbol, RejectReason.POST_ONLY_WOULD_TAKE,
                                                                  "post-only limit marketable at the open"),
                                                    new_order_rejected=True)
                        continue
                    price = op
                elif (buy and (lo < p or rules.fill_on_touch and lo == p)
                      or not buy and (hi > p or rules.fill_on_touch and hi == p)):
                    price, taker = p, False
            if price is None:
                if o.tif in (TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY):
                    self._cancel(o, CancelReason.EXPIRED if o.tif is TimeInForce.DAY else CancelReason.IOC_REMAINDER)
                else:
                    keep.append(o)
                continue
            qty = o.remaining
            if cap_share is not None:
                room = int(cap_share * vol) - used.get(o.sym, 0)
                if o.tif is TimeInForce.FOK and room < qty:
                    self._cancel(o, CancelReason.IOC_REMAINDER)
                    continue
                qty = min(qty, max(0, room))
            if qty > 0:
                if taker:
                    price = min(hi, max(lo, slip.price(o.side, price, qty, vol, hi - lo)))
                    if limit is not None:  # slippage never takes a limit order through its limit
                        price = min(price, limit) if buy else max(price, limit)
                used[o.sym] = used.get(o.sym, 0) + qty
                o.remaining -= qty
                self._fill(o, s.instrument, price, qty, taker)
            if o.remaining > 0:
                if o.tif in (TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY):
                    self._cancel(o, CancelReason.IOC_REMAINDER if o.tif is not TimeInForce.DAY
                                 else CancelReason.EXPIRED)
                else:
                    keep.append(o)
        keep.extend(self._pending)
        self._pending = keep

    def _fill(self, o: _Order, ins: Instrument, price: int, qty: int, taker: bool) -> None:
        ctx = self.ctx
        self._trade_id += 1
        liq = Liquidity.TAKER if taker else Liquidity.MAKER
        quote_amount = qty * price * ins.quote_units_per_lot_tick
        fee = self.fees.fee(quote_amount, qty, liq)
        fill = book_fill(ctx.now, o.agent.id, ctx.venue, ins, o.side, price, qty, order_id=o.order.order_id,
                         trade_id=self._trade_id, maker=not taker, fee=fee)
        ctx.accounts.apply(fill)
        self._fills.append((self._step, ctx.now, o.agent.id, ins.symbol, int(o.side), qty, price, quote_amount,
                            fee, liq.value, o.order.order_id))
        if self.borrow is not None:
            key = (o.agent.id, o.sym)
            if ctx.accounts[o.agent.id].positions[ins.symbol].quantity < 0:
                self._shorts[key] = None
            else:
                self._shorts.pop(key, None)
        o.agent.deliver_fill(fill)

    # ----- the run -----
    def run(self, progress: Callable[[int, int], None] | None = None, chunk: int = 65_536) -> RawResult:
        if self._ran:
            raise ConfigError("a BarBacktest runs once; build a new one", key="run", value=None)
        self._ran = True
        ctx = self.ctx
        symbols = tuple(s.symbol for s in self.series)
        closes = self._timeline_closes()
        for k, agent in enumerate(self.agents):
            ctx.accounts[agent.id]
            for ccy, v in self.cash[agent.id].items():
                ctx.accounts[agent.id].credit(ccy, v)
            agent.bind(ctx, symbols, {s: ctx.venue for s in symbols}, (self.seed * 1_000_003 + k) & (2**63 - 1))
            pre = getattr(agent, "precompute", None)
            if self.precompute and callable(pre):
                for s, c in zip(symbols, closes):
                    pre(s, c)
        for agent in self.agents:
            agent.on_start()
        n = len(self.timeline)
        single = self._rows is None
        last = ctx._last
        close0 = self.series[0].close if single else None
        subs = self._quote_subs
        wakes = ctx._wakes
        one = self.agents[0] if len(self.agents) == 1 else None
        shorts = self._shorts
        prev_t = None
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            times = self.timeline[a:b].tolist()
            if single:
                cl = close0[a:b].tolist()
            i = a - 1
            for t in times:
                i += 1
                ctx.now = t
                self._step = ctx.bar_index = i
                if shorts:
                    self._accrue_borrow(i, t - prev_t)
                prev_t = t
                if self._pending:
                    self._match(i)
                if single:
                    last[0] = cl[i - a]
                else:
                    for j, rows in enumerate(self._rows):
                        r = rows[i]
                        if r >= 0:
                            last[j] = int(self.series[j].close[r])
                if subs:
                    self._quotes(i, t)
                if ctx.next_wake <= t:
                    if one is not None:
                        ctx.next_wake = _NEVER
                        wakes.clear()
                        one.on_wakeup()
                        continue
                    due = [ag for ag, w in wakes.items() if w <= t]
                    for ag in due:
                        del wakes[ag]
                    ctx.next_wake = min(wakes.values(), default=_NEVER)
                    for ag in due:
                        ag.on_wakeup()
            if progress is not None:
                progress(b, n)
        for agent in self.agents:
            agent.on_stop()
        return RawResult(self.series, self.timeline, closes, self._fills, ctx.accounts, self.agents,
                         {a: dict(v) for a, v in self.cash.items()}, self.rules, self.fees, self._cancelled,
                         self._rejected, borrow=self.borrow, borrow_fees=self._borrow_rows)

    def _accrue_borrow(self, i: int, dt: int) -> None:
        """Every short held since the previous bar pays its borrow fee for `dt` ns at the previous close."""
        ctx = self.ctx
        for key in list(self._shorts):
            agent, j = key
            ins = self.series[j].instrument
            pos = ctx.accounts[agent].positions[ins.symbol]
            mark = Fraction(ctx._last[j] * ins.quote_units_per_lot_tick, ins.base_units_per_lot)
            charge, self._borrow_carry[key] = accrue_borrow_fee(-pos.quantity, mark, self.borrow.rate(ins.symbol), dt,
                                                                self._borrow_carry.get(key, Fraction(0)))
            if charge:
                ctx.accounts.transfer(Transfer(ctx.now, agent, ins.quote_asset, -charge, "borrow_fee"))
                self._borrow_rows.append((i, ctx.now, agent, ins.symbol, ins.quote_asset, charge))

    def _quotes(self, i: int, t: int) -> None:
        ctx = self.ctx
        for j, agents in self._quote_subs.items():
            if self._rows is not None and self._rows[j][i] < 0:
                continue
            q = Quote(t, ctx.venue, self.series[j].symbol, None, 0, None, 0, ctx._last[j])
            for ag in agents:
                ag.on_market_data(q)


def cash_units(amount: Decimal | int | float | str, decimals: int) -> int:
    """A cash amount in currency units to base units (100000 USD at 6 decimals -> 100000000000)."""
    return int((Decimal(str(amount)) * (Decimal(10) ** decimals)).to_integral_value())
