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

from market_sim.api.stream import StreamClient, wake_all
from market_sim.core.accounts import Fill
from market_sim.core.errors import MarketSimError
from market_sim.core.events import (OrderAccepted, OrderCancelled, OrderModified, OrderRejected, OrderRepriced,
                                    OrderTriggered, Trade)
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder
from market_sim.simulation.venues import BookDelta

__all__ = ["LiveSim", "SimManager", "OrderRecord", "NotFound", "Conflict", "StepLock", "dumps_bytes"]

NS = 1_000_000_000
RECENT_TRADES = 1000
FILLS_KEPT = 10_000
PACED_STEP_SECONDS = 0.04  # wall time a paced simulation advances per step (25 steps a second)
HOT_BOOK_SECONDS = 5.0  # a book queried over REST within this long is re-snapshotted after every step


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


try:  # orjson (the api extra) encodes several times faster than json; integers past 64 bits fall back to json
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None


def dumps_bytes(msg: Any) -> bytes:
    """`msg` as compact JSON (UTF-8), once per message whatever the number of receivers."""
    if _orjson is not None:
        try:
            return _orjson.dumps(msg, default=str)
        except TypeError:  # e.g. an integer beyond 64 bits (wei amounts): json carries any integer
            pass
    return json.dumps(msg, separators=(",", ":"), default=str).encode()


def _dumps(msg: Any) -> str:
    if _orjson is not None:
        try:
            return _orjson.dumps(msg, default=str).decode()
        except TypeError:
            pass
    return json.dumps(msg, separators=(",", ":"), default=str)


_ORDER_EVENTS = (OrderAccepted, OrderRejected, OrderCancelled, OrderModified, OrderRepriced, OrderTriggered)


class StepLock:
    """A simulation's lock (re-entrant, as threading.RLock). Whoever holds it sees the world between two steps.
    When the outermost holder releases it, `on_release` runs first (still holding it): the LiveSim wakes the stream
    clients it queued messages for meanwhile (one wake-up per step for all of them, not one per message) and
    refreshes its cached book snapshots if the simulation changed."""

    __slots__ = ("_lock", "_depth", "_on_release")

    def __init__(self, on_release: Any) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # nesting of the holding thread (only that thread changes it)
        self._on_release = on_release

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking, timeout):
            self._depth += 1
            return True
        return False

    def release(self) -> None:
        if self._depth == 1:
            try:
                self._on_release()
            finally:
                self._depth = 0
                self._lock.release()
        else:
            self._depth -= 1
            self._lock.release()

    def __enter__(self) -> "StepLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


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
        self.lock = StepLock(self._after_hold)
        self._woken: set[StreamClient] = set()  # stream clients handed messages under the lock: woken at release
        self._out: list[tuple[Any, str, Any]] = []  # (clients, message, book) published under the lock, in order
        self._changed = False  # the simulation advanced or took an order under the lock: book caches are stale
        self._version = 0      # bumped after each change; a cached book view is current while its version is
        self._book_cache: dict[tuple[str, str], tuple[int, Any, Any]] = {}  # (venue, symbol) -> (version, snapshot, quote)
        self._hot_books: dict[tuple[str, str], float] = {}  # (venue, symbol) -> when REST last asked for it
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
        # Paced, a step covers PACED_STEP_SECONDS of wall time (25 a second): each stream client gets at most one
        # frame per step, and a delta waits for the end of its step only while the step computes (a paced step runs
        # its events in a burst, then sleeps), not for the step's wall time.
        self._chunk = max(1, int((realtime or 1.0) * NS * PACED_STEP_SECONDS))
        # stream subscribers by key: ("book", venue, symbol), ("trades", symbol|"*"), ("orders", account),
        # ("settlement",), ("blocks",), ("consensus",)
        self.clients: dict[tuple, set[StreamClient]] = {}
        self._book_feeds: dict[tuple[str, str], Any] = {}
        self._settlement_wired = False
        self.busy_cpu = 0.0  # CPU seconds the background thread spent advancing the simulation (its own speed)
        self._consensus_wired = False
        self.explorers: dict[str, Any] = {}  # chain name -> ChainExplorer (market_sim.api.components)
        self.vote_recorder: Any = None       # the committee's votes, when it runs a networked protocol
        with self.lock:
            sim.build()
            for vname in sim.venues:
                sim.bus.subscribe(Trade, self._make_trade_handler(vname), (vname,))
                for tp in _ORDER_EVENTS:
                    sim.bus.subscribe(tp, self._on_order_event, (vname,))
            self._record_votes()

    def _record_votes(self) -> None:
        """From the start, record the votes of a networked committee and stream its votes and certificates."""
        from market_sim.api.components import certificate_json, consensus_source
        from market_sim.consensus.votes import VoteRecorder

        try:
            src = consensus_source(self)
        except NotFound:
            return
        if src.cluster is None:
            return

        def on_vote(rec: Any) -> None:
            targets = self.clients.get(("consensus",))
            if targets:
                fields = {k: _plain(getattr(rec, k)) for k in rec.__slots__}
                fields["vote_kind"] = fields.pop("kind")  # prevote, precommit, vote, certify, ...
                text = _dumps({"type": "consensus", "kind": "vote", "sim": self.id, **fields})
                self._out.append((targets, text, None))

        def on_certified(block: Any) -> None:
            targets = self.clients.get(("consensus",))
            if targets:
                text = _dumps({"type": "consensus", "kind": "certificate", "sim": self.id, "ts": self.sim.now,
                               **certificate_json(src, block)})
                self._out.append((targets, text, None))

        self.vote_recorder = VoteRecorder(src.cluster, listener=on_vote)
        src.cluster.certified_listeners.append(on_certified)
        self._consensus_wired = True

    def _wire_consensus(self) -> None:
        """The consensus channel of a synchronous settlement committee: a certificate per certified batch."""
        if self._consensus_wired:
            return
        from market_sim.api.components import certificate_json, consensus_source
        from market_sim.settlement.lifecycle import BatchStageEvent, Stage

        src = consensus_source(self)  # NotFound: no committee

        def on_stage(ev: Any) -> None:
            targets = self.clients.get(("consensus",))
            if targets and ev.stage is Stage.CERTIFIED and 1 <= ev.sequence <= src.log.height:
                text = _dumps({"type": "consensus", "kind": "certificate", "sim": self.id, "ts": ev.ts,
                               **certificate_json(src, src.log.block(ev.sequence))})
                self._out.append((targets, text, None))

        self.sim.bus.subscribe(BatchStageEvent, on_stage, ("settlement",))
        self._consensus_wired = True

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
                "settlement": sim.state("settlement") is not None, "run_id": self.run_id,
                "components": self.components()}

    def components(self) -> dict[str, Any]:
        """Which component routes have something to show: the committee's protocol, the chains, DeFi pools."""
        from market_sim.api.components import chain_names, consensus_source

        try:
            protocol: str | None = consensus_source(self).protocol
        except NotFound:
            protocol = None
        world = self.sim.state("defi")
        return {"consensus": protocol, "chains": chain_names(self),
                "amm": bool(getattr(world, "venues", None)), "bridge": getattr(world, "relayer", None) is not None}

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

    # ---- after each hold of the lock: wake stream clients, refresh cached books ----------------------------------
    def mark_changed(self) -> None:
        """With the lock held: the simulation's state changed outside `step`/`resume`/trading (cached books go)."""
        self._changed = True

    def _after_hold(self) -> None:
        """The outermost holder is releasing the lock: the step is over."""
        if self._changed:
            self._changed = False
            try:
                self._refresh_books()
            except Exception:  # noqa: BLE001  (a book that cannot be read now is read under the lock next time)
                self._book_cache.clear()
                self._version += 1
        if self._out:
            self._drain()
        if self._woken:
            wake_all(self._woken)

    def _drain(self) -> None:
        """With the lock held: hand the messages published so far to their clients' queues, in publish order, one
        `push_many` per client (woken at the release)."""
        out, self._out = self._out, []
        first = out[0][0]
        if all(entry[0] is first for entry in out):  # the usual step: one stream's messages (one book's deltas)
            items = [(text, book) for _, text, book in out]
            for c in first:
                c.push_many(items, self._woken)
            return
        per: dict[StreamClient, list[tuple[str, Any]]] = {}
        for targets, text, book in out:
            item = (text, book)
            for c in targets:
                got = per.get(c)
                if got is None:
                    per[c] = [item]
                else:
                    got.append(item)
        for c, items in per.items():
            c.push_many(items, self._woken)

    def _refresh_books(self) -> None:
        """Re-snapshot the books REST asked for lately, stamped with the next version, then publish that version."""
        now = time.monotonic()
        version = self._version + 1
        cache = self._book_cache
        for book, asked in list(self._hot_books.items()):
            if now - asked > HOT_BOOK_SECONDS:
                del self._hot_books[book]
                cache.pop(book, None)
                continue
            cache[book] = (version, self.sim.book_snapshot(*book), self.sim.quote(*book))
        self._version = version

    def cached_book(self, symbol: str, venue: str | None = None) -> tuple[str, Any, Any] | None:
        """Without the lock: (venue, snapshot, quote) of the book as of the last completed step, if REST asked for
        it lately (else None: use `book_view`). `snapshot.ts` is when it was taken; the quote carries `last`."""
        vname = self.venue_of(symbol, venue)
        entry = self._book_cache.get((vname, symbol))
        if entry is None or entry[0] != self._version:
            return None
        self._hot_books[(vname, symbol)] = time.monotonic()
        return vname, entry[1], entry[2]

    def book_view(self, symbol: str, venue: str | None = None) -> tuple[str, Any, Any]:
        """Under the lock: (venue, snapshot, quote) of the book now; the book is cached after each step from now on,
        for `cached_book`."""
        with self.lock:
            vname = self.venue_of(symbol, venue)
            book = (vname, symbol)
            snap, quote = self.sim.book_snapshot(vname, symbol), self.sim.quote(vname, symbol)
            self._hot_books[book] = time.monotonic()
            self._book_cache[book] = (self._version, snap, quote)
            return vname, snap, quote

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
        self._changed = True
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
        self._changed = True
        try:
            self.outcome = self.sim.finish()
        except Exception as exc:  # noqa: BLE001
            self.state = "failed"
            self.error = self.error or f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        if self.writer is not None:
            self._store()
        if self._out:
            self._drain()  # the last step's messages are sent before the streams close
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
                c0, t0 = time.perf_counter(), time.thread_time()
                self._advance(min(self.sim.now + self._chunk, self.duration))
                spent = time.perf_counter() - c0
                self.busy_cpu += time.thread_time() - t0
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
        self._changed = True
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
                    self._out.append((targets, _dumps({**trade_json(ev, vname), "sim": self.id}), None))
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
            self._out.append((targets, _dumps({"type": "order", "event": kind, "ts": ts, "sim": self.id,
                                               "order": rec.view(), **extra}), None))

    def _book_handler(self, key: tuple[str, str]) -> Any:
        def on_delta(ev: BookDelta) -> None:
            targets = self.clients.get(("book", *key))
            if targets:
                self._out.append((targets, _dumps({"type": "book_delta", "sim": self.id, "venue": ev.venue,
                                                   "symbol": ev.symbol, "seq": ev.seq, "ts": ev.ts,
                                                   "side": _side(ev.side), "price": ev.price,
                                                   "quantity": ev.quantity}), key))
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
                self._out.append((targets, _dumps(msg), None))

        self.sim.bus.subscribe(TradeStageEvent, on_stage, ("settlement",))
        self.sim.bus.subscribe(BatchStageEvent, on_stage, ("settlement",))
        producer = getattr(run, "producer", None)
        if producer is not None:
            def on_block(ev: Any) -> None:
                block = getattr(ev, "block", None)
                targets = self.clients.get(("blocks",))
                if targets and type(ev).__name__ == "BlockMined" and block is not None:
                    self._out.append((targets, _dumps({"type": "block", "sim": self.id, "ts": ev.ts,
                                                       **block_json(block)}), None))

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
            if self._out:
                self._drain()  # what was published before this subscription is not its to receive
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
            elif key[0] == "consensus":
                self._wire_consensus()
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

