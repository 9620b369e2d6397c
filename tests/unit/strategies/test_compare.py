"""`market-sim strategies compare`: which strategies run, each alone in the scenario's market on the same seeds, the
figures against the run's own accounts, the table and plots, and clear usage errors (exit 2)."""

import math

import pandas as pd
import pytest

from market_sim.cli.main import main
from market_sim.core.errors import ConfigError
from market_sim.simulation.runner import Simulation
from market_sim.strategies import compare as cmp

SHORT = ["scenario.duration=20s"]


def test_default_strategies_are_the_scenarios_own_library_agents():
    tables = cmp.resolve_strategies("strategies-hft", None, SHORT)
    assert list(tables) == ["as", "glft", "queue", "imbalance"]
    assert tables["as"]["type"] == "avellaneda_stoikov" and tables["as"]["gamma"] == 0.05
    assert all(t["count"] == 1 for t in tables.values())


def test_a_type_name_uses_the_scenarios_table_of_that_type_or_the_defaults():
    tables = cmp.resolve_strategies("strategies-hft", ["gueant_mm", "twap"], SHORT)
    assert tables["gueant_mm"]["latency"] == "fixed:50us" and tables["gueant_mm"]["name"] == "gueant_mm"
    assert tables["twap"] == {"type": "twap", "name": "twap", "count": 1}


def test_unknown_strategy_and_a_scenario_without_strategies_are_config_errors():
    with pytest.raises(ConfigError, match="unknown strategy"):
        cmp.resolve_strategies("strategies-hft", ["as", "nope"])
    with pytest.raises(ConfigError, match="no library strategy"):
        cmp.resolve_strategies("random-market")
    assert "env_quoter" not in cmp.library_kinds() and "sma_crossover" in cmp.library_kinds()


def test_each_strategy_runs_alone_and_its_pnl_is_the_accounts():
    runs, paths = cmp.compare("strategies-hft", ["as", "imbalance"], [11], SHORT)
    assert [(r.strategy, r.seed) for r in runs] == [("as", 11), ("imbalance", 11)]
    # the same world, built the way compare builds it, run plainly: the recorder's PnL of the strategy's agent
    path, raw = cmp._raw("strategies-hft", SHORT)
    table = cmp.resolve_strategies("strategies-hft", ["as"], SHORT)["as"]
    sim = Simulation(cmp._scenario_for(raw, path, table, 11))
    out = sim.run()
    groups = {sim.agent_groups[a.id] for a in sim.agents}
    assert "as" in groups and not groups & {"glft", "queue", "imbalance"}
    pnl = pd.DataFrame(out.tables["agent_pnl"]).set_index("agent")
    a = runs[0]
    assert a.pnl == pytest.approx(float(pnl.loc["as-1", "pnl_value"]), abs=0.005)
    assert a.fills == int(pnl.loc["as-1", "fills"]) > 0
    assert 0 < a.fill_rate <= 1 and a.max_inventory <= 50 and a.fees == 0.0 and math.isfinite(a.sharpe)
    p = paths[("as", 11)]
    assert p["t"].iloc[0] == 0 and p["t"].iloc[-1] == 20 and len(p) == 21 and p["pnl"].iloc[-1] == pytest.approx(a.pnl)
    assert a.max_drawdown == pytest.approx(max(p["pnl"].cummax() - p["pnl"]), abs=0.01)


def test_the_same_seed_gives_the_same_figures():
    a, _ = cmp.compare("strategies-hft", ["glft"], [3], SHORT)
    b, _ = cmp.compare("strategies-hft", ["glft"], [3], SHORT)
    assert a == b


def test_cli_prints_the_table_and_writes_the_plots(tmp_path, capsys):
    code = main(["strategies", "compare", "strategies-hft", "--strategies", "as,queue", "--seeds", "2",
                 "--set", "scenario.duration=10s", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "PnL (USD)" in out and "fill rate" in out and "queue" in out
    assert (tmp_path / "compare.png").stat().st_size > 10_000 and (tmp_path / "compare_pnl.png").is_file()
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(zip(runs.strategy, runs.seed)) == [("as", 11), ("queue", 11), ("as", 12), ("queue", 12)]


@pytest.mark.parametrize("args, hint", [
    (["strategies", "compare", "strategies-hft", "--strategies", "as,nope"], "unknown strategy"),
    (["strategies", "compare", "no-such-scenario"], "no scenario or file by this name"),
    (["strategies", "compare", "random-market"], "no library strategy"),
    (["strategies", "compare", "strategies-hft", "--seeds", "0"], "at least 1"),
    (["strategies", "compare", "strategies-hft", "--sample", "soon"], "--sample"),
    (["strategies", "compare", "strategies-hft", "--sample", "0s"], "positive duration"),
    (["strategies", "compare", "strategies-hft", "--capital", "0"], "must be positive"),
])
def test_usage_errors_exit_2_without_a_traceback(args, hint, capsys, tmp_path):
    code = main([*args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and hint in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
