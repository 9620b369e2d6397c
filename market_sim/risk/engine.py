"""The pre-trade risk engine, margin monitor, liquidation engine and lending pools of one simulation.

It sits at the venue boundary (`Simulation.add_order_gate`): every NewOrder / ModifyOrder an agent sends is checked
before the venue sees it, and a refusal is an OrderRejected with its own reason code (the venue, the book, the
account and — through the runner's rejection path — the agent's open orders are left as they were).

It keeps the broker's view of every account at venue time (`ledger`, a core Accounts booked from each Trade as the
venue prints it, with the venue's fees), and the open orders of each trader from the venue's events, so its checks
never lag behind fills in flight to the agents. Deposits and borrow fees are booked on both the ledger and
`sim.accounts`.
"""

from __future__ import annotations

import math
from collections import deque
from functools import partial
from collections.abc import Iterable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from market_sim.core.accounts import Accounts, Fill, Transfer, book_fill
from market_sim.core.errors import ConfigError
from market_sim.core.events import (
    CancelReason, Event, OrderAccepted, OrderCancelled, OrderModified, OrderRejected, RejectReason, Trade,
)
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder, OrderType, Side, TimeInForce
from market_sim.risk.borrow import accrue_borrow_fee
from market_sim.risk.config import AccountConfig, PreTradeLimits, RiskConfig
from market_sim.risk.margin import BPS, Holding, MarginRules, MarginState, OptionHolding, margin_state

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = ["RiskEngine", "OpenOrderView"]

_BUY, _SELL = Side.BUY, Side.SELL
_REG_T = MarginRules()


@dataclass(slots=True)
class OpenOrderView:
    venue: str
    symbol: str
    side: Side
    price: int | None
    remaining: int


@dataclass(slots=True)
class MarginCall:
    account: str
    issued: int
    deadline: int
    deficit: int


@dataclass(slots=True)
class Recall:
    account: str
    symbol: str
    lots: int          # to cover
    deadline: int
    short_at_notice: int  # lots short when noticed


class RiskEngine:
    """See the module doc. Built by the [risk] section's prepare; `gate` is the simulation's order gate."""

    def __init__(self, sim: "Simulation", config: RiskConfig) -> None:
        self.sim = sim
        self.config = config
        self.ledger = Accounts()
        self.open: dict[str, dict[int, OpenOrderView]] = {}
        self._rate: dict[str, deque[int]] = {}
        self.killed: set[str] = set()
        self.calls: dict[str, MarginCall] = {}
        self.recalls: dict[tuple[str, str], Recall] = {}
        self.margin_accounts: dict[str, int] = {}   # account -> cash deposited
        self._acct_cfg: dict[str, AccountConfig] = {}
        self.supply: dict[str, dict[str, int]] = {s: dict(p.lenders) for s, p in config.lending.items()}  # lots
        self._fee_carry: dict[tuple[str, str], Fraction] = {}
        self.borrow_fees: dict[str, int] = {}       # account -> quote units charged
        self.lender_income: dict[str, int] = {}
        self.lender_carry: dict[str, Fraction] = {}  # lender -> earned fraction of a quote unit not yet paid
        self.undistributed: dict[str, Fraction] = {}  # symbol -> fees paid while the pool had no supply
        self._last_accrual: dict[str, int] = {}     # symbol -> time its borrow fees were accrued to
        self._ticks: dict[str, tuple[int, int]] = {}  # symbol -> (last trade, previous different trade)
        self.ssr_active: dict[str, int] = {}        # symbol -> since
        self.rejections: dict[str, int] = {}
        self.illiquid: list[dict[str, Any]] = []
        self.prices: dict[str, list[tuple[int, int]]] = {}  # symbol -> (ts, trade price ticks), for the plots
        self.rows: dict[str, list[dict[str, Any]]] = {"margin_calls": [], "liquidations": [], "buy_ins": [],
                                                      "short_interest": [], "risk_rejections": []}
        quotes = {i.quote_asset for i in sim.instruments.values()}
        if config.margin is not None and len(quotes) > 1:
            raise ConfigError("margin needs one quote currency across instruments", key="risk.margin",
                              value=sorted(quotes))
        self.numeraire = next(iter(sorted(quotes)), "")
        for sym in config.lending:
            if sym not in sim.instruments:
                raise ConfigError("no instrument by this symbol", key=f"risk.lending.{sym}", value=sym)

    # ------------------------------------------------------------------ wiring
    def install(self) -> None:
        sim = self.sim
        for agent in sim.agents:
            cfg = self.config.accounts.get(agent.id) or self.config.accounts.get(sim.agent_groups.get(agent.id, ""))
            if cfg is not None:
                self._acct_cfg[agent.id] = cfg
        for name, cfg in self.config.accounts.items():  # accounts that are not agents (lenders, external)
            if name not in sim.agent_groups.values() and name not in self._acct_cfg:
                self._acct_cfg[name] = cfg
        for aid, cfg in sorted(self._acct_cfg.items()):
            if cfg.cash is not None:
                self.margin_accounts[aid] = cfg.cash
                self.deposit(aid, self.numeraire, cfg.cash, "deposit")
        bus = sim.bus
        for venue in sim.venues.values():  # the order-book venues: their trades and the orders resting there
            if getattr(venue, "engine", None) is None:
                continue
            topic = (venue.name,)
            bus.subscribe(Trade, partial(self._on_trade, venue), topic)
            bus.subscribe(OrderAccepted, partial(self._on_accepted, venue.name), topic)
            bus.subscribe(OrderCancelled, self._on_cancelled, topic)
            bus.subscribe(OrderModified, self._on_modified, topic)
        # fills and transfers booked outside a venue (option exercise, assignment, expiry, warrant placement and
        # minting: the [options] clearing house publishes them on ("clearing", account))
        bus.subscribe(Fill, self.ledger.apply, ("clearing",))
        bus.subscribe(Transfer, self.ledger.transfer, ("clearing",))
        sim.add_order_gate(self.gate)
        m = self.config.margin
        if m is not None:
            sim.every(m.check_interval, self.check_margin)
        if self.config.lending:
            sim.every(self.config.accrual_interval, self.accrue)
            sim.every(self.config.sample_interval, self.sample)
        for r in self.config.recalls:
            sim.kernel.schedule_at(r.at, self.recall, r.symbol, r.lender, r.lots)
        for k in self.config.kills:
            sim.kernel.schedule_at(k.at, self.kill, k.trader)

    def deposit(self, account: str, asset: str, amount: int, reason: str) -> None:
        t = Transfer(self.sim.kernel.now, account, asset, amount, reason)
        self.ledger.transfer(t)
        self.sim.accounts.transfer(t)

    def limits(self, trader: str) -> PreTradeLimits:
        cfg = self._acct_cfg.get(trader)
        return cfg.limits if cfg is not None else self.config.limits

    # ------------------------------------------------------------------ venue-time books
    def _on_trade(self, venue: Any, t: Trade) -> None:
        if t.symbol in self.supply:  # fees up to now at the old positions, so accrual follows every change
            self._accrue_symbol(t.symbol, t.ts)
        inst = self.sim.instruments[t.symbol]
        fees = (getattr(venue, "fees", None) or {}).get(t.symbol)
        quote_amount = t.quantity * t.price * inst.quote_units_per_lot_tick
        buy_fee = sell_fee = 0
        if fees is not None and not fees.is_zero:
            maker_fee, taker_fee = fees.trade_fees(quote_amount, t.quantity)
            buy_fee, sell_fee = (maker_fee, taker_fee) if t.aggressor is _SELL else (taker_fee, maker_fee)
        vname = venue.name
        self.ledger.apply(book_fill(t.ts, t.buyer, vname, inst, _BUY, t.price, t.quantity, order_id=t.buy_order_id,
                                    trade_id=t.trade_id, maker=t.aggressor is _SELL, fee=buy_fee))
        self.ledger.apply(book_fill(t.ts, t.seller, vname, inst, _SELL, t.price, t.quantity,
                                    order_id=t.sell_order_id, trade_id=t.trade_id, maker=t.aggressor is _BUY,
                                    fee=sell_fee))
        for trader, oid in ((t.buyer, t.buy_order_id), (t.seller, t.sell_order_id)):
            o = self.open.get(trader, {}).get(oid)
            if o is not None:
                o.remaining -= t.quantity
                if o.remaining <= 0:
                    del self.open[trader][oid]
        self.prices.setdefault(t.symbol, []).append((t.ts, t.price))
        last = self._ticks.get(t.symbol)
        if last is None:
            self._ticks[t.symbol] = (t.price, t.price)
        elif t.price != last[0]:
            self._ticks[t.symbol] = (t.price, last[0])
        self._check_ssr(t.symbol, t.price, t.ts)

    def _on_accepted(self, venue: str, ev: OrderAccepted) -> None:
        o = ev.order
        self.open.setdefault(o.trader, {})[o.order_id] = OpenOrderView(venue, o.symbol, o.side, o.price, o.quantity)

    def _on_cancelled(self, ev: OrderCancelled) -> None:
        orders = self.open.get(ev.trader)
        if orders is None or ev.order_id not in orders:
            return
        if ev.remaining_quantity:
            orders[ev.order_id].remaining = ev.remaining_quantity
        else:
            del orders[ev.order_id]

    def _on_modified(self, ev: OrderModified) -> None:
        o = self.open.get(ev.trader, {}).get(ev.order_id)
        if o is not None:
            o.remaining = ev.quantity
            if ev.price is not None:
                o.price = ev.price

    # ------------------------------------------------------------------ prices
    def reference(self, venue: Any, symbol: str) -> int:
        """Reference price in ticks: the book's last trade, else its mid, else the instrument's initial price."""
        book = venue.engine.book(symbol) if getattr(venue, "engine", None) is not None else None
        if book is not None and book.last_price is not None:
            return book.last_price
        q = venue.quote(symbol, self.sim.kernel.now)
        if q.bid is not None and q.ask is not None:
            return (q.bid + q.ask) // 2
        return self.sim.initial_ticks(symbol)

    def mark(self, symbol: str) -> Fraction:
        """Mark in quote units per base unit: the exact mid, else the last trade, else the initial price."""
        inst = self.sim.instruments[symbol]
        venue = self._venue(symbol)
        q = venue.quote(symbol, self.sim.kernel.now)
        if q.bid is not None and q.ask is not None:
            ticks = Fraction(q.bid + q.ask, 2)
        elif q.last is not None:
            ticks = Fraction(q.last)
        else:
            ticks = Fraction(self.sim.initial_ticks(symbol))
        return ticks * inst.quote_units_per_lot_tick / inst.base_units_per_lot

    def _venue(self, symbol: str) -> Any:
        for v in self.sim.venues.values():
            if symbol in v.symbols and getattr(v, "engine", None) is not None:
                return v
        raise ConfigError("no order-book venue lists this symbol", key="symbol", value=symbol)

    def lots(self, account: str, symbol: str) -> int:
        acct = self.ledger.get(account)
        pos = acct.positions.get(symbol) if acct is not None else None
        if pos is None:
            return 0
        return pos.quantity // self.sim.instruments[symbol].base_units_per_lot if pos.quantity >= 0 else \
            -((-pos.quantity) // self.sim.instruments[symbol].base_units_per_lot)

    def state(self, account: str, extra: Iterable[Holding] = (), cash_delta: int = 0) -> MarginState:
        """The account's margin figures at the current marks (with hypothetical extra holdings and cash)."""
        acct = self.ledger[account] if account in self.ledger else None
        qty: dict[str, int] = {}
        if acct is not None:
            for s, p in acct.positions.items():
                if p.quantity:
                    qty[s] = p.quantity
        for h in extra:
            qty[h.symbol] = qty.get(h.symbol, 0) + h.quantity
        cash = (acct.balance(self.numeraire) if acct is not None else 0) + cash_delta
        rules = self.rules
        return margin_state(cash, [self.holding(s, q) for s, q in sorted(qty.items())], rules)

    @property
    def rules(self) -> MarginRules:
        return self.config.margin.rules if self.config.margin is not None else _REG_T

    def holding(self, symbol: str, quantity: int) -> Holding | OptionHolding:
        """A position to margin at the current marks: an OptionHolding for a listed option (or warrant) when the
        rules margin options (with its underlying's mark, the strike per option unit), else a Holding."""
        inst = self.sim.instruments[symbol]
        terms = inst.option
        if terms is None or self.rules.options is None:
            return Holding(symbol, quantity, self.mark(symbol))
        und = self.sim.instruments[terms.underlying]
        per = 10 ** und.base_decimals  # underlying base units per option unit (one whole unit of the underlying)
        strike = Fraction(inst.strike_ticks * inst.quote_units_per_lot_tick, inst.base_units_per_lot)
        return OptionHolding(symbol, quantity, self.mark(symbol), terms.underlying, self.mark(terms.underlying) * per,
                             strike, terms.is_call, terms.expiry, per)

    # ------------------------------------------------------------------ the gate
    def gate(self, venue: Any, cmd: Any, now: int) -> Event | None:
        kind = type(cmd)
        if kind is CancelOrder or getattr(venue, "engine", None) is None:
            return None
        if kind is ModifyOrder:
            o = self.open.get(cmd.trader, {}).get(cmd.order_id)
            if o is None:
                return None  # the venue answers unknown orders itself
            order = NewOrder(cmd.order_id, cmd.trader, o.symbol, o.side, cmd.quantity or o.remaining,
                             OrderType.LIMIT, cmd.price if cmd.price is not None else o.price)
            return self._check(venue, order, now, replacing=cmd.order_id)
        if kind is NewOrder:
            return self._check(venue, cmd, now)
        return None

    def _refuse(self, order: NewOrder, now: int, reason: RejectReason, message: str) -> OrderRejected:
        self.rejections[reason.value] = self.rejections.get(reason.value, 0) + 1
        self.rows["risk_rejections"].append({"ts": now, "trader": order.trader, "order_id": order.order_id,
                                             "symbol": order.symbol, "reason": reason.value, "message": message})
        return OrderRejected(now, order.order_id, order.trader, order.symbol, reason, message)

    def _check(self, venue: Any, o: NewOrder, now: int, replacing: int | None = None) -> OrderRejected | None:
        trader, symbol = o.trader, o.symbol
        if symbol not in self.sim.instruments or o.quantity <= 0:
            return None  # the engine's own validation answers
        if trader in self.killed:
            return self._refuse(o, now, RejectReason.KILL_SWITCH, f"trading of {trader} is stopped (kill switch)")
        lim = self.limits(trader)
        inst = self.sim.instruments[symbol]
        if lim.max_orders is not None:
            q = self._rate.setdefault(trader, deque())
            while q and q[0] <= now - lim.rate_window:
                q.popleft()
            if len(q) >= lim.max_orders:
                return self._refuse(o, now, RejectReason.ORDER_RATE,
                                    f"{len(q)} orders in the last {lim.rate_window} ns; limit {lim.max_orders}")
        if lim.max_order_quantity is not None and o.quantity > lim.max_order_quantity:
            return self._refuse(o, now, RejectReason.MAX_ORDER_QUANTITY,
                                f"{o.quantity} lots; limit {lim.max_order_quantity}")
        ref = self.reference(venue, symbol)
        price = o.price if o.price is not None and o.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else ref
        notional = o.quantity * price * inst.quote_units_per_lot_tick
        if lim.max_order_notional is not None and notional > lim.max_order_notional:
            return self._refuse(o, now, RejectReason.MAX_ORDER_NOTIONAL,
                                f"notional {notional}; limit {lim.max_order_notional} ({inst.quote_asset} units)")
        if lim.price_band_bps is not None and o.price is not None and \
                abs(o.price - ref) * BPS > lim.price_band_bps * ref:
            return self._refuse(o, now, RejectReason.PRICE_BAND,
                                f"price {o.price} is more than {lim.price_band_bps} bps from the reference {ref}")
        pos = self.lots(trader, symbol)
        buys = sells = 0
        for oid, v in self.open.get(trader, {}).items():
            if v.symbol == symbol and oid != replacing:
                if v.side is _BUY:
                    buys += v.remaining
                else:
                    sells += v.remaining
        worst = pos + buys + o.quantity if o.side is _BUY else pos - sells - o.quantity
        limit = lim.position_limit(symbol)
        if limit is not None and abs(worst) > limit and abs(worst) > abs(pos):
            return self._refuse(o, now, RejectReason.POSITION_LIMIT,
                                f"position {pos} with open orders and this one could reach {worst} lots; "
                                f"limit {limit}")
        if o.side is _SELL and worst < 0:
            refused = self._check_short(venue, o, now, pos, sells, worst)
            if refused is not None:
                return refused
        reduces = (o.side is _SELL and worst >= 0) or (o.side is _BUY and pos < 0 and pos + buys + o.quantity <= 0)
        if trader in self.calls and not reduces:
            c = self.calls[trader]
            return self._refuse(o, now, RejectReason.MARGIN_CALL,
                                f"margin call of {c.deficit} ({self.numeraire} units) open until {c.deadline}: "
                                "only orders that reduce positions")
        if trader in self.margin_accounts and lim.buying_power and not reduces:
            opening = abs(worst) - max(abs(pos), 0) if abs(worst) > abs(pos) else 0
            if opening > 0:
                st = self.state(trader, [Holding(symbol, (worst - pos) * inst.base_units_per_lot, self.mark(symbol))],
                                cash_delta=-(worst - pos) * price * inst.quote_units_per_lot_tick)
                if st.equity < st.initial:
                    return self._refuse(o, now, RejectReason.BUYING_POWER,
                                        f"requires initial margin {st.initial}, equity would be {st.equity} "
                                        f"({self.numeraire} units)")
        if lim.max_orders is not None:
            self._rate[trader].append(now)
        return None

    # ------------------------------------------------------------------ short sales
    def _check_short(self, venue: Any, o: NewOrder, now: int, pos: int, sells: int, worst: int) -> OrderRejected | None:
        symbol = o.symbol
        rule = self.config.short_sale_rule.get(symbol, self.config.short_sale_rule.get("*", "none"))
        if rule == "uptick" or (rule == "ssr" and symbol in self.ssr_active):
            q = venue.quote(symbol, now)
            if rule == "uptick":
                ticks = self._ticks.get(symbol)
                if o.order_type is not OrderType.LIMIT or ticks is None or ticks[0] <= ticks[1]:
                    return self._refuse(o, now, RejectReason.SHORT_SALE_RESTRICTED,
                                        "uptick rule: a short sale needs a limit order after an uptick")
            elif o.order_type is not OrderType.LIMIT or (q.bid is not None and o.price <= q.bid):
                return self._refuse(o, now, RejectReason.SHORT_SALE_RESTRICTED,
                                    f"short-sale restriction since {self.ssr_active[symbol]}: a short sale must be "
                                    f"priced above the best bid {q.bid}")
        if symbol in self.supply and not self.exempt(o.trader, symbol):
            need = -worst
            available = self.available(symbol, exclude=o.trader)
            if need > available:
                return self._refuse(o, now, RejectReason.NO_LOCATE,
                                    f"locate for {need} lots; {available} borrowable")
        return None

    def located(self, account: str, symbol: str) -> int:
        """Lots the account has borrowed or would borrow (short position plus open sell orders beyond it)."""
        pos = self.lots(account, symbol)
        sells = sum(v.remaining for v in self.open.get(account, {}).values() if v.symbol == symbol and v.side is _SELL)
        return max(0, -(pos - sells))

    def exempt(self, account: str, symbol: str) -> bool:
        """Whether the account's short sales of `symbol` need no locate (bona fide market making, say)."""
        pool = self.config.lending.get(symbol)
        return pool is not None and (account in pool.exempt or
                                     self.sim.agent_groups.get(account, "\0") in pool.exempt)

    def borrowers(self, symbol: str) -> list[str]:
        """Accounts short `symbol` or with sell orders open, that borrow from its pool (not the exempt ones)."""
        names = {a.id for a in self.ledger if (p := a.positions.get(symbol)) is not None and p.quantity < 0}
        names |= {t for t, orders in self.open.items() if any(v.symbol == symbol and v.side is _SELL
                                                              for v in orders.values())}
        return sorted(n for n in names if not self.exempt(n, symbol))

    def available(self, symbol: str, exclude: str = "") -> int:
        total = sum(self.supply.get(symbol, {}).values())
        used = sum(self.located(a, symbol) for a in self.borrowers(symbol) if a != exclude)
        return max(0, total - used)

    def short_interest(self, symbol: str) -> int:
        return sum(max(0, -self.lots(a, symbol)) for a in self.borrowers(symbol))

    def _check_ssr(self, symbol: str, price: int, ts: int) -> None:
        rule = self.config.short_sale_rule.get(symbol, self.config.short_sale_rule.get("*", "none"))
        if rule != "ssr" or symbol in self.ssr_active:
            return
        ref = self.sim.initial_ticks(symbol)
        if (ref - price) * BPS >= self.config.ssr_drop_bps * ref:
            self.ssr_active[symbol] = ts

    def accrue(self) -> None:
        """Charge the borrow fees of every pool up to now (also done before every trade of a pool's instrument)."""
        now = self.sim.kernel.now
        for symbol in sorted(self.config.lending):
            self._accrue_symbol(symbol, now)

    def _accrue_symbol(self, symbol: str, now: int) -> None:
        """Each short's fee since the last accrual: borrowed base units x mark x annual rate x elapsed / 365 days,
        exact (the fraction of a quote unit carries to the next accrual); the lenders get it pro rata."""
        dt = now - self._last_accrual.get(symbol, 0)
        self._last_accrual[symbol] = now
        if dt <= 0:
            return
        rate = self.config.lending[symbol].rate_bps
        mark = None
        for acct in self.borrowers(symbol):
            p = self.ledger[acct].positions.get(symbol)
            if p is None or p.quantity >= 0:
                continue
            if mark is None:
                mark = self.mark(symbol)
            key = (acct, symbol)
            charge, self._fee_carry[key] = accrue_borrow_fee(-p.quantity, mark, rate, dt,
                                                             self._fee_carry.get(key, Fraction(0)))
            if charge:
                self.charge_borrow_fee(acct, symbol, charge)

    def charge_borrow_fee(self, account: str, symbol: str, amount: int) -> None:
        """Debit a borrower; each lender earns its share of the supply, exact (a lender's fraction of a unit waits
        in `lender_carry` for the next fee, so lenders are paid at most what borrowers paid)."""
        self.deposit(account, self.numeraire, -amount, "borrow_fee")
        self.borrow_fees[account] = self.borrow_fees.get(account, 0) + amount
        lenders = {k: v for k, v in sorted(self.supply.get(symbol, {}).items()) if v > 0}
        total = sum(lenders.values())
        if not total:
            self.undistributed[symbol] = self.undistributed.get(symbol, Fraction(0)) + amount
            return
        for k, v in lenders.items():
            owed = self.lender_carry.get(k, Fraction(0)) + Fraction(amount * v, total)
            pay = math.floor(owed)
            self.lender_carry[k] = owed - pay
            if pay:
                self.deposit(k, self.numeraire, pay, "lending_fee")
                self.lender_income[k] = self.lender_income.get(k, 0) + pay

    def recall(self, symbol: str, lender: str, lots: int) -> None:
        """A lender takes back `lots`: shorts beyond the remaining supply get a recall notice (largest first) and
        are bought in after the recall deadline."""
        now = self.sim.kernel.now
        pool = self.supply.setdefault(symbol, {})
        pool[lender] = max(0, pool.get(lender, 0) - lots)
        supply = sum(pool.values())
        shorts = sorted(((self.short_interest_of(a, symbol), a) for a in self.borrowers(symbol)), reverse=True)
        excess = sum(s for s, _ in shorts) - supply
        for short, acct in shorts:
            if excess <= 0:
                break
            if short <= 0:
                continue
            n = min(short, excess)
            excess -= n
            r = Recall(acct, symbol, n, now + self.config.recall_deadline, short)
            self.recalls[(acct, symbol)] = r
            self.sim.kernel.schedule_at(r.deadline, self._buy_in, acct, symbol)

    def short_interest_of(self, account: str, symbol: str) -> int:
        return max(0, -self.lots(account, symbol))

    def _buy_in(self, account: str, symbol: str) -> None:
        """Buy in what a recalled short has not covered: IOC orders of at most the liquidation size, retried every
        second while the book has no offers, until the recalled lots are covered."""
        r = self.recalls.get((account, symbol))
        if r is None:
            return
        short = self.short_interest_of(account, symbol)
        need = min(short, r.lots - (r.short_at_notice - short))
        if need <= 0:
            del self.recalls[(account, symbol)]
            self.rows["buy_ins"].append(self._buy_in_row(r, 0, 0, 0, Fraction(0), "covered"))
            return
        self._cancel_all(account, CancelReason.LIQUIDATION, symbol)
        mark = self.mark(symbol)
        m = self.config.margin
        size = min(need, m.liquidation_lots) if m is not None and m.liquidation_lots else need
        filled, value, fees = self._send(account, symbol, _BUY, size, self.config.buy_in_order,
                                         m.aggression_ticks if m is not None else 50)
        self.rows["buy_ins"].append(self._buy_in_row(r, size, filled, value, mark, "bought_in" if filled else
                                                     "no_liquidity", fees))
        if filled >= need:
            del self.recalls[(account, symbol)]
        else:
            self.sim.kernel.schedule_at(self.sim.kernel.now + (0 if filled else 1_000_000_000), self._buy_in,
                                        account, symbol)

    def _buy_in_row(self, r: Recall, need: int, filled: int, value: int, mark: Fraction, status: str,
                    fees: int = 0) -> dict[str, Any]:
        inst = self.sim.instruments[r.symbol]
        at_mark = math.floor(filled * inst.base_units_per_lot * mark)
        return {"ts": self.sim.kernel.now, "account": r.account, "symbol": r.symbol, "recalled_lots": r.lots,
                "lots": need, "filled": filled, "value": value, "cost": value - at_mark + fees, "status": status}

    def sample(self) -> None:
        now = self.sim.kernel.now
        for symbol in sorted(self.config.lending):
            supply = sum(self.supply.get(symbol, {}).values())
            si = self.short_interest(symbol)
            self.rows["short_interest"].append({"ts": now, "symbol": symbol, "short_interest": si, "supply": supply,
                                                "utilisation": si / supply if supply else 0.0,
                                                "ssr": symbol in self.ssr_active})

    # ------------------------------------------------------------------ kill switch
    def kill(self, trader: str) -> None:
        """Cancel every open order of `trader` and refuse its new orders until revive()."""
        self.killed.add(trader)
        self._cancel_all(trader, CancelReason.KILL_SWITCH)

    def revive(self, trader: str) -> None:
        self.killed.discard(trader)

    def _cancel_all(self, trader: str, reason: CancelReason, symbol: str | None = None) -> None:
        now = self.sim.kernel.now
        for oid, v in sorted(self.open.get(trader, {}).items()):
            if symbol is not None and v.symbol != symbol:
                continue
            venue = self.sim.venues[v.venue]
            if venue.engine.order(oid) is None:
                continue
            events = [replace(e, reason=reason) if type(e) is OrderCancelled and e.order_id == oid else e
                      for e in venue.handle(CancelOrder(oid, trader), now)]
            self.sim.publish(venue, None, events)

    # ------------------------------------------------------------------ margin and liquidation
    def check_margin(self) -> None:
        """Mark every margin account: issue calls, liquidate what is past its deadline (or has no equity left),
        and repeat while liquidations move prices onto other accounts (a cascade)."""
        m = self.config.margin
        if m is None:
            return
        now = self.sim.kernel.now
        for _ in range(100):
            acted = False
            for acct in sorted(self.margin_accounts):
                st = self.state(acct)
                call = self.calls.get(acct)
                if not st.below_maintenance:
                    if call is not None:
                        del self.calls[acct]
                        self._call_row(acct, st, "met", call.issued)
                    continue
                if call is None:
                    call = self.calls[acct] = MarginCall(acct, now, now + m.call_deadline, st.maintenance - st.equity)
                    self._call_row(acct, st, "issued", now)
                if now >= call.deadline or st.equity <= 0:
                    if acct in {r["account"] for r in self.illiquid if r["ts"] == now}:
                        continue
                    if self.liquidate(acct):
                        acted = True
            if not acted:
                break

    def _call_row(self, acct: str, st: MarginState, status: str, issued: int) -> None:
        self.rows["margin_calls"].append({"ts": self.sim.kernel.now, "account": acct, "status": status,
                                          "issued": issued, "equity": st.equity, "maintenance": st.maintenance,
                                          "deficit": max(0, st.maintenance - st.equity)})

    def liquidate(self, account: str) -> bool:
        """Close positions of `account` through the book until it is at or above maintenance; returns whether
        anything traded. With no liquidity left, the account is reported in `illiquid`."""
        m = self.config.margin
        assert m is not None
        now = self.sim.kernel.now
        self._cancel_all(account, CancelReason.LIQUIDATION)
        traded = False
        for _ in range(1000):
            st = self.state(account)
            if not st.below_maintenance:
                self.calls.pop(account, None)
                self._call_row(account, st, "liquidated", now)
                return traded
            acct = self.ledger[account]
            positions = [(s, p.quantity) for s, p in sorted(acct.positions.items()) if p.quantity]
            if not positions:  # everything is closed and the equity is still short: a loss beyond collateral
                self.illiquid.append({"ts": now, "account": account, "symbol": "", "lots": 0, "equity": st.equity,
                                      "maintenance": st.maintenance, "reason": "shortfall"})
                return traded
            symbol, q = max(positions, key=lambda sq: (abs(sq[1] * self.mark(sq[0])), sq[0]))
            inst = self.sim.instruments[symbol]
            lots = abs(self.lots(account, symbol)) or 1
            deficit = st.maintenance - st.equity
            if inst.option is not None and m.rules.options is not None:
                # options: what closing one contract at the mark frees (premium plus the rule's share of the
                # underlying; nothing for a long paid in full), exactly
                lot = inst.base_units_per_lot if q < 0 else -inst.base_units_per_lot
                one = self.state(account, [Holding(symbol, lot, self.mark(symbol))],
                                 cash_delta=-math.ceil(lot * self.mark(symbol)) if q < 0 else
                                 math.floor(-lot * self.mark(symbol)))
                relief = (st.maintenance - st.equity) - (one.maintenance - one.equity)
                needed = max(1, -(-deficit // max(1, relief)))
            else:
                rate = m.rules.rate(symbol)
                bps = rate.maintenance_long_bps if q > 0 else rate.maintenance_short_bps
                lot_value = max(1, math.floor(inst.base_units_per_lot * self.mark(symbol)))
                needed = max(1, -((-deficit * BPS) // max(1, lot_value * bps)))
            size = min(lots, needed, m.liquidation_lots or lots)  # what restores maintenance, capped per order
            side = _SELL if q > 0 else _BUY
            mark = self.mark(symbol)
            filled, value, fees = self._send(account, symbol, side, size, m.order, m.aggression_ticks)
            at_mark = math.floor(filled * inst.base_units_per_lot * mark)
            cost = (at_mark - value if side is _SELL else value - at_mark) + fees
            after = self.state(account)
            self.rows["liquidations"].append({
                "ts": now, "account": account, "symbol": symbol, "side": side.name.lower(), "lots": size, "filled": filled,
                "value": value, "mark_value": at_mark, "cost": cost, "fees": fees, "equity_before": st.equity,
                "equity_after": after.equity, "maintenance_after": after.maintenance})
            if filled == 0:
                self.illiquid.append({"ts": now, "account": account, "symbol": symbol, "lots": size,
                                      "equity": after.equity, "maintenance": after.maintenance,
                                      "reason": "no_liquidity"})
                return traded
            traded = True
        return traded

    def _send(self, account: str, symbol: str, side: Side, lots: int, kind: str, aggression: int) -> tuple[int, int,
                                                                                                             int]:
        """Send one IOC liquidation order at venue time; returns (lots filled, quote value, fees)."""
        venue = self._venue(symbol)
        now = self.sim.kernel.now
        oid = self.sim.next_order_id()
        if kind == "limit":
            ref = self.reference(venue, symbol)
            price = ref + aggression if side is _BUY else max(1, ref - aggression)
            cmd = NewOrder(oid, account, symbol, side, lots, OrderType.LIMIT, price, tif=TimeInForce.IOC)
        else:
            cmd = NewOrder(oid, account, symbol, side, lots, OrderType.MARKET, tif=TimeInForce.IOC)
        acct = self.ledger[account]
        fees0 = acct.fees_paid.get(self.numeraire, 0)
        events = venue.handle(cmd, now)
        filled = value = 0
        inst = self.sim.instruments[symbol]
        for e in events:
            if type(e) is Trade and (e.buy_order_id == oid or e.sell_order_id == oid):
                filled += e.quantity
                value += e.quantity * e.price * inst.quote_units_per_lot_tick
        self.sim.publish(venue, cmd, events)
        return filled, value, acct.fees_paid.get(self.numeraire, 0) - fees0
