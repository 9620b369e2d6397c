"""Settlement.sol, issue 13: expiring certificates (stateBlock, expiresAt, maxValidity), skipping expired batches,
and two-phase withdrawals. Exact balances and gas.

Revert arguments that name block.number are decoded by replaying the mined transaction on the state before its
block (Chain._failed), so they show that block's number; the tests assert the rest exactly.
"""

from __future__ import annotations

import pytest

from market_sim.blockchain import Chain
from market_sim.core.errors import ContractRevertError
from market_sim.settlement import SettlementBatch, SettlementClient

from settlement_env import FUNDS


def reverts(name: str, fn, *args, **kw) -> tuple:
    with pytest.raises(ContractRevertError) as info:
        fn(*args, **kw)
    assert info.value.error_name == name, str(info.value)
    return tuple(info.value.args_decoded)


def after(env, previous: SettlementBatch, trades, *, validity: int = 20) -> SettlementBatch:
    """The batch certified after `previous` (which is not settled), stated at the block below the head."""
    state = env.client.head - 1
    return SettlementBatch.build(previous.sequence + 1, previous.batch_hash, trades, fee_account=env.fee,
                                 token_index=env.client.token_index, state_block=state, expires_at=state + validity)


def test_max_validity_is_fixed_at_deployment_and_not_zero(env):
    assert env.client.max_validity == 256
    chain = Chain.local(["deployer"])
    with pytest.raises(ContractRevertError) as info:
        SettlementClient.deploy(chain, [chain.account("deployer")], 1, chain.account("deployer"), max_validity=0)
    assert info.value.error_name == "InvalidMaxValidity"


def test_certificate_settles_up_to_its_expiry_block_and_never_after(env):
    head = env.client.head
    late = env.next_batch([env.trade(env.alice, env.bob)], validity=1)   # expiresAt = head: lands in head + 1
    assert late.header.expires_at == head
    assert reverts("CertificateExpired", env.client.submit, late, env.certify(late)) == (1, head, head + 1)
    just = env.next_batch([env.trade(env.alice, env.bob)], validity=2)   # expiresAt = the block it lands in
    info = env.client.submit(just, env.certify(just))
    assert info.block == just.header.expires_at and env.client.last_sequence == 1
    assert env.client.last_state_block == just.header.state_block


def test_state_block_must_be_past_and_not_behind_the_last_settled(env):
    head = env.client.head
    future = env.next_batch([env.trade(env.alice, env.bob)], state_block=head + 1)
    name_args = reverts("StateBlockNotPast", env.client.submit, future, env.certify(future))
    assert name_args[:2] == (1, head + 1)
    first = env.next_batch([env.trade(env.alice, env.bob)])
    env.client.submit(first, env.certify(first))
    behind = env.next_batch([env.trade(env.alice, env.bob)], state_block=first.header.state_block - 1)
    assert reverts("StateBlockBehind", env.client.submit, behind, env.certify(behind)) == (
        2, first.header.state_block - 1, first.header.state_block)
    same = env.next_batch([env.trade(env.alice, env.bob)], state_block=first.header.state_block)
    env.client.submit(same, env.certify(same))  # equal stateBlocks are fine
    assert env.client.last_sequence == 2


def test_validity_window_is_bounded_by_max_validity(env):
    state = env.client.head - 1
    long = env.next_batch([env.trade(env.alice, env.bob)], expires_at=state + 257)
    assert reverts("ValidityTooLong", env.client.submit, long, env.certify(long)) == (1, state, state + 257, 256)
    ok = env.next_batch([env.trade(env.alice, env.bob)], expires_at=state + 256)
    env.client.submit(ok, env.certify(ok))


def test_a_later_batch_skips_an_expired_one_which_never_applies(env):
    c = env.client
    dead = env.next_batch([env.trade(env.alice, env.bob, base_amount=7 * 10**18)], validity=2)
    dead_signatures = env.certify(dead)
    live = after(env, dead, [env.trade(env.bob, env.alice, base_amount=10**18, quote_amount=2 * 10**18)])
    # not expired yet: it cannot be skipped
    args = reverts("SkippedNotExpired", c.submit, live, env.certify(live), [dead.header])
    assert args[:2] == (1, dead.header.expires_at)
    assert reverts("UnexpectedSequence", c.submit, live, env.certify(live)) == (1, 2)  # nor left out
    env.chain.mine(2)
    assert dead.header.expired(c.head + 1)
    info = c.submit(live, env.certify(live), [dead.header])
    assert info.sequence == 2 and info.skipped == (1,) and c.skipped_sequences() == [1]
    assert c.last_sequence == 2 and c.last_batch_hash == live.batch_hash
    assert c.batch_root(1) == bytes(32) and c.batch_root(2) == live.header.merkle_root
    # exact balances: only the live batch moved anything
    assert c.balance(env.alice, env.base) == FUNDS - 10**18 and c.balance(env.bob, env.base) == FUNDS + 10**18
    assert c.balance(env.alice, env.quote) == FUNDS + 2 * 10**18 and c.balance(env.bob, env.quote) == FUNDS - 2 * 10**18
    # the given-up batch can never settle
    assert reverts("UnexpectedSequence", c.submit, dead, dead_signatures) == (3, 1)


def test_skipped_headers_must_chain_to_the_new_batch(env):
    c = env.client
    dead = env.next_batch([env.trade(env.alice, env.bob)], validity=1)
    other = env.next_batch([env.trade(env.bob, env.alice)], validity=1)  # also height 1, a different batch
    live = after(env, dead, [env.trade(env.alice, env.bob)])
    env.chain.mine(1)
    assert reverts("PrevHashMismatch", c.submit, live, env.certify(live), [other.header]) == (
        other.batch_hash, dead.batch_hash)
    wrong_seq = SettlementBatch.build(2, dead.batch_hash, [env.trade(env.alice, env.bob)], fee_account=env.fee,
                                      token_index=c.token_index, state_block=c.head - 1, expires_at=c.head + 5)
    assert reverts("UnexpectedSequence", c.submit, live, env.certify(live), [wrong_seq.header]) == (1, 2)


def test_gas_of_a_settle_with_and_without_a_skipped_header(env):
    c = env.client
    env.next_trade_id = 1  # trade ids go into the root and the proof: the gas is exact for these
    warm = env.next_batch([env.trade(env.alice, env.bob)])  # the first batch also pays for fresh storage slots
    c.submit(warm, env.certify(warm))
    plain = env.next_batch([env.trade(env.alice, env.bob)])
    base_gas = c.submit(plain, env.certify(plain)).gas_used
    dead = env.next_batch([env.trade(env.alice, env.bob)], validity=1)
    live = after(env, dead, [env.trade(env.alice, env.bob)])
    env.chain.mine(1)
    skip_gas = c.submit(live, env.certify(live), [dead.header]).gas_used
    assert (base_gas, skip_gas) == (GAS_PLAIN, GAS_ONE_SKIP)


GAS_PLAIN = 112_677      # a one-trade net batch (two accounts, one token each way; +10 from issue 16 dispatch, +152
#                          from the signed balances: each of the 4 entries checks its balance is not a debt; +4,812
#                          from SpotBatchWithDebt: both listed tokens' pool slots read, cold, once per batch)
GAS_ONE_SKIP = 117_633   # the same after skipping one expired header (its hash, checks, BatchSkipped)


def test_two_phase_withdrawal_ready_after_a_batch_that_saw_the_request(env):
    c = env.client
    c.request_withdrawal(env.quote, 10**18, sender="alice")
    c.request_withdrawal(env.quote, 2 * 10**18, sender="alice")  # adds up; the request block moves
    requested, at = c.withdrawal_request(env.alice, env.quote)
    assert (requested, at) == (3 * 10**18, c.head)
    before = env.next_batch([env.trade(env.alice, env.bob, quote_amount=FUNDS - 10**18)])
    assert before.header.state_block < at                       # certified against a block before the request
    c.submit(before, env.certify(before))
    assert reverts("WithdrawalNotReady", c.claim_withdrawal, env.quote, sender="alice") == (
        env.alice, env.quote, at, at + 256)
    seen = env.next_batch([env.trade(env.bob, env.alice, base_amount=1, quote_amount=1)])
    assert seen.header.state_block >= at
    c.submit(seen, env.certify(seen))
    paid = c.claim_withdrawal(env.quote, sender="alice")
    # batch 1 (certified before the request) left alice 10**18 + 1 of the 3 * 10**18 requested: she gets that
    assert (paid.amount, paid.balance) == (10**18 + 1, 0)
    assert c.token(env.quote).balance_of(env.alice) == 2 * FUNDS - FUNDS + 10**18 + 1
    assert c.withdrawal_request(env.alice, env.quote) == (0, 0)
