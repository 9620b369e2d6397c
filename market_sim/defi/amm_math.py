"""Constant-product pool math with exactly the integers of contracts/amm (Pair.sol, Router.sol)."""

from __future__ import annotations

from dataclasses import dataclass
from math import isqrt

from market_sim.core.errors import ValidationError

__all__ = [
    "FEE_DENOMINATOR",
    "MINIMUM_LIQUIDITY",
    "DEFAULT_FEE_BPS",
    "UINT112_MAX",
    "PoolState",
    "get_amount_out",
    "get_amount_in",
    "quote",
    "mint_liquidity",
    "burn_amounts",
    "swap_satisfies_invariant",
    "protocol_fee_liquidity",
    "optimal_input_vs_price",
    "optimal_input_two_pools",
]

FEE_DENOMINATOR = 10_000
MINIMUM_LIQUIDITY = 1_000
DEFAULT_FEE_BPS = 30
UINT112_MAX = 2**112 - 1


@dataclass(frozen=True, slots=True)
class PoolState:
    """Reserves of a pair (token0/token1 order) and its fee in basis points."""

    reserve0: int
    reserve1: int
    fee_bps: int = DEFAULT_FEE_BPS

    def reserves(self, zero_for_one: bool) -> tuple[int, int]:
        """(reserve_in, reserve_out) for a swap of token0 into token1 (True) or the reverse."""
        return (self.reserve0, self.reserve1) if zero_for_one else (self.reserve1, self.reserve0)

    def amount_out(self, amount_in: int, zero_for_one: bool) -> int:
        """Output of swapping amount_in (token0 if zero_for_one) at these reserves."""
        r_in, r_out = self.reserves(zero_for_one)
        return get_amount_out(amount_in, r_in, r_out, self.fee_bps)

    def after_swap(self, amount_in: int, zero_for_one: bool) -> tuple[PoolState, int]:
        """The pool after an exact-input swap, and the output paid."""
        out = self.amount_out(amount_in, zero_for_one)
        if zero_for_one:
            return PoolState(self.reserve0 + amount_in, self.reserve1 - out, self.fee_bps), out
        return PoolState(self.reserve0 - out, self.reserve1 + amount_in, self.fee_bps), out

    def price(self) -> float:
        """Marginal price of token0 in token1 (display only)."""
        return self.reserve1 / self.reserve0


def _check_fee(fee_bps: int) -> None:
    if not 0 <= fee_bps < FEE_DENOMINATOR:
        raise ValidationError(f"fee_bps must be in [0, {FEE_DENOMINATOR}), got {fee_bps}")


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = DEFAULT_FEE_BPS) -> int:
    """Router.getAmountOut: output for an exact input, rounded down."""
    _check_fee(fee_bps)
    if amount_in <= 0:
        raise ValidationError(f"InsufficientAmount: amount_in must be positive, got {amount_in}")
    if reserve_in <= 0 or reserve_out <= 0:
        raise ValidationError(f"InsufficientLiquidity: reserves ({reserve_in}, {reserve_out})")
    with_fee = amount_in * (FEE_DENOMINATOR - fee_bps)
    return with_fee * reserve_out // (reserve_in * FEE_DENOMINATOR + with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int = DEFAULT_FEE_BPS) -> int:
    """Router.getAmountIn: smallest input giving amount_out (rounded up by adding one, as Uniswap V2)."""
    _check_fee(fee_bps)
    if amount_out <= 0:
        raise ValidationError(f"InsufficientAmount: amount_out must be positive, got {amount_out}")
    if reserve_in <= 0 or reserve_out <= amount_out:
        raise ValidationError(f"InsufficientLiquidity: reserves ({reserve_in}, {reserve_out}) for output {amount_out}")
    return reserve_in * amount_out * FEE_DENOMINATOR // ((reserve_out - amount_out) * (FEE_DENOMINATOR - fee_bps)) + 1


def quote(amount_a: int, reserve_a: int, reserve_b: int) -> int:
    """Router.quote: amount of B worth amount_a at the reserve ratio."""
    if amount_a <= 0:
        raise ValidationError(f"InsufficientAmount: amount must be positive, got {amount_a}")
    if reserve_a <= 0 or reserve_b <= 0:
        raise ValidationError(f"InsufficientLiquidity: reserves ({reserve_a}, {reserve_b})")
    return amount_a * reserve_b // reserve_a


def mint_liquidity(amount0: int, amount1: int, reserve0: int, reserve1: int, total_supply: int) -> int:
    """Pair.mint: LP tokens minted for deposits (the first mint locks MINIMUM_LIQUIDITY)."""
    if total_supply == 0:
        liquidity = isqrt(amount0 * amount1) - MINIMUM_LIQUIDITY
    else:
        liquidity = min(amount0 * total_supply // reserve0, amount1 * total_supply // reserve1)
    if liquidity <= 0:
        raise ValidationError(f"InsufficientLiquidityMinted: deposits ({amount0}, {amount1}) give {liquidity}")
    return liquidity


def burn_amounts(liquidity: int, balance0: int, balance1: int, total_supply: int) -> tuple[int, int]:
    """Pair.burn: token amounts paid for `liquidity` LP tokens (pro rata on balances)."""
    amount0 = liquidity * balance0 // total_supply
    amount1 = liquidity * balance1 // total_supply
    if amount0 == 0 or amount1 == 0:
        raise ValidationError(f"InsufficientLiquidityBurned: {liquidity} LP gives ({amount0}, {amount1})")
    return amount0, amount1


def swap_satisfies_invariant(
    balance0: int, balance1: int, amount0_in: int, amount1_in: int, reserve0: int, reserve1: int, fee_bps: int
) -> bool:
    """Pair.swap's check: fee-adjusted balance product is at least the reserve product."""
    adjusted = (balance0 * FEE_DENOMINATOR - amount0_in * fee_bps) * (balance1 * FEE_DENOMINATOR - amount1_in * fee_bps)
    return adjusted >= reserve0 * reserve1 * FEE_DENOMINATOR**2


def protocol_fee_liquidity(total_supply: int, reserve0: int, reserve1: int, k_last: int) -> int:
    """Pair._mintFee: LP tokens minted to feeTo (1/6 of sqrt(k) growth) before a liquidity event."""
    if k_last == 0:
        return 0
    root_k, root_k_last = isqrt(reserve0 * reserve1), isqrt(k_last)
    if root_k <= root_k_last:
        return 0
    return total_supply * (root_k - root_k_last) // (root_k * 5 + root_k_last)


def optimal_input_vs_price(reserve_in: int, reserve_out: int, fee_bps: int, price_num: int, price_den: int) -> int:
    """Input that maximises price·out(x) − x when the output sells elsewhere at price_num/price_den input units.

    Closed form x* = (sqrt(γ·p·R_in·R_out) − R_in)/γ with γ = 1 − fee; 0 when no trade is profitable.
    """
    _check_fee(fee_bps)
    g = FEE_DENOMINATOR - fee_bps
    if g == 0 or price_num <= 0 or price_den <= 0:
        return 0
    root = isqrt(g * price_num * reserve_in * reserve_out * FEE_DENOMINATOR // price_den)
    excess = root - FEE_DENOMINATOR * reserve_in
    return 0 if excess <= 0 else max(1, excess // g)  # a positive optimum below one unit rounds up to one unit


def optimal_input_two_pools(
    a_in: int, a_out: int, fee_a_bps: int, b_in: int, b_out: int, fee_b_bps: int
) -> int:
    """Input into pool A that maximises the round trip A then B (A's output sold into B for A's input token).

    Pools A=(a_in, a_out) and B=(b_in, b_out) are given from the trader's side: B's input token is A's output.
    The composition is out(x) = K·x/(C + D·x); the optimum is x* = (sqrt(K·C) − C)/D, here in exact integers.
    """
    _check_fee(fee_a_bps)
    _check_fee(fee_b_bps)
    ga, gb, n = FEE_DENOMINATOR - fee_a_bps, FEE_DENOMINATOR - fee_b_bps, FEE_DENOMINATOR
    root = isqrt(ga * gb * a_in * a_out * b_in * b_out)
    excess = root - n * a_in * b_in
    if excess <= 0 or ga == 0:
        return 0
    return max(1, excess * n // (ga * (n * b_in + gb * a_out)))  # an optimum below one unit rounds up to one
