"""Smoke test of `market-sim bench strategies --quick`: a callback and a decision time for every HFT strategy."""

from __future__ import annotations

import pytest

from market_sim.cli.bench import run_benchmark

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_bench_strategies_quick() -> None:
    result = run_benchmark("strategies", quick=True, progress=False)
    assert set(result["strategies"]) == {"avellaneda_stoikov", "gueant_mm", "queue_maker", "imbalance_taker",
                                         "latency_arb"}
    for kind, row in result["strategies"].items():
        assert row["callbacks"] > 0 and row["decisions"] > 0, kind
        assert 0 < row["callback_p50_us"] <= row["callback_p99_us"], kind
