"""Smoke test of `market-sim bench simulation --quick`: the benchmark runs and reports its figures."""

import pytest

from market_sim.cli.bench import run_benchmark

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_bench_simulation_quick():
    r = run_benchmark("simulation", quick=True, progress=False)
    assert r["kernel"]["events"] > 150_000 and r["kernel"]["pending"] == 1_000
    assert r["kernel"]["events_per_second"] > 0 and r["heapq_baseline"]["events_per_second"] > 0
    rm = r["random_market"]
    assert rm["agents"] == 100 and rm["simulated_seconds"] == 120 and rm["trades"] > 0
    assert "kernel" in r["profile"]["share_of_time"] and len(r["profile"]["top_functions"]) == 10
