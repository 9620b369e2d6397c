"""ProducerSubmitter: a certified batch settles in simulated time through the BlockProducer (mempool, block time,
confirmations), with the real committee as certifier."""

from __future__ import annotations

from market_sim.blockchain.producer import BlockProducer
from market_sim.core.clock import NS_PER_SECOND
from market_sim.settlement.lifecycle import BatchStageEvent, Stage, TradeStageEvent
from market_sim.settlement.submitter import ProducerSubmitter
from market_sim.simulation.kernel import Kernel

from test_pipeline import approved, check_reconciled, committee_for, make_pipeline, trade

BLOCK = 12 * NS_PER_SECOND


def test_a_batch_is_included_at_its_block_and_final_after_the_confirmations(env):
    kernel = Kernel()
    producer = BlockProducer(env.client.chain, kernel, block_time=BLOCK, confirmations=3)
    events = []
    p = make_pipeline(env, kernel=kernel, emit=events.append,
                      submitter=ProducerSubmitter(env.client, producer))
    committee = committee_for(env, p)
    producer.start()
    before = (env.client.balance(env.alice, env.base), env.client.balance(env.bob, env.base))
    t = approved(committee, trade(qty=3))
    p.on_trade(t)
    p.flush()                                         # cut, certified, in the mempool: nothing on chain yet
    stages = {e.stage: e for e in events if isinstance(e, BatchStageEvent)}
    assert set(stages) == {Stage.CUT, Stage.CERTIFIED, Stage.SUBMITTED}
    assert env.client.last_sequence == 0
    kernel.run(until=5 * BLOCK)
    stages = {e.stage: e for e in events if isinstance(e, BatchStageEvent)}
    assert stages[Stage.INCLUDED].ts == BLOCK         # the first block after the submission
    assert stages[Stage.FINAL].ts == 3 * BLOCK        # its block and two more
    assert stages[Stage.FINAL].block == stages[Stage.INCLUDED].block
    trade_stages = [(e.stage, e.ts) for e in events if isinstance(e, TradeStageEvent)]
    assert trade_stages == [(Stage.EXECUTED, 0), (Stage.CERTIFIED, 0), (Stage.SUBMITTED, 0),
                            (Stage.INCLUDED, BLOCK), (Stage.FINAL, 3 * BLOCK)]
    assert env.client.last_sequence == 1 and t.trade_id in p.ledger.settled_trade_ids
    lots = 3 * 10**18                                 # 3 lots of 1 BASE (18 decimals)
    assert (env.client.balance(env.alice, env.base), env.client.balance(env.bob, env.base)) == \
        (before[0] + lots, before[1] - lots)
    check_reconciled(env, p)
    producer.stop()
