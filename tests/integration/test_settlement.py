"""Engine -> consensus committee (with Byzantine members) -> on-chain settlement -> reconciliation, in-process."""

from __future__ import annotations

import pytest

from market_sim.blockchain import Chain
from market_sim.consensus.config import ConsensusConfig
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

from settlement_flow import check_settled, run_flow


@pytest.mark.parametrize("nodes,byzantine,behaviour", [(4, 1, "approve-all"), (7, 2, "equivocate")])
def test_engine_consensus_settlement_reconcile(nodes, byzantine, behaviour):
    consensus = ConsensusConfig(nodes=nodes, byzantine=byzantine, behaviour=behaviour, protocol="bft", seed=nodes)
    stack, trades, rejected = run_flow(Chain.local(chain_id=1000 + nodes), consensus)
    assert len(trades) > 50
    check_settled(stack)
    # the nearly broke trader (1 USDC, no tokens) was refused by the validators
    assert any(r.reason.startswith("insolvent: broke") for r in rejected)
    assert stack.venue.client.threshold == consensus.quorum


def test_settlement_demo_scenario_reconciles(tmp_path):
    sc = load_scenario(resolve_scenario("settlement-demo"), ["scenario.duration=120s"])
    outcome = Simulation(sc).run()
    m = outcome.metrics
    assert m["reconciliation"] == "OK", outcome.extra_files["reconciliation.txt"]
    assert m["trades_settled"] > 100 and m["trades_failed_settlement"] == 0
    assert m["log_roots_equal_chain_roots"] == "yes" and m["trade_log_verified"] == "yes"
    assert m["gas_per_settled_trade"] < 20_000
    assert len(outcome.tables["settlement_batches"]) == m["settlement_batches"]
