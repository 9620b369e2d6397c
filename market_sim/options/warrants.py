"""Warrants (issue 17): issuer warrants that create new shares on exercise, and covered warrants.

    [[options.warrants]]
    underlying = "XYZ"
    kind = "issuer"                # "issuer": the company writes them and mints new shares on exercise (dilution);
                                   # "covered": a third party writes them and delivers existing shares (or cash)
    issuer = "xyz-corp"            # the writer's account
    strike = 45
    expiry = "20min"
    ratio = 1                      # k: shares per warrant (a warrant is one lot of k units, quoted per share)
    style = "european"             # or "american": holders may exercise early (OptionsMarket.request_exercise)
    right = "call"                 # issuer warrants are calls; a covered warrant may be a put
    settlement = "physical"        # issuer warrants are physical (new shares); a covered warrant may be "cash"
    shares_outstanding = 100000    # N, issuer warrants: the underlying's shares before any exercise
    allot = { "holders" = 12000, "fund-0" = 8000 }   # warrants placed at time 0: account ids, or an agent group
                                                     # (split evenly, the remainder to its first agents); M = the sum
    issue_price = "5.20"           # per share; default: the dilution-adjusted model value at time 0 (to a tick)
    vol = 0.3                      # for that default and the warrant_model table (per [options] year)
    tick_size = "0.01"
    symbol = "XYZ-WC45"            # default UND-EXPIRY-WC|WPSTRIKE

Each warrant is an `Instrument` of asset class `warrant` with `OptionTerms` (multiplier = ratio), listed on the
[options] venue with the series (trading cutoff, the closed-series gate); the placement at time 0 is a pair of fills
of venue `warrant-issue` per holder (the issuer sells, so it is short M warrants).

**Exercise** (integers throughout; the same `Fill`s as listed options, see clearing.py): the holder's warrants close
at 0 and it buys ``n k`` shares at the strike (pays ``n k K`` quote units). The exercised warrants are assigned
**to the issuer first** (up to its short), the rest pro rata (clearing.pro_rata) to any other shorts. For an *issuer*
warrant the issuer's part is new shares: its short closes at 0, it receives the strike cash (a `Transfer`, reason
``warrant exercise``) and the shares are **minted** -- no account delivers them, so the accounts' total of the
underlying and its supply (shares outstanding, ``WarrantBook.supply``) grow by exactly ``n k``. Other shorts, and the
writer of a *covered* warrant, deliver existing shares at the strike like an assigned physical option (or pay the
intrinsic value in cash): no dilution. At expiry every open position is exercised/assigned when in the money by at
least one tick (else closed at 0).

**Dilution of the fundamental.** The underlying's price process is read as the firm's equity value per existing
share, ``V/N`` (the `S_adj` of the warrant formula, market_sim.derivatives.warrants). When ``m`` new shares are issued
at ``K`` the firm gains ``m K`` and has ``N + m`` shares, so from that instant the process is multiplied by

    f = S' / S,   S' = (N S + m K) / (N + m)        (S the process value just before; N the supply before)

(`PriceProcess.rescale`: the process must be multiplicative -- gbm, merton, gbm_shock). Agents anchored on the
fundamental (market makers, fundamental traders) move their quotes with it, so the dilution shows in the book. This
is the model's simplification: a market that priced the overhang in advance (share = V/N - M W/N) would show no jump
at exercise. Tables: warrant_exercises (one row per exercise: shares minted, cash, supply and fundamental before and
after), share_supply, warrant_model (the warrant's dilution-adjusted value against the plain call over time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from market_sim.core.accounts import Transfer, book_fill
from market_sim.core.errors import ConfigError, MarketSimError
from market_sim.core.instruments import (AssetClass, ExerciseStyle, Instrument, OptionRight, OptionTerms,
                                         SettlementType)
from market_sim.core.orders import Side
from market_sim.derivatives import bsm_price, diluted_share_value, warrant_price
from market_sim.options.clearing import ExerciseError, OptionsClearing, Settlement, intrinsic_ticks, pro_rata
from market_sim.simulation.latency import parse_duration
from market_sim.simulation.processes import process_types
from market_sim.simulation.scenario import ParseContext, duration_text, positive_decimal

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = ["WarrantConfig", "WarrantBook", "WarrantExercise", "parse_warrants", "ISSUE", "EXERCISE"]

ISSUE = "warrant-issue"        # venue of the placement fills
EXERCISE = "warrant exercise"  # reason of the issuer's strike-cash transfer

_KEYS = {"underlying", "kind", "issuer", "strike", "expiry", "ratio", "style", "right", "settlement",
         "shares_outstanding", "allot", "issue_price", "vol", "tick_size", "symbol"}


@dataclass(frozen=True, slots=True)
class WarrantConfig:
    symbol: str
    underlying: str
    kind: str                         # "issuer" | "covered"
    issuer: str
    strike: Decimal
    expiry_label: str
    expiry: int
    ratio: int
    style: ExerciseStyle
    right: OptionRight
    settlement: SettlementType
    shares_outstanding: int | None    # whole shares (issuer warrants)
    allot: tuple[tuple[str, int], ...]  # (account, warrants), sorted by account
    issue_price: Decimal | None
    vol: float
    tick_size: Decimal

    @property
    def count(self) -> int:
        """M: the warrants issued."""
        return sum(q for _, q in self.allot)

    @property
    def dilutive(self) -> bool:
        return self.kind == "issuer"


@dataclass(frozen=True, slots=True)
class WarrantExercise:
    """One exercise (early or at expiry) of one holder, with its effect on the underlying's supply and fundamental."""

    ts: int
    symbol: str
    holder: str
    warrants: int
    shares_received: int       # underlying base units the holder received
    shares_minted: int         # of which newly issued (issuer warrants, the issuer's assignment)
    cash_paid: int             # quote base units the holder paid (physical) or received (< 0: cash settlement)
    supply_before: int | None  # underlying base units outstanding (None: not tracked, no issuer warrant on it)
    supply_after: int | None
    fundamental_before: float | None
    fundamental_after: float | None


def _int(v: Any, key: str, low: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ConfigError(f"must be an integer >= {low}", key=key, value=v)
    return v


def _choice(v: Any, enum: type, key: str) -> Any:
    try:
        return enum(v)
    except ValueError:
        raise ConfigError(f"must be one of {', '.join(e.value for e in enum)}", key=key, value=v) from None


def _allot(raw: Any, key: str, ctx: ParseContext) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("must be a non-empty table of account (or agent group) = warrants", key=key, value=raw)
    groups = {a.name: a.count for a in ctx.parsed.get("agents", ())}
    out: dict[str, int] = {}
    for name, q in raw.items():
        q = _int(q, f"{key}.{name}")
        if name in groups:
            n = groups[name]
            for i in range(n):  # agents are named <group>-1 .. <group>-<count>
                share = q // n + (1 if i < q % n else 0)
                if share:
                    out[f"{name}-{i + 1}"] = out.get(f"{name}-{i + 1}", 0) + share
        else:
            out[name] = out.get(name, 0) + q
    return tuple(sorted(out.items()))


def _one(raw: Any, i: int, ctx: ParseContext, duration: int) -> WarrantConfig:
    where = f"options.warrants[{i}]"
    if not isinstance(raw, Mapping):
        raise ConfigError("must be a table", key=where, value=raw)
    bad = sorted(set(raw) - _KEYS)
    if bad:
        raise ConfigError(f"unknown key; expected one of: {', '.join(sorted(_KEYS))}", key=f"{where}.{bad[0]}",
                          value=raw[bad[0]])
    und = raw.get("underlying")
    if und not in ctx.symbols:
        raise ConfigError(f"no instrument by this symbol; defined: {', '.join(ctx.symbols)}",
                          key=f"{where}.underlying", value=und)
    und_cfg = next(c for c in ctx.parsed["instruments"] if c.instrument.symbol == und)
    und_inst = und_cfg.instrument
    kind = raw.get("kind", "issuer")
    if kind not in ("issuer", "covered"):
        raise ConfigError("must be issuer or covered", key=f"{where}.kind", value=kind)
    issuer = raw.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise ConfigError("must be the writer's account id", key=f"{where}.issuer", value=issuer)
    strike = positive_decimal(raw.get("strike"), f"{where}.strike")
    exp = raw.get("expiry")
    ns = parse_duration(exp, f"{where}.expiry")
    if ns <= 0 or ns > duration:
        raise ConfigError(f"must be a positive duration within the run ({duration_text(duration)})",
                          key=f"{where}.expiry", value=exp)
    ratio = _int(raw.get("ratio", 1), f"{where}.ratio")
    style = _choice(raw.get("style", "european"), ExerciseStyle, f"{where}.style")
    right = _choice(raw.get("right", "call"), OptionRight, f"{where}.right")
    settlement = _choice(raw.get("settlement", "physical"), SettlementType, f"{where}.settlement")
    shares = raw.get("shares_outstanding")
    if kind == "issuer":
        if right is not OptionRight.CALL:
            raise ConfigError("an issuer warrant is a call (the right to buy new shares)", key=f"{where}.right",
                              value=right.value)
        if settlement is not SettlementType.PHYSICAL:
            raise ConfigError("an issuer warrant settles in new shares (physical)", key=f"{where}.settlement",
                              value=settlement.value)
        shares = _int(shares, f"{where}.shares_outstanding")
        proc = next((p for n, p in ctx.parsed.get("processes", {}).items() if n == und_cfg.process), None)
        if proc is not None and not process_types()[proc.kind].multiplicative:
            raise ConfigError(f"the dilution rescales {und}'s price process, which must be multiplicative (gbm, "
                              f"merton, gbm_shock), not {proc.kind}", key=f"{where}.underlying", value=und)
    elif shares is not None:
        raise ConfigError("only issuer warrants dilute (covered warrants deliver existing shares)",
                          key=f"{where}.shares_outstanding", value=shares)
    allot = _allot(raw.get("allot"), f"{where}.allot", ctx)
    if issuer in dict(allot):
        raise ConfigError("the issuer writes the warrants; it cannot be allotted them", key=f"{where}.allot",
                          value=issuer)
    tick = positive_decimal(raw.get("tick_size", str(und_inst.tick_size)), f"{where}.tick_size")
    if (und_inst.tick_size / tick) != (und_inst.tick_size / tick).to_integral_value():
        raise ConfigError(f"the underlying's tick ({und_inst.tick_size}) must be a whole number of warrant ticks",
                          key=f"{where}.tick_size", value=str(tick))
    if (strike / und_inst.tick_size) != (strike / und_inst.tick_size).to_integral_value():
        raise ConfigError(f"must lie on the underlying's tick grid ({und_inst.tick_size})", key=f"{where}.strike",
                          value=str(strike))
    units = ratio * 10 ** und_inst.base_decimals
    if units % und_inst.base_units_per_lot:
        raise ConfigError(f"a warrant ({units} base units of {und}) must be whole lots of the underlying "
                          f"({und_inst.base_units_per_lot})", key=f"{where}.ratio", value=ratio)
    ip = raw.get("issue_price")
    issue_price = None if ip is None else positive_decimal(ip, f"{where}.issue_price")
    if issue_price is not None and (issue_price / tick) != (issue_price / tick).to_integral_value():
        raise ConfigError(f"must lie on the tick grid ({tick})", key=f"{where}.issue_price", value=str(ip))
    vol = raw.get("vol", 0.3)
    if isinstance(vol, bool) or not isinstance(vol, (int, float)) or not math.isfinite(vol) or vol <= 0:
        raise ConfigError("must be a positive number", key=f"{where}.vol", value=vol)
    label = duration_text(ns)
    k_text = f"{strike.normalize():f}"
    symbol = raw.get("symbol", f"{und}-{label}-W{'C' if right is OptionRight.CALL else 'P'}{k_text}")
    if not isinstance(symbol, str) or not symbol or symbol in ctx.symbols:
        raise ConfigError("must be a new instrument symbol", key=f"{where}.symbol", value=symbol)
    return WarrantConfig(symbol, und, kind, issuer, strike, label, ns, ratio, style, right, settlement, shares,
                         allot, issue_price, float(vol), tick)


def parse_warrants(raw: Any, ctx: ParseContext, duration: int) -> tuple[WarrantConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError("must be a list of tables ([[options.warrants]])", key="options.warrants", value=raw)
    out = tuple(_one(w, i, ctx, duration) for i, w in enumerate(raw))
    if len({w.symbol for w in out}) != len(out):
        raise ConfigError("duplicate warrant symbol", key="options.warrants", value=[w.symbol for w in out])
    shares: dict[str, int] = {}
    for i, w in enumerate(out):
        if w.shares_outstanding is not None:
            if shares.setdefault(w.underlying, w.shares_outstanding) != w.shares_outstanding:
                raise ConfigError(f"differs from an earlier issuer warrant on {w.underlying} "
                                  f"({shares[w.underlying]})", key=f"options.warrants[{i}].shares_outstanding",
                                  value=w.shares_outstanding)
    return out


def warrant_instrument(w: WarrantConfig, und: Instrument) -> Instrument:
    return Instrument(w.symbol, tick_size=w.tick_size, lot_size=Decimal(w.ratio), asset_class=AssetClass.WARRANT,
                      base_decimals=0, quote_asset=und.quote_asset, quote_decimals=und.quote_decimals,
                      option=OptionTerms(w.underlying, w.strike, w.expiry, w.right, w.ratio, w.style, w.settlement))


class WarrantBook:
    """The warrants of one simulation: placement, exercise with minting, the supply of each diluted underlying and
    the rescaling of its fundamental. `sim` may be None (tests of the bookkeeping alone: no fundamental)."""

    def __init__(self, sim: "Simulation | None", accounts: Any, instruments: Mapping[str, Instrument],
                 configs: tuple[WarrantConfig, ...]) -> None:
        self.sim = sim
        self.configs = {w.symbol: w for w in configs}
        self.clearing = OptionsClearing(accounts, instruments)
        self.accounts = accounts
        self.instruments = instruments
        self.supply: dict[str, int] = {}  # underlying -> base units outstanding
        for w in configs:
            if w.shares_outstanding is not None:
                self.supply[w.underlying] = w.shares_outstanding * 10 ** instruments[w.underlying].base_decimals
        self.exercises: list[WarrantExercise] = []
        self.settlements: list[Settlement] = []
        self.supply_rows: list[dict[str, Any]] = []
        self.issued: dict[str, int] = {}
        self.minted: dict[str, int] = {}
        for und, s in sorted(self.supply.items()):
            self.supply_rows.append({"ts": 0, "underlying": und, "supply": s, "minted": 0})

    @property
    def expired(self) -> set[str]:
        return self.clearing.expired

    # ----- placement -----
    def issue(self, symbol: str, price_ticks: int, ts: int = 0) -> None:
        """Place the allotment: per holder, the issuer sells its warrants at `price_ticks` (fills of venue ISSUE)."""
        w, inst = self.configs[symbol], self.instruments[symbol]
        for acct, q in w.allot:
            for who, side in ((w.issuer, Side.SELL), (acct, Side.BUY)):
                self.clearing.book(book_fill(ts, who, ISSUE, inst, side, price_ticks, q, order_id=0, trade_id=0,
                                             maker=False))
        self.issued[symbol] = w.count

    # ----- the fundamental -----
    def _process(self, underlying: str) -> Any:
        sim = self.sim
        if sim is None:
            return None
        name = next((c.process for c in sim.scenario.instruments if c.instrument.symbol == underlying), None)
        return None if name is None else sim.processes[name]

    def _dilute(self, underlying: str, new_units: int, strike: Decimal, ts: int) -> tuple[float | None, float | None]:
        """Mint `new_units` of the underlying at `strike`: supply grows, the fundamental is rescaled (module doc)."""
        before = self.supply[underlying]
        self.supply[underlying] = before + new_units
        self.minted[underlying] = self.minted.get(underlying, 0) + new_units
        self.supply_rows.append({"ts": ts, "underlying": underlying, "supply": self.supply[underlying],
                                 "minted": self.minted[underlying]})
        proc = self._process(underlying)
        if proc is None:
            return None, None
        s = proc.value_at(ts)
        s_new = diluted_share_value(s, float(strike), before, new_units)
        proc.rescale(ts, s_new / s)
        return s, proc.value_at(ts)

    # ----- exercise -----
    def _holder(self, ts: int, holder: str, inst: Instrument, n: int, settle: int) -> Settlement:
        return self.clearing._settle(ts, holder, inst, n, settle, "exercise", True)

    def _assign(self, ts: int, writer: str, inst: Instrument, n: int, settle: int) -> tuple[Settlement, int]:
        """Assign `n` warrants to `writer`; returns its row and the underlying units minted (issuer warrants)."""
        w = self.configs[inst.symbol]
        if writer != w.issuer or not w.dilutive:
            return self.clearing._settle(ts, writer, inst, -n, settle, "assignment", True), 0
        self.clearing._close(ts, writer, inst, -n, 0)
        und = self.instruments[w.underlying]
        units = n * w.ratio * 10 ** und.base_decimals
        cash = units // und.base_units_per_lot * und.price_to_ticks(w.strike) * und.quote_units_per_lot_tick
        self.clearing.book(Transfer(ts, writer, und.quote_asset, cash, EXERCISE))
        itm = intrinsic_ticks(inst, settle)
        return Settlement(ts, inst.symbol, writer, "assignment", n, settle, itm, cash, 0), units

    def _record(self, ts: int, symbol: str, holder_row: Settlement, n: int, minted: int) -> None:
        w = self.configs[symbol]
        und = w.underlying
        before = self.supply.get(und)
        f0 = f1 = None
        if minted:
            f0, f1 = self._dilute(und, minted, w.strike, ts)
        elif self.sim is not None and self._process(und) is not None:
            f0 = f1 = self._process(und).value_at(ts)
        self.exercises.append(WarrantExercise(ts, symbol, holder_row.account, n, holder_row.underlying, minted,
                                              -holder_row.cash, before, self.supply.get(und), f0, f1))

    def exercise(self, holder: str, symbol: str, n: int, settle_ticks: int, ts: int) -> list[Settlement]:
        """Early exercise of `n` warrants by `holder` (American only): assigned to the issuer first, the rest pro
        rata to other shorts; an issuer warrant's issuer part mints new shares."""
        inst = self.instruments.get(symbol)
        if symbol not in self.configs or inst is None:
            raise ExerciseError(f"{symbol} is not a warrant")
        w = self.configs[symbol]
        if symbol in self.expired or ts >= w.expiry:
            raise ExerciseError(f"{symbol} has expired")
        if w.style is not ExerciseStyle.AMERICAN:
            raise ExerciseError(f"{symbol} is European: it is exercised only at expiry")
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ExerciseError(f"exercise needs a positive whole number of warrants, got {n!r}")
        held = self.clearing.contracts(holder, symbol)
        if held < n:
            raise ExerciseError(f"{holder} holds {held} warrants of {symbol}, cannot exercise {n}")
        if w.settlement is SettlementType.CASH and intrinsic_ticks(inst, settle_ticks) <= 0:
            raise ExerciseError(f"{symbol} is not in the money: a cash-settled exercise would pay nothing")
        shorts = {a: -q for a, q in self.clearing.open_interest(symbol).items() if q < 0}
        to_issuer = min(n, shorts.pop(w.issuer, 0))
        plan = ([(w.issuer, to_issuer)] if to_issuer else []) + sorted(pro_rata(n - to_issuer, shorts).items())
        rows = [self._holder(ts, holder, inst, n, settle_ticks)]
        minted = 0
        for acct, q in plan:
            row, units = self._assign(ts, acct, inst, q, settle_ticks)
            rows.append(row)
            minted += units
        self._record(ts, symbol, rows[0], n, minted)
        self.settlements.extend(rows)
        return rows

    def expire(self, symbol: str, settle_ticks: int, ts: int) -> list[Settlement]:
        """Expiry: every long exercised and every short assigned when in the money by a tick, else closed at 0. The
        issuer's assignment (issuer warrants) mints the shares of all exercising holders at once."""
        inst = self.instruments[symbol]
        if symbol in self.expired:
            raise ExerciseError(f"{symbol} has already expired")
        oi = self.clearing.open_interest(symbol)
        rows: list[Settlement] = []
        if intrinsic_ticks(inst, settle_ticks) <= 0:
            rows = [self.clearing._settle(ts, a, inst, q, settle_ticks, "expiry", False) for a, q in oi.items()]
        else:
            minted = 0
            for a, q in oi.items():
                if q < 0:
                    row, units = self._assign(ts, a, inst, -q, settle_ticks)
                    rows.append(row)
                    minted += units
            longs = [(a, q) for a, q in oi.items() if q > 0]
            holder_rows = [self._holder(ts, a, inst, q, settle_ticks) for a, q in longs]
            rows = holder_rows + rows
            w = self.configs[symbol]
            if minted:  # one dilution for the whole expiry, then one record per holder
                f0, f1 = self._dilute(w.underlying, minted, w.strike, ts)
            else:
                proc = self._process(w.underlying)
                f0 = f1 = None if proc is None else proc.value_at(ts)
            total = sum(q for _, q in longs)
            left = minted
            for i, ((a, q), r) in enumerate(zip(longs, holder_rows)):
                part = left if i == len(longs) - 1 else minted * q // total
                left -= part
                s1 = self.supply.get(w.underlying)
                self.exercises.append(WarrantExercise(ts, symbol, a, q, r.underlying, part, -r.cash,
                                                      None if s1 is None else s1 - minted, s1, f0, f1))
        self.expired.add(symbol)
        self.settlements.extend(rows)
        return rows

    # ----- model -----
    def model_row(self, symbol: str, ts: int, years_left: float, rate: float,
                  outstanding: int | None = None) -> dict[str, Any] | None:
        """The warrant's dilution-adjusted value per share against the plain call at the fundamental (V/N) now. M is
        `outstanding`, else the warrants the issuer is short (those that would mint shares)."""
        w = self.configs[symbol]
        proc = self._process(w.underlying)
        if proc is None or years_left <= 0:
            return None
        s = proc.value_at(ts)
        m = max(0, -self.clearing.contracts(w.issuer, symbol)) if outstanding is None else outstanding
        try:
            call = bsm_price(s, float(w.strike), years_left, rate, w.vol)
            if w.dilutive:
                n = self.supply[w.underlying] / 10 ** self.instruments[w.underlying].base_decimals
                val = warrant_price(s, float(w.strike), years_left, rate, w.vol, n, m, w.ratio) / w.ratio
            else:
                val = call if w.right is OptionRight.CALL else bsm_price(s, float(w.strike), years_left, rate,
                                                                          w.vol, 0.0, False)
        except MarketSimError:
            return None
        return {"ts": ts, "symbol": symbol, "fundamental": round(s, 6), "warrant_value": round(val, 6),
                "call_value": round(call, 6), "outstanding": m}
