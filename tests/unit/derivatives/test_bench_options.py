"""Smoke run of `market-sim bench options --quick`: the figures are there and the accuracy holds (speed is the
benchmark's business, not the test's)."""

from __future__ import annotations

import pytest

from market_sim.benchmarks.options import TARGETS, run

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_quick_options_benchmark_reports_every_figure():
    result = run(quick=True, progress=False)
    for key in ("price_greeks", "price_only", "implied_vol", "scalar_price", "american_crr_500", "american_lr_501",
                "american_baw"):
        assert result[key]["items"] > 0 and result[key]["per_cpu_s"] > 0 and result[key]["per_s_wall"] > 0
    assert result["implied_vol"]["max_abs_price_error"] <= 1e-10
    assert set(result["meets_targets_per_cpu_s"]) == set(TARGETS)
