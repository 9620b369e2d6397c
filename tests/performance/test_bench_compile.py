"""Smoke test of the compile benchmark (`market-sim bench compile --quick`)."""

from market_sim.benchmarks.compile import run


def test_compile_benchmark_quick():
    result = run(quick=True, progress=False)
    assert result["solc"] == "0.8.28" and result["repeats"] == 1
    assert result["contracts"] >= 1 and result["project_sources"] >= 1
    # A cache hit must not run solc: it is far cheaper than the cold compile.
    assert result["cached_disk_s"] < result["cold_compile_s"] / 10
