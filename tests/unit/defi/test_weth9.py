"""WETH9.sol: the 0.8 port keeps WETH9's semantics (deposit/withdraw, totalSupply = ETH held, unlimited allowance)."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from market_sim.blockchain import Chain
from market_sim.core.errors import ContractRevertError

E18 = 10**18
MAX = 2**256 - 1


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain.local(accounts=4)


@pytest.fixture
def weth(chain: Chain):
    return chain.deploy("WETH9")


def _gas_cost(receipt) -> int:
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def test_metadata_and_storage_layout(chain: Chain, weth) -> None:
    f = weth.functions
    assert (chain.call(f.name()), chain.call(f.symbol()), chain.call(f.decimals())) == ("Wrapped Ether", "WETH", 18)
    chain.transact(f.deposit(), sender="alice", value=3)
    # Mainnet layout: balanceOf is the mapping in slot 3 (tools such as forge's deal rely on it).
    alice = chain.account("alice")
    slot = keccak(bytes(12) + bytes.fromhex(alice[2:]) + (3).to_bytes(32, "big"))
    assert int.from_bytes(chain.w3.eth.get_storage_at(weth.address, slot), "big") == 3


def test_deposit_withdraw_and_total_supply(chain: Chain, weth) -> None:
    f = weth.functions
    receipt = chain.transact(f.deposit(), sender="alice", value=2 * E18)
    assert chain.events(receipt, weth, "Deposit") == [{"dst": chain.account("alice"), "wad": 2 * E18}]
    assert chain.call(f.balanceOf(chain.account("alice"))) == chain.call(f.totalSupply()) == 2 * E18
    eth = chain.balance("alice")
    receipt = chain.transact(f.withdraw(E18 // 2), sender="alice")
    assert chain.balance("alice") - eth == E18 // 2 - _gas_cost(receipt)
    assert chain.events(receipt, weth, "Withdrawal") == [{"src": chain.account("alice"), "wad": E18 // 2}]
    assert chain.call(f.totalSupply()) == 3 * E18 // 2 == chain.balance(weth.address)
    with pytest.raises(ContractRevertError) as err:
        chain.transact(f.withdraw(2 * E18), sender="alice")
    assert (err.value.error_name, err.value.args_decoded) == (
        "InsufficientBalance", (chain.account("alice"), 3 * E18 // 2, 2 * E18))


def test_transfer_from_spends_allowance_unless_unlimited(chain: Chain, weth) -> None:
    f = weth.functions
    alice, bob, carol = (chain.account(n) for n in ("alice", "bob", "carol"))
    chain.transact(f.deposit(), sender="alice", value=10)
    chain.transact(f.approve(bob, 4), sender="alice")
    receipt = chain.transact(f.transferFrom(alice, carol, 3), sender="bob")
    assert chain.events(receipt, weth, "Transfer") == [{"src": alice, "dst": carol, "wad": 3}]
    assert chain.call(f.allowance(alice, bob)) == 1
    with pytest.raises(ContractRevertError) as err:
        chain.transact(f.transferFrom(alice, carol, 2), sender="bob")
    assert (err.value.error_name, err.value.args_decoded) == ("InsufficientAllowance", (alice, bob, 1, 2))
    chain.transact(f.approve(bob, MAX), sender="alice")
    chain.transact(f.transferFrom(alice, carol, 5), sender="bob")
    assert chain.call(f.allowance(alice, bob)) == MAX
    # The owner moving its own WETH through transferFrom needs no allowance, as in WETH9.
    chain.transact(f.transferFrom(alice, alice, 2), sender="alice")
    assert [chain.call(f.balanceOf(a)) for a in (alice, carol)] == [2, 8]
    with pytest.raises(ContractRevertError) as err:
        chain.transact(f.transfer(bob, 3), sender="alice")
    assert (err.value.error_name, err.value.args_decoded) == ("InsufficientBalance", (alice, 2, 3))
