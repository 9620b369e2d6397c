"""Chain on the in-process eth-tester backend: deploy, transact, call, events, reverts, snapshots, time."""

from __future__ import annotations

import pytest

from market_sim.blockchain import Chain
from market_sim.blockchain.chain import DEFAULT_ACCOUNT_NAMES
from market_sim.core.errors import ChainError, ConfigError, ContractRevertError


def test_named_funded_accounts(chain):
    assert list(chain.accounts) == list(DEFAULT_ACCOUNT_NAMES)
    assert len(set(chain.accounts.values())) == 10
    assert chain.balance("alice") == 1_000_000 * 10**18
    assert chain.address("bob") == chain.account("bob")
    assert chain.address(chain.account("bob").lower()) == chain.account("bob")
    with pytest.raises(ConfigError, match="unknown account"):
        chain.account("mallory")


def test_custom_account_names_and_balance():
    chain = Chain.local(accounts=["deployer", "trader-0", "trader-1"], balance=5 * 10**18)
    assert list(chain.accounts) == ["deployer", "trader-0", "trader-1"]
    assert chain.balance("trader-1") == 5 * 10**18
    with pytest.raises(ConfigError, match=r"accounts: account names must be non-empty and unique \(got \['a', 'a'\]\)"):
        Chain.local(accounts=["a", "a"])


def test_private_keys_match_addresses(chain):
    from eth_account import Account

    for name, address in chain.accounts.items():
        assert Account.from_key(chain.private_key(name)).address == address


def test_distinct_chain_ids_reach_the_evm(box_set):
    ids = []
    for chain_id in (1001, 1002):
        chain = Chain.local(chain_id=chain_id)
        box = chain.deploy(box_set.artifacts["Box"], 10)
        ids.append((chain.w3.eth.chain_id, chain.call(box.functions.chainId())))
    assert ids == [(1001, 1001), (1002, 1002)]


def test_cancun_opcodes_run(chain, box_set):
    box = chain.deploy(box_set.artifacts["Box"], 10)
    assert chain.call(box.functions.transient(7)) == 7
    assert chain.transact(box.functions.transient(9))["status"] == 1


def test_deploy_transact_call_and_events(chain):
    token, receipt = chain.deploy_with_receipt("TestToken", "Test USD", "tUSD", 6)
    assert receipt["status"] == 1 and receipt["contractAddress"] == token.address
    assert 500_000 < receipt["gasUsed"] < 800_000
    assert chain.call(token.functions.decimals()) == 6
    assert chain.call(token.functions.symbol()) == "tUSD"
    alice, bob = chain.account("alice"), chain.account("bob")
    mint = chain.transact(token.functions.mint(alice, 1_000_000))
    assert chain.events(mint, token, "Transfer") == [
        {"from": "0x0000000000000000000000000000000000000000", "to": alice, "value": 1_000_000}
    ]
    move = chain.transact(token.functions.transfer(bob, 250_000), sender="alice")
    assert chain.events(move, token, "Transfer") == [{"from": alice, "to": bob, "value": 250_000}]
    assert chain.events(move, token, "Approval") == []
    assert chain.call(token.functions.balanceOf(alice)) == 750_000
    assert chain.call(token.functions.balanceOf(bob)) == 250_000
    assert chain.call(token.functions.totalSupply()) == 1_000_000


def test_send_then_wait_and_explicit_gas(chain):
    token = chain.deploy("TestToken", "A", "A", 18)
    tx_hash = chain.send(token.functions.mint(chain.account("bob"), 7), gas=100_000)
    receipt = chain.wait(tx_hash)
    assert receipt["status"] == 1 and receipt["gasUsed"] < 100_000
    assert chain.call(token.functions.balanceOf(chain.account("bob"))) == 7


def test_custom_error_decoded_with_args(chain):
    token = chain.deploy("TestToken", "A", "A", 18)
    alice = chain.account("alice")
    chain.transact(token.functions.mint(alice, 10))
    with pytest.raises(ContractRevertError) as info:
        chain.transact(token.functions.transfer(chain.account("bob"), 11), sender="alice")
    err = info.value
    assert err.error_name == "ERC20InsufficientBalance"
    assert err.args_decoded == (alice, 10, 11)
    assert err.contract == "TestToken"
    assert str(err) == f"TestToken: reverted with ERC20InsufficientBalance('{alice}', 10, 11)"
    with pytest.raises(ContractRevertError) as info:
        chain.call(token.functions.mint(alice, 1), sender="alice")
    assert (info.value.error_name, info.value.args_decoded) == ("OwnableUnauthorizedAccount", (alice,))


def test_mined_revert_is_decoded_from_replay(chain):
    token = chain.deploy("TestToken", "A", "A", 18)
    with pytest.raises(ContractRevertError) as info:
        chain.transact(token.functions.burn(5), sender="bob", gas=100_000)  # explicit gas: no estimate, mined
    err = info.value
    assert (err.error_name, err.args_decoded) == ("ERC20InsufficientBalance", (chain.account("bob"), 0, 5))
    assert err.receipt["status"] == 0
    assert err.tx_hash.startswith("0x") and len(err.tx_hash) == 66


def test_box_errors_string_panic_and_constructor(chain, box_set):
    box = chain.deploy(box_set.artifacts["Box"], 100)
    with pytest.raises(ContractRevertError) as info:
        chain.transact(box.functions.store(101))
    assert (info.value.error_name, info.value.args_decoded) == ("TooBig", (101, 100))
    with pytest.raises(ContractRevertError) as info:
        chain.call(box.functions.fail("nope"))
    assert (info.value.error_name, info.value.args_decoded) == ("Error", ("nope",))
    assert str(info.value) == "Box: reverted: nope"
    with pytest.raises(ContractRevertError) as info:
        chain.call(box.functions.divide(0))
    assert (info.value.error_name, info.value.args_decoded) == ("Panic", (0x12,))
    assert "division or modulo by zero" in str(info.value)
    with pytest.raises(ContractRevertError) as info:
        chain.deploy(box_set.artifacts["Box"], 0)
    assert info.value.args_decoded == ("cap must be positive",)


def test_undeployable_and_bad_constructor_args(chain):
    with pytest.raises(ChainError, match="bad constructor arguments"):
        chain.deploy("TestToken", "A", "A", 300)  # uint8 overflow


def test_snapshot_and_revert(chain):
    token = chain.deploy("TestToken", "A", "A", 18)
    bob = chain.account("bob")
    snap = chain.snapshot()
    block = chain.block_number
    chain.transact(token.functions.mint(bob, 5))
    assert chain.call(token.functions.balanceOf(bob)) == 5
    chain.revert(snap)
    assert chain.call(token.functions.balanceOf(bob)) == 0
    assert chain.block_number == block
    chain.transact(token.functions.mint(bob, 3))  # the chain keeps working after a revert
    assert chain.call(token.functions.balanceOf(bob)) == 3
    with pytest.raises(ConfigError, match=r"snapshot: no such snapshot \(got 10000\)"):
        chain.revert(10_000)


def test_mine_and_time_travel(chain, box_set):
    box = chain.deploy(box_set.artifacts["Box"], 10)
    start = chain.block_number
    chain.mine(3)
    assert chain.block_number == start + 3
    target = chain.timestamp + 86_400
    chain.time_travel(target)
    assert chain.timestamp == target
    chain.transact(box.functions.store(1))
    assert chain.call(box.functions.now_()) > target
    before = chain.timestamp
    chain.advance_time(60)
    assert chain.timestamp == before + 60
    with pytest.raises(ConfigError, match="forward"):
        chain.time_travel(target)


def test_add_account_is_funded_and_usable(chain):
    token = chain.deploy("TestToken", "A", "A", 18)
    trader = chain.add_account("trader-1", balance=2 * 10**18)
    assert chain.account("trader-1") == trader
    assert chain.balance(trader) == 2 * 10**18
    chain.transact(token.functions.mint(trader, 9))
    chain.transact(token.functions.transfer(chain.account("alice"), 4), sender="trader-1")
    assert chain.call(token.functions.balanceOf(trader)) == 5
    with pytest.raises(ConfigError, match=r"account: account already exists \(got 'trader-1'\)"):
        chain.add_account("trader-1")


def test_send_eth(chain):
    before = chain.balance("bob")
    receipt = chain.send_eth("bob", 123, sender="alice")
    assert receipt["gasUsed"] == 21_000
    assert chain.balance("bob") == before + 123


def test_event_logs_over_block_ranges(chain):
    token = chain.deploy("TestToken", "A", "A", 18)
    bob = chain.account("bob")
    first = chain.transact(token.functions.mint(bob, 1))
    second = chain.transact(token.functions.mint(bob, 2))
    logs = chain.event_logs(token, "Transfer")
    expected = [(1, first["blockNumber"]), (2, second["blockNumber"])]
    assert [(log["value"], log["blockNumber"]) for log in logs] == expected
    assert logs[1]["transactionHash"] == second["transactionHash"].to_0x_hex()
    assert [log["value"] for log in chain.event_logs(token, "Transfer", from_block=second["blockNumber"])] == [2]
    with pytest.raises(ConfigError, match="no event named"):
        chain.event_logs(token, "Nope")


def test_events_unknown_name(chain):
    token = chain.deploy("TestToken", "A", "A", 18)
    receipt = chain.transact(token.functions.mint(chain.account("bob"), 1))
    with pytest.raises(ConfigError, match="no event named"):
        chain.events(receipt, token, "Nope")
