"""The runner: builds a Simulation from a Scenario (venues, agents, processes, sessions, latency, extension
sections) on one Kernel, runs it, and returns the recorded tables and metrics.

Every message between participants goes through the kernel with a sampled latency; each directed link is FIFO
(a message never overtakes an earlier one on the same link), so a cancel cannot arrive before its order.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from market_sim.core.accounts import Accounts
from market_sim.core.bus import Bus
from market_sim.core.errors import ConfigError
from market_sim.core.events import BookUpdate, Event, OrderAccepted, OrderRejected, RejectReason, Trade
from market_sim.core.orders import NewOrder, Side, TimeInForce
from market_sim.simulation.agents.base import Agent, Fill, agent_types
from market_sim.simulation.kernel import Kernel
from market_sim.simulation.latency import FixedLatency, LatencyModel, UniformLatency
from market_sim.simulation.processes import PriceProcess, build_process
from market_sim.simulation.recorder import Recorder
from market_sim.simulation.scenario import Scenario, sections
from market_sim.simulation.seeds import derive_seed
from market_sim.simulation.venues import Quote, Venue, build_venue

__all__ = ["Simulation", "RunOutcome", "run_scenario"]

VenueObserver = Callable[[Venue, Any, list[Event]], None]


@dataclass
class RunOutcome:
    """What a finished run produced: tables (name -> list of row dicts or a DataFrame-ready dict) and metrics."""

    scenario: Scenario
    tables: dict[str, Any]
    metrics: dict[str, Any]
    wall_seconds: float
    events: int
    extra_files: dict[str, bytes] = field(default_factory=dict)


class Simulation:
    """One scenario's world on one kernel. Extension sections reach it through their prepare/install/finish hooks."""

    def __init__(self, scenario: Scenario, *, pacer: Callable[[int], None] | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed
        self.kernel = Kernel()
        self.bus = Bus()            # the one publish/subscribe channel of this run (market_sim.core.bus)
        self.accounts = Accounts()  # the one record of who owns what (market_sim.core.accounts)
        self.pacer = pacer
        self.rng = random.Random(derive_seed(self.seed, "latency"))
        self.instruments = {c.instrument.symbol: c.instrument for c in scenario.instruments}
        self._tick = {s: float(i.tick_size) for s, i in self.instruments.items()}
        self.processes: dict[str, PriceProcess] = {
            name: build_process(p.kind, p.params, derive_seed(self.seed, "process", name))
            for name, p in scenario.processes.items()}
        self._process_of = {c.instrument.symbol: self.processes[c.process] for c in scenario.instruments
                            if c.process is not None}
        self._initial = {c.instrument.symbol: c.initial_price if c.initial_price is not None
                         else self._process_of[c.instrument.symbol].value_at(0) for c in scenario.instruments}
        self.trade_validator: Any = None  # set by a section's prepare() before venues are built
        self.venues: dict[str, Venue] = {}
        self.agents: list[Agent] = []
        self.agent_groups: dict[str, str] = {}  # agent id -> [[agents]] name
        self.metrics: dict[str, Any] = {}
        self.tables: dict[str, list[dict[str, Any]]] = {"chain_transactions": []}
        self.extra_files: dict[str, bytes] = {}
        self.recorder = Recorder(self)
        self._agent_by_id: dict[str, Agent] = {}
        self._ack_listeners: set[str] = set()
        self._link_model: dict[tuple[str, str], LatencyModel] = {}
        self._link_last: dict[tuple[str, str], int] = {}
        self._link_fn: dict[tuple[str, str], Callable[[], int]] = {}
        self._observers: list[VenueObserver] = []
        self._subs: dict[tuple[str, str], list[Agent]] = {}
        self._last_quote: dict[tuple[str, str], Quote] = {}
        self._expiry_scheduled: set[tuple[str, int]] = set()
        self._order_seq = 0
        self._ext = [(sections()[name], cfg) for name, cfg in scenario.extensions.items()]
        self._built = False
        self._stop_requested = False

    # ----- building -----
    def build(self) -> "Simulation":
        """Create venues and agents, run the sections' prepare/install hooks and schedule the periodic work."""
        if self._built:
            return self
        self._built = True
        sc = self.scenario
        for section, cfg in self._ext:
            section.prepare(self, cfg)
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
        for section, cfg in self._ext:
            section.install(self, cfg)
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

    def _link_sampler(self, src: str, dst: str) -> Callable[[], int]:
        # Built-in models get an equivalent closed-form sampler: latency sampling is on every message's path.
        model = self.latency_model(src, dst)
        if type(model) is FixedLatency:
            delay = model.delay
            fn: Callable[[], int] = lambda: delay  # noqa: E731
        elif type(model) is UniformLatency:
            low, span, rand = model.low, model.high - model.low + 1, self.rng.random
            fn = lambda: low + int(rand() * span)  # noqa: E731
        else:
            fn = partial(model.sample, src, dst, self.rng)
        self._link_fn[(src, dst)] = fn
        return fn

    def arrival_time(self, src: str, dst: str) -> int:
        """When a message sent now from src reaches dst (sampled latency, FIFO per directed link)."""
        key = (src, dst)
        fn = self._link_fn.get(key) or self._link_sampler(src, dst)
        t = self.kernel.now + fn()
        last = self._link_last.get(key, 0)
        if t < last:
            t = last
        self._link_last[key] = t
        return t

    def send(self, src: str, dst: str, fn: Callable[..., Any], *args: Any) -> int:
        """Deliver a message between any two participants: fn(*args) runs at the arrival time, which is returned."""
        t = self.arrival_time(src, dst)
        self.kernel.schedule_at(t, fn, *args)
        return t

    def every(self, period: int, fn: Callable[[], Any], start: int | None = None) -> Callable[[], None]:
        """Periodic work on the simulation clock (block production, batching...); returns a stop function."""
        return self.kernel.every(period, fn, start)

    def on_venue_events(self, fn: VenueObserver) -> None:
        """Call fn(venue, command, events) synchronously after every venue action (command None for expiries)."""
        self._observers.append(fn)

    def record(self, table: str, row: dict[str, Any]) -> None:
        """Append a row to a results table (e.g. 'chain_transactions'); each table becomes a file of the run."""
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
        else:
            events = venue.handle(command, now)
        self.publish(venue, command, events)

    def publish(self, venue: Venue, command: Any, events: list[Event]) -> None:
        """Record a venue's events and deliver them: fills and order events to their owners, quotes to subscribers."""
        rec = self.recorder
        vname = venue.name
        agents = self._agent_by_id
        for ev in events:
            tp = type(ev)
            if tp is BookUpdate:
                continue
            if tp is Trade:
                rec.trade(vname, ev)
                buyer, seller = agents.get(ev.buyer), agents.get(ev.seller)
                if buyer is not None:
                    self._deliver(vname, buyer, buyer.deliver_fill,
                                  Fill(ev.ts, vname, ev.symbol, ev.buy_order_id, Side.BUY, ev.price, ev.quantity,
                                       ev.trade_id, ev.aggressor is Side.SELL))
                if seller is not None:
                    self._deliver(vname, seller, seller.deliver_fill,
                                  Fill(ev.ts, vname, ev.symbol, ev.sell_order_id, Side.SELL, ev.price, ev.quantity,
                                       ev.trade_id, ev.aggressor is Side.BUY))
                continue
            rec.order_event(vname, ev)
            if tp is OrderAccepted:
                order = ev.order
                if order.tif is TimeInForce.GTD and order.expire_at is not None:
                    self._schedule_expiry(venue, order.expire_at)
                # An ack changes no agent state; deliver it only to agents that listen for order events.
                owner = agents.get(order.trader)
                if owner is None or owner.id not in self._ack_listeners:
                    continue
            else:
                owner = agents.get(getattr(ev, "trader", None))
            if owner is not None:
                rejected_new = tp is OrderRejected and type(command) is NewOrder
                self._deliver(vname, owner, owner.deliver_order_event, ev, rejected_new)
        for fn in self._observers:
            fn(venue, command, events)
        if self._subs and events:
            # The symbols these events touched (the engine emits BookUpdate only on request, so derive them).
            self._push_quotes(venue, {ev.order.symbol if type(ev) is OrderAccepted else ev.symbol
                                      for ev in events if type(ev) is OrderAccepted or hasattr(ev, "symbol")})

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

    def subscribe(self, agent: Agent, venue: str, symbol: str) -> None:
        """Send `agent` the top of book of venue/symbol whenever it changes."""
        self._subs.setdefault((venue, symbol), []).append(agent)

    def _push_quotes(self, venue: Venue, symbols: set[str]) -> None:
        for symbol in sorted(symbols):
            subs = self._subs.get((venue.name, symbol))
            if not subs:
                continue
            q = venue.quote(symbol, self.kernel.now)
            prev = self._last_quote.get((venue.name, symbol))
            if prev is not None and (prev.bid, prev.bid_qty, prev.ask, prev.ask_qty) == (
                    q.bid, q.bid_qty, q.ask, q.ask_qty):
                continue
            self._last_quote[(venue.name, symbol)] = q
            for agent in subs:
                self._deliver(venue.name, agent, agent.on_market_data, q)

    def wake(self, agent: Agent, t: int) -> None:
        """Schedule agent.on_wakeup at t (moved to the next session open while the market is closed)."""
        self.kernel.schedule_at(t, self._wakeup, agent)

    def _wakeup(self, agent: Agent) -> None:
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

    def run(self, progress: Callable[[int, int], None] | None = None, chunk: int | None = None) -> RunOutcome:
        """Run to the scenario's duration; progress(now, duration) is called after each chunk of simulated time
        (default: 1/200 of the run when there is a progress callback)."""
        self.build()
        duration = self.scenario.duration
        kernel = self.kernel
        t0 = time.perf_counter()
        if chunk is None:
            chunk = max(1, duration // 200) if progress is not None else duration
        if self.pacer is not None:
            self.pacer(kernel.now)  # anchors a real-time pacer at the start of the run
        while kernel.now < duration and not self._stop_requested:
            kernel.run(until=min(duration, kernel.now + chunk), pacer=self.pacer)
            if self.pacer is not None:
                self.pacer(kernel.now)  # quiet stretches without events also take their wall time
            if progress is not None:
                progress(kernel.now, duration)
        for agent in self.agents:
            agent.on_stop()
        self.recorder.snapshot_books()
        self.recorder.snapshot_pnl()
        for section, cfg in self._ext:
            section.finish(self, cfg)
        wall = time.perf_counter() - t0
        tables = self.recorder.tables()
        tables.update(self.tables)
        metrics = self.recorder.metrics()
        metrics.update(events=kernel.events_processed, wall_seconds=round(wall, 4),
                       events_per_second=round(kernel.events_processed / wall) if wall > 0 else None)
        metrics.update(self.metrics)
        return RunOutcome(self.scenario, tables, metrics, wall, kernel.events_processed, dict(self.extra_files))


def run_scenario(scenario: Scenario, *, pacer: Callable[[int], None] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> RunOutcome:
    """Build and run a scenario."""
    return Simulation(scenario, pacer=pacer).run(progress)

