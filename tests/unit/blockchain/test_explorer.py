"""ChainExplorer: blocks, recent transactions, receipts with events decoded by the emitter's ABI, and contracts with
the transaction that deployed them, on an in-process chain."""

from __future__ import annotations

import pytest
from hexbytes import HexBytes

from market_sim.blockchain.explorer import BlockMissing, ChainExplorer, TxNotFound


def test_receipts_blocks_transactions_and_contracts(chain):
    token, deployed = chain.deploy_with_receipt("TestToken", "Test USD", "tUSD", 6)
    alice, bob = chain.account("alice"), chain.account("bob")
    mint = chain.transact(token.functions.mint(alice, 1_000_000))
    move = chain.transact(token.functions.transfer(bob, 250_000), sender="alice")
    move_hash = HexBytes(move["transactionHash"]).to_0x_hex()
    ex = ChainExplorer(chain, name="local", labels={move_hash: "alice pays bob"}.get)

    r = ex.receipt(move_hash)
    assert (r["hash"], r["block"], r["from"], r["to"], r["contract"], r["status"]) == \
        (move_hash, move["blockNumber"], alice, token.address, "TestToken", 1)
    assert r["gas_used"] == move["gasUsed"] and r["label"] == "alice pays bob" and r["created"] is None
    assert r["events"] == [{"address": token.address, "log_index": 0, "contract": "TestToken", "event": "Transfer",
                            "args": {"from": alice, "to": bob, "value": 250_000}}]

    block = ex.block(move["blockNumber"])
    assert block["number"] == move["blockNumber"] and block["transactions"] == [move_hash]
    assert block["parent_hash"] == ex.block(move["blockNumber"] - 1)["hash"]

    txs = ex.transactions(3)
    assert [t["hash"] for t in txs] == [HexBytes(x["transactionHash"]).to_0x_hex() for x in (deployed, mint, move)]
    assert txs[0]["created"] == token.address and txs[0]["contract"] == "TestToken" and txs[0]["to"] is None

    assert ex.contracts() == [{"name": "TestToken", "address": token.address, "deployment": {
        "tx_hash": HexBytes(deployed["transactionHash"]).to_0x_hex(), "block": deployed["blockNumber"],
        "deployer": chain.account("deployer"), "gas_used": deployed["gasUsed"]}}]


def test_what_is_not_there(chain):
    ex = ChainExplorer(chain, name="local")
    head = chain.block_number
    with pytest.raises(BlockMissing, match=f"no block {head + 1} on chain local \\(head is {head}\\)"):
        ex.block(head + 1)
    with pytest.raises(TxNotFound, match="no transaction 0x0000"):
        ex.receipt("0x" + "00" * 32)
    with pytest.raises(TxNotFound, match="a hash is 0x and 64 hex digits"):
        ex.receipt("0x12")
    with pytest.raises(TxNotFound, match="not hex"):
        ex.receipt("0x" + "zz" * 32)
    assert ex.transactions(5) == [] and ex.contracts() == []
