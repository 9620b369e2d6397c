"""Smoke run of `market-sim bench matching --quick`: the JSON has every figure, reproducibly."""

from __future__ import annotations

import json

import pytest

from market_sim.benchmarks.matching import make_stream, run
from market_sim.cli.main import main


def test_stream_is_seeded_and_has_the_mix():
    a, b = make_stream(5000, 10), make_stream(5000, 10)
    assert a == b
    names = [type(c).__name__ for c in a]
    assert 0.55 < names.count("NewOrder") / len(a) < 0.75
    assert 0.20 < names.count("CancelOrder") / len(a) < 0.30
    assert 0.03 < names.count("ModifyOrder") / len(a) < 0.07


@pytest.mark.perf  # benchmark smoke run: `make test-extended`
def test_quick_benchmark_reports_all_figures():
    result = run(quick=True, progress=False)
    assert [s["instruments"] for s in result["streams"]] == [1, 10]
    for s in result["streams"]:
        assert s["operations"] == 20_000 and s["ops_per_sec"] > 0 and s["trades"] > 0
        assert 0 < s["latency_us"]["p50"] <= s["latency_us"]["p99"] <= s["latency_us"]["p99.9"]
    for m in result["memory"]:
        assert m["resting_orders"] == 20_000 and m["bytes_per_resting_order"] > 0 and m["peak_rss_mb"] > 0
    json.dumps(result)


def test_cli_bench_matching_json(capsys, monkeypatch):
    import market_sim.benchmarks.matching as bench

    monkeypatch.setattr(bench, "OPS_QUICK", 2000)
    monkeypatch.setattr(bench, "RESTING_QUICK", 2000)
    assert main(["bench", "matching", "--quick", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["benchmark"] == "matching"
