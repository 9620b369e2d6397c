"""Router.sol and the Amm client: liquidity, exact-in/exact-out swaps, slippage limits and deadlines."""

from __future__ import annotations

import pytest

from market_sim.core.errors import ContractRevertError
from market_sim.defi.amm_math import get_amount_in, get_amount_out, quote

from .conftest import E18, AmmWorld


def _seed(w: AmmWorld) -> None:
    w.amm.add_liquidity(w.token0, w.token1, 1000 * E18, 2000 * E18, sender="alice")


def test_add_liquidity_at_ratio_and_min_amounts(world: AmmWorld) -> None:
    w = world
    _seed(w)
    a, b, liquidity = w.amm.add_liquidity(w.token0, w.token1, 10 * E18, 50 * E18, sender="alice")
    assert (a, b) == (10 * E18, quote(10 * E18, 1000 * E18, 2000 * E18))
    assert liquidity > 0
    with pytest.raises(ContractRevertError) as err:
        w.amm.add_liquidity(w.token0, w.token1, 10 * E18, 50 * E18, sender="alice", min_b=21 * E18)
    assert (err.value.error_name, err.value.args_decoded) == ("InsufficientBAmount", (20 * E18, 21 * E18))


def test_exact_in_swap_pays_python_amount_and_checks_minimum(world: AmmWorld) -> None:
    w = world
    _seed(w)
    expected = get_amount_out(E18, 1000 * E18, 2000 * E18)
    with pytest.raises(ContractRevertError) as err:
        w.amm.swap_exact_in(w.token0, w.token1, E18, sender="alice", min_out=expected + 1)
    assert (err.value.error_name, err.value.args_decoded) == ("InsufficientOutputAmount", (expected, expected + 1))
    result = w.amm.swap_exact_in(w.token0, w.token1, E18, sender="alice", min_out=expected)
    assert (result.amount_in, result.amount_out) == (E18, expected)
    assert (result.pool.reserve0, result.pool.reserve1) == (1001 * E18, 2000 * E18 - expected)


def test_exact_out_swap_charges_python_amount_and_checks_maximum(world: AmmWorld) -> None:
    w = world
    _seed(w)
    needed = get_amount_in(E18, 2000 * E18, 1000 * E18)
    with pytest.raises(ContractRevertError) as err:
        w.amm.swap_exact_out(w.token1, w.token0, E18, sender="alice", max_in=needed - 1)
    assert (err.value.error_name, err.value.args_decoded) == ("ExcessiveInputAmount", (needed, needed - 1))
    result = w.amm.swap_exact_out(w.token1, w.token0, E18, sender="alice", max_in=needed)
    assert (result.amount_in, result.amount_out) == (needed, E18)


def test_expired_deadline_reverts(world: AmmWorld) -> None:
    w = world
    _seed(w)
    now = w.chain.timestamp
    with pytest.raises(ContractRevertError) as err:
        w.amm.swap_exact_in(w.token0, w.token1, E18, sender="alice", deadline=now - 1)
    assert err.value.error_name == "Expired"
    assert err.value.args_decoded[0] == now - 1


def test_remove_liquidity_returns_share(world: AmmWorld) -> None:
    w = world
    _seed(w)
    lp = w.balance(w.pair, w.wallet)
    supply = w.chain.call(w.pair.handle.functions.totalSupply())
    a, b = w.amm.remove_liquidity(w.token0, w.token1, lp // 2, sender="alice")
    assert (a, b) == (lp // 2 * 1000 * E18 // supply, lp // 2 * 2000 * E18 // supply)


def test_multi_hop_path_and_bad_path(world: AmmWorld) -> None:
    w = world
    _seed(w)
    with pytest.raises(ContractRevertError) as err:
        w.chain.call(w.amm.router.handle.functions.getAmountsOut(E18, [w.token0.address]))
    assert (err.value.error_name, err.value.args_decoded) == ("InvalidPath", (1,))
    amounts = w.chain.call(w.amm.router.handle.functions.getAmountsOut(E18, [w.token0.address, w.token1.address]))
    assert amounts == [E18, get_amount_out(E18, 1000 * E18, 2000 * E18)]
