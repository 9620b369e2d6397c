"""HftAgent: the frame of the high-frequency strategies, with a latency budget simulated and reported.

The path of one reaction, each leg measured in simulated time:
    market data in   venue timestamp of a quote / L2 delta / trade -> its arrival at the agent (the venue->agent
                     latency of the scenario)
    decision         `decision_latency`: the agent is busy this long before its orders leave. Market data arriving
                     meanwhile is applied to the agent's state and conflated into the one pending decision, as real
                     systems do; with 0 the decision runs inside the callback.
    order out        the order's submission -> its OrderAccepted at the venue (the agent->venue latency)
    tick-to-trade    the venue timestamp of the market data that triggered a decision -> the venue accepting the
                     order it sent; decisions over `latency_budget` are counted as breaches.
`latency_report()` gives p50 / p99 (µs) of each leg and the breach count. Separately, the real Python time of every
callback (state update + decision) is measured with perf_counter_ns (`decision_times_ns`): what the strategy code
itself costs, reported by `market-sim bench strategies`; `decide_ns` times each decide() call alone.

Subclasses implement `observe_*` (cheap state updates per event) and `decide()` (quote / trade on the current
state); `timer(ns)` asks for `on_timer()` later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from market_sim.core.events import Event, OrderAccepted, Trade
from market_sim.core.orders import Side
from market_sim.simulation.agents.base import Agent, Fill
from market_sim.simulation.params import param
from market_sim.simulation.venues import BookDelta, BookSnapshot, Quote
from market_sim.strategies.common import percentile

__all__ = ["HftParams", "HftAgent", "latency_report"]

_MAX_SAMPLES = 200_000


@dataclass(frozen=True, slots=True)
class HftParams:
    decision_latency: int = param(0, duration=True, min=0,
                                  help="simulated decision time: orders leave this long after the triggering data")
    latency_budget: int = param(0, duration=True, min=0,
                                help="tick-to-trade budget; decisions over it are counted as breaches (0 = none)")


class HftAgent(Agent):
    """Base class of the HFT strategies: timed callbacks, conflated decisions, the latency budget."""

    Params = HftParams

    def __init__(self, agent_id: str, params: Any = None) -> None:
        super().__init__(agent_id, params)
        self.decision_times_ns: list[int] = []   # real Python time per market-data callback (incl. inline decide)
        self.decide_ns: list[int] = []           # real Python time of each decide() call
        self.md_in_ns: list[int] = []
        self.order_out_ns: list[int] = []
        self.tick_to_trade_ns: list[int] = []
        self.decisions = 0
        self.breaches = 0
        self._trigger_ts: int | None = None      # venue time of the oldest data the pending decision reacts to
        self._decide_at: int | None = None
        self._timers: list[int] = []
        self._order_trigger: dict[int, int] = {}  # order id -> venue time of the data that caused it
        self.accepted: set[int] = set()           # own orders the venue accepted (so shown in its book)

    # ----- hooks for subclasses -----
    def observe_quote(self, quote: Quote) -> bool:
        """Update state from a top-of-book change; return True to (re)decide."""
        return False

    def observe_book(self, delta: BookDelta | None) -> bool:
        """Update state from an L2 change (self.books already applied it; None: the snapshot); True to decide."""
        return False

    def observe_trade(self, trade: Trade) -> bool:
        return False

    def observe_fill(self, fill: Fill) -> bool:
        return False

    def decide(self) -> None:
        """Quote or trade on the current state."""

    def on_timer(self) -> None:
        """A time asked for with timer()."""

    def timer(self, delay: int) -> None:
        self._timers.append(self.now + max(1, delay))
        self.wake_up_in(max(1, delay))

    # ----- market data in -----
    def _arrived(self, ts: int, wants_decision: bool, t0: int) -> None:
        now = self.now
        if len(self.md_in_ns) < _MAX_SAMPLES:
            self.md_in_ns.append(now - ts)
        if wants_decision:
            if self._trigger_ts is None:
                self._trigger_ts = ts
            d = self.params.decision_latency
            if d == 0:
                self._run_decision()
            elif self._decide_at is None:
                self._decide_at = now + d
                self.wake_up_in(d)
        if len(self.decision_times_ns) < _MAX_SAMPLES:
            self.decision_times_ns.append(time.perf_counter_ns() - t0)

    def on_market_data(self, quote: Quote) -> None:
        t0 = time.perf_counter_ns()
        self._arrived(quote.ts, self.observe_quote(quote), t0)

    def on_book_snapshot(self, snapshot: BookSnapshot) -> None:
        t0 = time.perf_counter_ns()
        self._arrived(snapshot.ts, self.observe_book(None), t0)

    def on_book_delta(self, delta: BookDelta) -> None:
        t0 = time.perf_counter_ns()
        self._arrived(delta.ts, self.observe_book(delta), t0)

    def on_trade(self, trade: Trade) -> None:
        t0 = time.perf_counter_ns()
        self._arrived(trade.ts, self.observe_trade(trade), t0)

    def on_fill(self, fill: Fill) -> None:
        if self.observe_fill(fill):
            if self._trigger_ts is None:
                self._trigger_ts = fill.ts
            if self.params.decision_latency == 0:
                self._run_decision()
            elif self._decide_at is None:
                self._decide_at = self.now + self.params.decision_latency
                self.wake_up_in(self.params.decision_latency)

    # ----- decision -----
    def _run_decision(self) -> None:
        trigger = self._trigger_ts
        self._trigger_ts = None
        self._decide_at = None
        before = set(self.open_orders)
        self.decisions += 1
        t0 = time.perf_counter_ns()
        self.decide()
        if len(self.decide_ns) < _MAX_SAMPLES:
            self.decide_ns.append(time.perf_counter_ns() - t0)
        if trigger is not None:
            for oid in self.open_orders.keys() - before:
                self._order_trigger[oid] = trigger

    def on_wakeup(self) -> None:
        now = self.now
        if self._decide_at is not None and now >= self._decide_at:
            self._run_decision()
        if self._timers and min(self._timers) <= now:
            self._timers = [t for t in self._timers if t > now]
            self.on_timer()

    # ----- order out -----
    def on_order_event(self, event: Event) -> None:
        if isinstance(event, OrderAccepted):
            oid = event.order.order_id
            self.accepted.add(oid)
            o = self.open_orders.get(oid)
            if o is not None and len(self.order_out_ns) < _MAX_SAMPLES:
                self.order_out_ns.append(event.ts - o.submitted_at)
            trigger = self._order_trigger.pop(oid, None)
            if trigger is not None:
                t2t = event.ts - trigger
                if len(self.tick_to_trade_ns) < _MAX_SAMPLES:
                    self.tick_to_trade_ns.append(t2t)
                if self.params.latency_budget and t2t > self.params.latency_budget:
                    self.breaches += 1
        self.observe_order_event(event)

    def observe_order_event(self, event: Event) -> None:
        """Accepts, cancels, rejects of the agent's orders (after the latency bookkeeping)."""

    # ----- helpers -----
    def open_exposure(self, symbol: str, side: Side) -> int:
        """Lots of the agent's open orders on one side (including those it asked to cancel)."""
        return sum(o.remaining for o in self.open_orders.values() if o.symbol == symbol and o.side is side)

    def others_best(self, symbol: str) -> tuple[int | None, int | None]:
        """Best bid and ask of the L2 copy without the agent's own accepted orders (quoting around a mid that
        includes its own quotes would chase them)."""
        book = self.books.get(symbol)
        if book is None:
            return None, None
        mine: dict[tuple[Side, int], int] = {}
        for oid in [i for i in self.accepted if i not in self.open_orders]:
            self.accepted.discard(oid)
        for oid in self.accepted:
            o = self.open_orders[oid]
            if o.symbol == symbol and o.price is not None:
                mine[(o.side, o.price)] = mine.get((o.side, o.price), 0) + o.remaining
        bid = next((p for p in sorted(book.bids, reverse=True) if book.bids[p] > mine.get((Side.BUY, p), 0)), None)
        ask = next((p for p in sorted(book.asks) if book.asks[p] > mine.get((Side.SELL, p), 0)), None)
        return bid, ask

    def latency_report(self) -> dict[str, Any]:
        """p50 / p99 in µs of each simulated leg, the budget breaches, and the real decision time."""
        def stats(xs: list[int]) -> dict[str, float | int]:
            s = sorted(xs)
            return {"n": len(s), "p50_us": round(percentile(s, 0.5) / 1e3, 3) if s else None,
                    "p99_us": round(percentile(s, 0.99) / 1e3, 3) if s else None}
        return {"agent": self.id, "market_data_in": stats(self.md_in_ns),
                "decision_simulated_us": self.params.decision_latency / 1e3,
                "order_out": stats(self.order_out_ns), "tick_to_trade": stats(self.tick_to_trade_ns),
                "budget_us": self.params.latency_budget / 1e3 or None, "budget_breaches": self.breaches,
                "decisions": self.decisions, "python_callback": stats(self.decision_times_ns),
                "python_decide": stats(self.decide_ns)}


def latency_report(agents: list[Agent]) -> list[dict[str, Any]]:
    """The latency reports of every HftAgent among `agents` (e.g. `sim.agents` after a run)."""
    return [a.latency_report() for a in agents if isinstance(a, HftAgent)]
