"""Chain.wait over JSON-RPC on anvil: receipt polls start sub-millisecond and back off, a missing receipt times out."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hexbytes import HexBytes

from market_sim.blockchain import Chain
from market_sim.blockchain.chain import RECEIPT_POLL_FIRST_S, RECEIPT_POLL_MAX_S
from market_sim.core.errors import ChainError

pytestmark = pytest.mark.anvil


@pytest.fixture()
def manual_mining(anvil: str) -> Iterator[Chain]:
    """A chain on the session anvil with auto-mining off (restored, and the state reverted, afterwards)."""
    chain = Chain.connect(anvil)
    snapshot = chain.snapshot()
    chain._rpc("evm_setAutomine", False)
    try:
        yield chain
    finally:
        chain.mine()  # empty the pool so nothing left pending is mined later
        chain._rpc("evm_setAutomine", True)
        chain.revert(snapshot)


def _pending_transfer(chain: Chain) -> HexBytes:
    tx = {"from": chain.account("deployer"), "to": chain.account("alice"), "value": 1, "gas": 21_000}
    return chain.w3.eth.send_transaction(tx)


def test_receipt_polls_back_off_from_half_a_millisecond(manual_mining, monkeypatch):
    # A dev node mines a few ms after accepting a transaction (more on a reused anvil); a fixed 50 ms poll gap
    # made each of those delays cost 50 ms. The block is mined during the 8th pause, so the 9th poll finds it.
    chain = manual_mining
    tx_hash = _pending_transfer(chain)
    pauses: list[float] = []
    polls = 0
    get_receipt = chain.w3.eth.get_transaction_receipt

    def counting_get_receipt(h):
        nonlocal polls
        polls += 1
        return get_receipt(h)

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 8:
            chain.mine()

    monkeypatch.setattr(chain.w3.eth, "get_transaction_receipt", counting_get_receipt)
    monkeypatch.setattr(time, "sleep", pause)
    receipt = chain.wait(tx_hash)
    monkeypatch.undo()

    assert receipt["status"] == 1 and receipt["transactionHash"] == tx_hash
    assert RECEIPT_POLL_FIRST_S == 0.0005 and RECEIPT_POLL_MAX_S == 0.05
    assert pauses == pytest.approx([0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.05])
    assert polls == 9


def test_receipt_that_never_comes_times_out(manual_mining):
    chain = manual_mining
    tx_hash = _pending_transfer(chain)
    with pytest.raises(ChainError, match=f"no receipt for {tx_hash.to_0x_hex()} within 0.2 s"):
        chain.wait(tx_hash, timeout=0.2)
