"""On-chain AMM access: deploy Factory, WETH9 and Router on a Chain; create pairs, add/remove liquidity, swap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from market_sim.blockchain import Chain, load_artifact
from market_sim.blockchain.abi import keccak, to_checksum_address
from market_sim.blockchain.clients import (
    ERC20, MAX_UINT256, WETH9, Burn, Factory, Mint, Pair, Receipt, Router, Swap, Sync, TestToken,
)
from market_sim.blockchain.deploy import deploy_stack
from market_sim.core.defaults import TokenSpec
from market_sim.core.errors import ValidationError
from market_sim.defi.amm_math import DEFAULT_FEE_BPS, PoolState
from market_sim.defi.stack import amm_steps
from market_sim.settlement.stack import token_step

__all__ = ["Amm", "PairInfo", "SwapResult", "pair_address", "deploy_token", "MAX_UINT256", "NO_DEADLINE"]

# Far-future deadline for callers that do not care (the router still checks it).
NO_DEADLINE = 2**63
# Explicit gas limits: a node's estimate runs in the pending block's state, where the price accumulators may not
# be written yet (same timestamp), so estimates can fall ~45k short of the real cost.
GAS_SWAP = 400_000
GAS_LIQUIDITY = 3_500_000  # addLiquidity may create the pair


def pair_address(factory: str, token_a: str, token_b: str) -> str:
    """CREATE2 address of the pair of two tokens made by `factory` (Pair's init code takes no arguments)."""
    t0, t1 = sorted((to_checksum_address(token_a), to_checksum_address(token_b)), key=lambda a: int(a, 16))
    salt = keccak(bytes.fromhex(t0[2:]) + bytes.fromhex(t1[2:]))
    init_hash = keccak(bytes.fromhex(load_artifact("Pair").bytecode))
    raw = keccak(b"\xff" + bytes.fromhex(to_checksum_address(factory)[2:]) + salt + init_hash)[12:]
    return to_checksum_address(raw)


def deploy_token(chain: Chain, name: str, symbol: str, decimals: int = 18, *, sender: str = "deployer") -> TestToken:
    """A mintable TestToken owned by `sender` (the token deploy step of the stack, with these parameters)."""
    step = token_step("Token", TokenSpec(name, symbol, decimals))
    return TestToken.at(chain, deploy_stack(chain, steps=[step], sender=sender, write=False).address("Token"))


class ReceiptSink(Protocol):
    """Where an Amm reports its mined transactions (a ChainRuntime publishes them as ChainTransaction events)."""

    def receipt(self, kind: str, sender: str, receipt: Receipt) -> None: ...


@dataclass(frozen=True, slots=True)
class PairInfo:
    """A deployed pair: its address, token order and fee."""

    address: str
    token0: str
    token1: str
    fee_bps: int

    def zero_for_one(self, token_in: str) -> bool:
        """True when token_in is token0."""
        token_in = to_checksum_address(token_in)
        if token_in not in (self.token0, self.token1):
            raise ValidationError(f"token {token_in} is not in pair {self.address}")
        return token_in == self.token0


def _ordered(info: PairInfo, token_a: str, amount0: int, amount1: int) -> tuple[int, int]:
    """(amount of token_a, amount of the other token) from token0/token1 amounts."""
    return (amount0, amount1) if info.token0 == token_a else (amount1, amount0)


@dataclass(frozen=True, slots=True)
class SwapResult:
    """An executed swap: amounts, gas used and the pool afterwards."""

    amount_in: int
    amount_out: int
    gas_used: int
    pool: PoolState
    tx_hash: str = ""


class Amm:
    """The AMM contracts on one chain (Factory, WETH9, Router) and the pairs made through them."""

    def __init__(self, chain: Chain, factory: Factory, router: Router, weth: WETH9) -> None:
        self.chain = chain
        self.factory = factory
        self.router = router
        self.weth = weth
        self._pairs: dict[tuple[str, str], PairInfo] = {}
        self._handles: dict[str, Pair] = {}
        # Told of every mined swap ("swap") and liquidity change ("lp_mint", "lp_burn"), with its sender.
        self.receipts: ReceiptSink | None = None

    @classmethod
    def deploy(cls, chain: Chain, *, sender: str = "deployer") -> Amm:
        """Deploy a Factory (sender sets the protocol fee receiver), a WETH9 and the Router of both."""
        deployed = deploy_stack(chain, steps=amm_steps(fee_to_setter=sender), sender=sender, write=False)
        return cls(chain, Factory.at(chain, deployed.address("Factory")), Router.at(chain, deployed.address("Router")),
                   WETH9.at(chain, deployed.address("WETH9")))

    # ---- pairs --------------------------------------------------------------------------------------------------
    def create_pair(self, token_a: str, token_b: str, fee_bps: int = DEFAULT_FEE_BPS, *,
                    sender: str = "deployer") -> PairInfo:
        """Create the pair with a fee in basis points (createPair for the default fee, else createPairWithFee)."""
        if fee_bps == DEFAULT_FEE_BPS:
            self.factory.create_pair(token_a, token_b, sender=sender, gas=GAS_LIQUIDITY)
        else:
            self.factory.create_pair_with_fee(token_a, token_b, fee_bps, sender=sender, gas=GAS_LIQUIDITY)
        return self.pair_info(token_a, token_b)

    def pair_info(self, token_a: str, token_b: str) -> PairInfo:
        """The existing pair of two tokens (cached)."""
        key = tuple(sorted((to_checksum_address(token_a), to_checksum_address(token_b))))
        info = self._pairs.get(key)
        if info is None:
            address = self.factory.get_pair(token_a, token_b)
            if int(address, 16) == 0:
                raise ValidationError(f"no pair for tokens {token_a} and {token_b}")
            pair = self.pair(address)
            info = PairInfo(to_checksum_address(address), pair.token0(), pair.token1(), pair.fee())
            self._pairs[key] = info
        return info

    def pair(self, address: str) -> Pair:
        """Client of a pair."""
        handle = self._handles.get(address)
        if handle is None:
            handle = self._handles[address] = Pair.at(self.chain, address)
        return handle

    def pool(self, info: PairInfo) -> PoolState:
        """Current reserves and fee of a pair."""
        r = self.pair(info.address).get_reserves()
        return PoolState(r.reserve0, r.reserve1, info.fee_bps)

    # ---- trading ------------------------------------------------------------------------------------------------
    def _mined(self, kind: str, sender: str, receipt: Receipt) -> Receipt:
        if self.receipts is not None:
            self.receipts.receipt(kind, sender, receipt)
        return receipt

    def approve_router(self, token: ERC20, owner: str) -> None:
        """Let the router pull `owner`'s `token` (unlimited), unless it already may."""
        # Read from the chain, not cached: a snapshot revert can undo an approval.
        token.ensure_allowance(self.router.address, owner=owner, minimum=MAX_UINT256 // 2)

    def add_liquidity(self, token_a: ERC20, token_b: ERC20, amount_a: int, amount_b: int, *, sender: str,
                      min_a: int = 0, min_b: int = 0, deadline: int = NO_DEADLINE) -> tuple[int, int, int]:
        """Deposit through the router; returns (amount_a, amount_b, liquidity) from the Mint event and LP balance."""
        self.approve_router(token_a, sender)
        self.approve_router(token_b, sender)
        info = self.pair_info(token_a.address, token_b.address)
        pair = self.pair(info.address)
        to = self.chain.address(sender)
        before = pair.balance_of(to)
        receipt = self._mined("lp_mint", sender, self.router.add_liquidity(
            token_a.address, token_b.address, amount_a, amount_b, min_a, min_b, to, deadline, sender=sender,
            gas=GAS_LIQUIDITY))
        (mint,) = pair.events(receipt, Mint)
        a, b = _ordered(info, token_a.address, mint.amount0, mint.amount1)
        return a, b, pair.balance_of(to) - before

    def remove_liquidity(self, token_a: ERC20, token_b: ERC20, liquidity: int, *, sender: str,
                         min_a: int = 0, min_b: int = 0, deadline: int = NO_DEADLINE) -> tuple[int, int]:
        """Burn LP tokens through the router; returns (amount_a, amount_b)."""
        info = self.pair_info(token_a.address, token_b.address)
        self.approve_router(self.pair(info.address), sender)
        receipt = self._mined("lp_burn", sender, self.router.remove_liquidity(
            token_a.address, token_b.address, liquidity, min_a, min_b, self.chain.address(sender), deadline,
            sender=sender, gas=GAS_SWAP))
        (burn,) = self.pair(info.address).events(receipt, Burn)
        return _ordered(info, token_a.address, burn.amount0, burn.amount1)

    def swap_exact_in(self, token_in: ERC20, token_out: ERC20, amount_in: int, *, sender: str,
                      min_out: int = 0, to: str | None = None, deadline: int = NO_DEADLINE,
                      approve: bool = True) -> SwapResult:
        """swapExactTokensForTokens over one pair; returns amounts, gas and the pool after the swap.

        approve=False skips the allowance check (the caller approved the router for good, see approve_router).
        """
        if approve:
            self.approve_router(token_in, sender)
        info = self.pair_info(token_in.address, token_out.address)
        receipt = self._mined("swap", sender, self.router.swap_exact_tokens_for_tokens(
            amount_in, min_out, [token_in.address, token_out.address], self.chain.address(to or sender), deadline,
            sender=sender, gas=GAS_SWAP))
        return self._swap_result(receipt, info)

    def swap_exact_out(self, token_in: ERC20, token_out: ERC20, amount_out: int, *, sender: str,
                       max_in: int = MAX_UINT256, to: str | None = None, deadline: int = NO_DEADLINE) -> SwapResult:
        """swapTokensForExactTokens over one pair."""
        self.approve_router(token_in, sender)
        info = self.pair_info(token_in.address, token_out.address)
        receipt = self._mined("swap", sender, self.router.swap_tokens_for_exact_tokens(
            amount_out, max_in, [token_in.address, token_out.address], self.chain.address(to or sender), deadline,
            sender=sender, gas=GAS_SWAP))
        return self._swap_result(receipt, info)

    def _swap_result(self, receipt: Receipt, info: PairInfo) -> SwapResult:
        pair = self.pair(info.address)
        (swap,) = pair.events(receipt, Swap)
        sync = pair.events(receipt, Sync)[-1]
        amount_in = swap.amount0_in + swap.amount1_in
        amount_out = swap.amount0_out + swap.amount1_out
        return SwapResult(amount_in, amount_out, receipt.gas_used, PoolState(sync.reserve0, sync.reserve1, info.fee_bps),
                          receipt.tx_hash)
