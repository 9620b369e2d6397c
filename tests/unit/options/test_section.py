"""The [options] section in a simulation: chains listed on the exchange, expiry on the clock, exercise requests, the
agents, and the shipped options-market scenario."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

import market_sim.options  # noqa: F401  (registers the section and the agent types)
from market_sim.core.errors import ConfigError
from market_sim.core.orders import Side, TimeInForce
from market_sim.simulation.agents import Agent, register_agent_type
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario, parse_scenario

SEC = 10 ** 9

BASE: dict[str, Any] = {
    "scenario": {"name": "t", "seed": 4, "duration": "2min", "plugins": ["market_sim.options"]},
    "instruments": [{"symbol": "XYZ", "tick_size": "0.01", "initial_price": 50.0, "base_decimals": 0,
                     "quote_decimals": 2}],
    "processes": {"XYZ": {"kind": "gbm", "s0": 50.0, "sigma": 0.3, "rate_unit": "1h", "dt": "1s"}},
    "latency": {"default": "fixed:1ms"},
    "agents": [
        {"type": "market_maker", "name": "maker", "count": 2, "quantity": 100, "levels": 4, "interval": "1s",
         "half_spread_ticks": 1, "max_inventory": 5000},
        {"type": "options_market_maker", "name": "omm", "instruments": ["XYZ"], "interval": "2s"},
        {"type": "options_retail", "name": "retail", "count": 6, "instruments": ["XYZ"], "interval": "3s",
         "min_time_left": "10s"},
        {"type": "vol_trader", "name": "vol", "instruments": ["XYZ"], "interval": "3s", "window": 5,
         "min_time_left": "10s"},
    ],
    "options": {"year": "1h", "chains": {"XYZ": {"expiries": ["1min", "2min"], "strikes": [48, 49, 50, 51, 52],
                                                  "multiplier": 10}}},
    "output": {"plots": False},
}


def scenario(drop: tuple[str, ...] = (), **changes: Any) -> Any:
    raw = copy.deepcopy(BASE)
    for key in drop:
        raw.pop(key)
    for key, value in changes.items():
        node = raw
        *path, last = key.split(".")
        for p in path:
            node = node[p]
        node[last] = value
    return parse_scenario(raw)


@register_agent_type
class _Holder(Agent):
    kind = "test_options_holder"


def test_chain_is_listed_on_its_own_order_book():
    sim = Simulation(scenario(), tune_gc=False).build()
    market = sim.state("options")
    assert len(market.series) == 2 * 2 * 5 and "XYZ-1min-C50" in sim.venues["options"].symbols
    inst = sim.instruments["XYZ-2min-P48"]
    assert inst.option.strike == Decimal(48) and inst.option.expiry == 120 * SEC and inst.lot_size == 10
    assert inst.strike_ticks == 4800 and inst.quote_units_per_lot_tick == 10
    assert [i.symbol for i in market.chains["XYZ"]][:3] == ["XYZ-1min-C48", "XYZ-1min-C49", "XYZ-1min-C50"]


def test_a_run_expires_every_series_with_nothing_left_open_and_conserves_cash():
    sim = Simulation(scenario(), tune_gc=False)
    out = sim.run()
    market = sim.state("options")
    res = out.metrics["options"]
    assert res.option_trades > 0 and res.open_after_expiry == 0
    assert market.clearing.expired == set(market.series)
    totals = sim.accounts.totals()
    assert totals.get("USD", 0) == 0 and totals.get("XYZ", 0) == 0
    for acct in sim.accounts:
        for sym in market.series:
            assert acct.balance(sym) == 0
            pos = acct.positions.get(sym)
            assert pos is None or pos.quantity == 0
    for r in out.tables["option_settlements"]:  # every settlement cash flow is the integer intrinsic value
        signed = r["contracts"] if r["kind"] == "exercise" else -r["contracts"]
        assert r["cash"] == (0 if r["kind"] == "expiry" else signed * 10 * r["intrinsic_ticks"])
    # no order rests in an expired series, no trade after a series' trading cutoff
    for sym in market.series:
        bids, asks = sim.venues["options"].engine.book(sym).l3(include_hidden=True)
        assert bids == [] and asks == []
    for t in market.trades:
        assert t["ts"] <= market.series[t["symbol"]].option.expiry - market.config.trading_cutoff
    rows = out.tables["mm_pnl"]
    assert rows and abs(sum(r["unexplained"] for r in rows)) < 0.2 * sum(
        abs(r[k]) for r in rows for k in ("delta", "gamma", "vega", "theta", "vanna_volga", "edge"))


def test_exercise_requests_travel_to_the_clearing_house():
    raw_agents = [{"type": "test_options_holder", "name": "h", "instruments": ["XYZ"]},
                  {"type": "test_options_holder", "name": "w", "instruments": ["XYZ"]}]
    sim = Simulation(scenario(("processes",), **{"agents": raw_agents,
                                                 "options.chains.XYZ.style": "american"}), tune_gc=False)
    sim.build()
    h, w = sim.agent("h-1"), sim.agent("w-1")
    market = sim.state("options")
    sim.run_until(SEC)
    w.submit("XYZ-2min-C48", Side.SELL, 4, 300, venue="options")
    h.submit("XYZ-2min-C48", Side.BUY, 4, 300, tif=TimeInForce.IOC, venue="options")
    sim.run_until(2 * SEC)
    assert h.account.positions["XYZ-2min-C48"].quantity == 40
    market.request_exercise("h-1", "XYZ-2min-C48", 3)   # no XYZ book: its initial 50.00, 2.00 in the money
    market.request_exercise("h-1", "XYZ-2min-C52", 1)   # holds none: refused
    sim.run_until(3 * SEC)
    assert [(r.account, r.kind, r.contracts, r.cash) for r in market.settlements] == [
        ("h-1", "exercise", 3, 3 * 10 * 200), ("w-1", "assignment", 3, -3 * 10 * 200)]
    assert [r["symbol"] for r in market.refused] == ["XYZ-2min-C52"]
    assert h.balance("USD") == -4 * 10 * 300 + 6000


def test_retail_exercises_american_series_early_and_shorts_are_assigned():
    agents = copy.deepcopy(BASE["agents"])
    agents[2].update(exercise_itm_ticks=100, max_otm=0.02, min_otm=0.0)
    sim = Simulation(scenario(**{"agents": agents, "options.chains.XYZ.style": "american"}), tune_gc=False)
    out = sim.run()
    market = sim.state("options")
    early = [r for r in market.settlements if r.ts < market.series[r.symbol].option.expiry]
    assert early, "some holder exercised early"
    for ts in sorted({r.ts for r in early}):
        rows = [r for r in early if r.ts == ts]
        held = sum(r.contracts for r in rows if r.kind == "exercise")
        assert held == sum(r.contracts for r in rows if r.kind == "assignment")
        assert sum(r.cash for r in rows) == 0
    assert out.metrics["options"].open_after_expiry == 0
    assert sim.accounts.totals().get("USD", 0) == 0


@pytest.mark.parametrize("key,value,match", [
    ("options.chains.XYZ.expiries", ["3min"], "after the end of the run"),
    ("options.chains.XYZ.strikes", [50.005], "strike"),
    ("options.chains.XYZ.style", "bermudan", "must be one of"),
    ("options.chains.XYZ.multiplier", 0, "positive integer"),
    ("options.rate", "x", "must be a number"),
    ("options.colour", "red", "unknown key"),
])
def test_bad_options_sections_say_which_key(key, value, match):
    with pytest.raises(ConfigError, match=match):
        scenario(**{key: value})


def test_an_unknown_underlying_is_refused():
    raw = copy.deepcopy(BASE)
    raw["options"]["chains"] = {"ABC": raw["options"]["chains"]["XYZ"]}
    with pytest.raises(ConfigError) as e:
        parse_scenario(raw)
    assert e.value.key == "options.chains.ABC"


def _shipped(**overrides: str) -> Any:
    return load_scenario(resolve_scenario("options-market"), [f"{k}={v}" for k, v in overrides.items()])


def test_the_shipped_scenario_in_short():
    sc = _shipped(**{"scenario.duration": '"3min"', "options.chains.XYZ.expiries": '["90s", "3min"]'})
    out = Simulation(sc, tune_gc=False).run()
    res = out.metrics["options"]
    assert res.open_after_expiry == 0 and res.option_trades > 0 and res.smile_points >= 5
    assert set(res.mm_pnl) == {"delta", "gamma", "vega", "theta", "vanna_volga", "edge", "unexplained",
                               "total"}
    assert {"options.png", "options_pnl.png"} <= set(out.extra_files)


@pytest.mark.slow
def test_the_shipped_scenario():
    out = Simulation(_shipped(), tune_gc=False).run()
    res = out.metrics["options"]
    assert res.open_after_expiry == 0 and res.smile_points >= 10
    assert res.mm_unexplained_share is not None and res.mm_unexplained_share < 0.02
    assert abs(res.mm_pnl["unexplained"]) < 0.05 * abs(res.mm_pnl["total"])
    assert res.smile_rmse_vs_maker is not None and res.smile_rmse_vs_maker < 0.05


def test_short_options_are_margined_by_the_risk_section():
    """With [risk.margin] and no `options` rule, option positions are margined like any order-book position: Reg T
    on the premium at the series' mark (the CBOE rule: test_margin.py)."""
    import math

    import market_sim.risk  # noqa: F401
    from market_sim.risk.margin import ceil_bps

    raw = copy.deepcopy(BASE)
    raw["scenario"]["plugins"] = ["market_sim.options", "market_sim.risk"]
    raw["risk"] = {"accounts": {"omm": {"cash": 100000.0}}, "margin": {"check_interval": "1s"}}
    sim = Simulation(parse_scenario(raw), tune_gc=False).build()
    sim.run_until(50 * SEC)
    eng = sim.state("risk")
    acct = sim.accounts["omm-1"]
    shorts = {s: p.quantity for s, p in acct.positions.items() if p.quantity < 0}
    assert any(s in sim.state("options").series for s in shorts)
    st = eng.state("omm-1")
    values = [math.ceil(-q * eng.mark(s)) for s, q in shorts.items()]
    assert st.short_value == sum(values)
    assert st.initial >= sum(ceil_bps(v, 5000) for v in values)
    sim.run_until(sim.scenario.duration)
    out = sim.finish()
    assert out.metrics["options"].open_after_expiry == 0 and len(sim.state("options").clearing.expired) == 20


def test_physical_settlement_in_a_run_delivers_the_underlying_and_conserves_it():
    sim = Simulation(scenario(**{"options.chains.XYZ.settlement": "physical"}), tune_gc=False)
    out = sim.run()
    market = sim.state("options")
    exercised = [r for r in market.settlements if r.kind != "expiry"]
    assert exercised and out.metrics["options"].open_after_expiry == 0
    for r in exercised:  # contracts x multiplier units at the strike, the strike in cents per unit
        inst = market.series[r.symbol]
        signed = r.contracts if r.kind == "exercise" else -r.contracts
        units = signed * 10 * (1 if inst.option.is_call else -1)
        assert r.underlying == units and r.cash == -units * inst.strike_ticks
    totals = sim.accounts.totals()
    assert totals.get("USD", 0) == 0 and totals.get("XYZ", 0) == 0
