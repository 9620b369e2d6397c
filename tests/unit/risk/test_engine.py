"""The engine's venue-time books agree with the simulation's accounts; liquidation sizes; limits from RiskLimits."""

from __future__ import annotations

import copy

from market_sim.analysis.risk import RiskLimits
from market_sim.risk.config import PreTradeLimits
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario

from .conftest import BASE, MS, SEC, engine, order, world


def test_ledger_matches_the_accounts_with_fees_once_reports_arrive():
    raw = copy.deepcopy(BASE)
    raw["venues"] = [{"name": "X", "kind": "orderbook", "instruments": ["XYZ"],
                      "fees": {"maker_bps": -1, "taker_bps": 3}}]
    raw["agents"] = [{"type": "test_risk_idle", "name": n} for n in ("p", "q")]
    raw["risk"] = {"accounts": {"p": {"cash": 5000.0}}, "margin": {}}
    sim = Simulation(parse_scenario(raw), tune_gc=False).build()
    order(sim, "q", "sell", 7, 10_001)
    order(sim, "p", "buy", 3, 10_005, at=MS)
    order(sim, "p", "buy", 4, 10_001, at=2 * MS)
    sim.run_until(SEC)
    eng = engine(sim)
    for aid in ("p-1", "q-1"):
        a, b = sim.accounts[aid], eng.ledger[aid]
        assert a.balances == b.balances and a.fees_paid == b.fees_paid
        assert {s: (p.quantity, p.cost, p.realized) for s, p in a.positions.items()} == \
            {s: (p.quantity, p.cost, p.realized) for s, p in b.positions.items()}
    # taker 3 bps, rounded up to a cent: 9.0009 -> 10 and 12.0012 -> 13
    assert sim.accounts["p-1"].balance("USD") == 500_000 - 7 * 10_001 - (10 + 13)


def test_liquidation_orders_are_capped_by_liquidation_lots():

    sim = world({"accounts": {"p": {"cash": 1000.0}},
                 "margin": {"call_deadline": "0s", "liquidation_lots": 2}}, agents=("p", "q", "r"))
    order(sim, "q", "sell", 20, 10_000)
    order(sim, "p", "buy", 20, 10_000, at=MS)
    order(sim, "r", "buy", 20, 6_000, at=100 * MS)
    order(sim, "r", "sell", 1, 6_400, at=100 * MS)
    sim.run_until(SEC)
    rows = engine(sim).rows["liquidations"]
    assert [r["lots"] for r in rows] == [2, 2, 2] and engine(sim).lots("p-1", "XYZ") == 14


def test_pre_trade_limits_from_the_analysis_risk_limits():
    lim = PreTradeLimits.from_risk_limits(RiskLimits(max_position={"*": 100, "XYZ": 20.0}), max_order_quantity=5)
    assert lim.position_limit("XYZ") == 20 and lim.position_limit("ABC") == 100 and lim.max_order_quantity == 5
