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
