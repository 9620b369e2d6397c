"""The [options] scenario section: option chains listed on an order book, expiry, exercise and assignment.

    plugins = ["market_sim.options"]
    [options]
    venue = "options"              # the order-book venue listing every series (created by the section)
    year = "1h"                    # one pricing year on the simulation clock (vols and rates are per this)
    rate = 0.0                     # continuously compounded, per `year`
    trading_cutoff = "5s"          # trading in a series stops this long before its expiry
    settlement_price = "mid"       # the underlying's mid at expiry, or "fundamental" (its process value)
    [options.chains.XYZ]           # one chain per underlying instrument
    expiries = ["20min", "40min"]  # simulated times of expiry
    strikes = [46, 48, 50, 52, 54] # or strike_range = { low = 44, high = 56, step = 1 }
    rights = ["call", "put"]
    multiplier = 10                # underlying units per contract (the option's lot)
    style = "european"             # or "american": holders may exercise early (OptionsMarket.request_exercise)
    settlement = "cash"            # or "physical"
    tick_size = "0.01"             # premium tick (per underlying unit); strikes must lie on it
    [[options.warrants]]           # issuer warrants (new shares on exercise) and covered warrants: warrants.py
    underlying = "XYZ"
    kind = "issuer"
    issuer = "xyz-corp"
    strike = 45
    expiry = "20min"
    shares_outstanding = 100000
    allot = { "holders" = 20000 }

Series symbols are `UND-EXPIRY-C|PSTRIKE`, e.g. `XYZ-20min-C50`. Agents trade them on `venue`; they find the chain
with `sim.state("options")` (an OptionsMarket). Tables: option_trades, option_settlements, option_exercises_refused,
implied_smile (and mm_pnl from the options market maker); options.png (the implied smile) and options_pnl.png (the
market maker's PnL attribution) when there were trades.

Margin: when the scenario also loads market_sim.risk with [risk.margin], option positions are margined there. With
`options = true` (or a table) in [risk.margin] by the CBOE / Reg T rule (market_sim.risk.margin: premium + max(20 %
of the underlying - the out-of-the-money amount, 10 %), covered and spread positions, longs paid in full), enforced
when a writer sells and by margin calls and liquidation; without it like any position, at the Reg T rates on the
premium. The clearing house publishes its fills on ("clearing", account), so the risk ledger follows expiries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from market_sim.core.errors import ConfigError, MarketSimError
from market_sim.core.events import OrderRejected, RejectReason, Trade
from market_sim.core.instruments import ExerciseStyle, Instrument, OptionRight, OptionTerms, SettlementType
from market_sim.core.orders import CancelOrder, NewOrder
from market_sim.options.clearing import ExerciseError, OptionsClearing, Settlement
from market_sim.options.warrants import WarrantBook, WarrantConfig, parse_warrants, warrant_instrument
from market_sim.simulation.agents.base import mid_ticks
from market_sim.simulation.latency import parse_duration
from market_sim.simulation.metrics import SectionResult, figure
from market_sim.simulation.scenario import (
    ParseContext, Section, duration_text, positive_decimal, register_section,
)
from market_sim.simulation.venues import VenueConfig, build_venue

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = ["OptionsSection", "OptionsConfig", "ChainConfig", "OptionsMarket", "OptionsResult", "parse_options",
           "series_symbol"]

_TOP = {"venue", "year", "rate", "trading_cutoff", "settlement_price", "chains", "warrants"}
_CHAIN = {"expiries", "strikes", "strike_range", "rights", "multiplier", "style", "settlement", "tick_size"}


@dataclass(frozen=True, slots=True)
class ChainConfig:
    underlying: str
    expiries: tuple[tuple[str, int], ...]  # (label, ns)
    strikes: tuple[Decimal, ...]
    rights: tuple[OptionRight, ...]
    multiplier: int
    style: ExerciseStyle
    settlement: SettlementType
    tick_size: Decimal


@dataclass(frozen=True, slots=True)
class OptionsConfig:
    chains: tuple[ChainConfig, ...]
    venue: str = "options"
    year: int = 3600 * 10 ** 9
    rate: float = 0.0
    trading_cutoff: int = 5 * 10 ** 9
    settlement_price: str = "mid"
    warrants: tuple[WarrantConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class OptionsResult(SectionResult):
    """Listed options: what traded, how it settled, the smile the trades imply, the market maker's PnL split."""

    section = "options"

    series: int = figure("option series listed", headline=True, default=0)
    option_trades: int = figure("option trades", headline=True, default=0)
    contracts_traded: int = figure("contracts traded", headline=True, default=0)
    exercised_contracts: int = figure("contracts exercised / assigned", headline=True, default=0)
    expired_worthless: int = figure("contracts expired worthless", default=0)
    open_after_expiry: int = figure("contracts open after their expiry", headline=True, default=0)
    settlement_cash: float = figure("cash paid to exercising holders (cash settlement)", default=0.0)
    smile_points: int = figure("implied-vol smile points (expiry x log-moneyness bucket)", default=0)
    smile_rmse_vs_maker: float | None = figure("smile RMSE vs the maker's surface (vol)", default=None)
    smile: dict[str, dict[str, float]] | None = figure("traded implied vol by expiry and log-moneyness",
                                                       default=None)
    mm_pnl: dict[str, float] | None = figure("market maker PnL attribution", headline=True, default=None)
    mm_unexplained_share: float | None = figure("unexplained share of the maker's PnL moves", default=None)
    warrants_issued: int | None = figure("warrants issued", default=None)
    warrants_exercised: int | None = figure("warrants exercised", default=None)
    shares_minted: dict[str, int] | None = figure("new shares minted by warrant exercise (base units)",
                                                  headline=True, default=None)
    share_supply: dict[str, int] | None = figure("shares outstanding at the end (base units)", default=None)
    fundamental_dilution: dict[str, float] | None = figure("fundamental's dilution factor (product over exercises)",
                                                          default=None)


def series_symbol(underlying: str, label: str, right: OptionRight, strike: Decimal) -> str:
    k = strike.normalize()
    text = f"{k:f}"
    return f"{underlying}-{label}-{'C' if right is OptionRight.CALL else 'P'}{text}"


def _table(v: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise ConfigError("must be a table", key=key, value=v)
    return v


def _unknown(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    bad = sorted(set(raw) - allowed)
    if bad:
        raise ConfigError(f"unknown key; expected one of: {', '.join(sorted(allowed))}", key=f"{where}.{bad[0]}",
                          value=raw[bad[0]])


def _choice(v: Any, enum: type, key: str) -> Any:
    try:
        return enum(v)
    except ValueError:
        raise ConfigError(f"must be one of {', '.join(e.value for e in enum)}", key=key, value=v) from None


def _chain(und: str, raw: Mapping[str, Any], ctx: ParseContext, duration: int) -> ChainConfig:
    where = f"options.chains.{und}"
    _unknown(raw, _CHAIN, where)
    if und not in ctx.symbols:
        raise ConfigError(f"no instrument by this symbol; defined: {', '.join(ctx.symbols)}", key=where, value=und)
    exp_raw = raw.get("expiries")
    if not isinstance(exp_raw, list) or not exp_raw:
        raise ConfigError("must be a non-empty list of durations (times of expiry)", key=f"{where}.expiries",
                          value=exp_raw)
    expiries = []
    for i, e in enumerate(exp_raw):
        ns = parse_duration(e, f"{where}.expiries[{i}]")
        if ns <= 0:
            raise ConfigError("must be a positive duration", key=f"{where}.expiries[{i}]", value=e)
        if ns > duration:
            raise ConfigError(f"is after the end of the run ({duration_text(duration)})",
                              key=f"{where}.expiries[{i}]", value=e)
        expiries.append((duration_text(ns), ns))
    if len({ns for _, ns in expiries}) != len(expiries):
        raise ConfigError("duplicate expiry", key=f"{where}.expiries", value=exp_raw)
    if ("strikes" in raw) == ("strike_range" in raw):
        raise ConfigError("give either strikes or strike_range", key=f"{where}.strikes", value=raw.get("strikes"))
    if "strikes" in raw:
        s = raw["strikes"]
        if not isinstance(s, list) or not s:
            raise ConfigError("must be a non-empty list of prices", key=f"{where}.strikes", value=s)
        strikes = [positive_decimal(v, f"{where}.strikes[{i}]") for i, v in enumerate(s)]
    else:
        r = _table(raw["strike_range"], f"{where}.strike_range")
        _unknown(r, {"low", "high", "step"}, f"{where}.strike_range")
        low, high, step = (positive_decimal(r.get(k), f"{where}.strike_range.{k}") for k in ("low", "high", "step"))
        if high < low or (high - low) / step > 1000:
            raise ConfigError("needs low <= high and at most 1000 steps", key=f"{where}.strike_range", value=dict(r))
        strikes, k = [], low
        while k <= high:
            strikes.append(k)
            k += step
    if len(set(strikes)) != len(strikes):
        raise ConfigError("duplicate strike", key=f"{where}.strikes", value=[str(k) for k in strikes])
    rights_raw = raw.get("rights", ["call", "put"])
    if not isinstance(rights_raw, list) or not rights_raw:
        raise ConfigError("must be a non-empty list of call/put", key=f"{where}.rights", value=rights_raw)
    rights = tuple(dict.fromkeys(_choice(r, OptionRight, f"{where}.rights") for r in rights_raw))
    mult = raw.get("multiplier", 1)
    if isinstance(mult, bool) or not isinstance(mult, int) or mult <= 0:
        raise ConfigError("must be a positive integer (underlying units per contract)", key=f"{where}.multiplier",
                          value=mult)
    und_inst = next(c.instrument for c in ctx.parsed["instruments"] if c.instrument.symbol == und)
    tick = positive_decimal(raw.get("tick_size", str(und_inst.tick_size)), f"{where}.tick_size")
    if (und_inst.tick_size / tick) != (und_inst.tick_size / tick).to_integral_value():
        raise ConfigError(f"the underlying's tick ({und_inst.tick_size}) must be a whole number of option ticks",
                          key=f"{where}.tick_size", value=str(tick))
    for k in strikes:
        if (k / tick) != (k / tick).to_integral_value():
            raise ConfigError(f"strike {k} is not on the premium tick grid ({tick})", key=f"{where}.strikes",
                              value=str(k))
    return ChainConfig(und, tuple(sorted(expiries, key=lambda e: e[1])), tuple(sorted(strikes)), rights, mult,
                       _choice(raw.get("style", "european"), ExerciseStyle, f"{where}.style"),
                       _choice(raw.get("settlement", "cash"), SettlementType, f"{where}.settlement"), tick)


def parse_options(raw: Any, ctx: ParseContext) -> OptionsConfig:
    raw = _table(raw, "options")
    _unknown(raw, _TOP, "options")
    duration = ctx.parsed["scenario"].duration
    chains_raw = _table(raw.get("chains", {}), "options.chains")
    warrants = parse_warrants(raw.get("warrants", []), ctx, duration)
    if not chains_raw and not warrants:
        raise ConfigError("at least one [options.chains.UNDERLYING] table or [[options.warrants]] entry is required",
                          key="options.chains", value=None)
    chains = tuple(_chain(u, _table(t, f"options.chains.{u}"), ctx, duration) for u, t in chains_raw.items())
    venue = raw.get("venue", "options")
    if not isinstance(venue, str) or not venue:
        raise ConfigError("must be a non-empty string", key="options.venue", value=venue)
    if venue in {v.name for v in ctx.parsed.get("venues", ())}:
        raise ConfigError("a [[venues]] entry already has this name; the options venue is created by [options]",
                          key="options.venue", value=venue)
    year = parse_duration(raw.get("year", "365d"), "options.year")
    if year <= 0:
        raise ConfigError("must be a positive duration", key="options.year", value=raw.get("year"))
    rate = raw.get("rate", 0.0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
        raise ConfigError("must be a number", key="options.rate", value=rate)
    cutoff = parse_duration(raw.get("trading_cutoff", "5s"), "options.trading_cutoff")
    sp = raw.get("settlement_price", "mid")
    if sp not in ("mid", "fundamental"):
        raise ConfigError("must be mid or fundamental", key="options.settlement_price", value=sp)
    cfg = OptionsConfig(chains, venue, year, float(rate), cutoff, sp, warrants)
    names = set()
    for sym in _series_of(cfg):
        if sym[0] in ctx.symbols:
            raise ConfigError("an [[instruments]] entry already has this series' symbol", key="options.chains",
                              value=sym[0])
        names.add(sym[0])
    for w in warrants:
        if w.symbol in names:
            raise ConfigError("a listed series already has this symbol", key="options.warrants", value=w.symbol)
    return cfg


def _series_of(cfg: OptionsConfig) -> list[tuple[str, ChainConfig, str, int, OptionRight, Decimal]]:
    out = []
    for c in cfg.chains:
        for label, ns in c.expiries:
            for right in c.rights:
                for k in c.strikes:
                    out.append((series_symbol(c.underlying, label, right, k), c, label, ns, right, k))
    return out


@dataclass
class OptionsMarket:
    """The section's state: the listed series, the clearing house, the records of the run."""

    sim: "Simulation"
    config: OptionsConfig
    series: dict[str, Instrument] = field(default_factory=dict)           # symbol -> option instrument
    chains: dict[str, list[Instrument]] = field(default_factory=dict)     # underlying -> its series
    clearing: OptionsClearing | None = None
    closed: set[str] = field(default_factory=set)                         # past their trading cutoff
    trades: list[dict[str, Any]] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    settled_at: dict[str, int] = field(default_factory=dict)             # symbol -> settlement price (its ticks)
    warrants: dict[str, Instrument] = field(default_factory=dict)         # symbol -> warrant instrument
    warrant_book: WarrantBook | None = None
    warrant_trades: list[dict[str, Any]] = field(default_factory=list)
    warrant_model: list[dict[str, Any]] = field(default_factory=list)
    warrant_underlying: list[dict[str, Any]] = field(default_factory=list)

    # ----- set-up -----
    def list_series(self) -> None:
        sim = self.sim
        for sym, c, label, ns, right, k in _series_of(self.config):
            und = sim.instruments[c.underlying]
            try:
                inst = Instrument(sym, tick_size=c.tick_size, lot_size=Decimal(c.multiplier), base_decimals=0,
                                  quote_asset=und.quote_asset, quote_decimals=und.quote_decimals,
                                  option=OptionTerms(c.underlying, k, ns, right, c.multiplier, c.style,
                                                     c.settlement))
            except MarketSimError as exc:
                raise ConfigError(str(exc), key=f"options.chains.{c.underlying}", value=sym) from None
            s0 = sim.initial_ticks(c.underlying) * sim.tick_float(c.underlying)
            sim.add_instrument(inst, max(float(c.tick_size), s0 - float(k) if right is OptionRight.CALL
                                         else float(k) - s0))
            self.series[sym] = inst
            self.chains.setdefault(c.underlying, []).append(inst)
        for w in self.config.warrants:
            und = sim.instruments[w.underlying]
            try:
                inst = warrant_instrument(w, und)
            except MarketSimError as exc:
                raise ConfigError(str(exc), key="options.warrants", value=w.symbol) from None
            sim.add_instrument(inst, float(w.issue_price or w.tick_size))
            self.warrants[w.symbol] = inst
        self.clearing = OptionsClearing(sim.accounts, sim.instruments)
        self.warrant_book = WarrantBook(sim, sim.accounts, sim.instruments, self.config.warrants)
        self.clearing.on_booked = self.warrant_book.clearing.on_booked = self._booked
        for inst in self.series.values():
            if inst.option.settlement is SettlementType.PHYSICAL:
                try:
                    self.clearing.check_physical(inst)
                except MarketSimError as exc:
                    raise ConfigError(str(exc), key=f"options.chains.{inst.option.underlying}.settlement",
                                      value="physical") from None

    def install(self) -> None:
        sim, cfg = self.sim, self.config
        sim.add_venue(build_venue(sim, VenueConfig(cfg.venue, "orderbook", tuple(self.series) + tuple(self.warrants))))
        sim.add_order_gate(self._gate)
        sim.bus.subscribe(Trade, self._on_trade, (cfg.venue,))
        for t in sorted({i.option.expiry for i in (*self.series.values(), *self.warrants.values())}):
            sim.kernel.schedule_at(max(0, t - cfg.trading_cutoff), self._cutoff, t)
            sim.kernel.schedule_at(t, self._expire, t)
        if self.warrants:  # at time 0, once every section has installed (a [risk] ledger sees the placement)
            sim.kernel.schedule_at(0, self._place)
        if self.warrants:
            sim.every(max(10 ** 9, sim.scenario.duration // 300), self._model_rows, 0)

    def _booked(self, item: Any) -> None:
        """Every Fill / Transfer the clearing house books outside a venue, published on ("clearing", account)."""
        self.sim.bus.publish(item, ("clearing", item.account))

    # ----- warrants -----
    def _place(self) -> None:
        for sym in self.warrants:
            self.warrant_book.issue(sym, self.issue_price(sym))

    def issue_price(self, symbol: str) -> int:
        """The placement price in the warrant's ticks: the configured one, else the dilution-adjusted model value
        per share at time 0 (half-even to a tick, at least one tick)."""
        w, inst = self.warrant_book.configs[symbol], self.warrants[symbol]
        if w.issue_price is not None:
            return inst.price_to_ticks(w.issue_price)
        row = self.warrant_book.model_row(symbol, self.sim.kernel.now, self.years(w.expiry - self.sim.kernel.now),
                                          self.config.rate, outstanding=w.count)
        if row is None:  # no fundamental: the initial price of the underlying
            s = self.sim.initial_ticks(w.underlying) * self.sim.tick_float(w.underlying)
            intrinsic = max(0.0, s - float(w.strike)) if w.right is OptionRight.CALL else max(0.0, float(w.strike) - s)
            value = intrinsic
        else:
            value = row["warrant_value"]
        return max(1, round(Decimal(repr(value)) / inst.tick_size))

    def _model_rows(self) -> None:
        now = self.sim.kernel.now
        book = self.warrant_book
        for und in sorted({w.underlying for w in book.configs.values()}):
            proc = book._process(und)
            self.warrant_underlying.append({"ts": now, "underlying": und,
                                            "mid": round(self.underlying_price(und), 6),
                                            "fundamental": None if proc is None else round(proc.value_at(now), 6),
                                            "supply": book.supply.get(und)})
        for sym, w in self.warrant_book.configs.items():
            if sym in self.warrant_book.expired:
                continue
            row = self.warrant_book.model_row(sym, now, self.years(w.expiry - now), self.config.rate)
            if row is not None:
                self.warrant_model.append(row)

    # ----- reading the market -----
    def years(self, ns: int) -> float:
        return ns / self.config.year

    def tau(self, symbol: str, now: int | None = None) -> float:
        """Time to expiry of a series in pricing years."""
        now = self.sim.kernel.now if now is None else now
        return self.years(self.series[symbol].option.expiry - now)

    def underlying_venue(self, underlying: str) -> Any:
        for v in self.sim.venues.values():
            if v.name != self.config.venue and underlying in v.symbols:
                return v
        raise ConfigError("no venue lists the underlying", key="options.chains", value=underlying)

    def underlying_ticks(self, underlying: str) -> int:
        """The underlying's reference price in its ticks: the book mid (half-even), else the last trade, else the
        fundamental, else the initial price."""
        sim = self.sim
        if self.config.settlement_price == "fundamental":
            f = sim.fundamental(underlying)
            if f is not None:
                return max(1, round(f / sim.tick_float(underlying)))
        q = self.underlying_venue(underlying).quote(underlying, sim.kernel.now)
        if q.bid is not None and q.ask is not None:
            return mid_ticks(q.bid, q.ask)
        if q.last is not None:
            return q.last
        f = sim.fundamental(underlying)
        return max(1, round(f / sim.tick_float(underlying))) if f is not None else sim.initial_ticks(underlying)

    def underlying_price(self, underlying: str) -> float:
        """The underlying's float mid (analytics), else its reference price."""
        sim = self.sim
        q = self.underlying_venue(underlying).quote(underlying, sim.kernel.now)
        tick = sim.tick_float(underlying)
        if q.bid is not None and q.ask is not None:
            return (q.bid + q.ask) * 0.5 * tick
        return self.underlying_ticks(underlying) * tick

    def settle_ticks(self, inst: Instrument) -> int:
        """The underlying's reference price in the option's ticks."""
        und = self.sim.instruments[inst.option.underlying]
        return inst.price_to_ticks(und.ticks_to_price(self.underlying_ticks(und.symbol)))

    # ----- hooks -----
    def _gate(self, venue: Any, cmd: Any, now: int) -> OrderRejected | None:
        # New orders in a closed series are refused; a closed book holds no orders, so the venue itself answers a
        # modify or cancel of one (unknown order).
        if type(cmd) is NewOrder and cmd.symbol in self.closed and venue.name == self.config.venue:
            return OrderRejected(now, cmd.order_id, cmd.trader, cmd.symbol, RejectReason.MARKET_CLOSED,
                                 "the series is past its trading cutoff")
        return None

    def _on_trade(self, t: Trade) -> None:
        inst = self.series.get(t.symbol)
        if inst is None:
            if t.symbol in self.warrants:
                self.warrant_trades.append({"ts": t.ts, "symbol": t.symbol, "price": t.price,
                                            "quantity": t.quantity, "buyer": t.buyer, "seller": t.seller})
            return
        self.trades.append({"ts": t.ts, "symbol": t.symbol, "price": t.price, "quantity": t.quantity,
                            "buyer": t.buyer, "seller": t.seller, "aggressor": t.aggressor.value,
                            "underlying_mid": self.underlying_price(inst.option.underlying)})

    def _cutoff(self, expiry: int) -> None:
        sim = self.sim
        venue = sim.venues[self.config.venue]
        now = sim.kernel.now
        for sym, inst in sorted({**self.series, **self.warrants}.items()):
            if inst.option.expiry != expiry:
                continue
            self.closed.add(sym)
            bids, asks = venue.engine.book(sym).l3(include_hidden=True)
            for o in bids + asks:
                sim.publish(venue, None, venue.handle(CancelOrder(o.order_id, o.trader), now))

    def _expire(self, expiry: int) -> None:
        now = self.sim.kernel.now
        for sym, inst in sorted(self.series.items()):
            if inst.option.expiry == expiry and sym not in self.clearing.expired:
                self.settled_at[sym] = self.settle_ticks(inst)
                self._book(self.clearing.expire(sym, self.settled_at[sym], now))
        for sym, inst in sorted(self.warrants.items()):
            if inst.option.expiry == expiry and sym not in self.warrant_book.expired:
                self.settled_at[sym] = self.settle_ticks(inst)
                self._book(self.warrant_book.expire(sym, self.settled_at[sym], now), keep=False)

    def _book(self, rows: list[Settlement], keep: bool = True) -> None:
        """Publish the settlement fills the clearing house booked (topic ("account", id)) and keep the rows (the
        warrant book keeps its own)."""
        for r in rows:
            if keep:
                self.settlements.append(r)
            self.sim.bus.publish(r, ("account", r.account))

    # ----- American exercise -----
    def request_exercise(self, account: str, symbol: str, contracts: int) -> None:
        """An exercise notice from `account`, reaching the clearing house with the account→venue latency."""
        self.sim.send(account, self.config.venue, self._exercise, account, symbol, contracts)

    def _exercise(self, account: str, symbol: str, contracts: int) -> None:
        now = self.sim.kernel.now
        inst = self.series.get(symbol)
        try:
            if symbol in self.warrants:
                rows = self.warrant_book.exercise(account, symbol, contracts,
                                                  self.settle_ticks(self.warrants[symbol]), now)
                self._book(rows, keep=False)
                return
            if inst is None:
                raise ExerciseError(f"{symbol} is not a listed series")
            rows = self.clearing.exercise(account, symbol, contracts, self.settle_ticks(inst), now)
        except ExerciseError as exc:
            self.refused.append({"ts": now, "account": account, "symbol": symbol, "contracts": contracts,
                                 "reason": str(exc)})
            return
        self._book(rows)

    def open_after_expiry(self) -> int:
        book = self.warrant_book
        return (sum(abs(q) for s in self.clearing.expired for q in self.clearing.open_interest(s).values())
                + sum(abs(q) for s in book.expired for q in book.clearing.open_interest(s).values()))


class OptionsSection(Section):
    """Listed option chains on an order book with expiry, exercise, assignment and settlement."""

    name = "options"
    description = "listed option chains (strikes x expiries), expiry, exercise/assignment, cash/physical settlement"
    result = OptionsResult

    def parse(self, raw: Any, ctx: ParseContext) -> OptionsConfig:
        return parse_options(raw, ctx)

    def prepare(self, sim: "Simulation", config: OptionsConfig) -> OptionsMarket:
        market = OptionsMarket(sim, config)
        market.list_series()
        return market

    def install(self, sim: "Simulation", config: OptionsConfig, market: OptionsMarket) -> None:
        market.install()

    def finish(self, sim: "Simulation", config: OptionsConfig, market: OptionsMarket) -> None:
        from market_sim.options.analysis import finish_options

        finish_options(sim, market)


register_section(OptionsSection())
