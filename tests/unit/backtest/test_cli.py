"""`market-sim backtest` and `market-sim report`: results folders indexed like runs, clear errors, no partial
folder, tear sheets for backtests and simulation runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from market_sim.cli.main import main
from market_sim.simulation.results import RunIndex, load_run

ROOT = Path(__file__).resolve().parents[3]
ORCL_FILE = ROOT / "examples" / "data" / "orcl-1995-2014.txt"


def test_backtest_writes_an_indexed_run_and_report(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["backtest", "sma_crossover", str(ORCL_FILE), "--set", "fast=20", "--set", "slow=50",
                 "--set", "fraction=1.0", "--taker-bps", "5", "--out", str(runs), "-q"])
    out = capsys.readouterr().out
    assert code == 0 and "total return" in out and "Conventions: bars 1d, annualisation factor 252" in out
    recs = RunIndex(runs / "index.sqlite").list()
    assert len(recs) == 1 and recs[0].status == "complete" and recs[0].scenario == "backtest-sma_crossover"
    run = load_run(recs[0].run_id, runs)
    assert set(run.tables) == {"equity", "fills", "trades", "positions", "bars"}
    assert len(run["fills"]) == 107 and run.metrics["kind"] == "backtest"
    assert run["fills"]["fee"].gt(0).all()  # 5 bps taker on every fill
    assert run.scenario["params"] == {"fast": 20, "slow": 50, "fraction": 1.0}
    assert run.metrics["final_equity"] == pytest.approx(run["equity"]["equity"].iloc[-1])

    capsys.readouterr()
    assert main(["show", recs[0].run_id, "--out", str(runs)]) == 0   # `show` reprints a backtest's own summary
    shown = capsys.readouterr().out
    assert "round trips / hit rate" in shown and "53 /" in shown

    assert main(["report", recs[0].run_id, "--runs", str(runs)]) == 0
    folder = Path(recs[0].path) / "report"
    names = {p.name for p in folder.iterdir()}
    assert names == {"report.html", "equity_drawdown.png", "rolling.png", "calendar_returns.png",
                     "return_distribution.png", "exposure.png"}
    page = (folder / "report.html").read_text()
    assert "data:image/png;base64," in page and "http" not in page.replace("http-equiv", "")  # offline
    assert "annualisation factor 252" in page and "Fill rules" in page and "Value at risk" in page


@pytest.mark.parametrize("args, message", [
    (["no_such_strategy", str(ORCL_FILE)], "unknown strategy"),
    (["sma_crossover", "missing.csv"], "no such file"),
    (["sma_crossover", str(ORCL_FILE), "--set", "fast=60"], "fast must be shorter"),
    (["sma_crossover", str(ORCL_FILE), "--set", "speed=3"], "unknown key"),
    (["sma_crossover", str(ORCL_FILE), "--tick-size", "0.01"], "line 2"),
    (["sma_crossover", str(ORCL_FILE), "--slippage", "lots:3"], "slippage"),
    (["sma_crossover", str(ORCL_FILE), "--participation", "2"], "participation"),
])
def test_bad_input_is_a_clear_error_and_leaves_no_folder(tmp_path, capsys, args, message):
    runs = tmp_path / "runs"
    assert main(["backtest", *args, "--out", str(runs), "-q"]) == 1
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err
    assert not runs.exists() or [p.name for p in runs.iterdir() if p.name != "index.sqlite"] == []


def test_bad_row_in_the_data_names_file_line_and_column(tmp_path, capsys):
    p = tmp_path / "bad.csv"
    p.write_text("Date,Open,High,Low,Close,Volume\n2020-01-02,10,11,9,10,100\n2020-01-03,10,x,9,10,100\n")
    assert main(["backtest", "sma_crossover", str(p), "--out", str(tmp_path / "runs"), "-q"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "bad.csv, line 3, column 'high'" in err


def test_report_of_a_simulation_run(tmp_path, capsys):
    scenario = tmp_path / "s.toml"
    scenario.write_text("""
[scenario]
name = "tiny"
seed = 2
duration = "120s"
[[instruments]]
symbol = "XYZ"
tick_size = "0.01"
initial_price = 100.0
[processes.XYZ]
kind = "gbm"
s0 = 100.0
sigma = 1.0
dt = "1s"
[[venues]]
name = "exchange"
kind = "orderbook"
[latency]
default = "fixed:1ms"
[[agents]]
type = "market_maker"
count = 2
half_spread_ticks = 2
quantity = 10
interval = "1s"
[[agents]]
type = "sma_crossover"
count = 1
fast = 3
slow = 8
quantity = 5
[output]
plots = false
pnl_interval = "5s"
""")
    runs = tmp_path / "runs"
    assert main(["run", str(scenario), "--out", str(runs), "-q", "--no-plots"]) == 0
    rec = RunIndex(runs / "index.sqlite").list()[0]
    capsys.readouterr()
    assert main(["report", rec.run_id, "--runs", str(runs), "--agent", "sma_crossover-1", "--capital", "10000"]) == 0
    page = (Path(rec.path) / "report" / "report.html").read_text()
    assert "sma_crossover-1" in page and "starting capital of 10,000" in page and "Conventions" in page
    assert main(["report", rec.run_id, "--runs", str(runs), "--agent", "nobody"]) == 1
    assert "no such agent" in capsys.readouterr().err
    info = json.loads((Path(rec.path) / "run.json").read_text())
    assert info.get("kind") is None  # a simulation run, reported from its pnl_series


def test_l2_backtest_from_the_command_line(tmp_path, capsys):
    btc = ROOT / "examples" / "data" / "btcusdt_20240808.binance-spot.jsonl.gz"
    runs = tmp_path / "runs"
    args = ["backtest", "market_maker", str(btc), "--symbol", "BTCUSDT", "--tick-size", "0.01", "--lot-size",
            "0.000001", "--currency", "USDT", "--cash", "1000", "--set", "half_spread_ticks=1", "--set",
            "quantity=1000", "--set", "levels=1", "--set", "anchor=mid", "--set", "max_inventory=20000",
            "--queue", "pessimistic", "--entry-latency", "fixed:5ms", "--out", str(runs), "-q"]
    assert main(args) == 0
    assert "messages replayed" in capsys.readouterr().out
    rec = RunIndex(runs / "index.sqlite").list()[0]
    run = load_run(rec.run_id, runs)
    assert run.scenario["mode"] == "l2" and run.metrics["messages"] == 133_829 and len(run["fills"]) > 50
    assert main(["report", rec.run_id, "--runs", str(runs)]) == 0
    assert "L2 replay" in (Path(rec.path) / "report" / "report.html").read_text()
    assert main([*args[:-7], "--queue", "optimistic", "--out", str(tmp_path / "r2"), "-q"]) == 1
    assert "pessimistic, proportional or probabilistic" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "r2").exists() or [p.name for p in (tmp_path / "r2").iterdir()
                                              if p.name != "index.sqlite"] == []
