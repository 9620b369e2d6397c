"""call_many: many view calls straight on py-evm give what Chain.call gives, one by one; over RPC it is Chain.call."""

from __future__ import annotations

import pytest

from market_sim.blockchain import Chain
from market_sim.blockchain.local_calls import call_many
from market_sim.core.errors import ContractRevertError


@pytest.fixture(scope="module")
def token():
    chain = Chain.local(["deployer", "alice", "bob"])
    handle = chain.deploy("TestToken", "Test", "TST", 6)
    chain.transact(handle.functions.mint(chain.account("alice"), 1234))
    return chain, handle


def test_same_answers_as_chain_call(token):
    chain, handle = token
    calls = [handle.functions.balanceOf(chain.account(w)) for w in ("alice", "bob", "deployer")] + \
        [handle.functions.decimals(), handle.functions.symbol(), handle.functions.totalSupply()]
    assert call_many(chain, calls) == [chain.call(c) for c in calls] == [1234, 0, 0, 6, "TST", 1234]
    assert call_many(chain, []) == []


def test_a_reverting_call_raises_as_chain_call_does(token):
    chain, handle = token
    bad = handle.functions.transfer(chain.account("bob"), 10**9)  # more than the deployer has: reverts
    with pytest.raises(ContractRevertError):
        chain.call(bad)
    with pytest.raises(ContractRevertError):
        call_many(chain, [handle.functions.decimals(), bad])


def test_estimate_gas_is_the_gas_the_transaction_uses_in_one_execution(token):
    """One execution gives the gas a transaction uses (the receipt's gasUsed; a limit of exactly that succeeds),
    never more than eth-tester's binary search answers (~13 executions, and it overshoots)."""
    from market_sim.blockchain.local_calls import estimate_gas

    chain, handle = token
    for call, sender in [(handle.functions.transfer(chain.account("bob"), 5), "alice"),            # cold slot
                         (handle.functions.transfer(chain.account("bob"), 5), "alice"),            # warm (now set)
                         (handle.functions.approve(chain.account("bob"), 0), "alice")]:            # refund path
        tx = {"from": chain.account(sender), "to": call.address, "data": call._encode_transaction_data(), "value": 0}
        ours = estimate_gas(chain, tx)
        search = int(chain.w3.eth.estimate_gas(tx))
        assert ours is not None and ours <= search
        receipt = chain.transact(call, sender=sender, gas=ours)
        assert receipt["status"] == 1 and receipt["gasUsed"] == ours
    bad = handle.functions.transfer(chain.account("bob"), 10**9)
    tx = {"from": chain.account("deployer"), "to": bad.address, "data": bad._encode_transaction_data(), "value": 0}
    assert estimate_gas(chain, tx) is None                                    # a revert: the node reports it
