"""Smoke test of the compile benchmark (`market-sim bench compile --quick`)."""

import pytest

from market_sim.benchmarks.compile import run
from market_sim.blockchain import compiler

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_compile_benchmark_quick(monkeypatch):
    solc_runs = []
    real = compiler._run_solc

    def counting(root, standard_input):
        solc_runs.append(root)
        return real(root, standard_input)

    monkeypatch.setattr(compiler, "_run_solc", counting)
    result = run(quick=True, progress=False)
    assert result["solc"] == "0.8.28" and result["repeats"] == 1
    assert result["contracts"] >= 1 and result["project_sources"] >= 1
    # One cold compile runs solc; the disk and in-process cache hits it times never do (counted, not timed).
    assert len(solc_runs) == 1
    assert {"cold_compile_s", "cached_disk_s", "cached_memory_s", "load_avg_1m"} <= set(result)
