"""Every shipped scenario runs to completion at reduced size; same config + seed gives the same trade log."""

import pandas as pd
import pytest

from market_sim.simulation.catalog import register_scenario, resolve_scenario, scenarios
from market_sim.simulation.results import table_hash
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

REDUCED = {
    "random-market": ["scenario.duration=2min", "agents.noise.count=10", "agents.fundamental.count=4",
                      "agents.momentum.count=3", "agents.market_maker.count=2"],
    "flash-crash": ["scenario.duration=4min", "agents.seller.start=1min"],
}


def test_catalog_lists_the_shipped_scenarios_with_descriptions():
    entries = scenarios()
    for name in ("random-market", "flash-crash"):
        assert entries[name].description and entries[name].package == "simulation"


@pytest.mark.parametrize("name", sorted(n for n, e in scenarios().items() if e.package == "simulation"))
def test_shipped_scenario_runs_reduced(name):
    sc = load_scenario(resolve_scenario(name), REDUCED.get(name, ["scenario.duration=1min"]))
    out = Simulation(sc).run()
    m = out.metrics
    assert m["trades"] > 50 and m["orders"] > m["trades"] / 10
    trades = pd.DataFrame(out.tables["trades"])
    assert (trades["price"] > 0).all() and (trades["quantity"] > 0).all()
    assert trades["ts"].is_monotonic_increasing and trades["ts"].max() <= sc.duration
    # Money is conserved: every trade moves cash between two agents, so cash sums to zero per symbol.
    pnl = pd.DataFrame(out.tables["agent_pnl"])
    assert pnl.groupby("symbol")["position"].sum().eq(0).all()


def test_flash_crash_dips_and_recovers():
    sc = load_scenario(resolve_scenario("flash-crash"), REDUCED["flash-crash"])
    out = Simulation(sc).run()
    snaps = pd.DataFrame(out.tables["book_snapshots"]).dropna(subset=["mid_value"])
    before = snaps[snaps.ts < 60 * 10**9]["mid_value"].median()
    during = snaps[(snaps.ts >= 60 * 10**9) & (snaps.ts < 120 * 10**9)]["mid_value"].min()
    after = snaps[snaps.ts >= 180 * 10**9]["mid_value"].median()
    assert during < before * 0.985           # the sell program moves the price down by > 1.5 %
    assert abs(after - before) < before * 0.01  # and value traders bring it back


def _trade_hash(seed: int) -> str:
    sc = load_scenario(resolve_scenario("random-market"), REDUCED["random-market"], seed=seed)
    return table_hash(pd.DataFrame(Simulation(sc).run().tables["trades"]))


def test_same_config_and_seed_give_identical_trade_logs():
    a, b = _trade_hash(11), _trade_hash(11)
    assert a == b
    assert _trade_hash(12) != a


def test_register_scenario_from_code(tmp_path, monkeypatch):
    import market_sim.simulation.catalog as catalog

    monkeypatch.setattr(catalog, "SCENARIOS", catalog.Registry("scenario", name_attr="name"))
    f = tmp_path / "mine.toml"
    f.write_text('[scenario]\ndescription = "my test scenario"\nduration = "5s"\n'
                 '[[instruments]]\nsymbol = "A"\ninitial_price = 10.0\n')
    register_scenario("test-mine", f)
    assert scenarios()["test-mine"].description == "my test scenario"
    assert resolve_scenario("test-mine") == f


def test_trade_log_is_identical_across_processes_with_different_hash_seeds():
    import os
    import subprocess
    import sys

    code = ("import pandas as pd\n"
            "from market_sim.simulation.catalog import resolve_scenario\n"
            "from market_sim.simulation.results import table_hash\n"
            "from market_sim.simulation.runner import Simulation\n"
            "from market_sim.simulation.scenario import load_scenario\n"
            f"sc = load_scenario(resolve_scenario('random-market'), {REDUCED['random-market']!r})\n"
            "print(table_hash(pd.DataFrame(Simulation(sc).run().tables['trades'])))\n")
    hashes = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    assert len(hashes) == 1 and hashes == {_trade_hash(1)}
