"""Smoke test of the deploy benchmark (`market-sim bench deploy --quick`), in-process and on anvil if installed."""

from market_sim.benchmarks.deploy import run


def test_deploy_benchmark_quick():
    result = run(quick=True, progress=False)
    local = result["in_process"]
    assert set(local["gas"]) >= {"BaseToken", "QuoteToken"}
    assert local["total_gas"] == sum(local["gas"].values())
    assert local["tx_per_s_explicit_gas"] > 0 and local["calls_per_s"] > 0
    if isinstance(result["anvil"], dict):
        assert result["anvil"]["gas"] == local["gas"]  # same bytecode, same EVM rules: identical gas
