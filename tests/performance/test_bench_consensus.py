from __future__ import annotations

import pytest

from market_sim.benchmarks.consensus import run

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_quick_consensus_benchmark_runs_and_batching_amortises_signatures() -> None:
    result = run(quick=True, progress=False)
    cases = {(c["protocol"], c["nodes"], c["batch_size"]): c for c in result["cases"]}
    single, batched = cases[("bft", 4, 1)], cases[("bft", 4, 100)]
    for case in (single, batched):
        assert case["finalized"] == case["trades"] and case["logs_verified"]
        assert case["trades_per_wall_second"] > 0 and case["sim_latency_ms_p99"] >= case["sim_latency_ms_p50"] > 0
    assert batched["signatures_per_trade"] * 20 < single["signatures_per_trade"]
    raft_single, raft_batched = cases[("raft", 4, 1)], cases[("raft", 4, 100)]
    for case in (raft_single, raft_batched):
        assert case["finalized"] == case["trades"] and case["logs_verified"]
    assert raft_single["signatures_per_trade"] == 4.0  # every node signs each committed batch once
    assert raft_batched["signatures_per_trade"] * 20 < raft_single["signatures_per_trade"]
    assert result["pretrade"][0]["trades_per_wall_second"] > 0
    for case in result["batch_certification"]:  # batches certified through the networked protocol
        assert case["safe"] and case["certified_trades"] == case["trades"]
        assert case["batches_per_sim_second"] > 0 and case["cpu_ms_per_batch"] > 0
