"""The learning agents: the quoter a gymnasium environment drives, a feature recorder, and the supervised
direction taker. All use only the Agent API (L2 book and trade subscriptions, submit / cancel, the account).

    env_quoter        quotes one bid and one ask at the offsets and sizes it is told (`set_quotes`), within a hard
                      inventory limit; the gymnasium environment (ml/env.py) calls it at every step
    feature_recorder  samples the features (ml/features.py) and the mid every `interval` into `rows`
    direction_taker   every `interval`: p(up) of a logistic model on the standardised features; holds +quantity
                      while p > 0.5 + edge, −quantity while p < 0.5 − edge, flat otherwise (market IOC orders)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError
from market_sim.core.events import Event, OrderAccepted, Trade
from market_sim.core.orders import OrderType, Side, TimeInForce
from market_sim.simulation.agents.base import Agent, register_agent_type
from market_sim.simulation.params import param
from market_sim.strategies.ml.features import FEATURE_NAMES, FeatureTracker, others_levels

__all__ = ["FeatureAgent", "EnvQuoter", "FeatureRecorder", "DirectionTaker"]


@dataclass(frozen=True, slots=True)
class FeatureParams:
    levels: int = param(3, min=1, help="price levels in the depth imbalance")
    k: int = param(10, min=1, help="samples in the ret_k feature")
    vol_alpha: float = param(0.1, min=0.0, max=1.0, help="smoothing of the EW volatility feature")


class FeatureAgent(Agent):
    """Keeps the L2 copy and trade flow of its first symbol and samples features from the others' book."""

    Params = FeatureParams

    def on_start(self) -> None:
        p = self.params
        self.symbol = self.symbols[0]
        self.tracker = FeatureTracker(p.levels, p.k, p.vol_alpha)
        self.accepted: set[int] = set()
        self.subscribe_book(self.symbol)
        self.subscribe_trades(self.symbol)

    def on_trade(self, trade: Trade) -> None:
        self.tracker.on_trade(trade)

    def on_order_event(self, event: Event) -> None:
        if isinstance(event, OrderAccepted):
            self.accepted.add(event.order.order_id)

    def others_book(self) -> tuple[dict[int, int], dict[int, int]]:
        """Bid and ask levels {price: lots} of the agent's L2 copy without its own accepted resting orders."""
        book = self.books.get(self.symbol)
        if book is None:
            return {}, {}
        self.accepted &= self.open_orders.keys()
        mine_b = [(o.price, o.remaining) for i in self.accepted if (o := self.open_orders[i]).side is Side.BUY]
        mine_a = [(o.price, o.remaining) for i in self.accepted if (o := self.open_orders[i]).side is Side.SELL]
        return others_levels(book.bids, mine_b), others_levels(book.asks, mine_a)

    def sample(self) -> tuple[float, ...] | None:
        bids, asks = self.others_book()
        return self.tracker.sample(bids, asks)


@dataclass(frozen=True, slots=True)
class EnvQuoterParams(FeatureParams):
    max_inventory: int = param(50, min=0, help="|position| never exceeds this many lots")


@register_agent_type
class EnvQuoter(FeatureAgent):
    """Quotes what it is told by set_quotes() (the gymnasium environment's action); passive between calls."""

    kind = "env_quoter"
    Params = EnvQuoterParams

    def on_start(self) -> None:
        super().on_start()
        self.quotes: dict[Side, int | None] = {Side.BUY: None, Side.SELL: None}

    def set_quotes(self, bid_offset: float, ask_offset: float, bid_size: int, ask_size: int) -> None:
        """Bid at floor(mid − bid_offset), ask at ceil(mid + ask_offset) (never crossing the others' book), of the
        given sizes in lots (0: no quote on that side). An unchanged quote keeps its place in the queue."""
        bids, asks = self.others_book()
        if not bids or not asks:
            self.cancel_all()
            self.quotes = {Side.BUY: None, Side.SELL: None}
            return
        bb, ba = max(bids), min(asks)
        mid = (bb + ba) / 2
        bid = min(math.floor(mid - bid_offset), ba - 1)
        ask = max(math.ceil(mid + ask_offset), bb + 1)
        pos = self.position(self.symbol)
        self._place(Side.BUY, bid, bid_size, pos)
        self._place(Side.SELL, ask, ask_size, pos)

    def _place(self, side: Side, price: int, size: int, pos: int) -> None:
        oid = self.quotes[side]
        o = self.open_orders.get(oid) if oid is not None else None
        if o is not None and o.price == price and o.remaining == size:
            return
        if o is not None:
            self.cancel(oid)
        self.quotes[side] = None
        if size <= 0 or price < 1:
            return
        exposure = sum(x.remaining for i, x in self.open_orders.items() if x.side is side)
        room = self.params.max_inventory - (pos if side is Side.BUY else -pos) - exposure
        size = min(size, room)
        if size > 0:
            self.quotes[side] = self.submit(self.symbol, side, size, price)


@dataclass(frozen=True, slots=True)
class RecorderParams(FeatureParams):
    interval: int = param(NS_PER_SECOND, duration=True, min=1, help="time between samples")


@register_agent_type
class FeatureRecorder(FeatureAgent):
    """Samples (ts, mid, features) every `interval` into `rows`; never trades."""

    kind = "feature_recorder"
    Params = RecorderParams

    def on_start(self) -> None:
        super().on_start()
        self.rows: list[tuple[int, float, tuple[float, ...]]] = []
        self.wake_up_in(self.params.interval)

    def on_wakeup(self) -> None:
        f = self.sample()
        if f is not None:
            self.rows.append((self.now, self.tracker.mid, f))
        self.wake_up_in(self.params.interval)


@dataclass(frozen=True, slots=True)
class DirectionTakerParams(FeatureParams):
    interval: int = param(NS_PER_SECOND, duration=True, min=1, help="time between decisions (= feature samples)")
    weights: tuple[float, ...] = param((), help="logistic model: bias, then one weight per standardised feature")
    means: tuple[float, ...] = param((), help="feature means for standardisation (one per feature)")
    scales: tuple[float, ...] = param((), help="feature standard deviations for standardisation")
    edge: float = param(0.1, min=0.0, max=0.5, help="trade only when |p(up) − 0.5| exceeds this")
    quantity: int = param(5, min=1, help="lots held while the model is confident")
    max_position: int = param(20, min=1, help="|position| never targeted beyond this")
    mode: str = param("maker", choices=("maker", "taker"),
                      help="maker: rest a limit order at the others' touch on the wanted side (re-placed each "
                           "interval); taker: market IOC")


@register_agent_type
class DirectionTaker(FeatureAgent):
    """Trades the sign of a logistic price-direction model on the book features (see supervised.py)."""

    kind = "direction_taker"
    Params = DirectionTakerParams

    def on_start(self) -> None:
        p = self.params
        n = len(FEATURE_NAMES)
        if len(p.weights) != n + 1 or len(p.means) != n or len(p.scales) != n:
            raise ConfigError(f"needs {n + 1} weights and {n} means and scales (features: {', '.join(FEATURE_NAMES)})",
                              key=f"{self.id}.weights", value=len(p.weights))
        super().on_start()
        self.probabilities: list[float] = []
        self.wake_up_in(p.interval)

    def probability(self, features: tuple[float, ...]) -> float:
        p = self.params
        z = p.weights[0] + sum(w * (x - m) / (s or 1.0)
                               for w, x, m, s in zip(p.weights[1:], features, p.means, p.scales))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def on_wakeup(self) -> None:
        p = self.params
        f = self.sample()
        self.wake_up_in(p.interval)
        if f is None:
            return
        prob = self.probability(f)
        self.probabilities.append(prob)
        size = min(p.quantity, p.max_position)
        target = size if prob > 0.5 + p.edge else -size if prob < 0.5 - p.edge else 0
        if p.mode == "taker":
            pending = sum(o.remaining * int(o.side) for o in self.open_orders.values())
            delta = target - self.position(self.symbol) - pending
            if delta:
                self.submit(self.symbol, Side.BUY if delta > 0 else Side.SELL, abs(delta),
                            order_type=OrderType.MARKET, tif=TimeInForce.IOC)
            return
        bids, asks = self.others_book()
        delta = target - self.position(self.symbol)
        side = Side.BUY if delta > 0 else Side.SELL
        price = (max(bids) if delta > 0 else min(asks)) if delta and bids and asks else None
        keep = None
        for oid, o in list(self.open_orders.items()):
            if keep is None and price is not None and o.side is side and o.price == price and o.remaining == abs(delta):
                keep = oid
            else:
                self.cancel(oid)
        if price is not None and keep is None:
            self.submit(self.symbol, side, abs(delta), price)
