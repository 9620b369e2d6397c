"""The mechanism registry and the `mechanism` venue kind: the matching rule of a venue as a plug-in.

A mechanism is a class registered in MECHANISMS (name -> class) with a `Params` dataclass (its extra [[venues]]
keys) and a constructor `(name, instruments, params, sim)` returning something that implements the Venue protocol
(market_sim.simulation.venues.Venue). `MechanismVenue` is a convenient base (its own order ids, trade ids,
validation and timers). A [[venues]] entry of kind "mechanism" names one:

    [[venues]]
    name = "fba"
    kind = "mechanism"
    mechanism = "batch"
    tau = "100ms"
    speed_bump = "350us"          # optional, on any mechanism: market_sim.mechanisms.speedbump

See docs/mechanisms.md for a worked example of writing one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from market_sim.core.errors import ConfigError
from market_sim.core.events import (
    AuctionIndicative, CancelReason, Event, OrderAccepted, OrderCancelled, OrderModified, OrderRejected,
    RejectReason, TradingStatus,
)
from market_sim.core.instruments import Instrument
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder, OrderType, TimeInForce
from market_sim.core.registry import Registry
from market_sim.market.validation import check_new_order
from market_sim.simulation.params import NoParams, build_params, param
from market_sim.simulation.venues import (
    ORDER_BOOK_EVENTS, OrderBookVenue, Quote, _orderbook_fees, register_venue_type,
)

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.venues import VenueConfig

__all__ = ["MECHANISMS", "register_mechanism", "MechanismVenue", "MECHANISM_EVENTS", "MechanismVenueParams",
           "build_mechanism"]

MECHANISMS: Registry[type] = Registry("mechanism", name_attr="mechanism")

from market_sim.market._construct import constructor  # noqa: E402

# the events and quotes built on every order, without the frozen dataclass __init__ (same instances)
_accepted = constructor(OrderAccepted)
_cancelled = constructor(OrderCancelled)
_quote = constructor(Quote)

# what a mechanism venue publishes besides Trade and BookUpdate (the recorder's order_events table)
MECHANISM_EVENTS: tuple[type[Event], ...] = ORDER_BOOK_EVENTS + (AuctionIndicative, TradingStatus)

_COMMON_KEYS = ("mechanism", "fees", "speed_bump", "speed_bump_exempt", "speed_bump_exempt_cancels")


def register_mechanism(cls: type) -> type:
    """Class decorator: register a mechanism under its `mechanism` attribute."""
    MECHANISMS.register(cls)
    return cls


@dataclass(frozen=True, slots=True)
class MechanismVenueParams:
    """The keys of every [[venues]] entry of kind "mechanism" (each mechanism adds its own)."""

    mechanism: str = param("continuous", help="the matching rule: a registered mechanism (`market-sim agents`)")
    fees: dict = param({}, help="fees of each fill, as for an orderbook venue")
    speed_bump: int = param(0, duration=True, help="delay every incoming command by this much (IEX: 350us); 0: none")
    speed_bump_exempt: list[str] = param([], help="traders whose commands skip the speed bump")
    speed_bump_exempt_cancels: bool = param(False, help="cancels skip the speed bump (IEX: no, they are delayed)")


class MechanismVenue:
    """Base of mechanism venues that keep their own books: the Venue protocol with validation, ids and timers.

    Subclasses implement `on_new(cmd, ts, events)`, `on_cancel`, `on_modify` (or leave modify unsupported),
    `quote`, `depth`, and may use `self.at(t, fn)` to run `fn()` at simulated time t, whose returned events are
    published as the venue's (a batch clearing, an auction uncross)."""

    kind = "mechanism"
    mechanism = ""
    Params: type = NoParams
    event_types = MECHANISM_EVENTS

    def __init__(self, name: str, instruments: Iterable[Instrument], params: Any = None,
                 sim: "Simulation | None" = None) -> None:
        self.name = name
        self.instruments = {i.symbol: i for i in instruments}
        self.symbols = tuple(self.instruments)
        self.params = params if params is not None else self.Params()
        self.sim = sim
        self.fees: dict = {}
        self.last_price: dict[str, int | None] = {s: None for s in self.symbols}
        self._trade_id = 0
        self._owner: dict[int, tuple[str, str]] = {}  # live order id -> (trader, symbol)

    # ----- plumbing
    def next_trade_id(self) -> int:
        self._trade_id += 1
        return self._trade_id

    def at(self, t: int, fn) -> None:
        """Run fn() at simulated time t and publish the events it returns (needs a simulation)."""
        if self.sim is None:
            raise ConfigError("this venue needs a simulation for its timers", key="venue", value=self.name)
        sim = self.sim

        def fire() -> None:
            events = fn(sim.kernel.now)
            if events:
                sim.publish(self, None, events)

        sim.kernel.schedule_at(t, fire)

    def check(self, cmd: NewOrder, ts: int) -> tuple[RejectReason, str] | None:
        """Field checks (the continuous engine's), with OPG/CLS allowed and stops/icebergs/post-only refused."""
        if cmd.symbol not in self.instruments:
            return RejectReason.UNKNOWN_INSTRUMENT, f"{cmd.symbol!r} is not listed on {self.name}"
        if cmd.order_id in self._owner:
            return RejectReason.DUPLICATE_ORDER_ID, f"order id {cmd.order_id} is live on {self.name}"
        probe = replace(cmd, tif=TimeInForce.DAY) if cmd.tif in (TimeInForce.OPG, TimeInForce.CLS) else cmd
        problem = check_new_order(probe, ts, self.last_price.get(cmd.symbol))
        if problem is not None:
            return problem
        if cmd.order_type not in (OrderType.LIMIT, OrderType.MARKET):
            return RejectReason.INVALID_ORDER, f"{self.mechanism} venues take limit and market orders, not {cmd.order_type}"
        if cmd.display_quantity is not None or cmd.hidden or cmd.post_only is not None:
            return RejectReason.INVALID_ORDER, f"{self.mechanism} venues take no iceberg, hidden or post-only orders"
        return None

    def handle(self, command: Any, ts: int) -> list[Event]:
        events: list[Event] = []
        tp = type(command)
        if tp is NewOrder:
            problem = self.check(command, ts)
            if problem is not None:
                events.append(OrderRejected(ts, command.order_id, command.trader, command.symbol, *problem))
            else:
                self.on_new(command, ts, events)
        elif tp is CancelOrder:
            owner = self._owner.get(command.order_id)
            if owner is None or owner[0] != command.trader:
                reason = RejectReason.UNKNOWN_ORDER if owner is None else RejectReason.NOT_OWNER
                events.append(OrderRejected(ts, command.order_id, command.trader, owner[1] if owner else "",
                                            reason, f"cannot cancel order {command.order_id}"))
            else:
                self.on_cancel(command, owner[1], ts, events)
        elif tp is ModifyOrder:
            owner = self._owner.get(command.order_id)
            if owner is None or owner[0] != command.trader:
                reason = RejectReason.UNKNOWN_ORDER if owner is None else RejectReason.NOT_OWNER
                events.append(OrderRejected(ts, command.order_id, command.trader, owner[1] if owner else "",
                                            reason, f"cannot modify order {command.order_id}"))
            else:
                self.on_modify(command, owner[1], ts, events)
        else:
            raise ConfigError("not an order command", key="command", value=command)
        return events

    def accept(self, cmd: NewOrder, ts: int, events: list[Event]) -> None:
        self._owner[cmd.order_id] = (cmd.trader, cmd.symbol)
        events.append(_accepted(ts, cmd))

    def done(self, order_id: int) -> None:
        self._owner.pop(order_id, None)

    def on_new(self, cmd: NewOrder, ts: int, events: list[Event]) -> None:
        raise NotImplementedError

    def on_cancel(self, cmd: CancelOrder, symbol: str, ts: int, events: list[Event]) -> None:
        raise NotImplementedError

    def on_modify(self, cmd: ModifyOrder, symbol: str, ts: int, events: list[Event]) -> None:
        events.append(OrderRejected(ts, cmd.order_id, cmd.trader, symbol, RejectReason.INVALID_ORDER,
                                    f"{self.mechanism} venues do not modify orders: cancel and re-enter"))

    def quote(self, symbol: str, ts: int) -> Quote:
        bids, asks = self.depth(symbol, 1)
        bid, ask = (bids[0] if bids else (None, 0)), (asks[0] if asks else (None, 0))
        return _quote(ts, self.name, symbol, bid[0], bid[1], ask[0], ask[1], self.last_price[symbol])

    def depth(self, symbol: str, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return [], []

    def end_session(self, ts: int) -> list[Event]:
        return []

    def expire(self, ts: int) -> list[Event]:
        return []

    @staticmethod
    def cancelled(ts: int, cmd: NewOrder, qty: int, reason: CancelReason) -> OrderCancelled:
        return _cancelled(ts, cmd.order_id, cmd.trader, cmd.symbol, qty, reason)

    @staticmethod
    def modified(ts: int, cmd: NewOrder, qty: int, price: int | None, kept: bool) -> OrderModified:
        return OrderModified(ts, cmd.order_id, cmd.trader, cmd.symbol, qty, price, kept)


@register_mechanism
class Continuous:
    """continuous limit order book in price-time priority (the matching engine; what kind "orderbook" builds)"""

    mechanism = "continuous"
    Params = NoParams

    def __new__(cls, name: str, instruments: Iterable[Instrument], params: Any = None, sim: Any = None,
                fees: Any = None) -> Any:  # type: ignore[misc]
        return OrderBookVenue(name, instruments, sim.trade_validator if sim is not None else None, fees)


def _split(params: dict[str, Any], where: str) -> tuple[MechanismVenueParams, type, dict[str, Any]]:
    common = build_params(MechanismVenueParams, {k: v for k, v in params.items() if k in _COMMON_KEYS}, where)
    cls = MECHANISMS.get(common.mechanism, f"{where}.mechanism")
    own = {k: v for k, v in params.items() if k not in _COMMON_KEYS}
    return common, cls, own


def _check(params: dict[str, Any], where: str) -> dict[str, Any]:
    common, cls, own = _split(params, where)
    build_params(cls.Params, own, where)
    from market_sim.core.fees import FeeSchedule

    FeeSchedule.parse(common.fees, f"{where}.fees", unit="lot", scale=10 ** 18)
    return params


def build_mechanism(sim: "Simulation | None", name: str, instruments: list[Instrument], params: dict[str, Any],
                    where: str = "venue") -> Any:
    """Build a venue of a registered mechanism (wrapped in a speed bump when asked)."""
    common, cls, own = _split(params, where)
    p = build_params(cls.Params, own, where)
    fees = _orderbook_fees({"fees": common.fees}, where, instruments) if common.fees else {}
    if cls is Continuous:
        venue = Continuous(name, instruments, p, sim, fees)
    else:
        venue = cls(name, instruments, p, sim)
        venue.fees = fees
    if common.speed_bump:
        from market_sim.mechanisms.speedbump import SpeedBump

        venue = SpeedBump(venue, sim, common.speed_bump, common.speed_bump_exempt, common.speed_bump_exempt_cancels)
    return venue


def _factory(sim: "Simulation", cfg: "VenueConfig") -> Any:
    return build_mechanism(sim, cfg.name, [sim.instruments[s] for s in cfg.symbols], cfg.params,
                           f"venues.{cfg.name}")


register_venue_type("mechanism", _factory, _check, params=MechanismVenueParams,
                    description="a venue whose matching rule is a registered mechanism (continuous, call-auction, "
                                "batch, pro-rata; optional speed bump): docs/mechanisms.md")
