"""Market makers: Avellaneda–Stoikov and Guéant–Lehalle–Fernandez-Tapia, with inventory limits, A, k and σ
estimated online from the simulated flow, quotes refreshed on every L2 update.

Units: prices in ticks, time in seconds, inventory q in clips of `quantity` lots. σ (ticks/√s) is the EW variance
rate of the mid sampled every `vol_interval`; A (1/s) and k (1/tick) are fitted every `vol_interval` to the rates of
market orders reaching each depth from the mid (estimators.py); the priors hold until the first fit.

Avellaneda–Stoikov (2008), on a rolling horizon τ = `horizon`:
    reservation r = s − q·γ·σ²·τ,  total spread = γ·σ²·τ + (2/γ)·ln(1 + γ/k),  bid/ask = r ∓ spread/2.
Guéant–Lehalle–Fernandez-Tapia (2013; the closed-form approximation of Guéant 2017):
    δ_bid = (1/γ)ln(1+γ/k) + (2q+1)/2·ω,  δ_ask = (1/γ)ln(1+γ/k) − (2q−1)/2·ω,
    ω = sqrt(σ²γ / (2kA) · (1+γ/k)^(1+k/γ)).
Inventory limit: a side is quoted only while position + every open order on that side (cancels not yet confirmed
included) + the new clip stays within `max_inventory`, so no sequence of fills can take |position| over it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.events import Event, OrderCancelled, OrderRejected, Trade
from market_sim.core.orders import Side
from market_sim.simulation.agents.base import register_agent_type
from market_sim.simulation.params import param
from market_sim.simulation.venues import BookDelta
from market_sim.strategies.hft.base import HftAgent, HftParams
from market_sim.strategies.hft.estimators import ArrivalEstimator, VolatilityEstimator

__all__ = ["QuotingParams", "QuotingAgent", "AvellanedaStoikov", "GueantMM"]


@dataclass(frozen=True, slots=True)
class QuotingParams(HftParams):
    quantity: int = param(5, min=1, help="lots per quote (one clip; inventory q is counted in clips)")
    max_inventory: int = param(50, min=0, help="|position| never exceeds this many lots")
    gamma: float = param(0.1, min=1e-9, help="risk aversion (per tick)")
    sigma_prior: float = param(1.0, min=0.0, help="volatility (ticks/√s) until estimated")
    A_prior: float = param(1.0, min=1e-9, help="arrival rate at the mid (1/s) until estimated")
    k_prior: float = param(0.5, min=1e-9, help="arrival decay per tick of depth until estimated")
    estimate: bool = param(True, help="estimate σ, A and k online (false: keep the priors)")
    vol_interval: int = param(NS_PER_SECOND, duration=True, min=1, help="mid sampling / refit interval")
    half_life: int = param(60 * NS_PER_SECOND, duration=True, min=1, help="forgetting of the arrival counts")
    requote_ticks: int = param(1, min=1, help="replace a quote only when its wanted price moved this far")
    min_half_spread_ticks: float = param(0.5, min=0.0, help="never quote closer to the mid than this")
    min_quote_life: int = param(5_000_000, duration=True, min=0,
                                help="a quote is not replaced sooner than this after it was sent (an order-rate "
                                     "throttle: two makers re-centring on each other's quotes would otherwise "
                                     "chase each other at the speed of their links)")


class QuotingAgent(HftAgent):
    """Two-sided quoting on the first symbol from the L2 book; subclasses give quote_prices(mid, q)."""

    Params = QuotingParams

    def on_start(self) -> None:
        p = self.params
        self.symbol = self.symbols[0]
        self.vol = VolatilityEstimator(p.sigma_prior)
        self.arrivals = ArrivalEstimator(p.A_prior, p.k_prior, half_life=p.half_life)
        self.quotes: dict[Side, int | None] = {Side.BUY: None, Side.SELL: None}
        self.max_abs_position = 0
        self.subscribe_book(self.symbol)
        self.subscribe_trades(self.symbol)
        self.timer(p.vol_interval)

    # ----- estimation -----
    def mid(self) -> float | None:
        """Mid of the others' best prices (the agent's own accepted quotes left out)."""
        bid, ask = self.others_best(self.symbol)
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    def on_timer(self) -> None:
        p = self.params
        if p.estimate:
            m = self.mid()
            if m is not None:
                self.vol.sample(m, self.now)
            self.arrivals.update(self.now)
        self.timer(p.vol_interval)

    @property
    def sigma(self) -> float:
        return self.vol.sigma if self.params.estimate else self.params.sigma_prior

    @property
    def A(self) -> float:
        return self.arrivals.A if self.params.estimate else self.params.A_prior

    @property
    def k(self) -> float:
        return self.arrivals.k if self.params.estimate else self.params.k_prior

    def observe_trade(self, trade: Trade) -> bool:
        if self.params.estimate:
            book = self.books.get(self.symbol)
            if book is not None and book.bids and book.asks:
                self.arrivals.on_trade(trade, max(book.bids), min(book.asks))
        return False

    def observe_book(self, delta: BookDelta | None) -> bool:
        return True

    def observe_fill(self, fill) -> bool:
        self.max_abs_position = max(self.max_abs_position, abs(self.position(self.symbol)))
        return True

    # ----- quoting -----
    def quote_prices(self, mid: float, q: float) -> tuple[float, float]:
        """(bid, ask) as float prices in ticks for mid `mid` and inventory q clips."""
        raise NotImplementedError

    def decide(self) -> None:
        m = self.mid()
        if m is None:
            return
        p = self.params
        pos = self.position(self.symbol)
        bid_f, ask_f = self.quote_prices(m, pos / p.quantity)
        bid_f = min(bid_f, m - p.min_half_spread_ticks)
        ask_f = max(ask_f, m + p.min_half_spread_ticks)
        book = self.books[self.symbol]
        best_bid, best_ask = max(book.bids), min(book.asks)
        bid = min(math.floor(bid_f), best_ask - 1)
        ask = max(math.ceil(ask_f), best_bid + 1)
        self.place(Side.BUY, bid if bid >= 1 else None, pos)
        self.place(Side.SELL, ask, pos)

    def place(self, side: Side, price: int | None, pos: int) -> None:
        """Keep, replace or pull the quote of one side; a new clip only within the inventory limit."""
        p = self.params
        oid = self.quotes[side]
        if oid is not None and oid not in self.open_orders:
            oid = self.quotes[side] = None
        if oid is not None:
            o = self.open_orders[oid]
            if price is not None and abs(price - o.price) < p.requote_ticks:
                return
            if price is not None and self.now - o.submitted_at < p.min_quote_life:
                return   # throttled: replaced once it has lived min_quote_life (pulling is never throttled)
            self.cancel(oid)
            self.quotes[side] = None
        if price is None:
            return
        exposure = self.open_exposure(self.symbol, side)
        room = p.max_inventory - (pos if side is Side.BUY else -pos) - exposure
        if room >= p.quantity:
            self.quotes[side] = self.submit(self.symbol, side, p.quantity, price)

    def observe_order_event(self, event: Event) -> None:
        if isinstance(event, (OrderCancelled, OrderRejected)):
            for side, oid in self.quotes.items():
                if oid == event.order_id:
                    self.quotes[side] = None


@register_agent_type
class AvellanedaStoikov(QuotingAgent):
    """Avellaneda–Stoikov market maker: reservation price skewed by inventory, optimal spread from γ, σ, k; σ, A and
    k estimated online; quotes refreshed on L2 updates; a hard inventory limit."""

    kind = "avellaneda_stoikov"

    @dataclass(frozen=True, slots=True)
    class Params(QuotingParams):
        horizon: int = param(30 * NS_PER_SECOND, duration=True, min=1, help="rolling horizon τ (T − t)")

    def quote_prices(self, mid: float, q: float) -> tuple[float, float]:
        g, s2, k = self.params.gamma, self.sigma ** 2, self.k
        tau = self.params.horizon / NS_PER_SECOND
        r = mid - q * g * s2 * tau
        half = (g * s2 * tau + 2.0 / g * math.log(1.0 + g / k)) / 2
        return r - half, r + half


@register_agent_type
class GueantMM(QuotingAgent):
    """Guéant–Lehalle–Fernandez-Tapia market maker: the closed-form asymptotic quotes (depths grow linearly in
    inventory), σ, A and k estimated online; a hard inventory limit."""

    kind = "gueant_mm"

    def quote_prices(self, mid: float, q: float) -> tuple[float, float]:
        g, s2, k, A = self.params.gamma, self.sigma ** 2, self.k, self.A
        c1 = math.log(1.0 + g / k) / g
        omega = math.sqrt(s2 * g / (2 * k * A) * (1.0 + g / k) ** (1.0 + k / g))
        return mid - (c1 + (2 * q + 1) / 2 * omega), mid + (c1 - (2 * q - 1) / 2 * omega)
