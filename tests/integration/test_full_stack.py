"""`market-sim deploy` deploys the whole stack: tokens, AMM, bridge and a settlement contract wired to a committee."""

from __future__ import annotations

import market_sim.defi.stack  # noqa: F401
import market_sim.settlement.stack as settlement_stack
from market_sim.blockchain import Chain, deploy_stack
from market_sim.consensus.signing import validator_keys

ZERO = "0x" + "00" * 20


def test_full_stack_is_wired():
    chain = Chain.local()
    result = deploy_stack(chain)
    assert list(result.contracts) == ["BaseToken", "QuoteToken", "Settlement", "Factory", "WETH9", "Router",
                                    "Bridge"]
    h = result.handles
    base, quote = result.address("BaseToken"), result.address("QuoteToken")

    settlement = h["Settlement"]
    assert chain.call(settlement.functions.threshold()) == settlement_stack.DEFAULT_THRESHOLD == 3
    for key in validator_keys(settlement_stack.DEFAULT_VALIDATORS):
        assert chain.call(settlement.functions.isValidator(key.address))
    assert not chain.call(settlement.functions.isValidator(chain.account("deployer")))
    assert chain.call(settlement.functions.tokenIndex(base)) == 1
    assert chain.call(settlement.functions.tokenIndex(quote)) == 2

    pair = chain.call(h["Factory"].functions.getPair(base, quote))
    assert pair != ZERO and pair == chain.call(h["Factory"].functions.getPair(quote, base))
    assert chain.call(h["Router"].functions.factory()) == result.address("Factory")
    assert chain.call(h["Router"].functions.WETH()) == result.address("WETH9")
    assert chain.call(h["Bridge"].functions.threshold()) == 3
