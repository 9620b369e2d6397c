"""Live simulations for the API: a Simulation stepped with run_until in chunks on a background thread, paused,
resumed, stepped and stopped on request, with external accounts trading into it.

Every access to a simulation holds its lock, so a request sees the world between two steps. External orders are
handed to the venue at the simulation's current time, between steps, through the same path as an agent's command
once it has arrived (session check, pre-trade risk gates, the venue, the bus): the same requests at the same
simulated times give the same run. An external account is not an agent: its fills are booked on `sim.accounts` at
venue time (market_sim.simulation.runner).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from market_sim.api.stream import StreamClient
from market_sim.core.accounts import Fill
from market_sim.core.errors import MarketSimError
from market_sim.core.events import (OrderAccepted, OrderCancelled, OrderModified, OrderRejected, OrderRepriced,
                                    OrderTriggered, Trade)
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder
from market_sim.simulation.venues import BookDelta

__all__ = ["LiveSim", "SimManager", "OrderRecord", "NotFound", "Conflict"]

NS = 1_000_000_000
RECENT_TRADES = 1000
FILLS_KEPT = 10_000


class NotFound(MarketSimError):
    """A simulation, order, run or table that does not exist (HTTP 404)."""


class Conflict(MarketSimError):
    """A request that does not fit the simulation's state, e.g. trading into a stopped one (HTTP 409)."""


@dataclass(slots=True)
class OrderRecord:
    """An external account's order as the API follows it from the venue's events."""

    order_id: int
    account: str
    venue: str
    symbol: str
    side: str
    order_type: str
    tif: str
    price: int | None
    quantity: int
    ts: int
    open: int = 0
    filled: int = 0
    status: str = "pending"  # pending, open, filled, cancelled, rejected
    reason: str = ""

    def view(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def _side(side: Any) -> str:
    return str(side)


def trade_json(ev: Trade, venue: str) -> dict[str, Any]:
    return {"type": "trade", "ts": ev.ts, "venue": venue, "symbol": ev.symbol, "trade_id": ev.trade_id,
            "price": ev.price, "quantity": ev.quantity, "buyer": ev.buyer, "seller": ev.seller,
            "buy_order_id": ev.buy_order_id, "sell_order_id": ev.sell_order_id, "aggressor": _side(ev.aggressor)}


def fill_json(f: Fill) -> dict[str, Any]:
    return {"ts": f.ts, "account": f.account, "venue": f.venue, "symbol": f.symbol, "side": _side(f.side),
            "order_id": f.order_id, "trade_id": f.trade_id, "price": f.price, "quantity": f.quantity,
            "base_asset": f.base_asset, "base_amount": f.base_amount, "quote_asset": f.quote_asset,
            "quote_amount": f.quote_amount, "fee_asset": f.fee_asset, "fee": f.fee, "liquidity": str(f.liquidity)}


def _plain(v: Any) -> Any:
    """A value as JSON can carry it (enums as their value, tuples as lists)."""
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return str(v)


def _dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"), default=str)


_ORDER_EVENTS = (OrderAccepted, OrderRejected, OrderCancelled, OrderModified, OrderRepriced, OrderTriggered)


class LiveSim:
    """One simulation served by the API."""

    def __init__(self, sim_id: str, scenario_name: str, sim: Any, *, realtime: float | None = None,
                 overrides: tuple[str, ...] = (), seed: int | None = None, writer: Any = None) -> None:
        self.id = sim_id
        self.scenario_name = scenario_name
        self.sim = sim
        self.realtime = realtime
        self.overrides = overrides
        self.created_at = dt.datetime.now(dt.timezone.utc).isoformat()
        self.lock = threading.RLock()
        self.state = "paused"  # paused, running, finished, stopped, failed
        self.error: str | None = None
        self.orders: dict[int, OrderRecord] = {}
        self.fills: dict[str, deque[Fill]] = {}
        self.trades: deque[tuple[str, Trade]] = deque(maxlen=RECENT_TRADES)
        self.outcome: Any = None
        self.writer = writer  # a RunWriter: the run is stored when it ends (save)
        self.run_id: str | None = writer.run_id if writer is not None else None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._halt = False
        self._chunk = max(1, int((realtime or 1.0) * NS // 100))  # ~100 chunks per wall second when paced
        # stream subscribers by key: ("book", venue, symbol), ("trades", symbol|"*"), ("orders", account),
        # ("settlement",), ("blocks",)
        self.clients: dict[tuple, set[StreamClient]] = {}
        self._book_feeds: dict[tuple[str, str], Any] = {}
        self._settlement_wired = False
        with self.lock:
            sim.build()
            for vname in sim.venues:
                sim.bus.subscribe(Trade, self._make_trade_handler(vname), (vname,))
                for tp in _ORDER_EVENTS:
                    sim.bus.subscribe(tp, self._on_order_event, (vname,))

    # ---- facts -------------------------------------------------------------------------------------------------
    @property
    def duration(self) -> int:
        return self.sim.scenario.duration

    def info(self) -> dict[str, Any]:
        sim = self.sim
        return {"id": self.id, "scenario": self.scenario_name, "seed": sim.seed, "state": self.state,
                "now_ns": sim.now, "duration_ns": self.duration, "realtime": self.realtime,
                "events": sim.kernel.events_processed, "error": self.error, "created_at": self.created_at,
                "overrides": list(self.overrides),
                "venues": {name: list(v.symbols) for name, v in sim.venues.items()},
                "instruments": {s: {"tick_size": str(i.tick_size), "lot_size": str(getattr(i, "lot_size", "")),
                                    "base_asset": i.base_asset, "quote_asset": i.quote_asset}
                                for s, i in sim.instruments.items()},
                "settlement": sim.state("settlement") is not None, "run_id": self.run_id}

    def venue_of(self, symbol: str, venue: str | None) -> str:
        venues = self.sim.venues
        if venue is not None:
            v = venues.get(venue)
            if v is None:
                raise NotFound(f"no venue {venue!r} in simulation {self.id}; venues: {', '.join(venues)}")
            if symbol not in v.symbols:
                raise NotFound(f"venue {venue} does not list {symbol!r}; it lists {', '.join(v.symbols)}")
            return venue
        for name, v in venues.items():
            if symbol in getattr(v, "symbols", ()):
                return name
        raise NotFound(f"no venue of simulation {self.id} lists {symbol!r}")

    # ---- running -----------------------------------------------------------------------------------------------
    def _check_live(self) -> None:
        if self.state in ("finished", "stopped", "failed"):
            raise Conflict(f"simulation {self.id} is {self.state}")

    def resume(self) -> None:
        with self.lock:
            self._check_live()
            self.state = "running"
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"sim-{self.id}", daemon=True)
                self._thread.start()
            self._wake.set()

    def pause(self) -> None:
        with self.lock:
            self._check_live()
            self.state = "paused"
            self._wake.clear()

    def step(self, until_ns: int) -> int:
        """Advance a paused simulation to `until_ns` (capped at its duration) on the caller's thread; returns the
        events processed. Finishes the simulation when it reaches its end."""
        with self.lock:
            self._check_live()
            if self.state != "paused":
                raise Conflict(f"simulation {self.id} is running; pause it before stepping")
            if until_ns < self.sim.now:
                raise Conflict(f"simulation {self.id} is already at {self.sim.now} ns")
            n = self._advance(min(until_ns, self.duration))
            if self.sim.now >= self.duration:
                self._finish("finished")
            return n

    def _advance(self, t: int) -> int:
        try:
            return self.sim.run_until(t)
        except Exception as exc:  # noqa: BLE001  (the simulation failed: kept as this sim's error)
            self.error = " ".join(str(exc).split()) if isinstance(exc, MarketSimError) else \
                f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            self._finish("failed")
            return 0

    def stop(self) -> None:
        with self.lock:
            if self.state in ("finished", "stopped", "failed"):
                return
            self._finish("stopped")
        self._halt = True
        self._wake.set()

    def _finish(self, state: str) -> None:
        """With the lock held: end the run (sections' finish hooks) and close the streams."""
        self.state = state
        self._halt = True
        self._wake.set()
        try:
            self.outcome = self.sim.finish()
        except Exception as exc:  # noqa: BLE001
            self.state = "failed"
            self.error = self.error or f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        if self.writer is not None:
            self._store()
        for clients in self.clients.values():
            for c in clients:
                c.close(f"simulation {self.state}")

    def _store(self) -> None:
        """Write the run folder (status complete, interrupted for a stopped run, failed), as `market-sim run`."""
        from market_sim.simulation.results import COMPLETE, FAILED, INTERRUPTED, partial_outcome

        status = {"finished": COMPLETE, "stopped": INTERRUPTED}.get(self.state, FAILED)
        outcome = self.outcome if self.outcome is not None else partial_outcome(self.sim, 0.0)
        try:
            self.writer.write(outcome, plots=False, status=status, error=self.error if status == FAILED else None,
                              simulated_ns=self.sim.now)
        except Exception as exc:  # noqa: BLE001  (the simulation's state stays; the error says why no run)
            self.error = f"storing the run failed: {type(exc).__name__}: {' '.join(str(exc).split())}"
            self.run_id = None

    def _loop(self) -> None:
        wall0 = sim0 = None
        while True:
            self._wake.wait()
            if self._halt:
                return
            with self.lock:
                if self.state != "running":
                    wall0 = None
                    continue
                if wall0 is None:
                    wall0, sim0 = time.perf_counter(), self.sim.now
                c0 = time.perf_counter()
                self._advance(min(self.sim.now + self._chunk, self.duration))
                spent = time.perf_counter() - c0
                if self.state == "running" and self.sim.now >= self.duration:
                    self._finish("finished")
                if self.state != "running":
                    continue
                now = self.sim.now
            if self.realtime is None:
                # as fast as possible, in chunks of about 20 ms of wall time (requests get the lock between them)
                if spent < 0.01:
                    self._chunk = min(self._chunk * 2, 60 * NS)
                elif spent > 0.04:
                    self._chunk = max(self._chunk // 2, 1_000_000)
                time.sleep(0)  # let request threads take the lock
            else:
                due = wall0 + (now - sim0) / NS / self.realtime
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)

    # ---- external trading --------------------------------------------------------------------------------------
    def submit(self, account: str, venue: str | None, symbol: str, side: Any, quantity: int, **spec: Any
               ) -> OrderRecord:
        with self.lock:
            self._check_live()
            vname = self.venue_of(symbol, venue)
            sim = self.sim
            order = NewOrder(sim.next_order_id(), account, symbol, side, quantity, **spec)
            rec = OrderRecord(order.order_id, account, vname, symbol, _side(side), str(order.order_type),
                              str(order.tif), order.price, quantity, sim.now, open=quantity)
            self.orders[order.order_id] = rec
            if account not in self.fills:
                self.fills[account] = deque(maxlen=FILLS_KEPT)
                sim.bus.subscribe(Fill, self.fills[account].append, ("account", account))
            self._send(vname, account, order)
            return rec

    def order(self, order_id: int) -> OrderRecord:
        rec = self.orders.get(order_id)
        if rec is None:
            raise NotFound(f"no external order {order_id} in simulation {self.id}")
        return rec

    def cancel(self, order_id: int) -> OrderRecord:
        with self.lock:
            self._check_live()
            rec = self.order(order_id)
            self._send(rec.venue, rec.account, CancelOrder(order_id, rec.account))
            return rec

    def modify(self, order_id: int, quantity: int | None, price: int | None) -> OrderRecord:
        with self.lock:
            self._check_live()
            rec = self.order(order_id)
            self._send(rec.venue, rec.account, ModifyOrder(order_id, rec.account, quantity, price))
            return rec

    def _send(self, vname: str, account: str, command: Any) -> None:
        sim = self.sim
        sim.recorder.command(account, vname, command)
        # The command reaches the venue now, between steps, by the runner's arrival path (session check, order
        # gates, venue, bus); no latency is modelled for an external account.
        sim._arrive(sim.venues[vname], command)

    # ---- bus handlers (on the simulation's thread, lock held) ---------------------------------------------------
    def _make_trade_handler(self, vname: str) -> Any:
        def on_trade(ev: Trade) -> None:
            if type(ev) is not Trade:
                return
            self.trades.append((vname, ev))
            orders = self.orders
            if orders:
                for oid, who in ((ev.buy_order_id, ev.buyer), (ev.sell_order_id, ev.seller)):
                    rec = orders.get(oid)
                    if rec is not None and rec.account == who:
                        rec.filled += ev.quantity
                        rec.open = max(0, rec.open - ev.quantity)
                        if rec.open == 0:
                            rec.status = "filled"
                        elif rec.status == "pending":
                            rec.status = "open"
                        self._order_message(rec, "fill", ev.ts, {"trade_id": ev.trade_id, "price": ev.price,
                                                                  "quantity": ev.quantity})
            clients = self.clients
            if clients:
                targets = clients.get(("trades", ev.symbol), set()) | clients.get(("trades", "*"), set())
                if targets:
                    text = _dumps({**trade_json(ev, vname), "sim": self.id})
                    for c in targets:
                        c.push(text)
        return on_trade

    def _on_order_event(self, ev: Any) -> None:
        rec = self.orders.get(getattr(ev, "order_id", None) if not isinstance(ev, OrderAccepted)
                              else ev.order.order_id)
        if rec is None:
            return
        tp = type(ev)
        extra: dict[str, Any] = {}
        if tp is OrderAccepted:
            if rec.status == "pending":
                rec.status = "open" if rec.open > 0 else "filled"
            kind = "accepted"
        elif tp is OrderRejected:
            rec.status, rec.reason, rec.open = "rejected", f"{ev.reason}: {ev.message}", 0
            kind = "rejected"
            extra = {"reason": str(ev.reason), "message": ev.message}
        elif tp is OrderCancelled:
            rec.open = ev.remaining_quantity
            if rec.open == 0:
                rec.status = "cancelled"
            rec.reason = str(ev.reason)
            kind = "cancelled"
            extra = {"cancelled_quantity": ev.cancelled_quantity, "reason": str(ev.reason)}
        elif tp is OrderModified:
            rec.open, rec.price = ev.quantity, ev.price
            kind = "modified"
            extra = {"priority_kept": ev.priority_kept}
        elif tp is OrderRepriced:
            rec.price = ev.price
            kind = "repriced"
        else:
            kind = "triggered"
        self._order_message(rec, kind, ev.ts, extra)

    def _order_message(self, rec: OrderRecord, kind: str, ts: int, extra: dict[str, Any]) -> None:
        targets = self.clients.get(("orders", rec.account)) if self.clients else None
        if targets:
            text = _dumps({"type": "order", "event": kind, "ts": ts, "sim": self.id, "order": rec.view(), **extra})
            for c in targets:
                c.push(text)

    def _book_handler(self, key: tuple[str, str]) -> Any:
        def on_delta(ev: BookDelta) -> None:
            targets = self.clients.get(("book", *key))
            if targets:
                text = _dumps({"type": "book_delta", "sim": self.id, "venue": ev.venue, "symbol": ev.symbol,
                               "seq": ev.seq, "ts": ev.ts, "side": _side(ev.side), "price": ev.price,
                               "quantity": ev.quantity})
                for c in targets:
                    c.push(text, key)
        return on_delta

    def _wire_settlement(self) -> None:
        if self._settlement_wired:
            return
        run = self.sim.state("settlement")
        if run is None:
            raise NotFound(f"simulation {self.id} has no settlement section")
        from market_sim.settlement.lifecycle import BatchStageEvent, TradeStageEvent

        def on_stage(ev: Any) -> None:
            targets = self.clients.get(("settlement",))
            if targets:
                msg = {"type": "settlement", "sim": self.id,
                       "kind": "batch" if isinstance(ev, BatchStageEvent) else "trade",
                       **{k: _plain(getattr(ev, k)) for k in ev.__slots__}}
                text = _dumps(msg)
                for c in targets:
                    c.push(text)

        self.sim.bus.subscribe(TradeStageEvent, on_stage, ("settlement",))
        self.sim.bus.subscribe(BatchStageEvent, on_stage, ("settlement",))
        producer = getattr(run, "producer", None)
        if producer is not None:
            def on_block(ev: Any) -> None:
                block = getattr(ev, "block", None)
                targets = self.clients.get(("blocks",))
                if targets and type(ev).__name__ == "BlockMined" and block is not None:
                    text = _dumps({"type": "block", "sim": self.id, "ts": ev.ts, **block_json(block)})
                    for c in targets:
                        c.push(text)

            producer.subscribe(on_block)
        self._settlement_wired = True

    # ---- stream subscriptions (lock held by the caller) ---------------------------------------------------------
    def book_snapshot_json(self, venue: str, symbol: str) -> dict[str, Any]:
        snap = self.sim.book_snapshot(venue, symbol)
        return {"type": "book_snapshot", "sim": self.id, "venue": venue, "symbol": symbol, "seq": snap.seq,
                "ts": snap.ts, "bids": [list(x) for x in snap.bids], "asks": [list(x) for x in snap.asks]}

    def subscribe(self, client: StreamClient, key: tuple) -> dict[str, Any] | None:
        """Add `client` to a stream; for a book, returns the snapshot its deltas continue (queued first)."""
        with self.lock:
            first = None
            if key[0] == "book":
                book = (key[1], key[2])
                if book not in self._book_feeds:
                    sub, _ = self.sim.book_feed(key[1], key[2], self._book_handler(book))
                    self._book_feeds[book] = sub
                first = self.book_snapshot_json(*book)
                client.resynced(book)
                client.push(_dumps(first))
            elif key[0] in ("settlement", "blocks"):
                self._wire_settlement()
            self.clients.setdefault(key, set()).add(client)
            client.subscriptions.add(key)
            if self.state in ("finished", "stopped", "failed"):
                client.close(f"simulation {self.state}")
            return first

    def unsubscribe(self, client: StreamClient, key: tuple | None = None) -> None:
        with self.lock:
            for k in [key] if key is not None else list(client.subscriptions):
                self.clients.get(k, set()).discard(client)
                client.subscriptions.discard(k)

    def resync(self, client: StreamClient, book: tuple[str, str]) -> str:
        """A fresh snapshot of `book` for `client` (its deltas flow again after it)."""
        with self.lock:
            snap = _dumps(self.book_snapshot_json(*book))
            client.resynced(book)
            return snap


def block_json(block: Any) -> dict[str, Any]:
    return {k: _plain(getattr(block, k)) for k in block.__slots__}


@dataclass
class SimManager:
    """The API's live simulations by id."""

    runs_dir: Any = None
    max_sims: int = 8
    sims: dict[str, LiveSim] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: Any = field(default_factory=threading.Lock)

    def start(self, scenario: str, *, seed: int | None = None, overrides: tuple[str, ...] = (),
              realtime: float | None = None, paused: bool = False, save: bool = False) -> LiveSim:
        from market_sim.simulation.catalog import resolve_scenario, scenarios
        from market_sim.simulation.runner import Simulation
        from market_sim.simulation.scenario import load_scenario

        if scenario not in scenarios():  # only named scenarios: a request never names a file on the server
            raise NotFound(f"no scenario {scenario!r}; named scenarios: {', '.join(scenarios())}")
        with self._lock:
            live = [s for s in self.sims.values() if s.state in ("running", "paused")]
            if len(live) >= self.max_sims:
                raise Conflict(f"{len(live)} simulations are live (the limit is {self.max_sims}); stop one first")
            sim_id = f"sim-{next(self._ids)}"
        sc = load_scenario(resolve_scenario(scenario), list(overrides), seed)
        writer = None
        if save:
            from market_sim.simulation.results import RunWriter

            writer = RunWriter(self.runs_dir, sc, overrides=overrides,
                               started_at=dt.datetime.now(dt.timezone.utc))
        sim = Simulation(sc, tune_gc=False)
        try:
            live_sim = LiveSim(sim_id, scenario, sim, realtime=realtime, overrides=tuple(overrides), seed=seed,
                               writer=writer)
        except BaseException:
            if writer is not None:
                writer.discard()
            raise
        with self._lock:
            self.sims[sim_id] = live_sim
        if not paused:
            live_sim.resume()
        return live_sim

    def get(self, sim_id: str) -> LiveSim:
        s = self.sims.get(sim_id)
        if s is None:
            raise NotFound(f"no simulation {sim_id!r}")
        return s

    def shutdown(self) -> None:
        for s in list(self.sims.values()):
            s.stop()

