"""Typed contract clients on the in-process chain: typed arguments and results, Receipts, decoded events, reverts
matched by ABI-derived selectors."""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import keccak

from market_sim.blockchain import Chain
from market_sim.blockchain.clients import (
    ERC20, MAX_UINT256, SOLIDITY_ERRORS, WETH9, BatchSettled, BridgeContract, BridgeErrors, Deposited, ERC20Errors,
    Factory, FactoryErrors, Locked, Mint, Pair, Receipt, Router, RouterErrors, SettlementContract, SettlementErrors,
    Swap, Sync, TestToken, Transfer, WithdrawalRequested, Withdrawn, WrappedToken,
)
from market_sim.core.errors import ConfigError, ContractRevertError

E18 = 10**18


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain.local(["deployer", "alice", "bob", "relayer"])


@pytest.fixture(autouse=True)
def _fresh(chain: Chain):
    snap = chain.snapshot()
    yield
    chain.revert(snap)


def test_test_token_reads_writes_and_decodes_events(chain):
    token = TestToken.deploy(chain, "Test A", "TA", 6)
    alice, bob = chain.account("alice"), chain.account("bob")
    assert (token.name(), token.symbol(), token.decimals(), token.owner()) == ("Test A", "TA", 6,
                                                                              chain.account("deployer"))
    receipt = token.mint(alice, 1_000)
    assert isinstance(receipt, Receipt) and receipt.ok and receipt.gas_used > 0
    assert receipt.block_number == chain.block_number and receipt.tx_hash.startswith("0x")
    assert token.events(receipt, Transfer) == [Transfer("0x" + "00" * 20, alice, 1_000)]
    token.transfer(bob, 300, sender="alice")
    assert (token.balance_of(alice), token.balance_of(bob), token.total_supply()) == (700, 300, 1_000)
    assert token.ensure_allowance(bob, owner="alice") is not None
    assert token.allowance(alice, bob) == MAX_UINT256
    assert token.ensure_allowance(bob, owner="alice") is None  # already approved: no transaction
    assert ERC20.at(chain, token.address) == ERC20.at(chain, token.address)
    with pytest.raises(dataclasses.FrozenInstanceError):
        token.events(receipt, Transfer)[0].value = 1  # type: ignore[misc]


def test_revert_carries_declared_fields_and_matches_by_selector(chain):
    token = TestToken.deploy(chain, "Test A", "TA", 18)
    alice = chain.account("alice")
    token.mint(alice, 10)
    with pytest.raises(ContractRevertError) as info:
        token.transfer(chain.account("bob"), 11, sender="alice")
    err = info.value
    assert err.error_name == "ERC20InsufficientBalance" and err.contract == "TestToken"
    assert dict(err.args) == {"sender": alice, "balance": 10, "needed": 11}
    assert err.args_decoded == (alice, 10, 11)
    assert err.selector == keccak(b"ERC20InsufficientBalance(address,uint256,uint256)")[:4]
    assert err.is_(ERC20Errors.ERC20InsufficientBalance)
    assert not err.is_(ERC20Errors.ERC20InsufficientAllowance)
    assert err.is_any([SettlementErrors.ZeroAmount, ERC20Errors.ERC20InsufficientBalance])
    assert err.gas_used is not None and err.tx_hash.startswith("0x")
    with pytest.raises(TypeError):
        err.args["sender"] = "x"  # type: ignore[index]


def test_error_definitions_come_from_the_abi():
    d = SettlementErrors.InsufficientBalance
    assert d.signature == "InsufficientBalance(address,address,uint256,uint256)"
    assert d.selector == keccak(d.signature.encode())[:4]
    assert [n for n, _ in d.params] == ["account", "token", "needed", "available"]
    assert SOLIDITY_ERRORS.Panic.selector == bytes.fromhex("4e487b71")
    with pytest.raises(AttributeError, match="Settlement has no custom error 'Nope'; its errors: BalanceOutOfRange, BalanceOverflow"):
        SettlementErrors.Nope  # noqa: B018


def test_settlement_contract_custody_and_governance(chain):
    deployer = chain.account("deployer")
    validators = sorted(chain.account(n) for n in ("alice", "bob", "relayer"))
    settlement = SettlementContract.deploy(chain, deployer, validators, 3, deployer)
    token = TestToken.deploy(chain, "Test B", "TB", 18)
    settlement.list_token(token.address)
    assert settlement.token_index(token.address) == 1 and settlement.fee_account() == deployer
    alice = chain.account("alice")
    token.mint(alice, 100)
    token.approve(settlement.address, sender="alice")
    assert settlement.deposit(token.address, 60, sender="alice") == Deposited(alice, token.address, 60, 60)
    start = chain.block_number
    requested = settlement.request_withdrawal(token.address, 20, sender="alice")
    assert requested == WithdrawalRequested(alice, token.address, 20, 20, chain.block_number)
    assert settlement.withdrawal_request(alice, token.address) == (20, chain.block_number)
    with pytest.raises(ContractRevertError) as info:
        settlement.request_withdrawal(token.address, 41, sender="alice")  # 20 + 41 > 60
    assert info.value.is_(SettlementErrors.InsufficientBalance)
    assert info.value.args["available"] == 60 and info.value.args["needed"] == 61
    with pytest.raises(ContractRevertError) as info:
        settlement.claim_withdrawal(token.address, sender="alice")
    assert info.value.is_(SettlementErrors.WithdrawalNotReady)
    chain.mine(settlement.max_validity())
    assert settlement.claim_withdrawal(token.address, sender="alice") == Withdrawn(alice, token.address, 20, 40)
    [log] = settlement.withdrawals(start, chain.block_number)
    assert log.event.amount == 20 and log.block_number == chain.block_number
    assert (settlement.threshold(), settlement.validator_count(), settlement.is_validator(alice)) == (3, 3, True)
    assert settlement.last_sequence() == 0 and settlement.batch_root(1) == bytes(32)
    with pytest.raises(ContractRevertError) as info:
        settlement.set_threshold(1)
    assert info.value.is_(SettlementErrors.ThresholdTooLow)
    assert BatchSettled.EVENT == "BatchSettled"


def test_amm_clients_create_pool_add_liquidity_and_swap(chain):
    deployer = chain.account("deployer")
    factory = Factory.deploy(chain, deployer)
    weth = WETH9.deploy(chain)
    router = Router.deploy(chain, factory.address, weth.address)
    assert (router.factory(), router.weth()) == (factory.address, weth.address)
    a, b = TestToken.deploy(chain, "A", "A"), TestToken.deploy(chain, "B", "B")
    factory.create_pair(a.address, b.address)
    pair = Pair.at(chain, factory.get_pair(a.address, b.address))
    assert {pair.token0(), pair.token1()} == {a.address, b.address} and pair.fee() == 30
    with pytest.raises(ContractRevertError) as info:
        factory.create_pair(a.address, b.address)
    assert info.value.is_(FactoryErrors.PairExists)
    for token in (a, b):
        token.mint(deployer, 10**6 * E18)
        token.approve(router.address, sender="deployer")
    receipt = router.add_liquidity(a.address, b.address, 1000 * E18, 1000 * E18, 0, 0, deployer, 2**63,
                                   sender="deployer")
    (mint,) = pair.events(receipt, Mint)
    assert (mint.amount0, mint.amount1) == (1000 * E18, 1000 * E18)
    assert pair.get_reserves().reserve0 == 1000 * E18
    expected = router.get_amounts_out(E18, [a.address, b.address])
    receipt = router.swap_exact_tokens_for_tokens(E18, 0, [a.address, b.address], deployer, 2**63,
                                                  sender="deployer")
    (swap,) = pair.events(receipt, Swap)
    assert swap.amount0_in + swap.amount1_in == E18 and swap.amount0_out + swap.amount1_out == expected[1]
    sync = pair.events(receipt, Sync)[-1]
    assert (sync.reserve0, sync.reserve1) == dataclasses.astuple(pair.get_reserves())[:2]
    with pytest.raises(ContractRevertError) as info:
        router.swap_exact_tokens_for_tokens(E18, 10**30, [a.address, b.address], deployer, 2**63,
                                            sender="deployer")
    assert info.value.is_(RouterErrors.InsufficientOutputAmount)
    weth.deposit(5, sender="alice")
    assert weth.balance_of(chain.account("alice")) == 5


def test_bridge_client_locks_and_wraps(chain):
    deployer = chain.account("deployer")
    validators = sorted(chain.account(n) for n in ("alice", "bob", "relayer"))
    bridge = BridgeContract.deploy(chain, validators, 2, 10, deployer)
    assert (bridge.threshold(), bridge.fee_bps(), bridge.owner()) == (2, 10, deployer)
    token = TestToken.deploy(chain, "T", "T")
    token.mint(chain.account("alice"), 100)
    token.approve(bridge.address, sender="alice")
    with pytest.raises(ContractRevertError) as info:
        bridge.lock(token.address, 10, chain.account("bob"), 7, sender="alice")
    assert info.value.is_(BridgeErrors.UnknownRemote)
    bridge.set_remote_bridge(7, chain.account("bob"))
    event, receipt = bridge.lock(token.address, 10, chain.account("bob"), 7, sender="alice")
    assert event == Locked(event.nonce, token.address, chain.account("alice"), chain.account("bob"), 10, 7)
    assert bridge.locked(token.address) == 10 and [e.event for e in bridge.locks()] == [event]
    bridge.create_wrapped(7, token.address, "Bridged T", "bT", 18)
    wrapped = WrappedToken.at(chain, bridge.wrapped_of(7, token.address))
    assert (wrapped.bridge(), wrapped.source_chain_id(), wrapped.source_token()) == (bridge.address, 7, token.address)


def test_bad_address_is_a_config_error(chain):
    with pytest.raises(ConfigError, match="not an address"):
        ERC20.at(chain, "0x1234")
