"""Chain.prepare: a transaction built now (calldata, sender, gas) for a BlockProducer to send later."""

from __future__ import annotations

import pytest

from market_sim.blockchain import PreparedTx
from market_sim.blockchain.clients import TestToken
from market_sim.core.errors import ConfigError, ContractRevertError


def test_prepare_builds_without_sending_and_estimates_gas(chain, box_set):
    box = chain.deploy(box_set.artifacts["Box"], 10)
    head = chain.block_number
    tx = chain.prepare(box.functions.store(7), sender="alice")
    assert chain.block_number == head and chain.call(box.functions.value()) == 0  # nothing sent
    assert isinstance(tx, PreparedTx)
    assert (tx.sender, tx.sender_name, tx.to, tx.value, tx.contract) == (
        chain.account("alice"), "alice", box.address, 0, "Box")
    assert tx.data == "0x" + box.functions.store(7)._encode_transaction_data().removeprefix("0x")
    from market_sim.blockchain.local_calls import estimate_gas

    used = estimate_gas(chain, {"from": tx.sender, "to": tx.to, "data": tx.data})  # one execution, in-process
    assert tx.gas == used * 6 // 5 + 10_000
    assert chain.transact(box.functions.store(7), sender="alice", gas=used)["gasUsed"] == used  # exactly enough
    assert chain.prepare(box.functions.store(7), sender="alice", gas=50_000).gas == 50_000


def test_prepare_of_a_call_that_reverts_now_needs_an_explicit_gas(chain, box_set):
    box = chain.deploy(box_set.artifacts["Box"], 10)
    with pytest.raises(ContractRevertError) as info:
        chain.prepare(box.functions.store(11))
    assert info.value.error_name == "TooBig"
    assert chain.prepare(box.functions.store(11), gas=60_000).gas == 60_000


def test_typed_clients_prepare_and_bad_values_are_named(chain):
    token = TestToken.deploy(chain, "T", "T", 18)
    tx = token.prepare_mint(chain.account("bob"), 5, gas=90_000)
    assert (tx.to, tx.gas, tx.sender_name, tx.contract) == (token.address, 90_000, "deployer", "TestToken")
    assert token.prepare_transfer(chain.account("bob"), 0, sender="alice").gas > 21_000
    eth = chain.prepare_eth("bob", 3, sender="alice")
    assert (eth.to, eth.value, eth.gas, eth.data) == (chain.account("bob"), 3, 21_000, "0x")
    with pytest.raises(ConfigError, match="non-negative"):
        chain.prepare_eth("bob", -1)
    with pytest.raises(ConfigError, match="unknown account"):
        chain.prepare_eth("bob", 1, sender="nobody")
