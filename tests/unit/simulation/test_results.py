"""Results: run folder contents, SQLite index, load_run DataFrames, and the CLI commands."""

import json

import pandas as pd
from typer.testing import CliRunner

from market_sim.cli.main import app
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.results import RunIndex, load_run, table_hash, write_run
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

SMALL = ["scenario.duration=30s", "agents.noise.count=6", "agents.fundamental.count=2", "agents.momentum.count=2",
         "agents.market_maker.count=1"]


def test_write_and_load_run(tmp_path):
    sc = load_scenario(resolve_scenario("random-market"), SMALL + ["output.format=csv"])
    rec = write_run(Simulation(sc).run(), tmp_path, overrides=SMALL)
    folder = tmp_path / rec.run_id
    names = {p.name for p in folder.iterdir()}
    for f in ("trades.csv", "orders.csv", "order_events.csv", "book_snapshots.csv", "agent_pnl.csv",
              "pnl_series.csv", "metrics.json", "scenario.json", "scenario.toml",
              "run.json", "prices.png", "spread_depth.png", "pnl.png"):
        assert f in names, f
    assert json.loads((folder / "scenario.json").read_text())["scenario"]["duration"] == "30s"
    data = load_run(rec.run_id[:20], tmp_path)
    assert data.run_id == rec.run_id
    assert len(data["trades"]) == rec.metrics["trades"] > 0
    assert "chain_transactions.csv" not in names  # chain tables belong to the chain side (no chain: no table)
    assert list(data["pnl_series"].columns) == ["ts", "agent", "group", "currency", "pnl", "pnl_value"]
    assert load_run(folder).run_id == rec.run_id
    listed = RunIndex(tmp_path / "index.sqlite").list()
    assert [r.run_id for r in listed] == [rec.run_id] and listed[0].params["overrides"] == SMALL


def test_parquet_round_trip_keeps_the_trade_log(tmp_path):
    sc = load_scenario(resolve_scenario("random-market"), SMALL)
    out = Simulation(sc).run()
    rec = write_run(out, tmp_path, plots=False)
    assert table_hash(load_run(rec.run_id, tmp_path)["trades"]) == table_hash(pd.DataFrame(out.tables["trades"]))


def test_cli_list_run_runs_show(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["list"])
    assert r.exit_code == 0 and "random-market" in r.output and "flash-crash" in r.output
    args = ["run", "random-market", "--out", str(tmp_path), "--seed", "5", "--no-plots", "--quiet"]
    for s in SMALL:
        args += ["--set", s]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "trades" in r.output and "AAPL" in r.output
    run_id = RunIndex(tmp_path / "index.sqlite").list()[0].run_id
    assert run_id.endswith("random-market-s5")
    r = runner.invoke(app, ["runs", "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and run_id in r.output
    r = runner.invoke(app, ["show", run_id, "--out", str(tmp_path)])
    assert r.exit_code == 0 and "metrics.json" in r.output


def test_cli_bad_override_is_a_clean_error(tmp_path, capsys):
    from market_sim.cli.main import main

    code = main(["run", "random-market", "--out", str(tmp_path), "--set", "agents.noise.interval=soon"])
    assert code == 1
    err = capsys.readouterr().err
    assert "agents.noise.interval" in err and "soon" in err and "Traceback" not in err


def test_a_runs_scenario_json_replays_the_same_trades(tmp_path):
    sc = load_scenario(resolve_scenario("flash-crash"), ["scenario.duration=1min", "agents.seller.start=20s"])
    first = write_run(Simulation(sc).run(), tmp_path, plots=False)
    again = load_scenario(tmp_path / first.run_id / "scenario.json")
    second = write_run(Simulation(again).run(), tmp_path, plots=False)
    assert first.run_id != second.run_id
    assert table_hash(load_run(first.run_id, tmp_path)["trades"]) == table_hash(
        load_run(second.run_id, tmp_path)["trades"])
