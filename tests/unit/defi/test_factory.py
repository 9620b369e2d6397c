"""Factory.sol: CREATE2 addresses, per-pair fees, registry and errors with values."""

from __future__ import annotations

import pytest

from market_sim.core.errors import ContractRevertError
from market_sim.defi.amm import deploy_token, pair_address

from .conftest import AmmWorld

ZERO = "0x0000000000000000000000000000000000000000"


def test_pair_address_is_predictable_and_registered_both_ways(world: AmmWorld) -> None:
    w = world
    f = w.amm.factory.handle.functions
    predicted = pair_address(w.amm.factory.address, w.token1.address, w.token0.address)
    assert predicted == w.info.address
    assert w.chain.call(f.getPair(w.token0.address, w.token1.address)) == predicted
    assert w.chain.call(f.getPair(w.token1.address, w.token0.address)) == predicted
    assert w.chain.call(f.allPairsLength()) == 1 and w.chain.call(f.allPairs(0)) == predicted
    assert int(w.token0.address, 16) < int(w.token1.address, 16)
    assert w.info.fee_bps == 30


def test_custom_fee_pair_and_event(world: AmmWorld) -> None:
    w = world
    c = deploy_token(w.chain, "Token C", "TKC")
    receipt = w.chain.transact(w.amm.factory.handle.functions.createPairWithFee(w.token0.address, c.address, 5))
    (created,) = w.chain.events(receipt, w.amm.factory.handle, "PairCreated")
    assert created["pair"] == pair_address(w.amm.factory.address, w.token0.address, c.address)
    assert created["count"] == 2
    assert w.chain.events(receipt, w.amm.factory.handle, "PairFee") == [{"pair": created["pair"], "feeBps": 5}]
    assert w.amm.pair_info(w.token0.address, c.address).fee_bps == 5


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (lambda w: ("createPair", w.token0.address, w.token0.address), ("IdenticalAddresses", "t0")),
        (lambda w: ("createPair", w.token0.address, ZERO), ("ZeroAddress", None)),
        (lambda w: ("createPair", w.token1.address, w.token0.address), ("PairExists", "exists")),
        (lambda w: ("createPairWithFee", w.token0.address, w.pair.address, 1001), ("FeeTooHigh", (1001, 1000))),
    ],
)
def test_create_pair_errors(world: AmmWorld, args, error) -> None:
    w = world
    fn, *params = args(w)
    with pytest.raises(ContractRevertError) as err:
        w.chain.transact(getattr(w.amm.factory.handle.functions, fn)(*params))
    name, values = error
    assert err.value.error_name == name
    expected = {"t0": (w.token0.address,), None: (),
                "exists": (w.token0.address, w.token1.address, w.pair.address)}.get(values, values)
    assert err.value.args_decoded == expected
