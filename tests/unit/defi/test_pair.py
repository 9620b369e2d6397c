"""Pair.sol against Uniswap V2's UniswapV2Pair.spec: exact integers, events, invariants, flash swaps, locks."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_sim.core.errors import ContractRevertError
from market_sim.defi.amm_math import (
    MINIMUM_LIQUIDITY,
    get_amount_in,
    get_amount_out,
    mint_liquidity,
    protocol_fee_liquidity,
)

from .conftest import E18, AmmWorld
from .test_amm_math import INPUT_PRICE_CASES

DEAD = "0x000000000000000000000000000000000000dEaD"


def test_mint_locks_minimum_liquidity_and_emits_events(world: AmmWorld) -> None:
    w = world
    w.transfer_to_pair(w.token0, E18)
    w.transfer_to_pair(w.token1, 4 * E18)
    receipt = w.chain.transact(w.pair.handle.functions.mint(w.wallet), sender="alice")
    assert w.chain.events(receipt, w.pair.handle, "Mint") == [{"sender": w.wallet, "amount0": E18, "amount1": 4 * E18}]
    assert w.chain.events(receipt, w.pair.handle, "Sync") == [{"reserve0": E18, "reserve1": 4 * E18}]
    assert w.chain.call(w.pair.handle.functions.totalSupply()) == 2 * E18
    assert w.balance(w.pair, w.wallet) == 2 * E18 - MINIMUM_LIQUIDITY
    assert w.balance(w.pair, DEAD) == MINIMUM_LIQUIDITY
    assert w.reserves() == (E18, 4 * E18)


def test_mint_without_deposit_reverts_with_values(world: AmmWorld) -> None:
    w = world
    w.add(E18, E18)
    with pytest.raises(ContractRevertError) as err:
        w.chain.transact(w.pair.handle.functions.mint(w.wallet), sender="alice")
    assert err.value.error_name == "InsufficientLiquidityMinted"
    assert err.value.args_decoded == (0, 0, 0)


@pytest.mark.parametrize(("swap", "r0", "r1", "expected"), INPUT_PRICE_CASES)
def test_swap_output_is_exactly_the_largest_accepted(
    world: AmmWorld, swap: int, r0: int, r1: int, expected: int
) -> None:
    w = world
    w.add(r0 * E18, r1 * E18)
    w.transfer_to_pair(w.token0, swap * E18)
    with pytest.raises(ContractRevertError) as err:
        w.chain.transact(w.pair.handle.functions.swap(0, expected + 1, w.wallet, b""), sender="alice")
    assert err.value.error_name == "InvariantViolated"
    w.chain.transact(w.pair.handle.functions.swap(0, expected, w.wallet, b""), sender="alice")
    assert w.reserves() == ((r0 + swap) * E18, r1 * E18 - expected)


def test_swap_token0_events_and_balances(world: AmmWorld) -> None:
    # Uniswap spec "swap:token0": 5/10 pool, 1 token0 in -> 1662497915624478906 token1 out.
    w = world
    w.add(5 * E18, 10 * E18)
    out = 1662497915624478906
    before = w.balance(w.token1, w.wallet)
    w.transfer_to_pair(w.token0, E18)
    receipt = w.chain.transact(w.pair.handle.functions.swap(0, out, w.wallet, b""), sender="alice")
    assert w.chain.events(receipt, w.pair.handle, "Swap") == [{
        "sender": w.wallet, "amount0In": E18, "amount1In": 0, "amount0Out": 0, "amount1Out": out, "to": w.wallet}]
    assert w.chain.events(receipt, w.pair.handle, "Sync") == [{"reserve0": 6 * E18, "reserve1": 10 * E18 - out}]
    assert w.balance(w.token1, w.wallet) - before == out
    assert (w.balance(w.token0, w.pair.address), w.balance(w.token1, w.pair.address)) == w.reserves()


def test_burn_returns_pro_rata_share(world: AmmWorld) -> None:
    # Uniswap spec "burn": 3/3 pool, burn all but MINIMUM_LIQUIDITY -> 3e18 - 1000 of each.
    w = world
    w.add(3 * E18, 3 * E18)
    w.chain.transact(w.pair.handle.functions.transfer(w.pair.address, 3 * E18 - MINIMUM_LIQUIDITY), sender="alice")
    receipt = w.chain.transact(w.pair.handle.functions.burn(w.wallet), sender="alice")
    assert w.chain.events(receipt, w.pair.handle, "Burn") == [{
        "sender": w.wallet, "amount0": 3 * E18 - 1000, "amount1": 3 * E18 - 1000, "to": w.wallet}]
    assert w.reserves() == (1000, 1000)
    assert w.chain.call(w.pair.handle.functions.totalSupply()) == MINIMUM_LIQUIDITY


def test_swap_errors_carry_values(world: AmmWorld) -> None:
    w = world
    w.add(5 * E18, 10 * E18)
    cases = [
        ((0, 0, w.wallet, b""), "InsufficientOutputAmount", (0, 0)),
        ((5 * E18, 0, w.wallet, b""), "InsufficientLiquidity", (5 * E18, 0, 5 * E18, 10 * E18)),
        ((1, 0, w.token0.address, b""), "InvalidTo", (w.token0.address,)),
        ((1, 0, w.wallet, b""), "InsufficientInputAmount", (0, 0)),
    ]
    for args, name, values in cases:
        with pytest.raises(ContractRevertError) as err:
            w.chain.transact(w.pair.handle.functions.swap(*args), sender="alice")
        assert (err.value.error_name, err.value.args_decoded) == (name, values)


def test_sync_sets_reserves_to_balances_and_skim_removes_excess(world: AmmWorld) -> None:
    w = world
    w.add(5 * E18, 10 * E18)
    w.transfer_to_pair(w.token0, 7)
    w.transfer_to_pair(w.token1, 9)
    assert w.reserves() == (5 * E18, 10 * E18)
    snap = w.chain.snapshot()
    w.chain.transact(w.pair.handle.functions.sync(), sender="bob")
    assert w.reserves() == (5 * E18 + 7, 10 * E18 + 9)
    assert w.reserves() == (w.balance(w.token0, w.pair.address), w.balance(w.token1, w.pair.address))
    w.chain.revert(snap)
    bob = w.chain.account("bob")
    w.chain.transact(w.pair.handle.functions.skim(bob), sender="bob")
    assert (w.balance(w.token0, bob), w.balance(w.token1, bob)) == (7, 9)
    assert w.reserves() == (w.balance(w.token0, w.pair.address), w.balance(w.token1, w.pair.address))


def test_price_accumulators_follow_uq112x112(world: AmmWorld) -> None:
    w = world
    w.add(3 * E18, 9 * E18)
    _, _, t0 = w.chain.call(w.pair.handle.functions.getReserves())
    w.chain.time_travel(t0 + 10)
    w.chain.transact(w.pair.handle.functions.sync(), sender="alice")
    _, _, t1 = w.chain.call(w.pair.handle.functions.getReserves())
    elapsed = t1 - t0
    assert elapsed >= 10
    assert w.chain.call(w.pair.handle.functions.price0CumulativeLast()) == (9 * E18 << 112) // (3 * E18) * elapsed
    assert w.chain.call(w.pair.handle.functions.price1CumulativeLast()) == (3 * E18 << 112) // (9 * E18) * elapsed


def test_protocol_fee_mints_one_sixth_of_growth(world: AmmWorld) -> None:
    # Uniswap spec "feeTo:on": 1000/1000 pool, one swap, burn -> feeTo holds exactly 249750499251388 LP.
    w = world
    fee_to = w.chain.account("carol")
    w.chain.transact(w.amm.factory.handle.functions.setFeeTo(fee_to))
    w.add(1000 * E18, 1000 * E18)
    out = 996006981039903216
    w.transfer_to_pair(w.token1, E18)
    w.chain.transact(w.pair.handle.functions.swap(out, 0, w.wallet, b""), sender="alice")
    r0, r1 = w.reserves()
    expected_fee = protocol_fee_liquidity(1000 * E18, r0, r1, 1000 * E18 * 1000 * E18)
    assert expected_fee == 249750499251388
    w.chain.transact(w.pair.handle.functions.transfer(w.pair.address, 1000 * E18 - MINIMUM_LIQUIDITY), sender="alice")
    w.chain.transact(w.pair.handle.functions.burn(w.wallet), sender="alice")
    assert w.chain.call(w.pair.handle.functions.totalSupply()) == MINIMUM_LIQUIDITY + expected_fee
    assert w.balance(w.pair, fee_to) == expected_fee


def test_set_fee_to_is_restricted(world: AmmWorld) -> None:
    with pytest.raises(ContractRevertError) as err:
        world.chain.transact(world.amm.factory.handle.functions.setFeeTo(world.wallet), sender="alice")
    assert err.value.error_name == "Forbidden"


@pytest.fixture(scope="module")
def borrower(world: AmmWorld):
    b = world.chain.deploy("FlashBorrower")
    for token in (world.token0, world.token1):
        token.transfer(b.address, 100 * E18, sender="alice")
    return b


def _flash_data(reenter: bool, repay0: int, repay1: int) -> bytes:
    from eth_abi import encode

    return encode(["bool", "uint256", "uint256"], [reenter, repay0, repay1])


def test_flash_swap_must_repay_with_fee(world: AmmWorld, borrower) -> None:
    w = world
    w.add(5 * E18, 10 * E18)
    borrow = E18
    # repaying in the same token needs amount / 0.997 rounded up; one unit less violates the invariant
    needed = borrow * 10_000 // 9_970 + 1
    with pytest.raises(ContractRevertError) as err:
        w.chain.transact(w.pair.handle.functions.swap(borrow, 0, borrower.address, _flash_data(False, needed - 1, 0)),
                         sender="alice")
    assert err.value.error_name == "InvariantViolated"
    receipt = w.chain.transact(w.pair.handle.functions.swap(borrow, 0, borrower.address, _flash_data(False, needed, 0)),
                               sender="alice")
    assert w.chain.events(receipt, borrower, "FlashReceived") == [
        {"pair": w.pair.address, "sender": w.wallet, "amount0": borrow, "amount1": 0}]
    assert w.reserves() == (5 * E18 - borrow + needed, 10 * E18)


def test_flash_swap_without_repayment_reverts(world: AmmWorld, borrower) -> None:
    w = world
    w.add(5 * E18, 10 * E18)
    with pytest.raises(ContractRevertError) as err:
        w.chain.transact(w.pair.handle.functions.swap(E18, 0, borrower.address, _flash_data(False, 0, 0)), sender="alice")
    assert err.value.error_name == "InsufficientInputAmount"
    assert w.reserves() == (5 * E18, 10 * E18)


def test_reentrancy_during_flash_swap_is_refused(world: AmmWorld, borrower) -> None:
    w = world
    w.add(5 * E18, 10 * E18)
    with pytest.raises(ContractRevertError) as err:
        w.chain.transact(w.pair.handle.functions.swap(E18, 0, borrower.address, _flash_data(True, 2 * E18, 0)),
                         sender="alice")
    assert err.value.error_name == "ReentrancyGuardReentrantCall"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(
    r0=st.integers(10**4, 10**30), r1=st.integers(10**4, 10**30), amount=st.integers(1, 10**30),
    zero_for_one=st.booleans(),
)
def test_python_math_equals_contract_and_k_never_decreases(
    world: AmmWorld, r0: int, r1: int, amount: int, zero_for_one: bool
) -> None:
    w = world
    snap = w.chain.snapshot()
    try:
        w.add(r0, r1)
        assert w.balance(w.pair, w.wallet) == mint_liquidity(r0, r1, 0, 0, 0)
        r_in, r_out = (r0, r1) if zero_for_one else (r1, r0)
        out = get_amount_out(amount, r_in, r_out)
        router = w.amm.router.handle.functions
        assert w.chain.call(router.getAmountOutWithFee(amount, r_in, r_out, 30)) == out
        if 0 < amount < r_out:
            needed = get_amount_in(amount, r_in, r_out)
            assert w.chain.call(router.getAmountInWithFee(amount, r_in, r_out, 30)) == needed
        if out == 0:
            return
        w.transfer_to_pair(w.token0 if zero_for_one else w.token1, amount)
        args = (0, out) if zero_for_one else (out, 0)
        w.chain.transact(w.pair.handle.functions.swap(*args, w.wallet, b""), sender="alice")
        n0, n1 = w.reserves()
        assert n0 * n1 >= r0 * r1
        assert (n0, n1) == ((r0 + amount, r1 - out) if zero_for_one else (r0 - out, r1 + amount))
        assert (n0, n1) == (w.balance(w.token0, w.pair.address), w.balance(w.token1, w.pair.address))
    finally:
        w.chain.revert(snap)


def test_lp_token_permit_sets_allowance(world: AmmWorld) -> None:
    # EIP-2612 as on Uniswap V2 pairs (routers remove liquidity with a signature instead of an approve transaction)
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    w = world
    w.add(E18, E18)
    owner = w.chain.account("alice")
    spender = w.chain.account("bob")
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                       {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                       {"name": "deadline", "type": "uint256"}],
        },
        "primaryType": "Permit",
        "domain": {"name": "MarketSim AMM LP", "version": "1", "chainId": w.chain.chain_id,
                   "verifyingContract": w.pair.address},
        "message": {"owner": owner, "spender": spender, "value": 12345, "nonce": 0, "deadline": 2**40},
    }
    signed = Account.sign_message(encode_typed_data(full_message=typed), w.chain.private_key("alice"))
    w.chain.transact(w.pair.handle.functions.permit(owner, spender, 12345, 2**40, signed.v, signed.r.to_bytes(32, "big"),
                                             signed.s.to_bytes(32, "big")), sender="bob")
    assert w.chain.call(w.pair.handle.functions.allowance(owner, spender)) == 12345
    assert w.chain.call(w.pair.handle.functions.nonces(owner)) == 1
