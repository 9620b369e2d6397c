"""Settlement benchmark: end-to-end settled trades/s and gas per trade by batch size, against one tx per trade.

End to end = from the engine's Trade events through SettlementPipeline: on-chain encoding, net deltas, Merkle
tree, EIP-712 quorum certificate (3 of 4 validator keys sign; committee voting is benchmarked in `bench consensus`),
the settle transaction, its receipt and the off-chain ledger. Baseline = the same pipeline settling every trade
in its own transaction with the contract's per-trade mode (settleTrades, one trade each).
"""

from __future__ import annotations

import functools
import random
import sys
import time
from decimal import Decimal

from market_sim.blockchain import Chain
from market_sim.consensus.signing import validator_keys
from market_sim.core.defaults import DEFAULT_THRESHOLD, DEFAULT_VALIDATORS
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import Side
from market_sim.settlement.batch import SettlementMode
from market_sim.settlement.certifier import KeyCertifier
from market_sim.settlement.pipeline import SettlementPipeline
from market_sim.settlement.setup import deploy_venue
from market_sim.settlement.trades import TradeEncoder

BATCH_SIZES = (1, 10, 100, 500, 1000)
TRADERS = 100
QUICK_TRADERS = 12  # --quick: fewer traders (funding is one depositForMany per token either way)
ASSETS = {"TKA": 18, "TKB": 18, "TKC": 18, "USD": 18}
PAIRS = ("TKA/USD", "TKB/USD", "TKC/USD", "TKA/TKB")
TARGET_GAS_PER_TRADE = 5_000
TARGET_SPEEDUP = 20


def _instruments() -> dict[str, Instrument]:
    return {p: Instrument(p, tick_size=Decimal("0.01"), lot_size=Decimal("0.01"), asset_class="crypto") for p in PAIRS}


class _TradeSource:
    """Random trades between the benchmark's traders (deterministic per seed)."""

    def __init__(self, traders: list[str], seed: int = 1) -> None:
        self.traders = traders
        self.rng = random.Random(seed)
        self.next_id = 1

    def take(self, n: int) -> list[Trade]:
        out = []
        for _ in range(n):
            buyer, seller = self.rng.sample(self.traders, 2)
            tid = self.next_id
            self.next_id += 1
            out.append(Trade(0, tid, self.rng.choice(PAIRS), self.rng.randint(9_000, 11_000), self.rng.randint(1, 50),
                             2 * tid, 2 * tid + 1, buyer, seller, self.rng.choice((Side.BUY, Side.SELL))))
        return out


def _measure(pipeline: SettlementPipeline, trades: list[Trade]) -> dict:
    gas0, batches0, settled0 = pipeline.gas_used, len(pipeline.batches), pipeline.settled_count
    t0 = time.perf_counter()
    for trade in trades:
        pipeline.on_trade(trade)
    pipeline.flush()
    seconds = time.perf_counter() - t0
    settled = pipeline.settled_count - settled0
    gas = pipeline.gas_used - gas0
    if settled != len(trades) or pipeline.failed:
        raise RuntimeError(f"benchmark trades failed to settle: {pipeline.failed[:3]}")
    return {"trades": settled, "batches": len(pipeline.batches) - batches0, "seconds": round(seconds, 3),
            "trades_per_second": round(settled / seconds, 1), "gas": gas, "gas_per_trade": round(gas / settled)}


def run(quick: bool = False, rpc: str | None = None, progress: bool = True) -> dict:
    """Measure settlement throughput and gas for each batch size and the one-transaction-per-trade baseline."""
    chain = Chain.connect(rpc) if rpc else Chain.local()
    keys = validator_keys(DEFAULT_VALIDATORS, seed=11)
    n_traders = QUICK_TRADERS if quick else TRADERS
    traders = [f"trader-{i}" for i in range(n_traders)]
    say = functools.partial(print, file=sys.stderr, flush=True) if progress else (lambda *a, **k: None)
    say(f"settlement bench on {chain!r}: deploying and funding {n_traders} traders x {len(ASSETS)} tokens ...")
    t0 = time.perf_counter()
    venue = deploy_venue(chain, assets=ASSETS, traders=traders, validators=[k.address for k in keys],
                         threshold=DEFAULT_THRESHOLD,
                         deposit={a: 10**30 for a in ASSETS})
    setup_seconds = time.perf_counter() - t0
    encoder = TradeEncoder(_instruments(), venue.tokens, venue.accounts, taker_fee_bps=5)
    certifier = KeyCertifier(venue.client, keys[:3])
    source = _TradeSource(traders)

    def pipeline(size: int, mode: SettlementMode) -> SettlementPipeline:
        p = SettlementPipeline(venue.client, encoder, certifier, max_batch=size, mode=mode, ledger=shared_ledger)
        return p

    shared_ledger = SettlementPipeline(venue.client, encoder, certifier).ledger
    for (trader, asset), amount in venue.deposits.items():
        shared_ledger.deposit(venue.accounts[trader], venue.tokens[asset], amount)

    def trades_for(size: int) -> int:
        return max(size, 20) if quick else max(5 * size, 200)  # quick: one batch per size (two for the smallest)

    results = []
    for size in BATCH_SIZES:
        row = {"mode": "net", "batch_size": size,
               **_measure(pipeline(size, SettlementMode.NET), source.take(trades_for(size)))}
        results.append(row)
        say(f"  net deltas, batch {size:>5}: {row['gas_per_trade']:>8,} gas/trade  "
            f"{row['trades_per_second']:>8,.1f} trades/s")
    baseline = {"mode": "per-trade", "batch_size": 1,
                **_measure(pipeline(1, SettlementMode.PER_TRADE), source.take(10 if quick else 200))}
    say(f"  baseline (1 tx per trade): {baseline['gas_per_trade']:>8,} gas/trade  "
        f"{baseline['trades_per_second']:>8,.1f} trades/s")
    per_trade_500 = {"mode": "per-trade", "batch_size": 500,
                     **_measure(pipeline(500, SettlementMode.PER_TRADE), source.take(500 if quick else 1500))}
    say(f"  per-trade mode, batch 500: {per_trade_500['gas_per_trade']:>8,} gas/trade  "
        f"{per_trade_500['trades_per_second']:>8,.1f} trades/s")
    at500 = next(r for r in results if r["batch_size"] == 500)
    speedup = at500["trades_per_second"] / baseline["trades_per_second"]
    return {
        "benchmark": "settlement",
        "chain": "eth-tester (in-process py-evm)" if chain.is_local else rpc,
        "chain_id": chain.chain_id,
        "quick": quick,
        "traders": n_traders, "tokens": len(ASSETS), "pairs": list(PAIRS), "validators": DEFAULT_VALIDATORS,
        "threshold": DEFAULT_THRESHOLD,
        "taker_fee_bps": 5,
        "setup_seconds": round(setup_seconds, 2),
        "results": results,
        "baseline_one_tx_per_trade": baseline,
        "per_trade_mode_batch_500": per_trade_500,
        "speedup_at_500_vs_baseline": round(speedup, 1),
        "targets": {
            "gas_per_trade_at_500": {"target": TARGET_GAS_PER_TRADE, "measured": at500["gas_per_trade"],
                                     "met": at500["gas_per_trade"] <= TARGET_GAS_PER_TRADE},
            "speedup_at_500": {"target": TARGET_SPEEDUP, "measured": round(speedup, 1),
                               "met": speedup >= TARGET_SPEEDUP},
        },
    }
