from __future__ import annotations

import pytest

from market_sim.benchmarks.backtest import run

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_quick_backtest_benchmark_runs_every_part() -> None:
    result = run(quick=True, progress=False)
    syn = result["synthetic"]
    assert syn["bars"] == 1_000_000 and syn["fills"] > 0 and syn["bars_per_second"] > 0
    orcl = result["orcl"]
    assert orcl["bars"] == 5036 and orcl["fills"] == 107 and orcl["total_cpu_s"] > 0
    l2 = result["l2"]
    assert l2["messages"] == 133_829 and set(l2["queue_models"]) == {"PessimisticQueue", "ProportionalQueue",
                                                                      "ProbabilisticQueue"}
    assert all(v["fills"] > 0 for v in l2["queue_models"].values())
    assert [r["points"] for r in result["grid"]["sizes"]] == [1, 10]
