"""`market-sim bench settlement --quick` smoke test: runs, reports every batch size and the baseline."""

from __future__ import annotations

import pytest

from market_sim.benchmarks.settlement import BATCH_SIZES, run

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_settlement_bench_quick():
    result = run(quick=True, progress=False)
    assert [r["batch_size"] for r in result["results"]] == list(BATCH_SIZES)
    for row in result["results"]:
        assert row["trades"] >= row["batch_size"] and row["gas_per_trade"] > 0
    # gas is deterministic for the seeded workload (unlike speed, which the benchmark only reports)
    at500 = next(r for r in result["results"] if r["batch_size"] == 500)
    assert at500["gas_per_trade"] <= 5_000 == result["targets"]["gas_per_trade_at_500"]["target"]
    assert result["baseline_one_tx_per_trade"]["gas_per_trade"] > 20 * at500["gas_per_trade"]
