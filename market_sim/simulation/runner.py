"""The runner: builds a Simulation from a Scenario (venues, agents, processes, sessions, latency, extension
sections) on one Kernel, runs it, and returns the recorded tables and metrics.

Every message between participants goes through the kernel with a sampled latency; each directed link is FIFO
(a message never overtakes an earlier one on the same link), so a cancel cannot arrive before its order.

The bus (`sim.bus`, market_sim.core.bus) carries everything the venues produce, synchronously at venue time:
every event a venue returns is published with topic (venue, symbol) — Trade, the Order* events, BookDelta L2
deltas (built only while someone wants them) — and, after a command's events, a Quote for each touched symbol whose
top of book changed (built only while someone wants quotes of it). Fills are core `Fill`s booked on `sim.accounts`
and published with topic ("account", account id). The recorder, the sections and agents' market-data feeds are bus
subscribers; an agent's feed re-schedules each event to arrive after the venue→agent latency.

Accounts: a trade becomes one Fill per side, charged with the venue's fee schedule (`venue.fees[symbol]`, a
core FeeSchedule: maker or taker by the trade's aggressor, in the quote asset). An agent's fill is booked on its account when the execution report
reaches the agent (venue→agent latency), then `on_fill` runs; a trader that is not an agent (an external account)
is booked at venue time.

Stepping: `build()`, then `run_until(t)` / `step()` as often as wanted (read `now`, the tables and the accounts
between steps), then `finish()` for the RunOutcome; `run()` does all of it in one call.
"""

from __future__ import annotations

import gc
import inspect
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from market_sim.core.accounts import Accounts, Fill, Liquidity
from market_sim.core.bus import Bus
from market_sim.core.errors import ConfigError, MarketSimError
from market_sim.core.instruments import Instrument
from market_sim.core.events import BookUpdate, Event, OrderAccepted, OrderRejected, RejectReason, Trade
from market_sim.core.orders import NewOrder, Side, TimeInForce
from market_sim.core.validation import TradeValidator
from market_sim.simulation.agents.base import Agent, agent_types
from market_sim.simulation.kernel import Kernel
from market_sim.simulation.latency import FixedLatency, LatencyModel, UniformLatency
from market_sim.simulation.processes import PriceProcess, build_process
from market_sim.simulation.recorder import Recorder
from market_sim.simulation.scenario import Scenario, Section, sections
from market_sim.simulation.seeds import derive_seed
from market_sim.simulation.venues import BookDelta, BookSnapshot, Quote, Venue, build_venue

__all__ = ["Simulation", "RunOutcome", "run_scenario", "ComposedValidator"]

_BUY, _SELL = Side.BUY, Side.SELL
_GTD = TimeInForce.GTD
_MAKER, _TAKER = Liquidity.MAKER, Liquidity.TAKER


@dataclass
class RunOutcome:
    """What a finished run produced: tables (name -> list of row dicts or a DataFrame-ready dict) and metrics."""

    scenario: Scenario
    tables: dict[str, Any]
    metrics: dict[str, Any]
    wall_seconds: float
    events: int
    extra_files: dict[str, bytes] = field(default_factory=dict)


class ComposedValidator:
    """Several trade validators asked in order; a trade is approved only when every one approves (the first
    refusal's reason is returned, later validators are not asked). The one `final` validator (a committee that
    takes every approval as an executed trade) is asked last, so it only ever sees trades that execute."""

    __slots__ = ("names", "validators")

    def __init__(self, named: list[tuple[str, TradeValidator]]) -> None:
        self.names = tuple(n for n, _ in named)
        self.validators = tuple(v for _, v in named)

    def validate_trade(self, trade: Trade, buy: NewOrder, sell: NewOrder) -> str | None:
        for v in self.validators:
            reason = v.validate_trade(trade, buy, sell)
            if reason is not None:
                return reason
        return None


@dataclass(frozen=True, slots=True)
class _SectionRun:
    section: Section
    config: Any
    takes_state: tuple[bool, bool]  # install, finish accept the state argument


def _takes_state(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    return len(params) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in params)


class Simulation:
    """One scenario's world on one kernel. Extension sections reach it through their prepare/install/finish hooks:
    prepare(sim, config) returns the section's typed state, which install(sim, config, state) and
    finish(sim, config, state) receive (and `sim.state(name)` returns)."""

    def __init__(self, scenario: Scenario, *, pacer: Callable[[int], None] | None = None,
                 tune_gc: bool = True) -> None:
        self.scenario = scenario
        self.tune_gc = tune_gc
        self._gc_saved: tuple[int, ...] | None = None
        self.seed = scenario.seed
        self.kernel = Kernel()
        self.bus = Bus()            # the one publish/subscribe channel of this run (market_sim.core.bus)
        self.accounts = Accounts()  # the one record of who owns what (market_sim.core.accounts)
        self.pacer = pacer
        self.rng = random.Random(derive_seed(self.seed, "latency"))
        self.instruments = {c.instrument.symbol: c.instrument for c in scenario.instruments}
        self._tick = {s: float(i.tick_size) for s, i in self.instruments.items()}
        # per symbol: (base asset, base units per lot, quote asset, quote units per lot and tick) for fills
        self._units = {s: (i.base_asset, i.base_units_per_lot, i.quote_asset, i.quote_units_per_lot_tick)
                       for s, i in self.instruments.items()}
        self.processes: dict[str, PriceProcess] = {
            name: build_process(p.kind, p.params, derive_seed(self.seed, "process", name))
            for name, p in scenario.processes.items()}
        self._process_of = {c.instrument.symbol: self.processes[c.process] for c in scenario.instruments
                            if c.process is not None}
        self._initial = {c.instrument.symbol: c.initial_price if c.initial_price is not None
                         else self._process_of[c.instrument.symbol].value_at(0) for c in scenario.instruments}
        self._validators: list[tuple[str, TradeValidator, bool]] = []
        self._order_gates: list[Callable[[Any, Any, int], Event | None]] = []
        self._validator_used = False
        self.venues: dict[str, Venue] = {}
        self._fees: dict[tuple[str, str], Any] = {}  # (venue, symbol) -> core FeeSchedule, where fills pay fees
        self.agents: list[Agent] = []
        self.agent_groups: dict[str, str] = {}  # agent id -> [[agents]] name
        self.metrics: dict[str, Any] = {}
        self.tables: dict[str, Any] = {}        # tables added by sections (sim.record); chain tables are theirs
        self.extra_files: dict[str, bytes] = {}
        self.recorder = Recorder(self)
        self._agent_by_id: dict[str, Agent] = {}
        self._ack_listeners: set[str] = set()
        self._link_model: dict[tuple[str, str], LatencyModel] = {}
        self._links: dict[tuple[str, str], list] = {}
        self._rand = self.rng.random
        self._topics: dict[str, dict[str, tuple[str, str]]] = {}   # venue -> symbol -> (venue, symbol)
        self._quote_topics: set[tuple[str, str]] = set()            # topics with quote subscribers
        self._last_quote: dict[tuple[str, str], Quote] = {}
        self._book_seq: dict[tuple[str, str], int] = {}
        self._book_venues: set[str] = set()                          # venues asked for BookUpdate deltas
        self._account_topics: dict[str, tuple[str, str]] = {}
        self._expiry_scheduled: set[tuple[str, int]] = set()
        self._order_seq = 0
        self._ext = [_SectionRun(sections()[name], cfg, (_takes_state(sections()[name].install),
                                                          _takes_state(sections()[name].finish)))
                     for name, cfg in scenario.extensions.items()]
        self._states: dict[str, Any] = {}
        self._built = False
        self._finished: RunOutcome | None = None
        self._stop_requested = False
        self._draining = False  # after the trading horizon: agents stopped, background work runs on (drain)
        self._t0: float | None = None
        self._wall = 0.0

    # ----- section state and trade validators -----
    def state(self, section: str) -> Any:
        """The state object a section's prepare() returned (None if it returned none or is not in the scenario)."""
        return self._states.get(section)

    def add_trade_validator(self, name: str, validator: TradeValidator, *, final: bool = False) -> None:
        """Make `validator` approve every trade of the order-book venues built after this call (so: in a section's
        prepare). Several compose in order and all must approve; `final` marks a validator that takes each
        approval as an executed trade (a committee that orders and certifies what it approved): it is asked last,
        and two final validators in one simulation are a ConfigError (neither could trust its log)."""
        if any(n == name for n, _, _ in self._validators):
            raise ConfigError("a trade validator with this name is already added", key="trade_validator",
                              value=name)
        if self._validator_used:
            raise ConfigError("trade validators must be added before the venues are built (in prepare)",
                              key="trade_validator", value=name)
        if final:
            other = next((n for n, _, f in self._validators if f), None)
            if other is not None:
                raise ConfigError(f"two final trade validators ({other} and {name}) cannot approve the same trades: "
                                  "each takes every approval as an executed trade; use one of them",
                                  key="trade_validator", value=name)
        if not callable(getattr(validator, "validate_trade", None)):
            raise ConfigError("a trade validator needs a validate_trade(trade, buy, sell) method",
                              key="trade_validator", value=name)
        self._validators.append((name, validator, final))

    def add_order_gate(self, gate: Callable[[Any, Any, int], Event | None]) -> None:
        """Check every command an agent sends before its venue sees it (a pre-trade risk engine):
        gate(venue, command, now) returns None to pass it on, or the event that refuses it (an OrderRejected),
        which is published instead; the venue never sees a refused command."""
        self._order_gates.append(gate)

    @property
    def trade_validators(self) -> tuple[tuple[str, TradeValidator], ...]:
        """The added validators in the order they are asked (the final one last)."""
        ordered = [v for v in self._validators if not v[2]] + [v for v in self._validators if v[2]]
        return tuple((n, v) for n, v, _ in ordered)

    @property
    def trade_validator(self) -> TradeValidator | None:
        """What a venue built now must ask: None, the one validator, or a ComposedValidator."""
        self._validator_used = True
        named = list(self.trade_validators)
        if not named:
            return None
        return named[0][1] if len(named) == 1 else ComposedValidator(named)

    # ----- building -----
    def build(self) -> "Simulation":
        """Create venues and agents, run the sections' prepare/install hooks and schedule the periodic work."""
        if self._built:
            return self
        self._built = True
        sc = self.scenario
        for run in self._ext:
            self._states[run.section.name] = run.section.prepare(self, run.config)
        for vc in sc.venues:
            self.add_venue(build_venue(self, vc))
        kinds = agent_types()
        lat = sc.latency
        for ac in sc.agents:
            cls = kinds[ac.kind]
            for i in range(1, ac.count + 1):
                agent = cls(f"{ac.name}-{i}", ac.params)
                self.add_agent(agent, ac.symbols, ac.venue_of, group=ac.name)
                for venue in set(ac.venue_of.values()):
                    model = ac.latency or lat.venues.get(venue) or lat.default
                    self._link_model[(agent.id, venue)] = model
                    self._link_model[(venue, agent.id)] = model
        for run in self._ext:
            state = self._states[run.section.name]
            if run.takes_state[0]:
                run.section.install(self, run.config, state)
            else:
                run.section.install(self, run.config)
        for agent in self.agents:
            self.kernel.schedule_at(0, agent.on_start)
        if sc.session is not None:
            for t in sc.session.closes_until(sc.duration):
                self.kernel.schedule_at(t, self._close_session)
        out = sc.output
        self.kernel.schedule_at(0, self.recorder.snapshot_books)
        self.kernel.every(out.snapshot_interval, self.recorder.snapshot_books)
        self.kernel.every(out.pnl_interval, self.recorder.snapshot_pnl)
        return self

    def add_venue(self, venue: Venue) -> None:
        """Add a venue (built-in kinds are added from [[venues]]; sections may add more in prepare/install)."""
        if venue.name in self.venues:
            raise ConfigError("duplicate venue name", key="venues.name", value=venue.name)
        self.venues[venue.name] = venue
        for symbol, fees in (getattr(venue, "fees", None) or {}).items():
            if not fees.is_zero:
                self._fees[(venue.name, symbol)] = fees
        self._topics[venue.name] = {s: (venue.name, s) for s in venue.symbols}
        self.recorder.attach(venue)

    def add_instrument(self, instrument: Instrument, initial_price: float) -> None:
        """Add an instrument a section creates (an option chain's contracts, say): call it in prepare, before the
        venues listing it and the agents trading it are built; `initial_price` is its float reference price."""
        symbol = instrument.symbol
        if symbol in self.instruments:
            raise ConfigError("duplicate instrument symbol", key="instruments.symbol", value=symbol)
        if self._built and self.agents:
            raise ConfigError("instruments must be added before the agents are built (in prepare)",
                              key="instruments.symbol", value=symbol)
        self.instruments[symbol] = instrument
        self._tick[symbol] = float(instrument.tick_size)
        self._units[symbol] = (instrument.base_asset, instrument.base_units_per_lot, instrument.quote_asset,
                               instrument.quote_units_per_lot_tick)
        self._initial[symbol] = float(initial_price)

    def add_agent(self, agent: Agent, symbols: tuple[str, ...], venue_of: dict[str, str], group: str = "") -> None:
        """Add an agent trading `symbols` (venue_of: symbol -> venue name); it starts at time 0 if added in build."""
        if agent.id in self._agent_by_id:
            raise ConfigError("duplicate agent id", key="agents.name", value=agent.id)
        agent.bind(self, symbols, venue_of, derive_seed(self.seed, "agent", agent.id))
        self.agents.append(agent)
        self._agent_by_id[agent.id] = agent
        if type(agent).on_order_event is not Agent.on_order_event:
            self._ack_listeners.add(agent.id)
        self.agent_groups[agent.id] = group or agent.kind

    # ----- services for agents and sections -----
    def next_order_id(self) -> int:
        """A fresh order id, unique across venues."""
        self._order_seq += 1
        return self._order_seq

    def tick_float(self, symbol: str) -> float:
        return self._tick[symbol]

    def lot_units(self, symbol: str) -> int:
        """Base-asset base units in one lot of `symbol`."""
        return self._units[symbol][1]

    @property
    def now(self) -> int:
        """Simulated time in ns."""
        return self.kernel.now

    def initial_ticks(self, symbol: str) -> int:
        """The instrument's initial price (or its process's start) in ticks."""
        return max(1, round(self._initial[symbol] / self._tick[symbol]))

    def fundamental(self, symbol: str) -> float | None:
        """The price process value driving `symbol` now, or None."""
        p = self._process_of.get(symbol)
        return None if p is None else p.value_at(self.kernel.now)

    def quote(self, venue: str, symbol: str) -> Quote:
        return self.venues[venue].quote(symbol, self.kernel.now)

    def latency_model(self, src: str, dst: str) -> LatencyModel:
        """The model of the directed link src -> dst (agent/venue links, then [latency.pairs], then default)."""
        model = self._link_model.get((src, dst))
        if model is None:
            pairs = self.scenario.latency.pairs
            model = pairs.get((src, dst)) or pairs.get((dst, src)) or self.scenario.latency.default
            self._link_model[(src, dst)] = model
        return model

    def _link(self, src: str, dst: str) -> list:
        # A directed link: [low, span, sampler, last arrival]. Built-in models are sampled inline (latency sampling
        # is on every message's path): fixed -> low, uniform -> low + int(random() * span); others call the sampler.
        model = self.latency_model(src, dst)
        if type(model) is FixedLatency:
            link = [model.delay, 0, None, 0]
        elif type(model) is UniformLatency:
            link = [model.low, model.high - model.low + 1, None, 0]
        else:
            link = [0, 0, partial(model.sample, src, dst, self.rng), 0]
        self._links[(src, dst)] = link
        return link

    def arrival_time(self, src: str, dst: str) -> int:
        """When a message sent now from src reaches dst (sampled latency, FIFO per directed link)."""
        link = self._links.get((src, dst)) or self._link(src, dst)
        span = link[1]
        if span:
            t = self.kernel.now + link[0] + int(self._rand() * span)
        elif link[2] is None:
            t = self.kernel.now + link[0]
        else:
            t = self.kernel.now + link[2]()
        if t < link[3]:
            t = link[3]
        link[3] = t
        return t

    def send(self, src: str, dst: str, fn: Callable[..., Any], *args: Any) -> int:
        """Deliver a message between any two participants: fn(*args) runs at the arrival time, which is returned."""
        t = self.arrival_time(src, dst)
        self.kernel.schedule_at(t, fn, *args)
        return t

    def every(self, period: int, fn: Callable[[], Any], start: int | None = None) -> Callable[[], None]:
        """Periodic work on the simulation clock (block production, batching...); returns a stop function."""
        return self.kernel.every(period, fn, start)

    def record(self, table: str, row: dict[str, Any]) -> None:
        """Append a row to a results table (a section's own, e.g. 'chain_transactions'); each table becomes a file of
        the run."""
        self.tables.setdefault(table, []).append(row)

    def agent(self, agent_id: str) -> Agent | None:
        return self._agent_by_id.get(agent_id)

    # ----- message paths -----
    def route(self, agent: Agent, venue_name: str, command: Any) -> None:
        """An agent's command travels to the venue with the agent→venue latency."""
        venue = self.venues.get(venue_name)
        if venue is None:
            raise ConfigError(f"agent {agent.id} sent to an unknown venue", key="venue", value=venue_name)
        self.recorder.command(agent.id, venue_name, command)
        t = self.arrival_time(agent.id, venue_name)
        self.kernel.schedule_at(t, self._arrive, venue, command)

    def _arrive(self, venue: Venue, command: Any) -> None:
        now = self.kernel.now
        session = self.scenario.session
        if session is not None and type(command) is NewOrder and not session.is_open(now):
            events: list[Event] = [OrderRejected(now, command.order_id, command.trader, command.symbol,
                                                 RejectReason.MARKET_CLOSED, "the session is closed")]
        elif self._order_gates and (refused := self._gate(venue, command, now)) is not None:
            events = [refused]
        else:
            events = venue.handle(command, now)
        self.publish(venue, command, events)

    def _gate(self, venue: Venue, command: Any, now: int) -> Event | None:
        for gate in self._order_gates:
            refused = gate(venue, command, now)
            if refused is not None:
                return refused
        return None

    def publish(self, venue: Venue, command: Any, events: list[Event]) -> None:
        """Publish a venue's events on the bus (topic (venue, symbol)), book trades as fills and send owners their
        execution reports, then publish changed quotes. `command` is what caused them (None: expiry, session end).
        """
        vname = venue.name
        topics = self._topics[vname]
        publish = self.bus.publish
        agents = self._agent_by_id
        touched: dict[str, None] | None = {} if self._quote_topics else None
        for ev in events:
            tp = type(ev)
            if tp is Trade:
                symbol = ev.symbol
                publish(ev, topics.get(symbol) or (vname, symbol))
                if touched is not None:
                    touched[symbol] = None
                # Both sides as core Fills (what core.accounts.book_fill builds, from cached unit sizes), inlined.
                base, per_lot, quote, per_lot_tick = self._units[symbol]
                qty, price, ts, tid = ev.quantity, ev.price, ev.ts, ev.trade_id
                base_amount, quote_amount = qty * per_lot, qty * price * per_lot_tick
                sell_aggr = ev.aggressor is _SELL
                fees = self._fees.get((vname, symbol)) if self._fees else None  # None: this book charges nothing
                if fees is None:
                    fee_asset, buy_fee, sell_fee = "", 0, 0
                else:
                    fee_asset, (maker_fee, taker_fee) = quote, fees.trade_fees(quote_amount, qty)
                    buy_fee, sell_fee = (maker_fee, taker_fee) if sell_aggr else (taker_fee, maker_fee)
                for account, side, order_id, maker, fee in (
                        (ev.buyer, _BUY, ev.buy_order_id, sell_aggr, buy_fee),
                        (ev.seller, _SELL, ev.sell_order_id, not sell_aggr, sell_fee)):
                    fill = Fill(ts, account, vname, symbol, side, base, base_amount, quote, quote_amount, fee_asset,
                                fee, _MAKER if maker else _TAKER, order_id, tid, price, qty)
                    owner = agents.get(account)
                    if owner is None:
                        self._book_fill(fill, None)
                        continue
                    self.kernel.schedule_at(self.arrival_time(vname, account), self._book_fill, fill, owner)
                continue
            if tp is OrderAccepted:
                order = ev.order
                symbol = order.symbol
                publish(ev, topics.get(symbol) or (vname, symbol))
                if touched is not None:
                    touched[symbol] = None
                if order.tif is _GTD and order.expire_at is not None:
                    self._schedule_expiry(venue, order.expire_at)
                # An ack changes no agent state; deliver it only to agents that listen for order events.
                owner = agents.get(order.trader)
                if owner is None or owner.id not in self._ack_listeners:
                    continue
                self.kernel.schedule_at(self.arrival_time(vname, owner.id), owner.deliver_order_event, ev, False)
                continue
            symbol = getattr(ev, "symbol", None)
            if symbol is None:
                topic: tuple = (vname,)
            else:
                topic = topics.get(symbol) or (vname, symbol)
                if touched is not None:
                    touched[symbol] = None
            if tp is BookUpdate:
                if self.bus.wants(BookDelta, topic):
                    seq = self._book_seq.get(topic, 0) + 1
                    self._book_seq[topic] = seq
                    publish(BookDelta(ev.ts, ev.symbol, ev.side, ev.price, ev.quantity, vname, seq), topic)
                continue
            publish(ev, topic)
            owner = agents.get(getattr(ev, "trader", None))
            if owner is not None:
                rejected_new = tp is OrderRejected and type(command) is NewOrder
                self.kernel.schedule_at(self.arrival_time(vname, owner.id), owner.deliver_order_event, ev,
                                        rejected_new)
        if touched:
            self._push_quotes(venue, touched)

    def _fill(self, venue: str, t: Trade, side: Side) -> Fill:
        """One side of a trade as the core Fill (what core.accounts.book_fill builds, from cached unit sizes),
        charged with the venue's fees (what publish builds inline)."""
        base, per_lot, quote, per_lot_tick = self._units[t.symbol]
        if side is _BUY:
            account, order_id, maker = t.buyer, t.buy_order_id, t.aggressor is _SELL
        else:
            account, order_id, maker = t.seller, t.sell_order_id, t.aggressor is _BUY
        quote_amount = t.quantity * t.price * per_lot_tick
        fees = self._fees.get((venue, t.symbol))
        fee = 0 if fees is None else fees.fee(quote_amount, t.quantity, maker)
        return Fill(t.ts, account, venue, t.symbol, side, base, t.quantity * per_lot, quote, quote_amount,
                    "" if fees is None else quote, fee, _MAKER if maker else _TAKER, order_id, t.trade_id,
                    t.price, t.quantity)

    def _book_fill(self, fill: Fill, agent: Agent | None) -> None:
        """Book a fill on its account, publish it on ("account", id), then hand it to the agent."""
        aid = fill.account
        topic = self._account_topics.get(aid)
        if topic is None:
            topic = self._account_topics[aid] = ("account", aid)
        if agent is not None:
            (agent._account or agent.account).apply(fill)
            self.bus.publish(fill, topic)
            agent.deliver_fill(fill)
        else:
            self.accounts.apply(fill)
            self.bus.publish(fill, topic)

    def _deliver(self, venue: str, agent: Agent, fn: Callable[..., Any], *args: Any) -> None:
        self.kernel.schedule_at(self.arrival_time(venue, agent.id), fn, *args)

    def _schedule_expiry(self, venue: Venue, at: int) -> None:
        key = (venue.name, at)
        if key not in self._expiry_scheduled:
            self._expiry_scheduled.add(key)
            self.kernel.schedule_at(max(at, self.kernel.now), self._expire, venue, at)

    def _expire(self, venue: Venue, at: int) -> None:
        self._expiry_scheduled.discard((venue.name, at))
        self.publish(venue, None, venue.expire(self.kernel.now))

    def _close_session(self) -> None:
        for venue in self.venues.values():
            self.publish(venue, None, venue.end_session(self.kernel.now))

    # ----- market data subscriptions (bus subscribers with the venue→agent latency) -----
    def _topic(self, venue: str, symbol: str) -> tuple[str, str]:
        v = self.venues.get(venue)
        if v is None:
            raise ConfigError("subscription to an unknown venue", key="venue", value=venue)
        if symbol not in v.symbols:
            raise ConfigError(f"venue {venue} does not list this symbol", key="symbol", value=symbol)
        return self._topics[venue][symbol]

    def _feed(self, venue: str, agent: Agent, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        """A bus handler that delivers each event to the agent after the venue→agent latency."""
        schedule, arrival, aid = self.kernel.schedule_at, self.arrival_time, agent.id

        def handler(event: Any) -> None:
            schedule(arrival(venue, aid), fn, event)

        return handler

    def subscribe_quotes(self, agent: Agent, venue: str, symbol: str) -> None:
        """Send `agent` the top of book of venue/symbol (on_market_data) whenever it changes."""
        topic = self._topic(venue, symbol)
        self.bus.subscribe(Quote, self._feed(venue, agent, agent.on_market_data), topic)
        self._quote_topics.add(topic)

    subscribe = subscribe_quotes  # the name agents used before the bus

    def subscribe_trades(self, agent: Agent, venue: str, symbol: str) -> None:
        """Send `agent` every trade of venue/symbol (on_trade)."""
        self.bus.subscribe(Trade, self._feed(venue, agent, agent.on_trade), self._topic(venue, symbol))

    def subscribe_book(self, agent: Agent, venue: str, symbol: str) -> None:
        """Send `agent` the full-depth book now (on_book_snapshot) and then every L2 delta (on_book_delta)."""
        topic = self._topic(venue, symbol)
        self.bus.subscribe(BookDelta, self._feed(venue, agent, agent.deliver_book_delta), topic)
        self.want_book_updates(venue)
        self._deliver(venue, agent, agent.deliver_book_snapshot, self.book_snapshot(venue, symbol))

    def book_feed(self, venue: str, symbol: str, handler: Callable[[BookDelta], None]) -> tuple[Any, BookSnapshot]:
        """For a consumer outside the simulation (the API, a notebook): subscribe `handler` to the L2 deltas of
        venue/symbol at venue time and return (the bus Subscription, the snapshot the deltas continue). A plain
        bus.subscribe(BookDelta, ...) alone does not switch the venue's deltas on."""
        sub = self.bus.subscribe(BookDelta, handler, self._topic(venue, symbol))
        self.want_book_updates(venue)
        return sub, self.book_snapshot(venue, symbol)

    def want_book_updates(self, venue: str) -> None:
        """Ask a venue for L2 deltas (call after subscribing to BookDelta on the bus for one of its symbols)."""
        if venue in self._book_venues:
            return
        v = self.venues[venue]
        emit = getattr(v, "emit_book_updates", None)
        if emit is None:
            raise ConfigError("this venue kind publishes no L2 book deltas", key="venue", value=venue)
        emit(True)
        self._book_venues.add(venue)

    def book_snapshot(self, venue: str, symbol: str) -> BookSnapshot:
        """The full-depth book of venue/symbol now, stamped with the seq of the last delta published for it."""
        topic = self._topic(venue, symbol)
        bids, asks = self.venues[venue].depth(symbol, 1 << 30)
        return BookSnapshot(self.kernel.now, venue, symbol, self._book_seq.get(topic, 0), tuple(bids), tuple(asks))

    def _push_quotes(self, venue: Venue, symbols: dict[str, None]) -> None:
        vname = venue.name
        topics = self._topics[vname]
        wanted = self._quote_topics
        for symbol in sorted(symbols):
            topic = topics.get(symbol)
            if topic not in wanted:
                continue
            q = venue.quote(symbol, self.kernel.now)
            prev = self._last_quote.get(topic)
            if prev is not None and (prev.bid, prev.bid_qty, prev.ask, prev.ask_qty) == (
                    q.bid, q.bid_qty, q.ask, q.ask_qty):
                continue
            self._last_quote[topic] = q
            self.bus.publish(q, topic)

    def wake(self, agent: Agent, t: int) -> None:
        """Schedule agent.on_wakeup at t (moved to the next session open while the market is closed)."""
        self.kernel.schedule_at(t, self._wakeup, agent)

    def _wakeup(self, agent: Agent) -> None:
        if self._draining:
            return  # the trading is over: agents sleep through the drain
        session = self.scenario.session
        if session is not None and not session.is_open(self.kernel.now):
            self.kernel.schedule_at(session.next_open(self.kernel.now), self._wakeup, agent)
            return
        agent.on_wakeup()

    # ----- running -----
    def stop(self) -> None:
        """End the run after the current callback (the results so far are recorded as usual)."""
        self._stop_requested = True
        self.kernel.stop()

    @property
    def stopped(self) -> bool:
        """Whether stop() was called."""
        return self._stop_requested

    def _check_running(self) -> None:
        if self._finished is not None:
            raise MarketSimError("the simulation has finished; build a new one to run again")
        self.build()
        if self._t0 is None:
            self._t0 = time.perf_counter()
            if self.tune_gc:
                self._gc_tune()
            if self.pacer is not None:
                self.pacer(self.kernel.now)  # anchors a real-time pacer at the start of the run

    def _gc_tune(self) -> None:
        # A run allocates millions of short-lived, acyclic objects (events, fills, rows): the cyclic collector's
        # full passes over every long-lived object (the modules loaded, pandas...) are pure overhead. So, from the
        # first step to finish(): what exists before the run is frozen out of collection (gc.freeze) and young
        # collections run less often. Cycles are still collected. Simulation(tune_gc=False) leaves gc alone.
        self._gc_saved = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)

    def _gc_restore(self) -> None:
        if self._gc_saved is not None:
            gc.set_threshold(*self._gc_saved)
            gc.unfreeze()
            self._gc_saved = None

    def run_until(self, t: int, progress: Callable[[int, int], None] | None = None, chunk: int | None = None) -> int:
        """Process every event at or before simulated time `t` (capped at the scenario's duration; stops early
        after stop()), then set `now` to it; returns the events processed. Safe to call repeatedly with
        increasing times: the same run results whatever the increments."""
        self._check_running()
        kernel = self.kernel
        duration = self.scenario.duration
        end = min(int(t), duration)
        if chunk is None:
            chunk = max(1, duration // 200) if progress is not None else max(1, end - kernel.now)
        n = 0
        c0 = time.perf_counter()
        try:
            while kernel.now < end and not self._stop_requested:
                n += kernel.run(until=min(end, kernel.now + chunk), pacer=self.pacer)
                if self.pacer is not None:
                    self.pacer(kernel.now)  # quiet stretches without events also take their wall time
                if progress is not None:
                    progress(kernel.now, duration)
        except BaseException:
            self._gc_restore()  # a failed or interrupted run leaves the collector as it found it
            raise
        finally:
            self._wall += time.perf_counter() - c0
        return n

    def drain(self, done: Callable[[], bool], limit: int) -> int:
        """After the trading horizon (a section's finish hook): keep the clock running for background work (block
        production, consensus, settlement) until `done()` or `limit` more ns of simulated time; agents no longer
        wake (orders already on their way still arrive). Returns the simulated ns it ran."""
        kernel = self.kernel
        start = kernel.now
        end = start + limit
        self._draining = True
        while not done():
            nxt = kernel.peek()
            if nxt is None or nxt > end:
                break
            kernel.run_one()
        return kernel.now - start

    def step(self) -> bool:
        """Process the next event (all callbacks are events: arrivals, deliveries, wake-ups); returns False when
        none is left before the end of the scenario (or after stop())."""
        self._check_running()
        kernel = self.kernel
        nxt = kernel.peek()
        if self._stop_requested or nxt is None or nxt > self.scenario.duration:
            return False
        c0 = time.perf_counter()
        try:
            kernel.run_one(pacer=self.pacer)
        except BaseException:
            self._gc_restore()
            raise
        finally:
            self._wall += time.perf_counter() - c0
        return True

    def finish(self) -> RunOutcome:
        """End the run where it is: agents' on_stop, final snapshots, the sections' finish hooks; returns the
        RunOutcome (calling it again returns the same one)."""
        if self._finished is not None:
            return self._finished
        self._check_running()
        kernel = self.kernel
        c0 = time.perf_counter()
        for agent in self.agents:
            agent.on_stop()
        self.recorder.snapshot_books()
        self.recorder.snapshot_pnl()
        for run in self._ext:
            state = self._states[run.section.name]
            if run.takes_state[1]:
                run.section.finish(self, run.config, state)
            else:
                run.section.finish(self, run.config)
        wall = self._wall + time.perf_counter() - c0
        self._gc_restore()
        tables = self.recorder.tables()
        tables.update(self.tables)
        metrics = self.recorder.metrics()
        metrics.update(events=kernel.events_processed, wall_seconds=round(wall, 4),
                       events_per_second=round(kernel.events_processed / wall) if wall > 0 else None)
        metrics.update(self.metrics)
        self._finished = RunOutcome(self.scenario, tables, metrics, wall, kernel.events_processed,
                                    dict(self.extra_files))
        return self._finished

    def run(self, progress: Callable[[int, int], None] | None = None, chunk: int | None = None) -> RunOutcome:
        """build() + run_until(duration) + finish(); progress(now, duration) is called after each chunk of
        simulated time (default: 1/200 of the run when there is a progress callback)."""
        self.run_until(self.scenario.duration, progress, chunk)
        return self.finish()


def run_scenario(scenario: Scenario, *, pacer: Callable[[int], None] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> RunOutcome:
    """Build and run a scenario."""
    return Simulation(scenario, pacer=pacer).run(progress)
