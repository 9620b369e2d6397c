from __future__ import annotations

import pytest

from market_sim.benchmarks.sweep import run

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_quick_sweep_benchmark_measures_every_backend() -> None:
    pytest.importorskip("dask.distributed")
    result = run(quick=True, progress=False)
    assert [(c["backend"], c["workers"]) for c in result["cases"]] == [("local", 1), ("dask", 1), ("dask", 2)]
    for case in result["cases"]:
        assert case["tasks"] == 4 and case["tasks_per_second"] > 0 and case["mean_task_seconds"] > 0
        assert case["overhead_share_of_task"] == pytest.approx(case["overhead_ms_per_task"] / 1e3
                                                               / case["mean_task_seconds"], abs=1e-3)
    for case in result["cases"][1:]:
        assert case["noop_tasks"] == 100 and case["noop_tasks_per_second"] > 0 and case["cluster_start_seconds"] > 0
    assert result["speedup_1_to_2_workers"] > 0
