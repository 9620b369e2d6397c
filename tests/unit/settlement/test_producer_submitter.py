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


def test_killed_while_its_batch_waits_in_the_mempool_and_restarted_from_the_journal(env, tmp_path):
    """The settlement process dies after handing batch 1 to the mempool (the node never mines it: its mempool dies
    with the process). Restarted from its journal with a new producer, it re-sends the same certified batch: the
    trade settles once, in simulated time, and a trade arriving after the restart follows in batch 2."""
    from market_sim.settlement.pipeline import SettlementPipeline

    kernel = Kernel()
    producer = BlockProducer(env.client.chain, kernel, block_time=BLOCK, confirmations=2)
    p = make_pipeline(env, kernel=kernel, state_dir=tmp_path, submitter=ProducerSubmitter(env.client, producer))
    committee = committee_for(env, p)
    producer.start()
    first = approved(committee, trade(qty=2))
    p.on_trade(first)
    p.flush()
    assert env.client.last_sequence == 0 and producer.pending == 1
    producer.cancel(next(r.tx_id for r in producer.records()))   # the process dies: its mempool is gone
    producer.stop()
    p_certifier = p.certifier
    del p

    producer2 = BlockProducer(env.client.chain, kernel, block_time=BLOCK, confirmations=2)
    events = []
    certifier = p_certifier                                      # the validators outlive the settlement process
    restored = SettlementPipeline.restore(env.client, make_pipeline(env).encoder, certifier, tmp_path, kernel=kernel,
                                          submitter=ProducerSubmitter(env.client, producer2), emit=events.append)
    producer2.start()
    second = approved(committee, trade(qty=1))
    restored.on_trade(second)
    kernel.run(until=kernel.now + 10 * BLOCK)
    assert env.client.last_sequence == 2
    assert restored.ledger.settled_trade_ids == {first.trade_id, second.trade_id}
    finals = [e for e in events if isinstance(e, BatchStageEvent) and e.stage is Stage.FINAL]
    assert [e.sequence for e in finals] == [1, 2]
    check_reconciled(env, restored)
    producer2.stop()


def test_only_the_first_settle_transaction_is_estimated_and_one_sized_too_small_is_sent_again(env):
    kernel = Kernel()
    producer = BlockProducer(env.client.chain, kernel, block_time=BLOCK, confirmations=1)
    submitter = ProducerSubmitter(env.client, producer)
    p = make_pipeline(env, kernel=kernel, submitter=submitter)
    committee = committee_for(env, p)
    producer.start()
    for qty in (1, 2):
        p.on_trade(approved(committee, trade(qty=qty)))
        p.flush()
        kernel.run(until=kernel.now + 2 * BLOCK)
    assert env.client.last_sequence == 2 and submitter.estimates == 1      # the second was sized from the first
    settles = [r for r in producer.records() if r.label.startswith("settle")]
    assert all(r.prepared.gas >= r.gas_used for r in settles if r.gas_used) and submitter.out_of_gas == 0
    submitter.gas_per_byte = 1.0                                           # a model far too small
    t = approved(committee, trade(qty=3))
    p.on_trade(t)
    p.flush()
    kernel.run(until=kernel.now + 3 * BLOCK)
    assert submitter.out_of_gas == 1 and submitter.estimates == 2         # ran out, estimated, sent again
    assert env.client.last_sequence == 3 and t.trade_id in p.ledger.settled_trade_ids and not p.reverts
    check_reconciled(env, p)
    producer.stop()
