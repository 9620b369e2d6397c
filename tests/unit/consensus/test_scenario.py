from __future__ import annotations

import json

import pytest

from market_sim.core.errors import ConfigError, MarketSimError
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.results import load_run, write_run
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

SMALL = ["scenario.duration=20s", "agents.noise.count=8", "consensus.validators=4", "consensus.byzantine=1"]


def test_byzantine_validators_scenario_writes_log_rejections_and_latency(tmp_path) -> None:
    sc = load_scenario(resolve_scenario("byzantine-validators"), SMALL)
    sim = Simulation(sc)
    outcome = sim.run()
    from market_sim.consensus.scenario import cluster_of

    assert cluster_of(sim) is sim.state("consensus") is dict(sim.trade_validators)["consensus"]  # state, not attached
    rec = write_run(outcome, tmp_path, overrides=SMALL)
    folder = tmp_path / rec.run_id
    c = outcome.metrics["consensus"]
    assert c.trade_log_verified is True and c.honest_logs_agree is True
    trades = outcome.metrics["trades"]
    assert c.trades_finalized + c.trades_pending_at_end == trades > 0
    log = json.loads((folder / "trade_log.json").read_text())
    assert sum(len(b["trades"]) for b in log["blocks"]) == c.trades_finalized
    assert log["head_hash"] == c.trade_log_head
    assert load_run(folder).results["consensus"] == c  # metrics.json gives the same typed result back
    names = {p.name for p in folder.iterdir()}
    assert {"consensus_summary.json", "trade_log.json"} <= names
    assert any(n.startswith("consensus_batches") for n in names)
    assert any(n.startswith("consensus_latency") for n in names)
    assert any(n.startswith("consensus_rejections") for n in names)


def test_bad_consensus_section_is_refused() -> None:
    with pytest.raises(MarketSimError, match="n >= 7"):
        load_scenario(resolve_scenario("byzantine-validators"), ["consensus.validators=6"])
    with pytest.raises(ConfigError, match="behaviour"):
        load_scenario(resolve_scenario("byzantine-validators"), ["consensus.behaviour=sneaky"])
