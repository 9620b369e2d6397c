"""Engine -> consensus committee (with Byzantine members) -> on-chain settlement -> reconciliation, in-process."""

from __future__ import annotations

import pandas as pd
import pytest

from market_sim.blockchain import Chain
from market_sim.consensus.config import ConsensusConfig
from market_sim.consensus.signing import GENESIS_HASH
from market_sim.core.errors import ConsensusError
from market_sim.core.events import Trade
from market_sim.core.orders import NewOrder, Side
from market_sim.market import MatchingEngine
from market_sim.settlement.setup import build_stack
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

from settlement_flow import INSTRUMENTS, RICH, check_settled, run_flow


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
    m = outcome.metrics["settlement"]
    assert m.reconciled is True, outcome.extra_files["reconciliation.txt"]
    assert m.trades_settled > 100 and m.trades_failed_settlement == 0
    assert m.log_roots_equal_chain_roots is True and m.trade_log_verified is True
    assert m.gas_per_settled_trade < 20_000
    assert len(outcome.tables["settlement_batches"]) == m.settlement_batches
    txs = pd.DataFrame(outcome.tables["chain_transactions"])
    batches = pd.DataFrame(outcome.tables["settlement_batches"])
    assert list(txs["kind"]) == ["settle"] * m.settlement_batches
    assert list(txs["batch"]) == list(batches["sequence"]) == list(range(1, m.settlement_batches + 1))
    assert list(txs["gas_used"]) == list(batches["gas_used"]) and txs["gas_used"].min() > 0
    assert all(h.startswith("0x") and len(h) == 66 for h in txs["tx_hash"])


def test_committee_certificate_is_trimmed_to_the_threshold_and_to_accepted_signers():
    consensus = ConsensusConfig(nodes=4, byzantine=0, protocol="bft")
    stack = build_stack(Chain.local(chain_id=1010), INSTRUMENTS, ["a", "b"], RICH, consensus)
    engine = MatchingEngine(INSTRUMENTS.values(), validator=stack.committee)
    engine.process(NewOrder(1, "a", "WETH/USDC", Side.SELL, 5, price=300_000), 1)
    trades = [ev for ev in engine.process(NewOrder(2, "b", "WETH/USDC", Side.BUY, 5, price=300_000), 2)
              if isinstance(ev, Trade)]
    assert len(trades) == 1
    certifier, commitment = stack.pipeline.certifier, stack.pipeline.commitment
    client = stack.venue.client
    state = client.head - 1
    batch = commitment.build(1, GENESIS_HASH, trades, state_block=state, expires_at=state + 20)
    first = certifier.certify(batch, trades)
    assert len(first) == 3 * 65                               # the contract's threshold, not all 4 signers
    assert certifier.certify(batch, trades) == first          # asked again: the same certified height
    other = commitment.build(3, batch.batch_hash, trades)
    with pytest.raises(ConsensusError, match="diverged"):
        certifier.certify(other, trades)
    lowest = sorted(stack.committee.validators, key=lambda a: int(a, 16))[0]
    client.remove_validator(lowest, threshold=3)              # governance drops a signer of the certificate
    again = certifier.certify(batch, trades)
    assert len(again) == 3 * 65 and again != first            # ... so it is left out: the other three sign
    client.submit(batch, again)
    assert client.last_sequence == 1
