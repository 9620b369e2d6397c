"""Gas of one bridge relay (mint on the destination, release on the source), 3-of-4 quorum, pinned exactly.

Issue 12 moved the Bridge's quorum check to QuorumVerifier (packed signatures) and its governance to QuorumGoverned;
the relay had to stay within +2 % of before (mint 153,620 / 102,356, release 123,048 / 105,948 gas).
"""

from __future__ import annotations

from market_sim.blockchain import Chain
from market_sim.consensus.signing import validator_keys
from market_sim.defi.amm import deploy_token
from market_sim.defi.bridge import BridgeRelayer
from market_sim.simulation.kernel import Kernel

A, B = 101, 202


def test_relay_gas() -> None:
    kernel = Kernel()
    chain_a, chain_b = Chain.local(accounts=3, chain_id=A), Chain.local(accounts=3, chain_id=B)
    relayer = BridgeRelayer.deploy(kernel, [chain_a, chain_b], validator_keys(4, seed=7), threshold=3, fee_bps=10,
                                   delay_ns=5, fee_recipient="bob")
    token = deploy_token(chain_a, "Token", "TKN")
    token.mint(chain_a.account("alice"), 10**24)
    wrapped = relayer.create_wrapped(A, token, B)
    gas = []
    for send in (lambda: relayer.lock(A, token, 10**21, B, sender="alice"),) * 2 + (
            lambda: relayer.burn(B, wrapped, 10**20, sender="alice"),) * 2:
        before = relayer.relay_gas
        send()
        kernel.run()
        gas.append(relayer.relay_gas - before)
    # the first mint and the first release each create fresh token balances (recipient, fee recipient)
    assert gas == [153_425, 102_161, 122_790, 105_690]
