"""Router.sol through Uniswap V2's IUniswapV2Router02 ABI: every Router02 function, exact amounts from amm_math.

The web3 contract `w.v2` is built from the real ABI of @uniswap/v2-periphery 1.1.0-beta.0 (tests/unit/defi/data,
provenance inside) at our Router's address, so each call below is what unchanged V2 tooling would send.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from math import isqrt
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from market_sim.blockchain import Artifact, Chain, load_artifact
from market_sim.blockchain.reverts import revert_data
from market_sim.core.errors import ContractRevertError
from market_sim.defi.amm import MAX_UINT256, NO_DEADLINE, Amm, deploy_token
from market_sim.defi.amm_math import burn_amounts, get_amount_in, get_amount_out, mint_liquidity, quote

from .conftest import raw

E18 = 10**18
GAS = 5_000_000  # addLiquidity may create the pair
FOT_FEE_BPS = 100  # FeeOnTransferToken burns 1 % of every transfer
# swapExactTokensForTokens through Uniswap V2's own UniswapV2Router02 + UniswapV2Factory (v2-periphery
# 1.1.0-beta.0, v2-core 1.0.1) on eth-tester: mean of 20 alternating 1e18 swaps in a 1e6/1e6 pool, the same
# sequence as test_swap_gas_below_uniswap_v2_router02 (measured once; V2's bytecode is not shipped here).
UNISWAP_V2_ROUTER02_SWAP_GAS = 98_482

V2_ABI_FILE = Path(__file__).parent / "data" / "IUniswapV2Router02.json"
V2_ABI = tuple(json.loads(V2_ABI_FILE.read_text())["abi"])
V2_ARTIFACT = Artifact(name="IUniswapV2Router02", source="@uniswap/v2-periphery 1.1.0-beta.0", abi=V2_ABI,
                       bytecode="", deployed_bytecode="", immutable_ranges=(), compiler="", settings={},
                       source_hash="")


@dataclass
class V2World:
    chain: Chain
    amm: Amm
    v2: Contract  # our Router, seen through IUniswapV2Router02
    a: Contract
    b: Contract
    c: Contract
    fot: Contract
    weth: Contract
    alice: str
    bob: str

    @property
    def f(self) -> Any:
        return self.v2.functions

    def send(self, call: Any, *, value: int = 0, sender: str = "alice") -> Any:
        return self.chain.transact(call, sender=sender, gas=GAS, value=value)

    def returns(self, call: Any, *, value: int = 0, sender: str = "alice") -> Any:
        """What the transaction would return (eth_call with value), for non-reverting calls."""
        return call.call({"from": self.chain.address(sender), "value": value})

    def reserves(self, token_in: Contract, token_out: Contract) -> tuple[int, int]:
        info = self.amm.pair_info(token_in.address, token_out.address)
        return self.amm.pool(info).reserves(info.zero_for_one(token_in.address))

    def fee(self, token_in: Contract, token_out: Contract) -> int:
        return self.amm.pair_info(token_in.address, token_out.address).fee_bps

    def pair(self, token_a: Contract, token_b: Contract) -> Contract:
        return self.amm.pair(self.amm.pair_info(token_a.address, token_b.address).address)

    def bal(self, token: Contract, who: str) -> int:
        return self.chain.call(raw(token).functions.balanceOf(self.chain.address(who)))

    def permit(self, pair: Contract, value: int, deadline: int = NO_DEADLINE) -> tuple[int, bytes, bytes]:
        owner, spender = self.alice, self.v2.address
        typed = {
            "types": {
                "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                 {"name": "chainId", "type": "uint256"},
                                 {"name": "verifyingContract", "type": "address"}],
                "Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                           {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                           {"name": "deadline", "type": "uint256"}],
            },
            "primaryType": "Permit",
            "domain": {"name": "MarketSim AMM LP", "version": "1", "chainId": self.chain.chain_id,
                       "verifyingContract": pair.address},
            "message": {"owner": owner, "spender": spender, "value": value,
                        "nonce": self.chain.call(raw(pair).functions.nonces(owner)), "deadline": deadline},
        }
        signed = Account.sign_message(encode_typed_data(full_message=typed), self.chain.private_key("alice"))
        return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def _gas_cost(receipt: Any) -> int:
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def _fot_fee(amount: int) -> int:
    return amount * FOT_FEE_BPS // 10_000


@pytest.fixture(scope="module")
def v2w() -> V2World:
    chain = Chain.local(accounts=3, chain_id=31_337)
    amm = Amm.deploy(chain)
    a, b, c = (deploy_token(chain, f"Token {s}", f"TK{s}") for s in "ABC")
    alice, bob = chain.account("alice"), chain.account("bob")
    for token in (a, b, c):
        token.mint(alice, 10**40)
    fot = chain.deploy("FeeOnTransferToken", 10**30, FOT_FEE_BPS, sender="alice")
    v2 = chain.contract(V2_ARTIFACT, amm.router.address)
    w = V2World(chain, amm, v2, a, b, c, fot, amm.weth, alice, bob)
    for token in (a, b, c, fot, amm.weth):
        chain.transact(raw(token).functions.approve(v2.address, MAX_UINT256), sender="alice")
    # Pools: A/B (default 30 bps), B/C (5 bps), A/WETH and FOT/WETH (30 bps); C/WETH does not exist.
    w.send(w.f.addLiquidity(a.address, b.address, 1000 * E18, 2000 * E18, 0, 0, alice, NO_DEADLINE))
    amm.create_pair(b.address, c.address, 5)
    w.send(w.f.addLiquidity(b.address, c.address, 3000 * E18, 1000 * E18, 0, 0, alice, NO_DEADLINE))
    w.send(w.f.addLiquidityETH(a.address, 3000 * E18, 0, 0, alice, NO_DEADLINE), value=10 * E18)
    w.send(w.f.addLiquidityETH(fot.address, 1000 * E18, 0, 0, alice, NO_DEADLINE), value=10 * E18)
    for x, y in ((a, b), (a, amm.weth), (fot, amm.weth)):
        chain.transact(w.pair(x, y).handle.functions.approve(v2.address, MAX_UINT256), sender="alice")
    return w


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> Iterator[None]:
    if "v2w" not in request.fixturenames:
        yield
        return
    w: V2World = request.getfixturevalue("v2w")
    snap = w.chain.snapshot()
    yield
    w.chain.revert(snap)


def _reverts(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, tuple[Any, ...]]:
    with pytest.raises(ContractRevertError) as err:
        fn(*args, **kwargs)
    return err.value.error_name, err.value.args_decoded


# ---- interface --------------------------------------------------------------------------------------------------

def _signature(item: dict[str, Any]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    return item["name"], tuple(i["type"] for i in item["inputs"]), tuple(o["type"] for o in item["outputs"])


def test_router_implements_every_router02_function_with_its_signature() -> None:
    ours = {_signature(i) for i in load_artifact("Router").abi if i["type"] == "function"}
    theirs = [_signature(i) for i in V2_ABI if i["type"] == "function"]
    assert len(theirs) == 24
    assert [s for s in theirs if s not in ours] == []
    payable = {i["name"] for i in V2_ABI if i.get("stateMutability") == "payable"}
    assert payable == {i["name"] for i in load_artifact("Router").abi
                       if i.get("stateMutability") == "payable" and i["type"] == "function"}


def test_factory_and_weth(v2w: V2World) -> None:
    w = v2w
    assert w.chain.call(w.f.factory()) == w.amm.factory.address
    assert w.chain.call(w.f.WETH()) == w.weth.address
    assert [w.chain.call(getattr(w.weth.handle.functions, n)()) for n in ("name", "symbol", "decimals")] == [
        "Wrapped Ether", "WETH", 18]
    init_code_hash = keccak(bytes.fromhex(load_artifact("Pair").bytecode))
    assert w.chain.call(w.amm.router.handle.functions.pairInitCodeHash()) == init_code_hash


# ---- quotes -----------------------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(1, 10**30), r_in=st.integers(1, 10**30), r_out=st.integers(1, 10**30))
def test_three_argument_quotes_are_uniswap_v2s(v2w: V2World, amount: int, r_in: int, r_out: int) -> None:
    # The pure three-argument functions assume the default 30 bps fee: exactly V2's 997/1000 integers.
    w = v2w
    out = w.chain.call(w.f.getAmountOut(amount, r_in, r_out))
    assert out == get_amount_out(amount, r_in, r_out) == amount * 997 * r_out // (r_in * 1000 + amount * 997)
    if amount < r_out:
        needed = w.chain.call(w.f.getAmountIn(amount, r_in, r_out))
        assert needed == get_amount_in(amount, r_in, r_out) == r_in * amount * 1000 // ((r_out - amount) * 997) + 1
    assert w.chain.call(w.f.quote(amount, r_in, r_out)) == quote(amount, r_in, r_out)


def test_quote_errors_carry_values(v2w: V2World) -> None:
    w = v2w
    call = w.chain.call
    assert _reverts(call, w.f.getAmountOut(0, 10, 10)) == ("InsufficientAmount", (0,))
    assert _reverts(call, w.f.getAmountOut(1, 0, 10)) == ("InsufficientLiquidity", (0, 10))
    assert _reverts(call, w.f.getAmountIn(10, 100, 10)) == ("InsufficientLiquidity", (100, 10))
    assert _reverts(call, w.f.getAmountIn(0, 100, 10)) == ("InsufficientAmount", (0,))
    assert _reverts(call, w.f.quote(1, 5, 0)) == ("InsufficientLiquidity", (5, 0))


def test_fee_aware_extension(v2w: V2World) -> None:
    w = v2w
    r = w.amm.router.handle.functions
    assert w.chain.call(r.DEFAULT_FEE_BPS()) == w.chain.call(w.amm.factory.handle.functions.DEFAULT_FEE_BPS()) == 30
    assert w.chain.call(r.getAmountOutWithFee(E18, 10 * E18, 20 * E18, 5)) == get_amount_out(E18, 10 * E18, 20 * E18, 5)
    assert w.chain.call(r.getAmountInWithFee(E18, 10 * E18, 20 * E18, 5)) == get_amount_in(E18, 10 * E18, 20 * E18, 5)
    assert w.chain.call(r.getAmountOutWithFee(E18, 10 * E18, 20 * E18, 30)) == w.chain.call(
        w.f.getAmountOut(E18, 10 * E18, 20 * E18))
    assert w.chain.call(r.getAmountOutWithFee(E18, E18, E18, 0)) == get_amount_out(E18, E18, E18, 0)
    assert _reverts(w.chain.call, r.getAmountOutWithFee(E18, E18, E18, 10_000)) == ("InvalidFee", (10_000,))
    assert _reverts(w.chain.call, r.getAmountInWithFee(1, E18, E18, 10_000)) == ("InvalidFee", (10_000,))


def test_get_amounts_read_each_pairs_fee(v2w: V2World) -> None:
    w = v2w
    path = [w.a.address, w.b.address, w.c.address]
    (ra, rb1), (rb2, rc) = w.reserves(w.a, w.b), w.reserves(w.b, w.c)
    assert (w.fee(w.a, w.b), w.fee(w.b, w.c)) == (30, 5)
    mid = get_amount_out(E18, ra, rb1, 30)
    assert w.chain.call(w.f.getAmountsOut(E18, path)) == [E18, mid, get_amount_out(mid, rb2, rc, 5)]
    mid_in = get_amount_in(E18, rb2, rc, 5)
    assert w.chain.call(w.f.getAmountsIn(E18, path)) == [get_amount_in(mid_in, ra, rb1, 30), mid_in, E18]
    assert _reverts(w.chain.call, w.f.getAmountsOut(E18, [w.a.address])) == ("InvalidPath", (1,))
    assert _reverts(w.chain.call, w.f.getAmountsIn(E18, [])) == ("InvalidPath", (0,))
    assert _reverts(w.chain.call, w.f.getAmountsOut(E18, [w.a.address, w.c.address])) == (
        "PairNotFound", (w.a.address, w.c.address))


# ---- liquidity --------------------------------------------------------------------------------------------------

def test_add_liquidity_at_ratio(v2w: V2World) -> None:
    w = v2w
    pair = w.pair(w.a, w.b)
    ra, rb = w.reserves(w.a, w.b)
    supply = w.chain.call(raw(pair).functions.totalSupply())
    amount_b = quote(10 * E18, ra, rb)
    info = w.amm.pair_info(w.a.address, w.b.address)
    r0, r1 = (ra, rb) if info.token0 == w.a.address else (rb, ra)
    d0, d1 = (10 * E18, amount_b) if info.token0 == w.a.address else (amount_b, 10 * E18)
    liquidity = mint_liquidity(d0, d1, r0, r1, supply)
    call = w.f.addLiquidity(w.a.address, w.b.address, 10 * E18, 50 * E18, 0, 0, w.bob, NO_DEADLINE)
    assert w.returns(call) == [10 * E18, amount_b, liquidity]
    before = w.bal(w.a, "alice"), w.bal(w.b, "alice")
    w.send(call)
    assert (before[0] - w.bal(w.a, "alice"), before[1] - w.bal(w.b, "alice")) == (10 * E18, amount_b)
    assert w.bal(pair, "bob") == liquidity
    assert _reverts(w.send, w.f.addLiquidity(w.a.address, w.b.address, 10 * E18, 50 * E18, 0, amount_b + 1,
                                             w.alice, NO_DEADLINE)) == ("InsufficientBAmount", (amount_b, amount_b + 1))
    name, (deadline, _) = _reverts(w.send, w.f.addLiquidity(w.a.address, w.b.address, 10 * E18, 50 * E18, 0, 0,
                                                            w.alice, 1))
    assert (name, deadline) == ("Expired", 1)


def test_add_liquidity_eth_creates_pair_and_refunds_unused_eth(v2w: V2World) -> None:
    w = v2w
    call = w.f.addLiquidityETH(w.c.address, 100 * E18, 0, 0, w.alice, NO_DEADLINE)
    first = mint_liquidity(100 * E18, 5 * E18, 0, 0, 0)
    assert first == isqrt(500 * E18 * E18) - 1000
    assert w.returns(call, value=5 * E18) == [100 * E18, 5 * E18, first]
    eth = w.chain.balance("alice")
    receipt = w.send(call, value=5 * E18)
    assert eth - w.chain.balance("alice") == 5 * E18 + _gas_cost(receipt)
    pair = w.pair(w.c, w.weth)
    assert w.bal(pair, "alice") == first
    assert w.reserves(w.c, w.weth) == (100 * E18, 5 * E18)
    # Second deposit at the 20:1 ratio: 10 C need 0.5 ETH of the 1 ETH sent; the other 0.5 ETH comes back.
    eth = w.chain.balance("alice")
    receipt = w.send(w.f.addLiquidityETH(w.c.address, 10 * E18, 0, 0, w.alice, NO_DEADLINE), value=E18)
    assert eth - w.chain.balance("alice") == E18 // 2 + _gas_cost(receipt)
    assert w.reserves(w.c, w.weth) == (110 * E18, 55 * E18 // 10)
    assert w.chain.balance(w.v2.address) == 0 and w.bal(w.weth, w.v2.address) == 0
    assert w.chain.call(w.weth.handle.functions.totalSupply()) == w.chain.balance(w.weth.address)
    assert _reverts(w.send, w.f.addLiquidityETH(w.c.address, 10 * E18, 0, E18, w.alice, NO_DEADLINE),
                    value=E18) == ("InsufficientBAmount", (E18 // 2, E18))


def _burn_expectation(w: V2World, x: Contract, y: Contract, liquidity: int) -> tuple[int, int]:
    pair = w.pair(x, y)
    info = w.amm.pair_info(x.address, y.address)
    b0 = w.chain.call(w.amm.chain.contract("TestToken", info.token0).functions.balanceOf(pair.address))
    b1 = w.chain.call(w.amm.chain.contract("TestToken", info.token1).functions.balanceOf(pair.address))
    a0, a1 = burn_amounts(liquidity, b0, b1, w.chain.call(raw(pair).functions.totalSupply()))
    return (a0, a1) if info.token0 == x.address else (a1, a0)


def test_remove_liquidity(v2w: V2World) -> None:
    w = v2w
    lp = w.bal(w.pair(w.a, w.b), "alice") // 2
    amount_a, amount_b = _burn_expectation(w, w.a, w.b, lp)
    call = w.f.removeLiquidity(w.a.address, w.b.address, lp, amount_a, amount_b, w.bob, NO_DEADLINE)
    assert w.returns(call) == [amount_a, amount_b]
    w.send(call)
    assert (w.bal(w.a, "bob"), w.bal(w.b, "bob")) == (amount_a, amount_b)
    lp = w.bal(w.pair(w.a, w.b), "alice") // 2
    amount_a, _ = _burn_expectation(w, w.a, w.b, lp)
    assert _reverts(w.send, w.f.removeLiquidity(w.a.address, w.b.address, lp, amount_a + 1, 0, w.bob,
                                                NO_DEADLINE)) == ("InsufficientAAmount", (amount_a, amount_a + 1))
    assert _reverts(w.send, w.f.removeLiquidity(w.a.address, w.c.address, 1, 0, 0, w.bob, NO_DEADLINE)) == (
        "PairNotFound", (w.a.address, w.c.address))


def test_remove_liquidity_eth_pays_eth(v2w: V2World) -> None:
    w = v2w
    lp = w.bal(w.pair(w.a, w.weth), "alice") // 3
    amount_a, amount_eth = _burn_expectation(w, w.a, w.weth, lp)
    call = w.f.removeLiquidityETH(w.a.address, lp, amount_a, amount_eth, w.bob, NO_DEADLINE)
    assert w.returns(call) == [amount_a, amount_eth]
    eth = w.chain.balance("bob")
    w.send(call)
    assert (w.bal(w.a, "bob"), w.chain.balance("bob") - eth) == (amount_a, amount_eth)
    assert w.chain.balance(w.v2.address) == 0 and w.bal(w.weth, w.v2.address) == 0 and w.bal(w.a, w.v2.address) == 0
    assert _reverts(w.send, w.f.removeLiquidityETH(w.a.address, lp, 0, 10**30, w.bob, NO_DEADLINE))[0] == (
        "InsufficientBAmount")


@pytest.mark.parametrize("approve_max", [False, True])
def test_remove_liquidity_with_permit(v2w: V2World, approve_max: bool) -> None:
    w = v2w
    pair = w.pair(w.a, w.b)
    w.chain.transact(raw(pair).functions.approve(w.v2.address, 0), sender="alice")
    lp = w.bal(pair, "alice") // 4
    amount_a, amount_b = _burn_expectation(w, w.a, w.b, lp)
    v, r, s = w.permit(pair, MAX_UINT256 if approve_max else lp)
    w.send(w.f.removeLiquidityWithPermit(w.a.address, w.b.address, lp, 0, 0, w.bob, NO_DEADLINE, approve_max, v, r, s))
    assert (w.bal(w.a, "bob"), w.bal(w.b, "bob")) == (amount_a, amount_b)
    assert w.chain.call(raw(pair).functions.allowance(w.alice, w.v2.address)) == (MAX_UINT256 if approve_max else 0)
    # The same signature again: the nonce moved on, so the permit no longer verifies.
    name, _ = _reverts(w.send, w.f.removeLiquidityWithPermit(w.a.address, w.b.address, lp, 0, 0, w.bob, NO_DEADLINE,
                                                             approve_max, v, r, s))
    assert name == "ERC2612InvalidSigner"


def test_remove_liquidity_eth_with_permit(v2w: V2World) -> None:
    w = v2w
    pair = w.pair(w.a, w.weth)
    w.chain.transact(raw(pair).functions.approve(w.v2.address, 0), sender="alice")
    lp = w.bal(pair, "alice") // 4
    amount_a, amount_eth = _burn_expectation(w, w.a, w.weth, lp)
    v, r, s = w.permit(pair, lp)
    eth = w.chain.balance("bob")
    w.send(w.f.removeLiquidityETHWithPermit(w.a.address, lp, 0, 0, w.bob, NO_DEADLINE, False, v, r, s))
    assert (w.bal(w.a, "bob"), w.chain.balance("bob") - eth) == (amount_a, amount_eth)


@pytest.mark.parametrize("with_permit", [False, True])
def test_remove_liquidity_eth_supporting_fee_on_transfer(v2w: V2World, with_permit: bool) -> None:
    w = v2w
    pair = w.pair(w.fot, w.weth)
    lp = w.bal(pair, "alice") // 2
    amount_fot, amount_eth = _burn_expectation(w, w.fot, w.weth, lp)
    at_router = amount_fot - _fot_fee(amount_fot)  # pair -> router burns 1 %, router -> bob another 1 %
    eth = w.chain.balance("bob")
    if with_permit:
        w.chain.transact(raw(pair).functions.approve(w.v2.address, 0), sender="alice")
        v, r, s = w.permit(pair, MAX_UINT256)
        call = w.f.removeLiquidityETHWithPermitSupportingFeeOnTransferTokens(
            w.fot.address, lp, amount_fot, amount_eth, w.bob, NO_DEADLINE, True, v, r, s)
    else:
        call = w.f.removeLiquidityETHSupportingFeeOnTransferTokens(
            w.fot.address, lp, amount_fot, amount_eth, w.bob, NO_DEADLINE)
    assert w.returns(call) == amount_eth
    w.send(call)
    assert w.bal(w.fot, "bob") == at_router - _fot_fee(at_router)
    assert w.chain.balance("bob") - eth == amount_eth
    assert w.bal(w.fot, w.v2.address) == 0


def test_remove_liquidity_eth_without_fee_support_fails_for_fee_on_transfer_token(v2w: V2World) -> None:
    # As in V2: the router holds less than the pair paid out, so forwarding amountToken fails.
    w = v2w
    lp = w.bal(w.pair(w.fot, w.weth), "alice") // 2
    assert _reverts(w.send, w.f.removeLiquidityETH(w.fot.address, lp, 0, 0, w.bob, NO_DEADLINE))[0] == (
        "ERC20InsufficientBalance")


# ---- token swaps ------------------------------------------------------------------------------------------------

def test_swap_exact_tokens_for_tokens_multi_hop(v2w: V2World) -> None:
    w = v2w
    path = [w.a.address, w.b.address, w.c.address]
    (ra, rb1), (rb2, rc) = w.reserves(w.a, w.b), w.reserves(w.b, w.c)
    mid = get_amount_out(E18, ra, rb1, 30)
    out = get_amount_out(mid, rb2, rc, 5)
    assert _reverts(w.send, w.f.swapExactTokensForTokens(E18, out + 1, path, w.bob, NO_DEADLINE)) == (
        "InsufficientOutputAmount", (out, out + 1))
    call = w.f.swapExactTokensForTokens(E18, out, path, w.bob, NO_DEADLINE)
    assert w.returns(call) == [E18, mid, out]
    a_before = w.bal(w.a, "alice")
    w.send(call)
    assert (a_before - w.bal(w.a, "alice"), w.bal(w.c, "bob")) == (E18, out)
    assert w.reserves(w.a, w.b) == (ra + E18, rb1 - mid) and w.reserves(w.b, w.c) == (rb2 + mid, rc - out)
    now = w.chain.timestamp
    assert _reverts(w.send, w.f.swapExactTokensForTokens(E18, 0, path, w.bob, now - 1))[0] == "Expired"


def test_swap_tokens_for_exact_tokens_multi_hop(v2w: V2World) -> None:
    w = v2w
    path = [w.a.address, w.b.address, w.c.address]
    (ra, rb1), (rb2, rc) = w.reserves(w.a, w.b), w.reserves(w.b, w.c)
    mid = get_amount_in(E18, rb2, rc, 5)
    needed = get_amount_in(mid, ra, rb1, 30)
    assert _reverts(w.send, w.f.swapTokensForExactTokens(E18, needed - 1, path, w.bob, NO_DEADLINE)) == (
        "ExcessiveInputAmount", (needed, needed - 1))
    call = w.f.swapTokensForExactTokens(E18, needed, path, w.bob, NO_DEADLINE)
    assert w.returns(call) == [needed, mid, E18]
    a_before = w.bal(w.a, "alice")
    w.send(call)
    assert (a_before - w.bal(w.a, "alice"), w.bal(w.c, "bob")) == (needed, E18)


# ---- ETH swaps --------------------------------------------------------------------------------------------------

def test_swap_exact_eth_for_tokens(v2w: V2World) -> None:
    w = v2w
    rw, ra = w.reserves(w.weth, w.a)
    out = get_amount_out(E18, rw, ra)
    call = w.f.swapExactETHForTokens(out, [w.weth.address, w.a.address], w.bob, NO_DEADLINE)
    assert w.returns(call, value=E18) == [E18, out]
    eth = w.chain.balance("alice")
    receipt = w.send(call, value=E18)
    assert eth - w.chain.balance("alice") == E18 + _gas_cost(receipt)
    assert w.bal(w.a, "bob") == out
    assert w.reserves(w.weth, w.a) == (rw + E18, ra - out)
    assert _reverts(w.send, w.f.swapExactETHForTokens(0, [w.a.address, w.weth.address], w.bob, NO_DEADLINE),
                    value=E18) == ("PathNotWeth", (0, w.a.address, w.weth.address))
    assert _reverts(w.send, w.f.swapExactETHForTokens(0, [], w.bob, NO_DEADLINE), value=E18) == ("InvalidPath", (0,))


def test_swap_tokens_for_exact_eth(v2w: V2World) -> None:
    w = v2w
    ra, rw = w.reserves(w.a, w.weth)
    needed = get_amount_in(E18 // 10, ra, rw)
    call = w.f.swapTokensForExactETH(E18 // 10, needed, [w.a.address, w.weth.address], w.bob, NO_DEADLINE)
    assert w.returns(call) == [needed, E18 // 10]
    eth, a_before = w.chain.balance("bob"), w.bal(w.a, "alice")
    w.send(call)
    assert (w.chain.balance("bob") - eth, a_before - w.bal(w.a, "alice")) == (E18 // 10, needed)
    assert w.chain.balance(w.v2.address) == 0 and w.bal(w.weth, w.v2.address) == 0
    assert _reverts(w.send, w.f.swapTokensForExactETH(1, MAX_UINT256, [w.weth.address, w.a.address], w.bob,
                                                      NO_DEADLINE)) == ("PathNotWeth", (1, w.a.address, w.weth.address))


def test_swap_exact_tokens_for_eth(v2w: V2World) -> None:
    w = v2w
    ra, rw = w.reserves(w.a, w.weth)
    out = get_amount_out(E18, ra, rw)
    call = w.f.swapExactTokensForETH(E18, out, [w.a.address, w.weth.address], w.bob, NO_DEADLINE)
    assert w.returns(call) == [E18, out]
    eth = w.chain.balance("bob")
    w.send(call)
    assert w.chain.balance("bob") - eth == out
    # A recipient that refuses ETH (the Factory has no receive function).
    factory = w.amm.factory.address
    out = get_amount_out(E18, *w.reserves(w.a, w.weth))
    assert _reverts(w.send, w.f.swapExactTokensForETH(E18, 0, [w.a.address, w.weth.address], factory,
                                                      NO_DEADLINE)) == ("EthTransferFailed", (factory, out))


def test_swap_eth_for_exact_tokens_refunds_unused_eth(v2w: V2World) -> None:
    w = v2w
    rw, ra = w.reserves(w.weth, w.a)
    needed = get_amount_in(E18, rw, ra)
    path = [w.weth.address, w.a.address]
    assert _reverts(w.send, w.f.swapETHForExactTokens(E18, path, w.bob, NO_DEADLINE), value=needed - 1) == (
        "ExcessiveInputAmount", (needed, needed - 1))
    call = w.f.swapETHForExactTokens(E18, path, w.bob, NO_DEADLINE)
    assert w.returns(call, value=10 * E18) == [needed, E18]
    eth = w.chain.balance("alice")
    receipt = w.send(call, value=10 * E18)
    assert eth - w.chain.balance("alice") == needed + _gas_cost(receipt)
    assert w.bal(w.a, "bob") == E18
    assert w.chain.balance(w.v2.address) == 0


def test_router_accepts_eth_only_from_weth(v2w: V2World) -> None:
    w = v2w
    # Chain has no plain-ETH transaction with a gas limit above 21,000, so ask the in-process node directly.
    with pytest.raises(TransactionFailed) as exc:
        w.chain.w3.eth.call({"from": w.alice, "to": w.v2.address, "value": 1})
    decoded = w.chain.decoder.decode(revert_data(exc.value))
    assert (decoded.error_name, decoded.args_decoded) == ("OnlyWeth", (w.alice,))


# ---- fee-on-transfer swaps --------------------------------------------------------------------------------------

def test_swap_exact_tokens_for_tokens_supporting_fee_on_transfer(v2w: V2World) -> None:
    w = v2w
    rf, rw = w.reserves(w.fot, w.weth)
    received = E18 - _fot_fee(E18)
    out = get_amount_out(received, rf, rw)
    path = [w.fot.address, w.weth.address]
    assert _reverts(w.send, w.f.swapExactTokensForTokensSupportingFeeOnTransferTokens(
        E18, out + 1, path, w.bob, NO_DEADLINE)) == ("InsufficientOutputAmount", (out, out + 1))
    w.send(w.f.swapExactTokensForTokensSupportingFeeOnTransferTokens(E18, out, path, w.bob, NO_DEADLINE))
    assert w.bal(w.weth, "bob") == out
    assert w.reserves(w.fot, w.weth) == (rf + received, rw - out)
    # The exact-amount function sends amounts[0] but the pair receives 1 % less: its invariant check refuses.
    assert _reverts(w.send, w.f.swapExactTokensForTokens(E18, 0, path, w.bob, NO_DEADLINE))[0] == "InvariantViolated"


def test_swap_exact_eth_for_tokens_supporting_fee_on_transfer(v2w: V2World) -> None:
    w = v2w
    rw, rf = w.reserves(w.weth, w.fot)
    out = get_amount_out(E18 // 10, rw, rf)
    got = out - _fot_fee(out)
    path = [w.weth.address, w.fot.address]
    assert _reverts(w.send, w.f.swapExactETHForTokensSupportingFeeOnTransferTokens(got + 1, path, w.bob, NO_DEADLINE),
                    value=E18 // 10) == ("InsufficientOutputAmount", (got, got + 1))
    w.send(w.f.swapExactETHForTokensSupportingFeeOnTransferTokens(got, path, w.bob, NO_DEADLINE), value=E18 // 10)
    assert w.bal(w.fot, "bob") == got


def test_swap_exact_tokens_for_eth_supporting_fee_on_transfer(v2w: V2World) -> None:
    w = v2w
    rf, rw = w.reserves(w.fot, w.weth)
    out = get_amount_out(E18 - _fot_fee(E18), rf, rw)
    path = [w.fot.address, w.weth.address]
    eth = w.chain.balance("bob")
    w.send(w.f.swapExactTokensForETHSupportingFeeOnTransferTokens(E18, out, path, w.bob, NO_DEADLINE))
    assert w.chain.balance("bob") - eth == out
    assert _reverts(w.send, w.f.swapExactTokensForETHSupportingFeeOnTransferTokens(
        E18, 0, [w.weth.address, w.fot.address], w.bob, NO_DEADLINE)) == (
        "PathNotWeth", (1, w.fot.address, w.weth.address))


# ---- gas --------------------------------------------------------------------------------------------------------

def test_swap_gas_below_uniswap_v2_router02(v2w: V2World) -> None:
    w = v2w
    x, y = deploy_token(w.chain, "X", "X"), deploy_token(w.chain, "Y", "Y")
    for token in (x, y):
        token.mint(w.alice, 10**30)
        w.chain.transact(raw(token).functions.approve(w.v2.address, MAX_UINT256), sender="alice")
    w.send(w.f.addLiquidity(x.address, y.address, 10**6 * E18, 10**6 * E18, 0, 0, w.alice, NO_DEADLINE))
    gas = []
    for i in range(22):
        path = [x.address, y.address] if i % 2 == 0 else [y.address, x.address]
        gas.append(int(w.send(w.f.swapExactTokensForTokens(E18, 0, path, w.alice, NO_DEADLINE))["gasUsed"]))
    mean = sum(gas[2:]) // 20  # the first two pay for warming up balances and accumulators
    assert mean < UNISWAP_V2_ROUTER02_SWAP_GAS
