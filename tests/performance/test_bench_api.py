"""Smoke test of `market-sim bench api --quick`: every figure is there and the stream kept its books."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn")

from market_sim.cli.bench import run_benchmark  # noqa: E402

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_bench_api_quick() -> None:
    result = run_benchmark("api", quick=True, progress=False)
    assert result["clients"] == 20 and result["clients_closed_early"] == 0
    assert result["book_deltas_received"] > 0 and result["delta_latency_ms"]["p50"] is not None
    assert result["rest_requests"] == 300 and result["rest_latency_ms"]["p99"] is not None
    assert set(result["server_rss_mb"]) == {"start", "middle", "end"}
    assert result["rest_errors"] == 0 and result["rest_fast_path_answers"] > 0
    assert set(result["cpu_seconds"]) == set(result["cpu_wait_seconds"]) == {
        "server_alone", "server_streaming", "clients_streaming", "server_rest", "client_rest"}
