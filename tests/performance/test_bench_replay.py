"""Smoke run of `market-sim bench replay`: seeded input, every figure in the JSON, the process replay works."""

from __future__ import annotations

import json

from market_sim.benchmarks.replay import make_csv, run
from market_sim.cli.main import main


def test_generated_csv_is_seeded_and_has_the_mix(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    make_csv(a, 3000)
    make_csv(b, 3000)
    assert a.read_bytes() == b.read_bytes()
    rows = a.read_text().splitlines()[1:]
    actions = [r.split(",", 1)[0] for r in rows]
    assert len(rows) == 3000
    assert 0.55 < actions.count("new") / len(rows) < 0.80 and 0.15 < actions.count("cancel") / len(rows) < 0.35
    assert 0.02 < actions.count("modify") / len(rows) < 0.08


def test_quick_benchmark_reports_all_figures(monkeypatch):
    import market_sim.benchmarks.replay as bench

    monkeypatch.setattr(bench, "ROWS_QUICK", 20_000)
    result = run(quick=True, progress=False)
    assert result["rows"] == 20_000 and result["rows_per_second"] > 0 and result["rows_per_cpu_second"] > 0
    assert result["in_process"]["rows_per_second"] > 0
    assert result["trades"] > 0 and result["malformed_rows"] == 2   # one off-grid price per 10,000 rows
    assert set(result["output_bytes"]) == {"trades.csv", "events.csv", "book.json"}
    json.dumps(result)


def test_cli_bench_replay_json(capsys, monkeypatch):
    import market_sim.benchmarks.replay as bench

    monkeypatch.setattr(bench, "ROWS_QUICK", 2000)
    assert main(["bench", "replay", "--quick", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["benchmark"] == "replay"
