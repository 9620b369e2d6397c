"""Smoke test of `market-sim bench amm --quick`: gas side by side with Uniswap V2 and the scenario speed."""

from __future__ import annotations

import pytest

from market_sim.cli.bench import run_benchmark

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_bench_amm_quick() -> None:
    result = run_benchmark("amm", quick=True, progress=False)
    gas = result["eth_tester"]["gas"]
    assert set(gas) == {"createPair", "mint_first", "mint", "swap", "burn"}
    for op, row in gas.items():
        assert 0 < row["market_sim"] <= row["uniswap_v2"], op
    assert result["eth_tester"]["no_operation_costs_more_than_uniswap"] is True
    assert result["eth_tester"]["throughput"]["swaps_per_s"] > 0
    assert result["cross_chain_arbitrage"]["kernel_events"] > 0
