"""The same engine -> consensus -> settlement -> reconciliation path against a real anvil node over JSON-RPC."""

from __future__ import annotations

import pytest

from market_sim.blockchain import Chain
from market_sim.consensus.config import ConsensusConfig

from settlement_flow import check_settled, run_flow

pytestmark = pytest.mark.anvil


def test_engine_consensus_settlement_on_anvil(anvil):
    consensus = ConsensusConfig(nodes=4, byzantine=1, behaviour="equivocate", protocol="bft", seed=2)
    stack, trades, _ = run_flow(Chain.connect(anvil), consensus, traders=4, orders=120, max_batch=25)
    assert len(trades) > 20 and stack.venue.client.chain.chain_id == 31337
    check_settled(stack)
