"""AMM benchmark: gas of createPair/mint/swap/burn next to the real Uniswap V2 on the same chain, and swaps/s."""

from __future__ import annotations

import time
from typing import Any

from market_sim.blockchain import Chain
from market_sim.blockchain.clients import Factory, Pair
from market_sim.defi.amm import GAS_LIQUIDITY, Amm, deploy_token
from market_sim.defi.amm_math import get_amount_out
from market_sim.defi.reference import UNISWAP_V2_VERSION, uniswap_v2_artifact

E18 = 10**18
OPERATIONS = ("createPair", "mint_first", "mint", "swap", "burn")


def _pair_gas(chain: Chain, factory: Factory, pair_artifact: Any, sender: str) -> dict[str, int]:
    """Gas of the same sequence of pair operations on one factory (ours or Uniswap's)."""
    me = chain.address(sender)
    a, b = deploy_token(chain, "A", "A"), deploy_token(chain, "B", "B")
    for token in (a, b):
        token.mint(me, 10**30)
    gas: dict[str, int] = {}
    g = GAS_LIQUIDITY

    gas["createPair"] = factory.create_pair(a.address, b.address, sender=sender, gas=g).gas_used
    pair = Pair.at(chain, factory.get_pair(a.address, b.address), artifact=pair_artifact)
    t0, t1 = (a, b) if pair.token0() == a.address else (b, a)

    def send(token: Any, amount: int) -> None:
        token.transfer(pair.address, amount, sender=sender, gas=g)

    send(t0, 1000 * E18)
    send(t1, 2000 * E18)
    gas["mint_first"] = pair.mint(me, sender=sender, gas=g).gas_used
    send(t0, 10 * E18)
    send(t1, 20 * E18)
    gas["mint"] = pair.mint(me, sender=sender, gas=g).gas_used
    reserves = pair.get_reserves()
    send(t0, E18)
    out = get_amount_out(E18, reserves.reserve0, reserves.reserve1, 30)
    gas["swap"] = pair.swap(0, out, me, b"", sender=sender, gas=g).gas_used
    send(pair, 10 * E18)
    gas["burn"] = pair.burn(me, sender=sender, gas=g).gas_used
    return gas


def _swap_rate(chain: Chain, amm: Amm, swaps: int, sender: str) -> dict[str, float]:
    """Router swaps per second (one transaction each), alternating direction so the pool stays balanced."""
    me = chain.address(sender)
    a, b = deploy_token(chain, "X", "X"), deploy_token(chain, "Y", "Y")
    for token in (a, b):
        token.mint(me, 10**30)
    amm.create_pair(a.address, b.address)
    amm.add_liquidity(a, b, 10**6 * E18, 10**6 * E18, sender=sender)
    amm.swap_exact_in(a, b, E18, sender=sender)  # warm up approvals and caches
    amm.swap_exact_in(b, a, E18, sender=sender)
    start = time.perf_counter()
    gas = 0
    for i in range(swaps):
        t_in, t_out = (a, b) if i % 2 == 0 else (b, a)
        gas += amm.swap_exact_in(t_in, t_out, E18, sender=sender).gas_used
    elapsed = time.perf_counter() - start
    return {"swaps": swaps, "seconds": round(elapsed, 3), "swaps_per_s": round(swaps / elapsed, 1),
            "router_swap_gas_mean": gas // swaps}


def measure(chain: Chain, swaps: int, sender: str = "deployer") -> dict[str, Any]:
    """Gas table (ours vs Uniswap V2) and router swap rate on one chain."""
    amm = Amm.deploy(chain, sender=sender)
    uni_factory = Factory.deploy(chain, chain.address(sender), sender=sender,
                                 artifact=uniswap_v2_artifact("UniswapV2Factory"))
    ours = _pair_gas(chain, amm.factory, "Pair", sender)
    uniswap = _pair_gas(chain, uni_factory, uniswap_v2_artifact("UniswapV2Pair"), sender)
    table = {op: {"market_sim": ours[op], "uniswap_v2": uniswap[op], "ratio": round(ours[op] / uniswap[op], 4)}
             for op in OPERATIONS}
    return {
        "chain_id": chain.chain_id,
        "gas": table,
        "no_operation_costs_more_than_uniswap": all(ours[op] <= uniswap[op] for op in OPERATIONS),
        "throughput": _swap_rate(chain, amm, swaps, sender),
    }


def _scenario_rate(quick: bool) -> dict[str, Any]:
    from market_sim.defi.sim import arbitrage_steps_per_second

    return arbitrage_steps_per_second(quick=quick)


def run(quick: bool = False, rpc: str | None = None, progress: bool = True) -> dict:
    """Gas per operation side by side with Uniswap V2, swaps/s on eth-tester (and the RPC node), scenario steps/s."""
    swaps = 10 if quick else 400
    result: dict[str, Any] = {"reference": UNISWAP_V2_VERSION, "eth_tester": measure(Chain.local(accounts=2), swaps)}
    if rpc:
        result["rpc"] = dict(measure(Chain.connect(rpc), swaps), url=rpc)
    result["cross_chain_arbitrage"] = _scenario_rate(quick)
    return result
