"""The [risk] scenario section: pre-trade limits, margin and liquidation, lending pools and short-sale rules.

    plugins = ["market_sim.risk"]
    [risk]
    limits = { max_order_quantity = 500, max_order_notional = 100000.0, price_band_bps = 1000,
               max_position = { "*" = 2000 }, max_orders = 20, rate_window = "1s" }
    [risk.accounts.longs]          # an agent group or an account id: its own limits; cash makes a margin account
    cash = 10000.0                 # deposited at the start, in the quote currency
    max_order_quantity = 100
    [risk.margin]                  # Reg T by default: initial 50%, maintenance 25% long / 30% short
    maintenance_long_bps = 2500
    call_deadline = "30s"
    order = "market"               # or "limit": IOC at the reference -/+ aggression_ticks
    liquidation_lots = 20
    overrides = { XYZ = { maintenance_long_bps = 4000, initial_long_bps = 6000 } }
    options = true                 # listed options by the CBOE rule (margin.py): premium + max(20% U - OTM, 10%);
                                   # or a table: underlying_bps, min_call_bps, min_put_bps, long_bps, covered, spreads
    [risk.lending.XYZ]             # short sales of XYZ need a locate from this pool
    lenders = { lender = 500 }     # account -> lots lent
    rate_bps = 25                  # annual; hard_to_borrow = true defaults to 3000
    exempt = ["maker"]             # accounts / agent groups that sell short without a locate
    [[risk.recalls]]
    at = "10min"; symbol = "XYZ"; lender = "lender"; lots = 300
    [[risk.kills]]
    at = "5min"; trader = "noise-3"

Tables: risk_rejections, margin_calls, liquidations, buy_ins, short_interest; risk.png when margin or lending is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from market_sim.core.errors import ConfigError
from market_sim.risk.config import (
    AccountConfig, KillConfig, MarginConfig, PoolConfig, PreTradeLimits, RecallConfig, RiskConfig,
)
from market_sim.risk.borrow import GENERAL_COLLATERAL_BPS, HARD_TO_BORROW_BPS
from market_sim.risk.engine import RiskEngine
from market_sim.risk.margin import MarginRate, MarginRules, OptionMarginRule
from market_sim.simulation.latency import parse_duration
from market_sim.simulation.metrics import SectionResult, figure
from market_sim.simulation.scenario import ParseContext, Section, register_section

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = ["RiskSection", "RiskResult", "parse_risk"]

_LIMIT_KEYS = {f.name for f in fields(PreTradeLimits)}
_RATE_KEYS = {f.name for f in fields(MarginRate)}
_MARGIN_KEYS = _RATE_KEYS | {"check_interval", "call_deadline", "order", "aggression_ticks", "liquidation_lots",
                             "overrides", "options"}
_OPTION_KEYS = {f.name for f in fields(OptionMarginRule)}
_TOP_KEYS = {"limits", "accounts", "margin", "lending", "accrual_interval", "recalls", "recall_deadline",
             "buy_in_order", "short_sale_rule", "ssr_drop_bps", "kills", "sample_interval"}


@dataclass(frozen=True, slots=True)
class RiskResult(SectionResult):
    """What the risk engine refused, called and liquidated (amounts in the quote currency)."""

    section = "risk"

    rejections: int = figure("risk rejections", headline=True, default=0)
    margin_calls: int = figure("margin calls", headline=True, default=0)
    liquidations: int = figure("liquidation orders", headline=True, default=0)
    liquidated_lots: int = figure("lots liquidated", headline=True, default=0)
    liquidation_cost: float = figure("liquidation cost vs mark", default=0.0)
    illiquid: int = figure("liquidations without liquidity", default=0)
    below_maintenance_at_end: int = figure("accounts below maintenance at the end", default=0)
    buy_ins: int = figure("forced buy-ins", default=0)
    bought_in_lots: int = figure("lots bought in", default=0)
    borrow_fees: float = figure("borrow fees charged", default=0.0)
    max_short_interest: dict[str, int] | None = figure("max short interest (lots)", default=None)
    max_utilisation: dict[str, float] | None = figure("max borrow utilisation", default=None)
    ssr_since: dict[str, float] | None = figure("short-sale restriction from (s)", default=None)
    rejections_by_reason: dict[str, int] | None = figure("rejections by reason", default=None)


def _dur(v: Any, key: str) -> int:
    return parse_duration(v, key)


def _money(v: Any, key: str, decimals: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ConfigError("must be an amount of the quote currency", key=key, value=v)
    try:
        d = Decimal(str(v)) * (10 ** decimals)
    except InvalidOperation:
        raise ConfigError("must be an amount of the quote currency", key=key, value=v) from None
    if d != d.to_integral_value() or d < 0:
        raise ConfigError(f"must be a non-negative amount with at most {decimals} decimals", key=key, value=v)
    return int(d)


def _int(v: Any, key: str, low: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ConfigError(f"must be an integer >= {low}", key=key, value=v)
    return v


def _table(v: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise ConfigError("must be a table", key=key, value=v)
    return v


def _unknown(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    bad = sorted(set(raw) - allowed)
    if bad:
        raise ConfigError(f"unknown key; expected one of: {', '.join(sorted(allowed))}", key=f"{where}.{bad[0]}",
                          value=raw[bad[0]])


def _limits(raw: Mapping[str, Any], where: str, decimals: int, base: PreTradeLimits) -> PreTradeLimits:
    _unknown(raw, _LIMIT_KEYS, where)
    out: dict[str, Any] = {}
    for k, v in raw.items():
        key = f"{where}.{k}"
        if k == "rate_window":
            out[k] = _dur(v, key)
        elif k == "max_order_notional":
            out[k] = _money(v, key, decimals)
        elif k == "max_position":
            out[k] = {s: _int(n, f"{key}.{s}") for s, n in _table(v, key).items()}
        elif k == "buying_power":
            if not isinstance(v, bool):
                raise ConfigError("must be true or false", key=key, value=v)
            out[k] = v
        else:
            out[k] = _int(v, key)
    try:
        return base.merged(out)
    except ConfigError as e:
        raise ConfigError(str(e.args[0]) if e.args else "bad limit", key=f"{where}.{e.key}", value=e.value) from None


def _rate(raw: Mapping[str, Any], where: str, base: MarginRate) -> MarginRate:
    values = {f.name: getattr(base, f.name) for f in fields(MarginRate)}
    for k in _RATE_KEYS & set(raw):
        values[k] = _int(raw[k], f"{where}.{k}")
    try:
        return MarginRate(**values)
    except ConfigError as e:
        raise ConfigError("maintenance cannot exceed the initial requirement", key=where, value=e.value) from None


def _option_rule(raw: Any) -> OptionMarginRule | None:
    """[risk.margin] options = true (the CBOE rule's defaults) or a table of OptionMarginRule fields; false/absent:
    options are margined at the rates like any position."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return OptionMarginRule()
    t = _table(raw, "risk.margin.options")
    _unknown(t, _OPTION_KEYS, "risk.margin.options")
    values = {}
    for k, v in t.items():
        values[k] = v if k in ("covered", "spreads") else _int(v, f"risk.margin.options.{k}")
    try:
        return OptionMarginRule(**values)
    except ConfigError as e:
        msg = "must be true or false" if e.key in ("covered", "spreads") else \
            "must be an integer number of basis points in 0..1_000_000"
        raise ConfigError(msg, key=f"risk.margin.options.{e.key}", value=e.value) from None


def parse_risk(raw: Any, ctx: ParseContext) -> RiskConfig:
    raw = _table(raw, "risk")
    _unknown(raw, _TOP_KEYS, "risk")
    insts = [c.instrument for c in ctx.parsed.get("instruments", ())]
    decimals = insts[0].quote_decimals if insts else 2
    symbols = set(ctx.symbols)
    limits = _limits(_table(raw.get("limits", {}), "risk.limits"), "risk.limits", decimals, PreTradeLimits())
    accounts: dict[str, AccountConfig] = {}
    for name, t in _table(raw.get("accounts", {}), "risk.accounts").items():
        where = f"risk.accounts.{name}"
        t = _table(t, where)
        _unknown(t, _LIMIT_KEYS | {"cash"}, where)
        cash = _money(t["cash"], f"{where}.cash", decimals) if "cash" in t else None
        accounts[name] = AccountConfig(_limits({k: v for k, v in t.items() if k != "cash"}, where, decimals, limits),
                                       cash)
    margin = None
    if "margin" in raw:
        m = _table(raw["margin"], "risk.margin")
        _unknown(m, _MARGIN_KEYS, "risk.margin")
        default = _rate(m, "risk.margin", MarginRate())
        overrides = {}
        for sym, t in _table(m.get("overrides", {}), "risk.margin.overrides").items():
            if sym not in symbols:
                raise ConfigError("no instrument by this symbol", key=f"risk.margin.overrides.{sym}", value=sym)
            t = _table(t, f"risk.margin.overrides.{sym}")
            _unknown(t, _RATE_KEYS, f"risk.margin.overrides.{sym}")
            overrides[sym] = _rate(t, f"risk.margin.overrides.{sym}", default)
        order = m.get("order", "market")
        if order not in ("market", "limit"):
            raise ConfigError("must be market or limit", key="risk.margin.order", value=order)
        margin = MarginConfig(MarginRules(default, overrides, _option_rule(m.get("options"))),
                              _dur(m.get("check_interval", "1s"), "risk.margin.check_interval"),
                              _dur(m.get("call_deadline", "60s"), "risk.margin.call_deadline"), order,
                              _int(m.get("aggression_ticks", 50), "risk.margin.aggression_ticks"),
                              _int(m.get("liquidation_lots", 0), "risk.margin.liquidation_lots"))
        if margin.check_interval <= 0:
            raise ConfigError("must be a positive duration", key="risk.margin.check_interval",
                              value=m.get("check_interval"))
    lending = {}
    for sym, t in _table(raw.get("lending", {}), "risk.lending").items():
        where = f"risk.lending.{sym}"
        if sym not in symbols:
            raise ConfigError("no instrument by this symbol", key=where, value=sym)
        t = _table(t, where)
        _unknown(t, {"lenders", "rate_bps", "hard_to_borrow", "exempt"}, where)
        exempt = t.get("exempt", [])
        if not isinstance(exempt, list) or not all(isinstance(e, str) for e in exempt):
            raise ConfigError("must be a list of account ids or agent groups", key=f"{where}.exempt", value=exempt)
        htb = t.get("hard_to_borrow", False)
        if not isinstance(htb, bool):
            raise ConfigError("must be true or false", key=f"{where}.hard_to_borrow", value=htb)
        lenders = {a: _int(n, f"{where}.lenders.{a}") for a, n in _table(t.get("lenders", {}),
                                                                           f"{where}.lenders").items()}
        rate = _int(t.get("rate_bps", HARD_TO_BORROW_BPS if htb else GENERAL_COLLATERAL_BPS), f"{where}.rate_bps")
        lending[sym] = PoolConfig(lenders, rate, htb, frozenset(exempt))
    recalls = []
    for i, r in enumerate(raw.get("recalls", []) or []):
        where = f"risk.recalls[{i}]"
        r = _table(r, where)
        _unknown(r, {"at", "symbol", "lender", "lots"}, where)
        if r.get("symbol") not in lending:
            raise ConfigError("must name an instrument with a [risk.lending] pool", key=f"{where}.symbol",
                              value=r.get("symbol"))
        recalls.append(RecallConfig(_dur(r.get("at"), f"{where}.at"), r["symbol"], str(r.get("lender", "")),
                                    _int(r.get("lots"), f"{where}.lots", 1)))
    kills = []
    for i, k in enumerate(raw.get("kills", []) or []):
        where = f"risk.kills[{i}]"
        k = _table(k, where)
        _unknown(k, {"at", "trader"}, where)
        if not isinstance(k.get("trader"), str):
            raise ConfigError("must name an account", key=f"{where}.trader", value=k.get("trader"))
        kills.append(KillConfig(_dur(k.get("at"), f"{where}.at"), k["trader"]))
    rule = raw.get("short_sale_rule", {})
    rules = {"*": rule} if isinstance(rule, str) else dict(_table(rule, "risk.short_sale_rule"))
    for sym, v in rules.items():
        if v not in ("none", "uptick", "ssr"):
            raise ConfigError("must be none, uptick or ssr", key=f"risk.short_sale_rule.{sym}", value=v)
    buy_in = raw.get("buy_in_order", "market")
    if buy_in not in ("market", "limit"):
        raise ConfigError("must be market or limit", key="risk.buy_in_order", value=buy_in)
    cfg = RiskConfig(limits, accounts, margin, lending,
                     _dur(raw.get("accrual_interval", "60s"), "risk.accrual_interval"), tuple(recalls),
                     _dur(raw.get("recall_deadline", "60s"), "risk.recall_deadline"), buy_in, rules,
                     _int(raw.get("ssr_drop_bps", 1000), "risk.ssr_drop_bps"), tuple(kills),
                     _dur(raw.get("sample_interval", "10s"), "risk.sample_interval"))
    for what in ("accrual_interval", "sample_interval"):
        if getattr(cfg, what) <= 0:
            raise ConfigError("must be a positive duration", key=f"risk.{what}", value=raw.get(what))
    return cfg


class RiskSection(Section):
    """Pre-trade risk checks at the venue boundary, Reg T margin with calls and liquidation, securities lending."""

    name = "risk"
    description = "pre-trade risk engine, margin calls and liquidation, locates, borrow fees, recalls, SSR"
    result = RiskResult

    def parse(self, raw: Any, ctx: ParseContext) -> RiskConfig:
        return parse_risk(raw, ctx)

    def prepare(self, sim: "Simulation", config: RiskConfig) -> RiskEngine:
        return RiskEngine(sim, config)

    def install(self, sim: "Simulation", config: RiskConfig, engine: RiskEngine) -> None:
        engine.install()

    def finish(self, sim: "Simulation", config: RiskConfig, engine: RiskEngine) -> None:
        if config.lending:
            engine.accrue()
            engine.sample()
        for row in engine.illiquid:
            sim.record("liquidation_failures", row)
        for table, rows in engine.rows.items():
            for row in rows:
                sim.record(table, row)
        sim.metrics["risk"] = result_of(engine)
        if config.margin is not None or config.lending:
            from market_sim.risk.plots import risk_png

            png = risk_png(sim, engine)
            if png is not None:
                sim.extra_files["risk.png"] = png


def result_of(engine: RiskEngine) -> RiskResult:
    rows = engine.rows
    scale = 10 ** next(iter(engine.sim.instruments.values())).quote_decimals if engine.sim.instruments else 1
    liq = rows["liquidations"]
    buy_ins = [r for r in rows["buy_ins"] if r["filled"]]
    si: dict[str, int] = {}
    util: dict[str, float] = {}
    for r in rows["short_interest"]:
        si[r["symbol"]] = max(si.get(r["symbol"], 0), r["short_interest"])
        util[r["symbol"]] = round(max(util.get(r["symbol"], 0.0), r["utilisation"]), 4)
    below = sum(1 for a in engine.margin_accounts if engine.config.margin is not None and
                engine.state(a).below_maintenance)
    return RiskResult(
        rejections=sum(engine.rejections.values()),
        margin_calls=sum(1 for r in rows["margin_calls"] if r["status"] == "issued"),
        liquidations=len(liq), liquidated_lots=sum(r["filled"] for r in liq),
        liquidation_cost=round(sum(r["cost"] for r in liq) / scale, 2), illiquid=len(engine.illiquid),
        below_maintenance_at_end=below, buy_ins=len(buy_ins), bought_in_lots=sum(r["filled"] for r in buy_ins),
        borrow_fees=round(sum(engine.borrow_fees.values()) / scale, 2),
        max_short_interest=si or None, max_utilisation=util or None,
        ssr_since={s: t / 1e9 for s, t in sorted(engine.ssr_active.items())} or None,
        rejections_by_reason=dict(sorted(engine.rejections.items())) or None)


register_section(RiskSection())
