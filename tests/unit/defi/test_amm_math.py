"""Pure-Python pool math: Uniswap V2 spec tables, closed-form arbitrage optimum, error cases."""

from __future__ import annotations

from math import isqrt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_sim.core.errors import ValidationError
from market_sim.defi.amm_math import (
    MINIMUM_LIQUIDITY,
    PoolState,
    burn_amounts,
    get_amount_in,
    get_amount_out,
    mint_liquidity,
    optimal_input_two_pools,
    optimal_input_vs_price,
    protocol_fee_liquidity,
    quote,
    swap_satisfies_invariant,
)

E18 = 10**18

# UniswapV2Pair.spec.ts "getInputPrice": (swap, reserve_in, reserve_out) in whole tokens -> exact output.
INPUT_PRICE_CASES = [
    (1, 5, 10, 1662497915624478906),
    (1, 10, 5, 453305446940074565),
    (2, 5, 10, 2851015155847869602),
    (2, 10, 5, 831248957812239453),
    (1, 10, 10, 906610893880149131),
    (1, 100, 100, 987158034397061298),
    (1, 1000, 1000, 996006981039903216),
]


@pytest.mark.parametrize(("swap", "r_in", "r_out", "expected"), INPUT_PRICE_CASES)
def test_amount_out_matches_uniswap_spec(swap: int, r_in: int, r_out: int, expected: int) -> None:
    assert get_amount_out(swap * E18, r_in * E18, r_out * E18) == expected
    # The output is the largest the pair accepts: one more breaks the fee-adjusted invariant.
    for out, ok in ((expected, True), (expected + 1, False)):
        b_in, b_out = (r_in + swap) * E18, r_out * E18 - out
        assert swap_satisfies_invariant(b_in, b_out, swap * E18, 0, r_in * E18, r_out * E18, 30) is ok


@pytest.mark.parametrize(
    ("amount_out", "r_in", "r_out", "amount_in"),
    [(997 * 10**15, 5, 10, 1 * E18), (997 * 10**15, 10, 5, 1 * E18), (997 * 10**15, 5, 5, 1 * E18)],
)
def test_optimistic_flash_repayment_in_same_token(amount_out: int, r_in: int, r_out: int, amount_in: int) -> None:
    # Uniswap spec "optimistic": paying back `amount_in` of the same token covers at most floor(.997 * amount_in).
    r0, r1 = r_in * E18, r_out * E18
    assert swap_satisfies_invariant(r0 - amount_out + amount_in, r1, amount_in, 0, r0, r1, 30)
    assert not swap_satisfies_invariant(r0 - (amount_out + 1) + amount_in, r1, amount_in, 0, r0, r1, 30)


def test_amount_in_is_ceiling_of_uniswap_spec() -> None:
    assert get_amount_in(1, 5 * E18, 5 * E18) == 2  # floor(1 * 1000/997) + 1
    assert get_amount_in(E18, 5 * E18, 10 * E18) == 557227237267357629
    out = get_amount_out(557227237267357629, 5 * E18, 10 * E18)
    assert out >= E18 and get_amount_out(557227237267357628, 5 * E18, 10 * E18) < E18


def test_fee_in_basis_points_equals_uniswap_per_mille() -> None:
    def uni_out(a: int, ri: int, ro: int) -> int:
        return a * 997 * ro // (ri * 1000 + a * 997)

    assert get_amount_out(123456789, 10**12, 3 * 10**12) == uni_out(123456789, 10**12, 3 * 10**12)
    assert get_amount_out(10**6, 10**9, 10**9, fee_bps=0) == 10**6 * 10**9 // (10**9 + 10**6)
    assert get_amount_out(10**6, 10**9, 10**9, fee_bps=100) == 10**6 * 9900 * 10**9 // (10**9 * 10_000 + 10**6 * 9900)


def test_mint_and_burn_match_uniswap_spec() -> None:
    assert mint_liquidity(E18, 4 * E18, 0, 0, 0) == 2 * E18 - MINIMUM_LIQUIDITY
    assert mint_liquidity(E18, 4 * E18, E18, 4 * E18, 2 * E18) == 2 * E18
    assert mint_liquidity(E18, 8 * E18, E18, 4 * E18, 2 * E18) == 2 * E18  # min of the two ratios
    # spec "burn": 3e18 of each in, burn everything but MINIMUM_LIQUIDITY -> 3e18 - 1000 out
    assert burn_amounts(3 * E18 - MINIMUM_LIQUIDITY, 3 * E18, 3 * E18, 3 * E18) == (3 * E18 - 1000, 3 * E18 - 1000)


def test_quote_and_protocol_fee() -> None:
    assert quote(10, 100, 250) == 25
    assert protocol_fee_liquidity(1000, 100, 100, 0) == 0
    assert protocol_fee_liquidity(1000, 400, 400, 100 * 100) == 1000 * 300 // (400 * 5 + 100)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: get_amount_out(0, 10, 10), "InsufficientAmount"),
        (lambda: get_amount_out(1, 0, 10), "InsufficientLiquidity"),
        (lambda: get_amount_in(10, 10, 10), "InsufficientLiquidity"),
        (lambda: get_amount_out(1, 10, 10, fee_bps=10_000), "fee_bps"),
        (lambda: mint_liquidity(1000, 1000, 0, 0, 0), "InsufficientLiquidityMinted"),
        (lambda: burn_amounts(1, 10, 10, 100), "InsufficientLiquidityBurned"),
        (lambda: quote(0, 1, 1), "InsufficientAmount"),
    ],
)
def test_invalid_inputs_name_the_problem(call, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        call()


def test_pool_state_after_swap_keeps_k() -> None:
    pool = PoolState(10**9, 2 * 10**9, 30)
    after, out = pool.after_swap(10**6, zero_for_one=True)
    assert out == get_amount_out(10**6, 10**9, 2 * 10**9)
    assert after == PoolState(10**9 + 10**6, 2 * 10**9 - out, 30)
    assert after.reserve0 * after.reserve1 >= pool.reserve0 * pool.reserve1
    back, out0 = after.after_swap(out, zero_for_one=False)
    assert out0 < 10**6 and back.reserve1 == pool.reserve1


reserves = st.integers(min_value=10**6, max_value=10**24)
fees = st.integers(min_value=0, max_value=1000)


def _round_trip(x: int, a_in: int, a_out: int, fa: int, b_in: int, b_out: int, fb: int) -> int:
    if x <= 0:
        return 0
    mid = get_amount_out(x, a_in, a_out, fa)
    return (get_amount_out(mid, b_in, b_out, fb) if mid > 0 else 0) - x


@settings(max_examples=200, deadline=None)
@given(reserves, reserves, fees, reserves, reserves, fees)
def test_two_pool_optimum_is_a_local_maximum(a_in: int, a_out: int, fa: int, b_in: int, b_out: int, fb: int) -> None:
    x = optimal_input_two_pools(a_in, a_out, fa, b_in, b_out, fb)
    if x == 0:
        # no profitable direction: a unit trade at the margin loses (marginal round-trip rate <= 1)
        ga, gb = 10_000 - fa, 10_000 - fb
        assert ga * gb * a_out * b_out <= 10_000**2 * a_in * b_in
        return
    best = _round_trip(x, a_in, a_out, fa, b_in, b_out, fb)
    step = max(1, x // 100)
    # Rounding the intermediate amount down costs at most one intermediate unit, worth < b_out/b_in + 1.
    tolerance = b_out // b_in + 2
    assert best >= _round_trip(x + step, a_in, a_out, fa, b_in, b_out, fb) - tolerance
    assert best >= _round_trip(x - step, a_in, a_out, fa, b_in, b_out, fb) - tolerance


@settings(max_examples=200, deadline=None)
@given(reserves, reserves, fees, st.integers(1, 10**6), st.integers(1, 10**6))
def test_price_optimum_is_a_local_maximum(r_in: int, r_out: int, fee: int, num: int, den: int) -> None:
    # profit in input units times den: num * out(x) - den * x
    def profit(x: int) -> int:
        return num * get_amount_out(x, r_in, r_out, fee) - den * x if x > 0 else 0

    x = optimal_input_vs_price(r_in, r_out, fee, num, den)
    tolerance = num + 2 * den  # one output unit of rounding plus the isqrt floor
    if x == 0:
        assert 10_000 * (10_000 - fee) * num * r_in * r_out <= (10_000 * r_in) ** 2 * den  # marginal value <= 1
        return
    step = max(1, x // 100)
    assert profit(x) >= -tolerance  # a sub-unit optimum rounds up to one unit, which may just break even
    assert profit(x) >= profit(x + step) - tolerance
    assert profit(x) >= profit(x - step) - tolerance
