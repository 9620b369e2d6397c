"""The AMM contracts: Factory (pairs and their fees), Pair (reserves, LP token), Router (liquidity, swaps), WETH9."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from market_sim.blockchain.artifacts import Artifact
from market_sim.blockchain.chain import Chain
from market_sim.blockchain.clients.base import ContractClient, ContractEvent, Receipt, addresses, checksum
from market_sim.blockchain.clients.erc20 import ERC20
from market_sim.blockchain.reverts import ContractErrors

__all__ = ["Factory", "Pair", "Router", "WETH9", "Mint", "Burn", "Swap", "Sync", "PairCreated",
           "FactoryErrors", "PairErrors", "RouterErrors", "Reserves"]

FactoryErrors = ContractErrors("Factory")
PairErrors = ContractErrors("Pair")
RouterErrors = ContractErrors("Router")


@dataclass(frozen=True, slots=True)
class Mint(ContractEvent):
    EVENT: ClassVar[str] = "Mint"
    sender: str
    amount0: int
    amount1: int


@dataclass(frozen=True, slots=True)
class Burn(ContractEvent):
    EVENT: ClassVar[str] = "Burn"
    sender: str
    amount0: int
    amount1: int
    to: str


@dataclass(frozen=True, slots=True)
class Swap(ContractEvent):
    EVENT: ClassVar[str] = "Swap"
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("sender", "amount0In", "amount1In", "amount0Out", "amount1Out", "to")
    sender: str
    amount0_in: int
    amount1_in: int
    amount0_out: int
    amount1_out: int
    to: str


@dataclass(frozen=True, slots=True)
class Sync(ContractEvent):
    EVENT: ClassVar[str] = "Sync"
    reserve0: int
    reserve1: int


@dataclass(frozen=True, slots=True)
class PairCreated(ContractEvent):
    EVENT: ClassVar[str] = "PairCreated"
    token0: str
    token1: str
    pair: str
    count: int


@dataclass(frozen=True, slots=True)
class Reserves:
    reserve0: int
    reserve1: int
    block_timestamp_last: int


class Factory(ContractClient):
    ARTIFACT: ClassVar[str] = "Factory"

    @classmethod
    def deploy(cls, chain: Chain, fee_to_setter: str, *, sender: str = "deployer",
               artifact: str | Artifact | None = None) -> Factory:
        """Deploy a Factory (or an ABI-compatible one, e.g. UniswapV2Factory, given as `artifact`)."""
        return cls._deploy(chain, checksum(fee_to_setter), sender=sender, artifact=artifact)[0]

    def create_pair(self, token_a: str, token_b: str, *, sender: str = "deployer", gas: int | None = None) -> Receipt:
        return self._tx("createPair", checksum(token_a), checksum(token_b), sender=sender, gas=gas)

    def create_pair_with_fee(self, token_a: str, token_b: str, fee_bps: int, *, sender: str = "deployer",
                             gas: int | None = None) -> Receipt:
        return self._tx("createPairWithFee", checksum(token_a), checksum(token_b), fee_bps, sender=sender, gas=gas)

    def get_pair(self, token_a: str, token_b: str) -> str:
        """The pair's address (the zero address if there is none)."""
        return str(self._call("getPair", checksum(token_a), checksum(token_b)))

    def all_pairs_length(self) -> int:
        return int(self._call("allPairsLength"))


class Pair(ERC20):
    """A pool (and its LP token)."""

    ARTIFACT: ClassVar[str] = "Pair"

    def token0(self) -> str:
        return str(self._call("token0"))

    def token1(self) -> str:
        return str(self._call("token1"))

    def fee(self) -> int:
        return int(self._call("fee"))

    def get_reserves(self) -> Reserves:
        return Reserves(*(int(x) for x in self._call("getReserves")))

    def k_last(self) -> int:
        return int(self._call("kLast"))

    def mint(self, to: str, *, sender: str, gas: int | None = None) -> Receipt:
        return self._tx("mint", checksum(to), sender=sender, gas=gas)

    def burn(self, to: str, *, sender: str, gas: int | None = None) -> Receipt:
        return self._tx("burn", checksum(to), sender=sender, gas=gas)

    def swap(self, amount0_out: int, amount1_out: int, to: str, data: bytes = b"", *, sender: str,
             gas: int | None = None) -> Receipt:
        return self._tx("swap", amount0_out, amount1_out, checksum(to), data, sender=sender, gas=gas)

    def sync(self, *, sender: str) -> Receipt:
        return self._tx("sync", sender=sender)


class Router(ContractClient):
    ARTIFACT: ClassVar[str] = "Router"

    @classmethod
    def deploy(cls, chain: Chain, factory: str, weth: str, *, sender: str = "deployer") -> Router:
        return cls._deploy(chain, checksum(factory), checksum(weth), sender=sender)[0]

    def factory(self) -> str:
        return str(self._call("factory"))

    def weth(self) -> str:
        return str(self._call("WETH"))

    def get_amounts_out(self, amount_in: int, path: Sequence[str]) -> list[int]:
        return [int(x) for x in self._call("getAmountsOut", amount_in, addresses(path))]

    def get_amounts_in(self, amount_out: int, path: Sequence[str]) -> list[int]:
        return [int(x) for x in self._call("getAmountsIn", amount_out, addresses(path))]

    def add_liquidity(self, token_a: str, token_b: str, amount_a: int, amount_b: int, min_a: int, min_b: int,
                      to: str, deadline: int, *, sender: str, gas: int | None = None) -> Receipt:
        return self._tx("addLiquidity", checksum(token_a), checksum(token_b), amount_a, amount_b, min_a, min_b,
                        checksum(to), deadline, sender=sender, gas=gas)

    def remove_liquidity(self, token_a: str, token_b: str, liquidity: int, min_a: int, min_b: int, to: str,
                         deadline: int, *, sender: str, gas: int | None = None) -> Receipt:
        return self._tx("removeLiquidity", checksum(token_a), checksum(token_b), liquidity, min_a, min_b,
                        checksum(to), deadline, sender=sender, gas=gas)

    def swap_exact_tokens_for_tokens(self, amount_in: int, min_out: int, path: Sequence[str], to: str,
                                     deadline: int, *, sender: str, gas: int | None = None) -> Receipt:
        return self._tx("swapExactTokensForTokens", amount_in, min_out, addresses(path), checksum(to), deadline,
                        sender=sender, gas=gas)

    def swap_tokens_for_exact_tokens(self, amount_out: int, max_in: int, path: Sequence[str], to: str,
                                     deadline: int, *, sender: str, gas: int | None = None) -> Receipt:
        return self._tx("swapTokensForExactTokens", amount_out, max_in, addresses(path), checksum(to), deadline,
                        sender=sender, gas=gas)


class WETH9(ERC20):
    ARTIFACT: ClassVar[str] = "WETH9"

    @classmethod
    def deploy(cls, chain: Chain, *, sender: str = "deployer") -> WETH9:
        return cls._deploy(chain, sender=sender)[0]

    def deposit(self, amount: int, *, sender: str) -> Receipt:
        """Wrap `amount` wei of ETH."""
        return self._tx("deposit", sender=sender, value=amount)

    def withdraw(self, amount: int, *, sender: str) -> Receipt:
        return self._tx("withdraw", amount, sender=sender)
