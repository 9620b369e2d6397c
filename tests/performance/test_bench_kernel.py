"""Smoke test of `market-sim bench kernel --quick`: the three implementations run the same workload, report figures."""

from market_sim.cli.bench import run_benchmark


def test_bench_kernel_quick():
    r = run_benchmark("kernel", quick=True, progress=False)
    n = r["workload"]["events_per_repetition"]
    assert r["heapq"]["events"] == n
    for impl in ("kernel", "simpy"):  # the same horizon: the same events (simpy's `until` excludes the last instant)
        assert 0.98 * n < r[impl]["events"] <= n and r[impl]["events_per_cpu_second"] > 0
    assert abs(r["kernel"]["events"] - r["simpy"]["events"]) < 10
    for key, target in (("kernel_vs_simpy", 1.5), ("kernel_vs_heapq", 0.6)):
        assert r[key]["target"] == target and r[key]["meets_target"] == (r[key]["ratio"] >= target)
    assert r["meets_target"] == (r["kernel_vs_simpy"]["meets_target"] and r["kernel_vs_heapq"]["meets_target"])
