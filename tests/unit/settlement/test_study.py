"""The settlement-latency study: the same trades settle in every variant; only the stage latencies differ."""

from __future__ import annotations

import pytest

from market_sim.core.errors import ConfigError
from market_sim.settlement.study import VARIANTS, main, run_study, study_png


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown variant"):
        run_study(["bft 1s"])
    assert main(["--variants", "nope", "--out", "/nonexistent/x"]) == 2


@pytest.mark.slow
def test_variants_settle_the_same_trades_at_different_speeds(tmp_path):
    names = ["bft 2s honest", "committee, settled at once"]
    assert set(names) <= set(VARIANTS)
    fast, instant = run_study(names, duration="30s")
    assert fast["trades"] == instant["trades"] == fast["trades_final"] == instant["trades_final"] > 0
    assert fast["reconciled"] and instant["reconciled"]
    assert instant["certified_to_included_p50_ms"] == 0 and instant["batch_certification_p50_ms"] is None
    assert fast["certified_to_included_p50_ms"] > 0 and fast["included_to_final_p50_ms"] == 3 * 2_000 - 2_000
    assert 0 < fast["batch_certification_p50_ms"] < 1_000                # a few BFT rounds of 5-40 ms messages
    assert fast["executed_to_final_p50_ms"] > instant["executed_to_final_p50_ms"]
    assert study_png([fast, instant])[:8] == b"\x89PNG\r\n\x1a\n"
