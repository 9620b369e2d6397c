"""Shared fixtures: one in-process chain per test module with the AMM deployed; every test runs on a snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from market_sim.blockchain import Chain
from market_sim.blockchain.clients import Pair, TestToken
from market_sim.defi.amm import Amm, PairInfo, deploy_token

E18 = 10**18


def raw(contract):
    """The web3 handle under a typed client (tests of the contracts themselves call their ABI directly)."""
    return getattr(contract, "handle", contract)


@dataclass
class AmmWorld:
    chain: Chain
    amm: Amm
    token0: TestToken
    token1: TestToken
    info: PairInfo
    pair: Pair
    wallet: str

    def transfer_to_pair(self, token: TestToken, amount: int) -> None:
        token.transfer(self.pair.address, amount, sender="alice")

    def add(self, amount0: int, amount1: int) -> None:
        """Uniswap spec's addLiquidity: transfer both tokens to the pair, then mint to the wallet."""
        self.transfer_to_pair(self.token0, amount0)
        self.transfer_to_pair(self.token1, amount1)
        self.pair.mint(self.wallet, sender="alice")

    def reserves(self) -> tuple[int, int]:
        r = self.pair.get_reserves()
        return r.reserve0, r.reserve1

    def balance(self, token: TestToken, who: str) -> int:
        return token.balance_of(who)


@pytest.fixture(scope="module")
def world() -> AmmWorld:
    chain = Chain.local(accounts=4, chain_id=31_337)
    amm = Amm.deploy(chain)
    a, b = deploy_token(chain, "Token A", "TKA"), deploy_token(chain, "Token B", "TKB")
    wallet = chain.account("alice")
    for token in (a, b):
        token.mint(wallet, 10**40)
    info = amm.create_pair(a.address, b.address)
    t0, t1 = (a, b) if info.token0 == a.address else (b, a)
    return AmmWorld(chain, amm, t0, t1, info, amm.pair(info.address), wallet)


@pytest.fixture(autouse=True)
def _fresh_state(request: pytest.FixtureRequest) -> Iterator[None]:
    # Modules using `world` get its state back after every test.
    if "world" not in request.fixturenames:
        yield
        return
    w: AmmWorld = request.getfixturevalue("world")
    snap = w.chain.snapshot()
    yield
    w.chain.revert(snap)
