"""Smoke test of the deploy benchmark (`market-sim bench deploy --quick`), in-process and on anvil if installed."""

import pytest

from market_sim.benchmarks.deploy import run
from market_sim.blockchain.anvil import anvil_binary

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_deploy_benchmark_quick():
    result = run(quick=True, progress=False)
    local = result["in_process"]
    assert set(local["gas"]) >= {"BaseToken", "QuoteToken"}
    assert local["total_gas"] == sum(local["gas"].values())
    assert local["tx_per_s_explicit_gas"] > 0 and local["calls_per_s"] > 0
    if not anvil_binary().exists():  # CI installs anvil: there the comparison below always runs
        assert result["anvil"].startswith("skipped: no anvil")
        pytest.skip(f"anvil binary missing at {anvil_binary()}: run `npm ci` (CI installs it)")
    assert result["anvil"]["gas"] == local["gas"]  # same bytecode, same EVM rules: identical gas
