"""Settlement.sol through web3: custody, quorum certificates, sequencing, deltas, per-trade mode, governance."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address

from market_sim.blockchain.clients import ERC20
from market_sim.consensus.merkle import MerkleTree
from market_sim.consensus.signing import GENESIS_HASH, SigningDomain, batch_digest, validator_keys
from market_sim.core.errors import ContractRevertError, SettlementError
from market_sim.settlement import BatchHeader, NetDeltas, SettlementBatch, SettlementMode, deltas_leaf, pack_signatures

from settlement_env import FUNDS


def reverts(name: str, fn, *args, **kw) -> tuple:
    with pytest.raises(ContractRevertError) as info:
        fn(*args, **kw)
    assert info.value.error_name == name, str(info.value)
    return info.value.args_decoded


def raw_settle(env, trade_count: int, deltas_blob: bytes, trade_leaves=()):
    """Settle a hand-made deltas blob that the validators did sign (to reach the contract's own checks)."""
    c = env.client
    leaves = list(trade_leaves) + [deltas_leaf(trade_count, deltas_blob)]
    tree = MerkleTree(leaves)
    head = c.head
    header = BatchHeader(c.last_sequence + 1, c.last_batch_hash, tree.root, head - 1, head + 20)
    digest = batch_digest(c.domain, *header.as_tuple())
    sigs = pack_signatures([(k.address, k.sign(digest)) for k in env.keys[:3]])
    call = c.contract.handle.functions.settle(header.as_tuple(), [], trade_count, deltas_blob,
                                       tree.proof(len(leaves) - 1), sigs)
    return env.chain.transact(call)


def header(account: str, count: int) -> bytes:
    return (int(account, 16) << 96 | count).to_bytes(32, "big")


def entry(index: int, delta: int) -> bytes:
    return (index << 128 | (delta % (1 << 128))).to_bytes(32, "big")


# ---- EIP-712 ------------------------------------------------------------------------------------------------------

def test_digest_equals_python(env):
    header = BatchHeader(5, keccak(b"prev"), keccak(b"root"), 9, 12)
    assert env.client.digest(header) == batch_digest(env.client.domain, 5, keccak(b"prev"), keccak(b"root"), 9, 12)
    assert env.client.domain.chain_id == env.chain.chain_id == 1337


# ---- custody ------------------------------------------------------------------------------------------------------

def test_deposit_and_withdraw_move_tokens_and_emit(env):
    token = env.client.token(env.base)
    ev = env.client.deposit(env.base, 123, sender="carol")
    assert (ev.account, ev.token, ev.amount, ev.balance) == (env.carol, env.base, 123, 123)
    env.client.request_withdrawal(env.base, 23, sender="carol")
    env.chain.mine(env.client.max_validity)
    ev = env.client.claim_withdrawal(env.base, sender="carol")
    assert (ev.amount, ev.balance) == (23, 100)
    assert env.client.balance(env.carol, env.base) == 100
    assert token.balance_of(env.carol) == 2 * FUNDS - 100
    assert token.balance_of(env.client.address) == 2 * FUNDS + 100


def test_deposit_for_credits_the_account(env):
    ev = env.client.deposit_for(env.carol, env.quote, 7, sender="alice")
    assert (ev.account, ev.balance) == (env.carol, 7)
    assert env.client.balance(env.alice, env.quote) == FUNDS


def test_deposit_for_many_credits_each_account_from_one_transfer(env):
    token = ERC20.at(env.chain, env.quote)
    held, funds = token.balance_of(env.client.address), token.balance_of(env.alice)
    dave = to_checksum_address("0x" + "ab" * 20)  # an address with no account on the chain
    events = env.client.deposit_for_many(env.quote, [(env.carol, 7), (dave, 5), (env.carol, 2)], sender="alice")
    assert [(e.account, e.token, e.amount, e.balance) for e in events] == [
        (env.carol, env.quote, 7, 7), (dave, env.quote, 5, 5), (env.carol, env.quote, 2, 9)]
    assert (env.client.balance(env.carol, env.quote), env.client.balance(dave, env.quote)) == (9, 5)
    assert token.balance_of(env.client.address) == held + 14 and token.balance_of(env.alice) == funds - 14
    fns = env.client.contract.handle.functions
    many = fns.depositForMany
    assert reverts("LengthMismatch", env.chain.transact, many(env.quote, [env.carol], [1, 2]), sender="alice") == (1, 2)
    reverts("ZeroAmount", env.chain.transact, many(env.quote, [], []), sender="alice")
    reverts("ZeroAmount", env.chain.transact, many(env.quote, [env.carol, dave], [1, 0]), sender="alice")
    reverts("ZeroAddress", env.chain.transact, many(env.quote, ["0x" + "00" * 20], [1]), sender="alice")
    reverts("UnknownToken", env.chain.transact, many(env.carol, [env.carol], [1]), sender="alice")
    reverts("BalanceOverflow", env.chain.transact, many(env.quote, [env.carol], [2**127]), sender="alice")
    reverts("ERC20InsufficientAllowance", env.chain.transact, many(env.base, [env.carol], [1]), sender="carol")
    assert env.client.balance(env.carol, env.quote) == 9  # nothing changed by the reverted calls


def test_custody_errors(env):
    fns = env.client.contract.handle.functions
    reverts("ZeroAmount", env.client.deposit, env.base, 0, sender="alice")
    reverts("ZeroAmount", env.client.request_withdrawal, env.base, 0, sender="alice")
    assert reverts("InsufficientBalance", env.client.request_withdrawal, env.base, FUNDS + 1, sender="alice") == (
        env.alice, env.base, FUNDS + 1, FUNDS)
    assert reverts("NoWithdrawalRequest", env.client.claim_withdrawal, env.base, sender="alice") == (
        env.alice, env.base)
    reverts("ZeroAddress", env.chain.transact, fns.depositFor("0x" + "00" * 20, env.base, 1), sender="alice")
    # no allowance: the token's own custom error surfaces through SafeERC20
    reverts("ERC20InsufficientAllowance", env.chain.transact, fns.deposit(env.base, 1), sender="carol")


# ---- settle: success ----------------------------------------------------------------------------------------------

def test_settle_applies_net_deltas_emits_and_proves_trades(env):
    trades = [env.trade(env.alice, env.bob, 10**18, 5 * 10**18, buyer_fee=10**15),
              env.trade(env.bob, env.alice, 3 * 10**17, 2 * 10**18, seller_fee=2 * 10**15)]
    batch = env.next_batch(trades)
    assert batch.header.prev_hash == GENESIS_HASH and batch.sequence == 1
    info = env.client.submit(batch, env.certify(batch))
    assert (info.sequence, info.merkle_root, info.trade_count, info.delta_count) == (
        1, batch.header.merkle_root, 2, 5)
    assert info.batch_hash == batch.batch_hash == env.client.last_batch_hash
    c = env.client
    assert c.balance(env.alice, env.base) == FUNDS + 10**18 - 3 * 10**17
    assert c.balance(env.bob, env.base) == FUNDS - 10**18 + 3 * 10**17
    assert c.balance(env.alice, env.quote) == FUNDS - 5 * 10**18 - 10**15 + 2 * 10**18 - 2 * 10**15
    assert c.balance(env.bob, env.quote) == FUNDS + 5 * 10**18 - 2 * 10**18
    assert c.balance(env.fee, env.quote) == 3 * 10**15
    for i, t in enumerate(trades):
        assert c.verify_trade(1, t, batch.trade_proof(i))
    forged = env.trade(env.alice, env.bob)
    assert not c.verify_trade(1, forged, batch.trade_proof(0))
    assert reverts("UnknownBatch", c.verify_trade, 2, trades[0], batch.trade_proof(0)) == (2,)


def test_batches_chain_and_replay_is_rejected(env):
    b1 = env.next_batch([env.trade(env.alice, env.bob)])
    sigs1 = env.certify(b1)
    env.client.submit(b1, sigs1)
    assert reverts("UnexpectedSequence", env.client.submit, b1, sigs1) == (2, 1)
    b2 = env.next_batch([env.trade(env.bob, env.alice)])
    assert b2.header.prev_hash == b1.batch_hash
    env.client.submit(b2, env.certify(b2))
    assert env.client.last_sequence == 2


def test_skipped_sequence_and_wrong_prev_hash(env):
    t = [env.trade(env.alice, env.bob)]
    skip = SettlementBatch.build(2, GENESIS_HASH, t, fee_account=env.fee, token_index=env.client.token_index)
    assert reverts("UnexpectedSequence", env.client.submit, skip, env.certify(skip)) == (1, 2)
    fork = SettlementBatch.build(1, keccak(b"other history"), t, fee_account=env.fee,
                                 token_index=env.client.token_index)
    args = reverts("PrevHashMismatch", env.client.submit, fork, env.certify(fork))
    assert args == (GENESIS_HASH, keccak(b"other history"))


# ---- settle: certificates -----------------------------------------------------------------------------------------

def test_certificate_errors(env):
    b = env.next_batch([env.trade(env.alice, env.bob)])
    sigs = env.certify(b)
    assert reverts("MalformedSignatures", env.client.submit, b, sigs[:-1]) == (194,)
    assert reverts("InsufficientSignatures", env.client.submit, b, env.certify(b, env.keys[:2])) == (2, 3)
    bad_v = sigs[:64] + bytes([29]) + sigs[65:]
    assert reverts("InvalidSignature", env.client.submit, b, bad_v) == (0,)
    one = sigs[:65]
    assert reverts("SignersNotAscending", env.client.submit, b, one * 3)[0] == 1   # duplicate signer
    ordered = [sigs[i * 65:(i + 1) * 65] for i in range(3)]
    descending = b"".join(reversed(ordered))
    assert reverts("SignersNotAscending", env.client.submit, b, descending)[0] == 1
    outsider = validator_keys(1, seed=99)[0]
    mixed = env.certify(b, list(env.keys[:2]) + [outsider])
    args = reverts("UnknownSigner", env.client.submit, b, mixed)
    assert args[1] == outsider.address


def test_wrong_chain_id_or_contract_is_rejected(env):
    b = env.next_batch([env.trade(env.alice, env.bob)])
    d = env.client.domain
    for domain in (SigningDomain(chain_id=d.chain_id + 1, verifying_contract=d.verifying_contract),
                   SigningDomain(chain_id=d.chain_id, verifying_contract=env.alice)):
        # a signature for another domain recovers some other address: never a registered validator in order
        err = reverts_any(env.client.submit, b, env.certify(b, domain=domain))
        assert err in ("UnknownSigner", "SignersNotAscending")
    assert env.client.last_sequence == 0


def reverts_any(fn, *args) -> str:
    with pytest.raises(ContractRevertError) as info:
        fn(*args)
    return info.value.error_name


# ---- settle: deltas -----------------------------------------------------------------------------------------------

def test_tampered_deltas_are_not_in_the_signed_batch(env):
    b = env.next_batch([env.trade(env.alice, env.bob)])
    fns = env.client.contract.handle.functions
    stolen = NetDeltas.from_mapping({env.alice: {env.base: 10**18}, env.bob: {env.base: -10**18}},
                                    env.client.token_index).encode()
    call = fns.settle(b.header.as_tuple(), [], 1, stolen, b.deltas_proof(), env.certify(b))
    args = reverts("DeltasNotInBatch", env.chain.transact, call)
    assert args == (b.header.merkle_root, deltas_leaf(1, stolen))
    call = fns.settle(b.header.as_tuple(), [], 2, b.encoded_deltas(), b.deltas_proof(), env.certify(b))
    reverts("DeltasNotInBatch", env.chain.transact, call)  # trade count is bound too


def test_short_balance_reverts_with_account_and_amounts(env):
    b = env.next_batch([env.trade(env.carol, env.bob, 10**18, 5 * 10**18)])  # carol has no deposit
    args = reverts("InsufficientBalance", env.client.submit, b, env.certify(b))
    assert args == (env.carol, env.quote, 5 * 10**18, 0)
    assert env.client.last_sequence == 0


def test_non_conserving_deltas_revert(env):
    base = env.client.token_index(env.base)
    blob = header(env.alice, 1) + entry(base, -5) + header(env.bob, 1) + entry(base, 4)
    assert reverts("ValueNotConserved", raw_settle, env, 1, blob) == (env.base, -1)


def test_malformed_deltas_revert(env):
    assert reverts("MalformedDeltas", raw_settle, env, 1, header(env.alice, 0)) == (0, 32)
    assert reverts("MalformedDeltas", raw_settle, env, 1, header(env.alice, 2) + entry(1, -1)) == (0, 64)
    assert reverts("MalformedDeltas", raw_settle, env, 1, header(env.alice, 1) + b"\x01") == (33, 33)
    assert reverts("UnknownTokenIndex", raw_settle, env, 1, header(env.alice, 1) + entry(3, 1)) == (32, 3)
    assert reverts("UnknownTokenIndex", raw_settle, env, 1, header(env.alice, 1) + entry(0, 1)) == (32, 0)


def test_credit_beyond_int128_reverts(env):
    """Balances are int128 (a negative one is a margin debt): a credit past 2**127 - 1 reverts."""
    base, big = env.client.token_index(env.base), 2**127 - 1 - FUNDS
    blob = header(env.alice, 2) + entry(base, big) + entry(base, 1) + header(env.bob, 1) + entry(base, -big - 1)
    assert reverts("BalanceOverflow", raw_settle, env, 1, blob) == (env.alice, env.base, 2**127 - 1, 1)


def test_two_tokens_of_an_account_share_a_slot_and_apply_together(env):
    c = env.client
    b, q = c.token_index(env.base), c.token_index(env.quote)
    assert (b, q) == (1, 2)  # listed by the first deposits, in order: one packed slot per account
    blob = header(env.alice, 2) + entry(b, 7) + entry(q, -9) + header(env.bob, 2) + entry(b, -7) + entry(q, 9)
    raw_settle(env, 1, blob)
    assert (c.balance(env.alice, env.base), c.balance(env.alice, env.quote)) == (FUNDS + 7, FUNDS - 9)
    assert (c.balance(env.bob, env.base), c.balance(env.bob, env.quote)) == (FUNDS - 7, FUNDS + 9)


def test_empty_deltas_settle_and_int128_limit(env):
    raw_settle(env, 0, b"")
    assert env.client.last_sequence == 1
    big = NetDeltas.from_mapping({env.alice: {env.base: 2**127}, env.bob: {env.base: -2**127}}, env.client.token_index)
    with pytest.raises(SettlementError, match="int128"):
        big.encode()


def test_token_listing_and_deposit_limits(env):
    c = env.client
    fresh = env.chain.deploy("TestToken", "Fresh", "FRSH", 18)
    env.chain.transact(fresh.functions.mint(env.alice, 2**129))
    assert c.balance(env.alice, fresh.address) == 0
    with pytest.raises(SettlementError, match="not listed"):
        c.token_index(fresh.address)
    assert reverts("UnknownToken", c.deposit, fresh.address, 1, sender="alice") == (fresh.address,)
    assert reverts("UnknownToken", c.request_withdrawal, fresh.address, 1, sender="alice") == (fresh.address,)
    assert reverts("OwnableUnauthorizedAccount", c.list_token, fresh.address, sender="alice") == (env.alice,)
    receipt = env.chain.transact(c.contract.handle.functions.listToken(fresh.address))
    assert env.chain.events(receipt, c.contract.handle, "TokenListed")[0]["index"] == 3 == c.token_index(fresh.address)
    assert reverts("TokenAlreadyListed", c.list_token, fresh.address) == (fresh.address, 3)
    reverts("ZeroAddress", c.list_token, "0x" + "00" * 20)
    reverts("BalanceOverflow", c.deposit, fresh.address, 2**127, sender="alice")  # balances are int128
    assert c.deposit(fresh.address, 2**127 - 1, sender="alice").balance == 2**127 - 1
    assert reverts("BalanceOverflow", c.deposit, fresh.address, 1, sender="alice")[2:] == (2**127 - 1, 1)
    assert c.balance(env.alice, env.base) == FUNDS  # token 3 shares no slot with tokens 1 and 2


def test_verify_trades_needs_one_proof_per_trade(env):
    b = env.next_batch([env.trade(env.alice, env.bob)])
    env.client.submit(b, env.certify(b))
    assert reverts("ProofCountMismatch", env.client.verify_trades, 1, list(b.trades), []) == (1, 0)
    assert env.client.verify_trades(1, list(b.trades), [b.trade_proof(0)]) == [True]


# ---- per-trade mode -----------------------------------------------------------------------------------------------

def test_per_trade_mode_matches_net_mode(env):
    trades = [env.trade(env.alice, env.bob, 10**18, 5 * 10**18, buyer_fee=10**15),
              env.trade(env.bob, env.alice, 3 * 10**17, 2 * 10**18, seller_fee=10**14),
              env.trade(env.alice, env.bob, 1, 1)]
    pairs = [(a, t) for a in (env.alice, env.bob, env.fee) for t in (env.base, env.quote)]
    snap = env.chain.snapshot()
    net = env.next_batch(trades)
    env.client.submit(net, env.certify(net))
    after_net = env.client.balances(pairs)
    env.chain.revert(snap)
    per = env.next_batch(trades, mode=SettlementMode.PER_TRADE)
    assert per.header.merkle_root != net.header.merkle_root  # no deltas leaf
    info = env.client.submit(per, env.certify(per))
    assert info.trade_count == 3 and info.delta_count == 0
    assert env.client.balances(pairs) == after_net
    assert env.client.verify_trade(1, trades[2], per.trade_proof(2))


def test_per_trade_mode_errors(env):
    fns = env.client.contract.handle.functions
    trades = [env.trade(env.alice, env.bob), env.trade(env.bob, env.alice)]
    b = env.next_batch(trades, mode=SettlementMode.PER_TRADE)
    inflated = [trades[0].as_tuple(), trades[1].as_tuple()[:5] + (10**20,) + trades[1].as_tuple()[6:]]
    call = fns.settleTrades(b.header.as_tuple(), [], inflated, env.certify(b))
    args = reverts("RootMismatch", env.chain.transact, call)
    assert args[0] == b.header.merkle_root
    reverts("EmptyBatch", env.chain.call, fns.tradesRoot([]))
    greedy = env.next_batch([env.trade(env.alice, env.bob, 1, 10, seller_fee=11)], mode=SettlementMode.PER_TRADE)
    assert reverts("FeeExceedsAmount", env.client.submit, greedy, env.certify(greedy))[1:] == (11, 10)
    short = env.next_batch([env.trade(env.carol, env.bob)], mode=SettlementMode.PER_TRADE)
    assert reverts("InsufficientBalance", env.client.submit, short, env.certify(short))[:2] == (env.carol, env.quote)


# ---- governance ---------------------------------------------------------------------------------------------------

def test_threshold_change_applies_to_later_batches(env):
    b1 = env.next_batch([env.trade(env.alice, env.bob)])
    env.client.submit(b1, env.certify(b1))
    env.client.set_threshold(4)
    b2 = env.next_batch([env.trade(env.bob, env.alice)])
    assert reverts("InsufficientSignatures", env.client.submit, b2, env.certify(b2)) == (3, 4)
    env.client.submit(b2, env.certify(b2, env.keys))
    assert env.client.threshold == 4 and env.client.batch_root(1) == b1.header.merkle_root


def test_validator_changes(env):
    c, fns = env.client, env.client.contract.handle.functions
    removed, newcomer = env.keys[0], validator_keys(1, seed=42)[0]
    receipt = env.chain.transact(fns.removeValidator(removed.address, 3))
    assert env.chain.events(receipt, c.contract.handle, "ValidatorRemoved")[0]["effectiveFromSequence"] == 1
    b = env.next_batch([env.trade(env.alice, env.bob)])
    assert reverts("UnknownSigner", c.submit, b, env.certify(b, env.keys[:3]))[1] == removed.address
    receipt = env.chain.transact(fns.addValidator(newcomer.address, 3))
    assert env.chain.events(receipt, c.contract.handle, "ValidatorAdded")[0]["validator"] == newcomer.address
    c.submit(b, env.certify(b, [env.keys[1], env.keys[2], newcomer]))
    assert c.is_validator(newcomer.address) and not c.is_validator(removed.address)


def test_governance_errors(env):
    c = env.client
    assert reverts("ThresholdTooLow", c.set_threshold, 0) == (0, 3)
    assert reverts("ThresholdTooLow", c.set_threshold, 2) == (2, 3)
    assert reverts("InvalidThreshold", c.set_threshold, 5) == (5, 4)
    assert reverts("ValidatorAlreadyRegistered", c.add_validator, env.keys[0].address) == (env.keys[0].address,)
    assert reverts("NotAValidator", c.remove_validator, env.alice) == (env.alice,)
    reverts("ZeroAddress", c.add_validator, "0x" + "00" * 20)
    reverts("ZeroAddress", env.chain.transact, c.contract.handle.functions.setFeeAccount("0x" + "00" * 20))
    c.set_threshold(4)
    assert reverts("InvalidThreshold", c.remove_validator, env.keys[0].address, threshold=4) == (4, 3)
    assert reverts("OwnableUnauthorizedAccount", c.set_threshold, 3, sender="alice") == (env.alice,)
    receipt = env.chain.transact(c.contract.handle.functions.setFeeAccount(env.carol))
    assert env.chain.events(receipt, c.contract.handle, "FeeAccountChanged")[0]["newFeeAccount"] == env.carol


def test_added_validators_alone_never_reach_the_threshold(env):
    """Regression: three addValidator calls used to leave 7 validators at threshold 3, so the newcomers alone
    settled a batch. Every set change now keeps the threshold >= floor(2n/3)+1."""
    c, fns = env.client, env.client.contract.handle.functions
    newcomers = validator_keys(3, seed=42)
    changes = []
    for i, key in enumerate(newcomers):  # 4 validators at threshold 3: 5 need 4, 6 need 5, 7 need 5
        assert reverts("ThresholdTooLow", env.chain.transact, fns.addValidator(key.address, 3)) == (3, (4, 5, 5)[i])
        receipt = env.chain.transact(fns.addValidator(key.address, c.minimum_threshold(5 + i)))
        assert env.chain.events(receipt, c.contract.handle, "ValidatorAdded")[0]["validator"] == key.address
        changes += [(e["previousThreshold"], e["newThreshold"])
                    for e in env.chain.events(receipt, c.contract.handle, "ThresholdChanged")]
    assert changes == [(3, 4), (4, 5)]  # 6 -> 7 validators keeps 5: no change, no event
    assert (c.validator_count, c.threshold) == (7, 5)
    b = env.next_batch([env.trade(env.alice, env.bob)])
    assert reverts("InsufficientSignatures", c.submit, b, env.certify(b, newcomers)) == (3, 5)
    c.submit(b, env.certify(b, list(env.keys[:2]) + list(newcomers)))
    assert c.last_sequence == 1


def test_removing_validators_keeps_two_thirds(env):
    c = env.client
    assert reverts("ThresholdTooLow", c.set_threshold, 2) == (2, 3)
    c.remove_validator(env.keys[0].address)  # default: threshold 3 of 3
    assert (c.validator_count, c.threshold) == (3, 3)
    assert reverts("ThresholdTooLow", c.remove_validator, env.keys[1].address, threshold=1) == (1, 2)
    c.remove_validator(env.keys[1].address, threshold=2)
    assert (c.validator_count, c.threshold) == (2, 2)


def test_client_add_validator_raises_the_threshold_to_the_minimum(env):
    c = env.client
    assert c.threshold == 3
    for key in validator_keys(3, seed=43):
        c.add_validator(key.address)
    assert (c.validator_count, c.threshold) == (7, 5)


def test_balances_of_and_batch_roots_read_many_at_once(env):
    batch = env.next_batch([env.trade(env.alice, env.bob, 10**18, 5 * 10**18)])
    env.client.submit(batch, env.certify(batch))
    c = env.client.contract
    pairs = [(a, t) for a in (env.alice, env.bob, env.carol) for t in (env.base, env.quote, env.carol)]  # carol: unlisted
    assert c.balances_of(pairs) == [c.balance_of(a, t) for a, t in pairs]
    assert c.balances_of(pairs)[0] == FUNDS + 10**18 and c.balances_of([]) == []
    assert c.batch_roots([1, 2, 1]) == [batch.header.merkle_root, bytes(32), batch.header.merkle_root]
    assert reverts("LengthMismatch", env.chain.call, c.handle.functions.balancesOf([env.alice], [])) == (1, 0)
