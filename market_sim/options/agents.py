"""Agents of the listed options market (issue 17): a market maker quoting the chain from an SVI volatility surface
and delta-hedging in the underlying, retail flow buying out-of-the-money options, a volatility trader.

Each trades the chains of the underlyings in its `instruments` (the [[agents]] key) on the [options] venue; the
series come from `sim.state("options")`. Pricing is float analytics (market_sim.derivatives); orders are integer
ticks and contracts (lots).

The market maker's PnL attribution (table mm_pnl, one row per re-quote): with its portfolio value
P = cash + sum(option units x model value) + underlying units x S marked on its own surface at the underlying mid S,
the change of P over one interval is split into

    delta   = (sum units_i delta_i + underlying units) dS
    gamma   = 1/2 sum units_i gamma_i dS^2
    vega    = sum units_i vega_i dvol_i       (each series' vol change: the smile moves with moneyness and inventory)
    theta   = sum units_i theta_i dt          (theta per pricing year: calendar decay)
    vanna_volga = sum units_i (vanna_i dS dvol_i + 1/2 volga_i dvol_i^2)   (the smile moves with the spot)
    edge    = sum over the interval's fills of units x (model value at the last step - traded price) - fees
    unexplained = dP - all of the above      (third-order terms; fills inside the interval)

with Greeks taken at the start of the interval and units = those held at its start plus the interval's fills; a
series that expired in the interval moves with its settlement price until its expiry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from market_sim.core.accounts import Fill
from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError, MarketSimError
from market_sim.core.instruments import ExerciseStyle
from market_sim.core.orders import Side, TimeInForce
from market_sim.options.clearing import intrinsic_ticks
from market_sim.derivatives import SviSlice, VolSurface, bsm_greeks_array, bsm_implied_vol
from market_sim.simulation.agents.base import Agent, register_agent_type
from market_sim.simulation.params import param

if TYPE_CHECKING:
    from market_sim.core.instruments import Instrument
    from market_sim.options.section import OptionsMarket

__all__ = ["OptionsMarketMaker", "OptionsMakerParams", "RetailOptionsBuyer", "RetailOptionsParams",
           "VolatilityTrader", "VolTraderParams", "WarrantHolder", "WarrantHolderParams", "WarrantMarketMaker",
           "WarrantMakerParams"]


def _options_market(agent: Agent) -> "OptionsMarket":
    """The simulation's [options] section state, or a ConfigError naming the agent kind that needs it."""
    market = agent._sim.state("options")
    if market is None:
        raise ConfigError("needs an [options] section (plugins = [\"market_sim.options\"])", key="agents",
                          value=agent.kind)
    return market


def _trade_warrants(agent: Agent, market: "OptionsMarket") -> None:
    """Count every warrant among the agent's symbols, traded on the options venue."""
    agent.symbols = tuple(dict.fromkeys(agent.symbols + tuple(market.warrants)))
    agent._venue_of = {**agent._venue_of, **{s: market.config.venue for s in market.warrants}}


class _OptionsAgent(Agent):
    """Shared plumbing: the chain of the agent's underlyings, its option positions, delta hedging."""

    market: "OptionsMarket"
    series: list["Instrument"]

    def on_start(self) -> None:
        market = _options_market(self)
        self.market = market
        self.underlyings = self.symbols
        self.series = [i for u in self.underlyings for i in market.chains.get(u, [])]
        self.venue = market.config.venue
        # the series count among the agent's symbols (positions, the run's PnL tables), traded on the options venue
        self.symbols = self.underlyings + tuple(i.symbol for i in self.series)
        self._venue_of = {**self._venue_of, **{i.symbol: self.venue for i in self.series}}
        self.wake_up_in(self.rng.randrange(max(1, self.params.interval)))

    def live(self, min_tau_ns: int = 0) -> list["Instrument"]:
        """Series still trading (before their cutoff, at least min_tau_ns before expiry)."""
        now, closed = self.now, self.market.closed
        cut = self.market.config.trading_cutoff
        return [i for i in self.series if i.symbol not in closed and i.option.expiry - now > max(cut, min_tau_ns)]

    def units(self, symbol: str) -> int:
        """Signed base units held (option units: contracts x multiplier; underlying: its base units)."""
        pos = self.account.positions.get(symbol)
        return 0 if pos is None else pos.quantity

    def und_units(self, underlying: str) -> float:
        """Underlying held in whole units (float)."""
        return self.units(underlying) / 10 ** self.instrument(underlying).base_decimals

    def hedge(self, underlying: str, delta_units: float, band: float, slippage_ticks: int) -> None:
        """Trade the underlying back to zero delta when |delta| (underlying units) exceeds the band (IOC limit)."""
        if abs(delta_units) <= band:
            return
        und = self.instrument(underlying)
        lots = round(-delta_units * 10 ** und.base_decimals / und.base_units_per_lot)
        if lots == 0:
            return
        q = self.quote(underlying)
        if lots > 0 and q.ask is not None:
            self.submit(underlying, Side.BUY, lots, q.ask + slippage_ticks, tif=TimeInForce.IOC)
        elif lots < 0 and q.bid is not None:
            self.submit(underlying, Side.SELL, -lots, max(1, q.bid - slippage_ticks), tif=TimeInForce.IOC)

    def model(self, insts: list["Instrument"], spot: float, vols: np.ndarray) -> Any:
        """Greeks (price per underlying unit) of the series at `spot`, their vols, now."""
        k = np.array([float(i.option.strike) for i in insts])
        t = np.array([max(self.market.tau(i.symbol), 1e-9) for i in insts])
        call = np.array([i.option.is_call for i in insts])
        return bsm_greeks_array(spot, k, t, self.market.config.rate, vols, 0.0, call)


# ------------------------------------------------------------------------------------------------- market maker
@dataclass(frozen=True, slots=True)
class OptionsMakerParams:
    interval: int = param(2 * NS_PER_SECOND, duration=True, min=1, help="time between re-quotes (and PnL steps)")
    atm_vol: float = param(0.3, min=0.01, help="at-the-money vol of the surface (per [options] year)")
    svi_b: float = param(0.1, min=0.0, help="SVI b (per year): the smile's wings")
    svi_rho: float = param(-0.4, min=-0.99, max=0.99, help="SVI rho: the skew")
    svi_sigma: float = param(0.05, min=1e-4, help="SVI sigma: the smile's curvature width in log-moneyness")
    half_spread_vol: float = param(0.01, min=0.0, help="half spread in vol points (x vega)")
    min_half_spread_ticks: int = param(2, min=1)
    quantity: int = param(5, min=1, help="contracts per quote")
    max_position: int = param(200, min=0, help="per series, contracts: stop quoting the side that would grow it")
    vol_per_vega: float = param(0.0, min=0.0, help="vol shift against the net vega inventory (vol per unit vega)")
    max_vol_shift: float = param(0.05, min=0.0)
    hedge_band: float = param(20.0, min=0.0, help="re-hedge when |portfolio delta| exceeds this (underlying units)")
    hedge_slippage_ticks: int = param(2, min=0)


@register_agent_type
class OptionsMarketMaker(_OptionsAgent):
    """Quotes every live series of its chains around the SVI surface's value (spread in vol points x vega), leans
    its vols against its vega inventory and delta-hedges in the underlying with a band; records its PnL split."""

    kind = "options_market_maker"
    Params = OptionsMakerParams

    def on_start(self) -> None:
        super().on_start()
        self.quotes: dict[tuple[str, Side], tuple[int, int]] = {}
        self.vol_shift = 0.0
        self.last: dict[str, Any] | None = None
        self.edge = 0.0
        self.traded: dict[str, int] = {}
        self.totals = {k: 0.0 for k in ("delta", "gamma", "vega", "theta", "vanna_volga", "edge", "unexplained",
                                        "total")}

    # ----- the surface -----
    def surface(self, underlying: str, spot: float) -> VolSurface:
        p, m = self.params, self.market
        a = p.atm_vol ** 2 - p.svi_b * p.svi_sigma
        slices = []
        for label, ns in next(c.expiries for c in m.config.chains if c.underlying == underlying):
            t = max(m.years(ns - self.now), 1e-6)
            slices.append(SviSlice(t, spot * math.exp(m.config.rate * t), a * t, p.svi_b * t, p.svi_rho, 0.0,
                                   p.svi_sigma))
        slices.sort(key=lambda s: s.t)
        return VolSurface(underlying, slices)

    def vols(self, underlying: str, insts: list["Instrument"], spot: float) -> np.ndarray:
        s = self.surface(underlying, spot)
        k = np.array([float(i.option.strike) for i in insts])
        t = np.array([max(self.market.tau(i.symbol), 1e-6) for i in insts])
        return np.maximum(np.asarray(s.implied_vol(k, t), dtype=np.float64) + self.vol_shift, 0.01)

    # ----- hooks -----
    def on_fill(self, fill: Fill) -> None:
        inst = self._sim.instruments[fill.symbol]
        qd = 10 ** inst.quote_decimals
        scale = 10 ** inst.base_decimals
        units = fill.signed_base / scale                              # whole units (option units: bd = 0)
        price = fill.quote_amount / qd / (fill.base_amount / scale)  # per whole unit
        last = self.last
        if last is not None:
            ref = last["value"].get(fill.symbol) if inst.option is not None else last["spot"].get(fill.symbol)
            if ref is not None:
                self.edge += units * (ref - price)
        self.edge -= (fill.fee / qd) if fill.fee else 0.0
        if inst.option is not None:
            self.traded[fill.symbol] = self.traded.get(fill.symbol, 0) + fill.signed_base

    def on_wakeup(self) -> None:
        p = self.params
        state: dict[str, Any] = {"ts": self.now, "value": {}, "spot": {}, "greeks": {}, "vol": {}, "units": {},
                                 "und": {}}
        books = []
        for und in self.underlyings:
            insts = [i for i in self.series if i.option.underlying == und and i.symbol not in
                     self.market.clearing.expired]
            spot = self.market.underlying_price(und)
            state["spot"][und] = spot
            state["und"][und] = self.und_units(und)
            if not insts:
                continue
            vols = self.vols(und, insts, spot)
            g = self.model(insts, spot, vols)
            for j, inst in enumerate(insts):
                s = inst.symbol
                state["value"][s] = float(g.price[j])
                state["greeks"][s] = (float(g.delta[j]), float(g.gamma[j]), float(g.vega[j]), float(g.theta[j]),
                                      float(g.vanna[j]), float(g.volga[j]))
                state["vol"][s] = float(vols[j])
                state["units"][s] = self.units(s)
            books.append((und, insts, g, vols, spot))
        self.attribute(state)
        for und, insts, g, vols, spot in books:
            self.quote_chain(insts, g, vols)
            delta = sum(state["units"][i.symbol] * state["greeks"][i.symbol][0] for i in insts) + state["und"][und]
            net_vega = sum(state["units"][i.symbol] * state["greeks"][i.symbol][2] for i in insts)
            self.hedge(und, delta, p.hedge_band, p.hedge_slippage_ticks)
            self.vol_shift = max(-p.max_vol_shift, min(p.max_vol_shift, -p.vol_per_vega * net_vega))
            self._sim.record("mm_greeks", {"ts": self.now, "agent": self.id, "underlying": und, "spot": spot,
                                           "net_delta": delta, "net_vega": net_vega, "vol_shift": self.vol_shift})
        self.wake_up_in(p.interval)

    def value(self, state: dict[str, Any]) -> float:
        """Portfolio value P at a state (quote currency, float)."""
        inst0 = next(iter(self.series)) if self.series else None
        qd = 10 ** (inst0.quote_decimals if inst0 is not None else 2)
        cash = self.balance(inst0.quote_asset) / qd if inst0 is not None else 0.0
        return (cash + sum(state["units"][s] * v for s, v in state["value"].items())
                + sum(state["und"][u] * state["spot"][u] for u in state["und"]))

    def attribute(self, now_state: dict[str, Any]) -> None:
        now_state["P"] = self.value(now_state)
        last = self.last
        self.last = now_state
        if last is None:
            self.edge, self.traded = 0.0, {}
            return
        dt = self.market.years(now_state["ts"] - last["ts"])
        parts = dict.fromkeys(("delta", "gamma", "vega", "theta", "vanna_volga"), 0.0)
        for und, s0 in last["spot"].items():
            ds = now_state["spot"][und] - s0
            und_held = now_state["und"][und]
            parts["delta"] += und_held * ds
            for s, (d, gm, vg, th, va, vo) in last["greeks"].items():
                if self._sim.instruments[s].option.underlying != und:
                    continue
                units = last["units"][s] + self.traded.get(s, 0)
                if not units:
                    continue
                dvol = now_state["vol"].get(s, last["vol"][s]) - last["vol"][s]
                ds_s, dt_s = ds, dt
                settled = self.market.settled_at.get(s)
                if settled is not None:  # expired in this interval: it moved with the settlement price, until expiry
                    inst = self._sim.instruments[s]
                    ds_s = settled * float(inst.tick_size) - s0
                    dt_s = self.market.years(inst.option.expiry - last["ts"])
                parts["delta"] += units * d * ds_s
                parts["gamma"] += 0.5 * units * gm * ds_s * ds_s
                parts["vega"] += units * vg * dvol
                parts["theta"] += units * th * dt_s
                parts["vanna_volga"] += units * (va * ds_s * dvol + 0.5 * vo * dvol * dvol)
        total = now_state["P"] - last["P"]
        row = {"ts": now_state["ts"], "agent": self.id, **parts, "edge": self.edge}
        row["unexplained"] = total - sum(parts.values()) - self.edge
        row["total"] = total
        for k in self.totals:
            self.totals[k] += row[k]
        self._sim.record("mm_pnl", row)
        self.edge, self.traded = 0.0, {}

    def quote_chain(self, insts: list["Instrument"], g: Any, vols: np.ndarray) -> None:
        p = self.params
        live = {i.symbol for i in self.live()}
        wanted: dict[tuple[str, Side], int] = {}
        for j, inst in enumerate(insts):
            s = inst.symbol
            if s not in live:
                continue
            tick = float(inst.tick_size)
            theo = float(g.price[j])
            half = max(p.min_half_spread_ticks * tick, p.half_spread_vol * float(g.vega[j]))
            bid = math.floor((theo - half) / tick + 1e-9)
            ask = max(bid + 1, math.ceil((theo + half) / tick - 1e-9))
            pos = self.position(s)
            if bid >= 1 and pos + p.quantity <= p.max_position:
                wanted[(s, Side.BUY)] = bid
            if -pos + p.quantity <= p.max_position:
                wanted[(s, Side.SELL)] = ask
        for key, (oid, price) in list(self.quotes.items()):
            if key not in wanted or wanted[key] != price or oid not in self.open_orders:
                if oid in self.open_orders:
                    self.cancel(oid)
                del self.quotes[key]
        for key, price in wanted.items():
            if key not in self.quotes:
                s, side = key
                self.quotes[key] = (self.submit(s, side, p.quantity, price, venue=self.venue), price)

    def on_stop(self) -> None:
        self._sim.record("mm_pnl_totals", {"agent": self.id, **{k: round(v, 4) for k, v in self.totals.items()}})


# ------------------------------------------------------------------------------------------------- retail flow
@dataclass(frozen=True, slots=True)
class RetailOptionsParams:
    interval: int = param(5 * NS_PER_SECOND, duration=True, min=1, help="mean time between decisions")
    trade_probability: float = param(0.5, min=0.0, max=1.0)
    max_contracts: int = param(3, min=1)
    min_otm: float = param(0.0, min=0.0, help="least out-of-the-moneyness bought (|ln K/S|)")
    max_otm: float = param(0.12, min=0.0, help="most out-of-the-moneyness bought")
    call_share: float = param(0.5, min=0.0, max=1.0, help="share of calls among the options bought")
    min_time_left: int = param(60 * NS_PER_SECOND, duration=True, min=0, help="buy only series with this much left")
    close_probability: float = param(0.1, min=0.0, max=1.0, help="chance per decision of selling a held series")
    exercise_itm_ticks: int = param(0, min=0, help="American series: exercise a holding early once it is this many "
                                                   "ticks in the money (0: never)")


@register_agent_type
class RetailOptionsBuyer(_OptionsAgent):
    """Buys out-of-the-money calls and puts at the offer; now and then sells a holding back at the bid; holds the
    rest to expiry (cash settlement pays the in-the-money ones)."""

    kind = "options_retail"
    Params = RetailOptionsParams

    def on_wakeup(self) -> None:
        p = self.params
        self.wake_up_in(1 + int(self.rng.expovariate(1.0) * p.interval))
        live = self.live(p.min_time_left)
        if not live:
            return
        held = [i for i in live if self.position(i.symbol) > 0]
        if p.exercise_itm_ticks:
            for inst in held:
                if inst.option.style is ExerciseStyle.AMERICAN and intrinsic_ticks(
                        inst, self.market.settle_ticks(inst)) >= p.exercise_itm_ticks:
                    self.market.request_exercise(self.id, inst.symbol, self.position(inst.symbol))
        if held and self.rng.random() < p.close_probability:
            inst = self.rng.choice(held)
            q = self.quote(inst.symbol, self.venue)
            if q.bid is not None:
                self.submit(inst.symbol, Side.SELL, self.position(inst.symbol), q.bid, tif=TimeInForce.IOC,
                            venue=self.venue)
            return
        if self.rng.random() >= p.trade_probability:
            return
        want_call = self.rng.random() < p.call_share
        picks = []
        for inst in live:
            if inst.option.is_call != want_call:
                continue
            spot = self.market.underlying_price(inst.option.underlying)
            m = math.log(float(inst.option.strike) / spot)
            otm = m if want_call else -m
            if p.min_otm <= otm <= p.max_otm:
                picks.append(inst)
        if not picks:
            return
        inst = self.rng.choice(picks)
        q = self.quote(inst.symbol, self.venue)
        if q.ask is not None:
            self.submit(inst.symbol, Side.BUY, self.rng.randint(1, p.max_contracts), q.ask, tif=TimeInForce.IOC,
                        venue=self.venue)


# ------------------------------------------------------------------------------------------------- vol trader
@dataclass(frozen=True, slots=True)
class VolTraderParams:
    interval: int = param(10 * NS_PER_SECOND, duration=True, min=1, help="time between decisions")
    window: int = param(30, min=5, help="underlying samples (one per decision) in the realized-vol estimate")
    threshold: float = param(0.03, min=0.0, help="trade when |implied - realized| exceeds this (vol points)")
    contracts: int = param(2, min=1, help="contracts per leg of a straddle")
    max_position: int = param(20, min=1, help="per series, contracts")
    min_time_left: int = param(120 * NS_PER_SECOND, duration=True, min=0)
    hedge_band: float = param(30.0, min=0.0, help="underlying units")
    hedge_slippage_ticks: int = param(2, min=0)
    hedge_vol: float = param(0.3, min=0.01, help="vol of its hedge deltas (Black-Scholes at the underlying mid)")


@register_agent_type
class VolatilityTrader(_OptionsAgent):
    """Compares the at-the-money implied vol (from the straddle's mid quotes) of the nearest live expiry with the
    realized vol of the underlying's mid: sells the straddle when implied is rich, buys it when cheap; delta-hedges
    its options with a band."""

    kind = "vol_trader"
    Params = VolTraderParams

    def on_start(self) -> None:
        super().on_start()
        self.mids: dict[str, list[float]] = {u: [] for u in self.underlyings}

    def on_wakeup(self) -> None:
        p = self.params
        self.wake_up_in(p.interval)
        for und in self.underlyings:
            spot = self.market.underlying_price(und)
            hist = self.mids[und]
            hist.append(spot)
            del hist[:-p.window - 1]
            live = self.live(p.min_time_left)
            mine = [i for i in self.series if i.option.underlying == und and i.symbol not in self.market.closed]
            if mine:
                vols = np.full(len(mine), p.hedge_vol)
                g = self.model(mine, spot, vols)
                delta = sum(self.units(i.symbol) * float(g.delta[j]) for j, i in enumerate(mine))
                self.hedge(und, delta + self.und_units(und), p.hedge_band, p.hedge_slippage_ticks)
            if len(hist) <= p.window or not live:
                continue
            r = np.diff(np.log(hist))
            rv = float(np.sqrt(np.mean(r * r) / self.market.years(p.interval)))
            expiry = min(i.option.expiry for i in live if i.option.underlying == und)
            legs = [i for i in live if i.option.underlying == und and i.option.expiry == expiry]
            strike = min({i.option.strike for i in legs}, key=lambda k: abs(float(k) - spot))
            call = next((i for i in legs if i.option.strike == strike and i.option.is_call), None)
            put = next((i for i in legs if i.option.strike == strike and not i.option.is_call), None)
            if call is None or put is None:
                continue
            qc, qp = self.quote(call.symbol, self.venue), self.quote(put.symbol, self.venue)
            if None in (qc.bid, qc.ask, qp.bid, qp.ask):
                continue
            mid = (qc.bid + qc.ask) * 0.5 * float(call.tick_size)
            try:
                iv = bsm_implied_vol(mid, spot, float(strike), self.market.tau(call.symbol),
                                     self.market.config.rate, 0.0, True)
            except MarketSimError:  # a mid outside the no-arbitrage range says nothing about the vol
                continue
            self._sim.record("vol_trader_signals", {"ts": self.now, "agent": self.id, "implied": iv,
                                                    "realized": rv})
            if iv - rv > p.threshold:
                for inst, q in ((call, qc), (put, qp)):
                    if -self.position(inst.symbol) + p.contracts <= p.max_position:
                        self.submit(inst.symbol, Side.SELL, p.contracts, q.bid, tif=TimeInForce.IOC,
                                    venue=self.venue)
            elif rv - iv > p.threshold:
                for inst, q in ((call, qc), (put, qp)):
                    if self.position(inst.symbol) + p.contracts <= p.max_position:
                        self.submit(inst.symbol, Side.BUY, p.contracts, q.ask, tif=TimeInForce.IOC,
                                    venue=self.venue)


# ------------------------------------------------------------------------------------------------- warrant holder
@dataclass(frozen=True, slots=True)
class WarrantHolderParams:
    exercise_at: int = param(0, duration=True, min=0, help="when to exercise American warrants early (0: hold to "
                                                           "expiry, where in-the-money holdings exercise themselves)")
    min_itm_ticks: int = param(1, min=1, help="exercise only warrants at least this many ticks in the money")
    fraction: float = param(1.0, min=0.0, max=1.0, help="share of each holding exercised (rounded down)")
    sell_interval: int = param(0, duration=True, min=0, help="mean time between sales of a few warrants at the bid "
                                                             "(0: never sell)")
    sell_quantity: int = param(50, min=1, help="most warrants sold at a time")


@register_agent_type
class WarrantHolder(Agent):
    """Holds warrants placed with it ([[options.warrants]] allot) and exercises its American ones at `exercise_at`
    when in the money (OptionsMarket.request_exercise); the rest exercise automatically at expiry."""

    kind = "warrant_holder"
    Params = WarrantHolderParams

    def on_start(self) -> None:
        market = _options_market(self)
        self.market = market
        _trade_warrants(self, market)
        if self.params.exercise_at:
            self._sim.kernel.schedule_at(self.params.exercise_at, self._exercise)
        if self.params.sell_interval:
            self.wake_up_in(1 + int(self.rng.expovariate(1.0) * self.params.sell_interval))

    def on_wakeup(self) -> None:
        """Sell a few warrants at the bid (IOC), now and then."""
        p = self.params
        self.wake_up_in(1 + int(self.rng.expovariate(1.0) * p.sell_interval))
        held = [s for s in sorted(self.market.warrants) if self.position(s) > 0 and s not in self.market.closed]
        if not held:
            return
        sym = self.rng.choice(held)
        q = self.quote(sym, self.market.config.venue)
        if q.bid is not None:
            n = min(self.position(sym), self.rng.randint(1, p.sell_quantity))
            self.submit(sym, Side.SELL, n, q.bid, tif=TimeInForce.IOC, venue=self.market.config.venue)

    def _exercise(self) -> None:
        p = self.params
        for sym, inst in sorted(self.market.warrants.items()):
            held = self.position(sym)
            n = int(held * p.fraction)
            if (n > 0 and inst.option.style is ExerciseStyle.AMERICAN and sym not in self.market.closed
                    and intrinsic_ticks(inst, self.market.settle_ticks(inst)) >= p.min_itm_ticks):
                self.market.request_exercise(self.id, sym, n)


# ------------------------------------------------------------------------------------------------- warrant maker
@dataclass(frozen=True, slots=True)
class WarrantMakerParams:
    interval: int = param(2 * NS_PER_SECOND, duration=True, min=1, help="time between re-quotes")
    vol: float = param(0.3, min=0.01, help="equity volatility (per [options] year)")
    half_spread_ticks: int = param(5, min=1)
    quantity: int = param(100, min=1, help="warrants per quote")
    max_position: int = param(5000, min=0, help="stop buying beyond this many warrants long (selling: short)")


@register_agent_type
class WarrantMarketMaker(Agent):
    """Quotes every live warrant around its value per share: issuer warrants at the dilution-adjusted price
    k N/(N + M k) C(S, K) / k with S the underlying's mid read as the equity value per share, N the shares outstanding
    now and M the warrants the issuer is still short; covered warrants at the Black–Scholes value. So exercises (N up,
    M down) and the diluted underlying move its quotes."""

    kind = "warrant_market_maker"
    Params = WarrantMakerParams

    def on_start(self) -> None:
        market = _options_market(self)
        self.market = market
        self.venue = market.config.venue
        _trade_warrants(self, market)
        self.wake_up_in(self.rng.randrange(max(1, self.params.interval)))

    def value(self, symbol: str) -> float | None:
        """The warrant's value per underlying share now (None when it cannot be priced)."""
        from market_sim.derivatives import bsm_price, warrant_price

        book, inst = self.market.warrant_book, self.market.warrants[symbol]
        w = book.configs[symbol]
        tau = self.market.years(w.expiry - self.now)
        if tau <= 0:
            return None
        s = self.market.underlying_price(w.underlying)
        k = float(w.strike)
        rate = self.market.config.rate
        try:
            if w.dilutive:
                n = book.supply[w.underlying] / 10 ** self.instrument(w.underlying).base_decimals
                m = max(0, -book.clearing.contracts(w.issuer, symbol))
                return warrant_price(s, k, tau, rate, self.params.vol, n, m, w.ratio) / w.ratio
            return bsm_price(s, k, tau, rate, self.params.vol, 0.0, inst.option.is_call)
        except MarketSimError:
            return None

    def on_wakeup(self) -> None:
        p = self.params
        self.wake_up_in(p.interval)
        self.cancel_all()
        for sym, inst in sorted(self.market.warrants.items()):
            if sym in self.market.closed:
                continue
            v = self.value(sym)
            if v is None:
                continue
            mid = round(v / float(inst.tick_size))
            pos = self.position(sym)
            if pos < p.max_position and mid - p.half_spread_ticks >= 1:
                self.submit(sym, Side.BUY, p.quantity, mid - p.half_spread_ticks, venue=self.venue)
            if -pos < p.max_position:
                self.submit(sym, Side.SELL, p.quantity, mid + p.half_spread_ticks, venue=self.venue)
