"""Chain benchmark: the BlockProducer (blocks on the simulation clock, a mempool) against direct sends, in-process.

Figures: direct sends (one auto-mined block per transaction, Chain.send_eth / TestToken.mint) in tx/s; the producer
on a Kernel mining the same transactions in full blocks, in tx/s and blocks/s (wall clock), plus empty blocks/s and
the producer's own figures (blocks, txs per block, gas per block, mempool waits in simulated time).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from market_sim.blockchain import Chain
from market_sim.blockchain.clients import TestToken
from market_sim.blockchain.producer import BlockProducer
from market_sim.core.clock import NS_PER_SECOND
from market_sim.simulation.kernel import Kernel

BLOCK_TIME = 2 * NS_PER_SECOND
MINT_GAS = 80_000


def _direct(chain: Chain, token: TestToken, n: int) -> dict[str, float]:
    me = chain.account("alice")
    start = time.perf_counter()
    for _ in range(n):
        chain.send_eth(me, 1)
    eth_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        token.mint(me, 1, gas=MINT_GAS)
    mint_s = time.perf_counter() - start
    return {"eth_tx_per_s": round(n / eth_s, 1), "mint_tx_per_s": round(n / mint_s, 1),
            "blocks_per_s": round(2 * n / (eth_s + mint_s), 1)}


def _produced(chain: Chain, token: TestToken, n: int, per_block: int) -> dict[str, Any]:
    kernel = Kernel()
    # a gas limit that holds `per_block` mints; the ETH transfers (21000 each) pack ~3.8x denser
    producer = BlockProducer(chain, kernel, block_time=BLOCK_TIME, gas_limit=per_block * MINT_GAS)
    producer.start()
    me = chain.account("bob")
    eth = [chain.prepare_eth(me, 1, sender="deployer") for _ in range(n)]
    mints = [token.prepare_mint(me, 1, gas=MINT_GAS) for _ in range(n)]

    def run(txs) -> tuple[float, int]:
        for tx in txs:
            producer.submit(tx)
        blocks = len(producer.blocks)
        start = time.perf_counter()
        while producer.pending:
            kernel.run(until=kernel.now + BLOCK_TIME)
        return time.perf_counter() - start, len(producer.blocks) - blocks

    eth_s, eth_blocks = run(eth)
    mint_s, mint_blocks = run(mints)
    empty = 50
    start = time.perf_counter()
    kernel.run(until=kernel.now + empty * BLOCK_TIME)
    empty_s = time.perf_counter() - start
    figures = producer.figures()
    producer.stop()
    return {
        "eth_tx_per_s": round(n / eth_s, 1), "eth_blocks": eth_blocks,
        "mint_tx_per_s": round(n / mint_s, 1), "mint_blocks": mint_blocks,
        "blocks_per_s": round((eth_blocks + mint_blocks) / (eth_s + mint_s), 1),
        "empty_blocks_per_s": round(empty / empty_s, 1),
        "txs_per_block": round(figures.txs_per_block, 2), "gas_per_block": round(figures.gas_per_block),
        "wait_p50_s": (figures.wait_p50_ns or 0) / NS_PER_SECOND,
        "wait_max_s": (figures.wait_max_ns or 0) / NS_PER_SECOND,
    }


def run(quick: bool = False, progress: bool = True) -> dict:
    """Direct sends vs the BlockProducer on the in-process chain: tx/s and blocks/s."""
    n = 60 if quick else 400
    per_block = 20 if quick else 50
    chain = Chain.local()
    token = TestToken.deploy(chain, "Bench", "BN", 18)
    if progress:
        print(f"direct sends: {n} ETH transfers + {n} mints ...", file=sys.stderr, flush=True)
    direct = _direct(chain, token, n)
    if progress:
        print(f"producer: the same, {per_block} mints' gas per block ...", file=sys.stderr, flush=True)
    produced = _produced(chain, token, n, per_block)
    return {
        "benchmark": "chain", "transactions": n, "block_time_s": BLOCK_TIME / NS_PER_SECOND,
        "direct": direct, "producer": produced,
        "producer_vs_direct_mint_tx_per_s": round(produced["mint_tx_per_s"] / direct["mint_tx_per_s"], 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
