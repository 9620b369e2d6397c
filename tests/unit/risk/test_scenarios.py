"""The shipped risk scenarios at reduced size: the cascade deepens the fall, the squeeze lifts the price; results
are typed and read back from metrics.json."""

from __future__ import annotations

import pandas as pd

from market_sim.risk.section import RiskResult
from market_sim.simulation.catalog import resolve_scenario, scenarios
from market_sim.simulation.metrics import metrics_json, results_from_json, run_results
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

SEC = 1_000_000_000


def _run(name: str, overrides: list[str]):
    sim = Simulation(load_scenario(resolve_scenario(name), overrides))
    return sim, sim.run()


def test_catalog_lists_the_risk_scenarios():
    entries = scenarios()
    for name in ("margin-cascade", "short-squeeze"):
        assert entries[name].description and entries[name].package == "risk"


def test_margin_cascade_liquidations_take_the_price_below_the_new_fundamental():
    sim, out = _run("margin-cascade", ["scenario.duration=6min", "processes.XYZ.shock_at=90s",
                                       "agents.noise.count=8"])
    r = out.metrics["risk"]
    assert isinstance(r, RiskResult) and r.liquidations > 0 and r.margin_calls > 0
    assert r.below_maintenance_at_end == 0
    liq = pd.DataFrame(out.tables["liquidations"])
    assert (liq["filled"] <= liq["lots"]).all() and set(liq["side"]) == {"sell"}
    trades = pd.DataFrame(out.tables["trades"])
    tick = 0.01
    after_shock = 50.0 * (1 - 0.12)
    assert trades["price"].min() * tick < after_shock * 0.98  # the cascade overshoots the new fundamental by > 2 %
    # typed results survive metrics.json
    back = results_from_json(metrics_json(run_results(out.metrics)))
    assert back["risk"] == r
    assert "risk.png" in out.extra_files


def test_short_squeeze_recall_forces_buy_ins_that_lift_the_price():
    sim, out = _run("short-squeeze", ["scenario.duration=4min", "risk.recalls.0.at=2min",
                                      "agents.noise.count=8"])
    r = out.metrics["risk"]
    assert r.buy_ins > 0 and r.bought_in_lots == 600  # 1,000 short against 400 left after the recall
    eng = sim.state("risk")  # fees accrue (under a cent per short over 4 min: carried, not yet charged)
    assert sum(eng._fee_carry.values()) > 0
    assert r.max_utilisation["XYZ"] > 1  # after the recall, until the buy-ins cover it
    trades = pd.DataFrame(out.tables["trades"])
    before = trades[(trades.ts > 90 * SEC) & (trades.ts < 120 * SEC)]["price"].median()
    squeeze = trades[(trades.ts > 120 * SEC) & (trades.ts < 180 * SEC)]["price"].max()
    assert squeeze > before * 1.02
    si = pd.DataFrame(out.tables["short_interest"])
    assert si["supply"].iloc[-1] == 400 and si["short_interest"].iloc[-1] <= 400
