"""Smoke test of `market-sim bench settled_breakdown --quick`: the parts add up, and the bound splits the run into
the floor, block sealing, the market alone and the consensus and settlement logic."""

import pytest

from market_sim.benchmarks.settled_breakdown import run

pytestmark = pytest.mark.perf  # benchmark smoke run: `make test-extended`


def test_quick_settled_breakdown_adds_up_and_bounds_the_ratio() -> None:
    result = run(quick=True)
    parts = result["cpu_seconds"]
    total = result["cpu_seconds_total"]
    assert sum(parts.values()) == pytest.approx(total, abs=0.01 * len(parts))
    floor = parts["producer: settle execution"]
    bound = result["bound"]
    assert result["trades_settled"] > 0 and bound["market_alone_trades"] > 0
    assert bound["budget_above_floor_for_1_5x"] == pytest.approx(0.5 * floor, abs=0.01)
    assert floor + bound["block_sealing"] + bound["market_alone"] + bound["consensus_and_settlement_logic"] \
        == pytest.approx(total, abs=0.05)
    assert bound["lowest_ratio_without_consensus_and_settlement"] == pytest.approx(
        (floor + bound["block_sealing"] + bound["market_alone"]) / floor, rel=0.05)  # of rounded parts


def test_the_market_alone_is_the_settled_scenario_without_its_settlement() -> None:
    from market_sim.benchmarks.simulation import _settled_market_scenario

    settled = _settled_market_scenario("1min", 20)
    alone = _settled_market_scenario("1min", 20, settled=False)
    assert "settlement" in settled.extensions and not alone.extensions
    assert alone.raw["scenario"]["plugins"] == []
    same = ("seed", "duration", "instruments", "processes", "venues", "agents", "session", "latency", "output")
    assert {f: getattr(alone, f) for f in same} == {f: getattr(settled, f) for f in same}
    assert {k: v for k, v in alone.raw.items() if k != "scenario"} == {
        k: v for k, v in settled.raw.items() if k not in ("scenario", "settlement")}
