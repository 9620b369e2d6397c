"""The AMM on a real node (anvil): Python math equals the contract, and gas stays at or below Uniswap V2's."""

from __future__ import annotations

import pytest

from market_sim.benchmarks.amm import measure
from market_sim.blockchain import Chain
from market_sim.defi.amm import Amm, deploy_token
from market_sim.defi.amm_math import get_amount_out

pytestmark = pytest.mark.anvil
E18 = 10**18


@pytest.fixture(scope="module")
def chain(anvil: str) -> Chain:
    return Chain.connect(anvil)


def test_swaps_on_anvil_pay_the_python_amounts(chain: Chain) -> None:
    snap = chain.snapshot()
    try:
        amm = Amm.deploy(chain)
        a, b = deploy_token(chain, "A", "A"), deploy_token(chain, "B", "B")
        me = chain.account("deployer")
        for token in (a, b):
            token.mint(me, 10**30, gas=200_000)
        amm.create_pair(a.address, b.address, fee_bps=5)
        amm.add_liquidity(a, b, 1000 * E18, 3000 * E18, sender="deployer")
        reserve_a, reserve_b = 1000 * E18, 3000 * E18
        for amount in (E18, 7 * E18, 123_456_789):
            result = amm.swap_exact_in(a, b, amount, sender="deployer")
            expected = get_amount_out(amount, reserve_a, reserve_b, 5)
            assert result.amount_out == expected
            reserve_a, reserve_b = reserve_a + amount, reserve_b - expected
    finally:
        chain.revert(snap)


def test_gas_is_not_above_uniswap_v2_on_anvil(chain: Chain) -> None:
    # anvil stamps blocks with the wall clock, and a pair writes its price accumulators only when block.timestamp
    # moved since its last update: so gas depended on which transactions shared a second (a loaded machine failed the
    # comparison). One second per block, as on the in-process chain, makes every figure exact.
    snap = chain.snapshot()
    assert "error" not in chain.w3.provider.make_request("anvil_setBlockTimestampInterval", [1])
    try:
        result = measure(chain, swaps=4)
    finally:
        chain.w3.provider.make_request("anvil_removeBlockTimestampInterval", [])
        chain.revert(snap)
    assert result["no_operation_costs_more_than_uniswap"] is True
    assert result["throughput"]["swaps"] == 4
