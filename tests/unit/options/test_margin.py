"""Short options margined by market_sim.risk with [risk.margin] options = true (the CBOE / Reg T rule): the writer's
requirement in a run, the refusal of a sale it cannot carry, the risk ledger following expiry, a margin call and the
liquidation that buys the short back -- exact figures in cents -- and the options-market chain with margined writers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import market_sim.options  # noqa: F401  (the section and agent types)
import market_sim.risk  # noqa: F401  (the section and the gbm_shock process)
from market_sim.core.orders import Side, TimeInForce
from market_sim.simulation.agents import Agent, register_agent_type
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario

from .test_section import BASE

SEC = 10 ** 9
C52 = "XYZ-1min-C52"


@register_agent_type
class _Passive(Agent):
    """Does nothing by itself; the test sends its orders."""

    kind = "test_margin_passive"


def _world(shock: float = 0.0, cash: float = 120.0) -> Simulation:
    raw: dict[str, Any] = {
        "scenario": {"name": "m", "seed": 1, "duration": "2min", "plugins": ["market_sim.options", "market_sim.risk"]},
        "instruments": copy.deepcopy(BASE["instruments"]),
        # a flat XYZ at 50.00 (sigma 0), optionally shocked by `shock` at 30 s
        "processes": {"XYZ": {"kind": "gbm_shock", "s0": 50.0, "sigma": 0.0, "dt": "1s", "shock_at": "30s",
                              "shock": shock}},
        "latency": {"default": "fixed:1ms"},
        "agents": [
            {"type": "market_maker", "name": "maker", "quantity": 100, "levels": 2, "interval": "1s",
             "half_spread_ticks": 1, "anchor": "fundamental", "max_inventory": 5000},
            {"type": "test_margin_passive", "name": "writer"},
            {"type": "test_margin_passive", "name": "buyer"},
            {"type": "test_margin_passive", "name": "backstop"},
        ],
        "options": {"year": "1h", "chains": {"XYZ": {"expiries": ["1min", "2min"], "strikes": [48, 50, 52],
                                                      "multiplier": 10}}},
        "risk": {"accounts": {"writer": {"cash": cash}},
                 "margin": {"check_interval": "1s", "call_deadline": "0s", "options": True}},
        "output": {"plots": False},
    }
    return Simulation(parse_scenario(raw), tune_gc=False).build()


def _write_one(sim: Simulation) -> None:
    """The writer sells one 52 call (10 units) at 1.20 to the buyer."""
    sim.run_until(2 * SEC)
    sim.agent("writer-1").submit(C52, Side.SELL, 1, 120, venue="options")
    sim.agent("buyer-1").submit(C52, Side.BUY, 1, 120, venue="options", tif=TimeInForce.IOC)
    sim.run_until(3 * SEC)


def test_the_writer_is_margined_by_the_cboe_rule_and_refused_beyond_it():
    sim = _world()
    _write_one(sim)
    eng = sim.state("risk")
    assert eng.mark("XYZ") == 5000 and eng.mark(C52) == 120  # XYZ mid 50.00, the call's last trade 1.20
    st = eng.state("writer-1")
    # cash 120.00 + 12.00 proceeds, the short marked at 12.00; requirement 1,200 + max(20% x 50,000 - OTM 2,000,
    # 10% x 50,000) = 9,200 cents, initial = maintenance
    assert (st.equity, st.short_value, st.initial, st.maintenance) == (12_000, 1_200, 9_200, 9_200)
    # ten more contracts would need 11 x 9,200
    sim.agent("writer-1").submit(C52, Side.SELL, 10, 120, venue="options")
    sim.run_until(4 * SEC)
    rej = eng.rows["risk_rejections"][-1]
    assert (rej["trader"], rej["symbol"], rej["reason"]) == ("writer-1", C52, "buying_power")
    assert rej["message"] == "requires initial margin 101200, equity would be 12000 (USD units)"
    # at expiry (S = 50 < 52) the call expires worthless: the risk ledger closes it with the accounts
    sim.run_until(61 * SEC)
    assert eng.ledger["writer-1"].positions[C52].quantity == 0 == sim.accounts["writer-1"].positions[C52].quantity
    st = eng.state("writer-1")
    assert (st.equity, st.short_value, st.initial) == (13_200, 0, 0)  # the premium kept


def test_a_margin_call_liquidates_the_short_call_through_the_book():
    sim = _world(shock=0.2)
    _write_one(sim)
    sim.agent("backstop-1").submit(C52, Side.SELL, 5, 900, venue="options")  # the only offer: 9.00
    sim.run_until(29 * SEC)
    eng = sim.state("risk")
    assert eng.rows["margin_calls"] == [] and eng.mark(C52) == 120  # no bid: marked at the last trade
    sim.run_until(35 * SEC)
    assert eng.mark("XYZ") == 6000  # +20 %: the call is 8.00 in the money
    call = eng.rows["margin_calls"][0]
    # equity 12,000 (the option's mark is still 1.20) against 1,200 + 20% x 60,000 = 13,200
    assert (call["account"], call["status"], call["equity"], call["maintenance"], call["deficit"]) == \
        ("writer-1", "issued", 12_000, 13_200, 1_200)
    liq = eng.rows["liquidations"]
    assert [(r["symbol"], r["side"], r["lots"], r["filled"], r["value"], r["mark_value"], r["cost"])
            for r in liq] == [(C52, "buy", 1, 1, 9_000, 1_200, 7_800)]
    st = eng.state("writer-1")
    assert (st.equity, st.initial, st.maintenance) == (4_200, 0, 0)  # 13,200 cash - 9,000 paid
    assert sim.accounts["writer-1"].balance("USD") == 4_200 and eng.lots("writer-1", C52) == 0
    assert [r["status"] for r in eng.rows["margin_calls"]] == ["issued", "liquidated"]


@pytest.mark.slow
def test_options_market_writers_are_refused_sales_they_cannot_margin():
    raw = copy.deepcopy(BASE)
    raw["scenario"]["plugins"] = ["market_sim.options", "market_sim.risk"]
    raw["scenario"]["duration"] = "50s"
    raw["options"]["chains"]["XYZ"]["expiries"] = ["25s", "50s"]
    raw["risk"] = {"accounts": {"omm": {"cash": 2000.0}, "vol": {"cash": 2000.0}},
                   "margin": {"check_interval": "1s", "options": True}}
    sim = Simulation(parse_scenario(raw), tune_gc=False).build()
    sim.run_until(sim.scenario.duration)
    eng = sim.state("risk")
    series = sim.state("options").series
    refused = [r for r in eng.rows["risk_rejections"] if r["symbol"] in series and r["reason"] == "buying_power"]
    assert {r["trader"] for r in refused} >= {"omm-1"}
    out = sim.finish()
    assert out.metrics["options"].open_after_expiry == 0
    for acct in ("omm-1", "vol-1"):  # the ledger followed every expiry: no option position left on either book
        assert all(p.quantity == 0 for s, p in eng.ledger[acct].positions.items() if s in series)
        assert all(p.quantity == 0 for s, p in sim.accounts[acct].positions.items() if s in series)
