"""Shared driver for the settlement integration tests: random orders through engine -> committee -> settlement."""

from __future__ import annotations

import random
from decimal import Decimal

from market_sim.blockchain import Chain
from market_sim.consensus.config import ConsensusConfig
from market_sim.core.events import Trade, TradeRejected
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, OrderType, Side, TimeInForce
from market_sim.market import MatchingEngine
from market_sim.settlement.reconcile import reconcile
from market_sim.settlement.setup import SettlementStack, build_stack
from market_sim.simulation.kernel import Kernel

INSTRUMENTS = {
    "WETH/USDC": Instrument("WETH/USDC", tick_size=Decimal("0.01"), lot_size=Decimal("0.01"), asset_class="crypto",
                            base_decimals=18, quote_decimals=6),
    "LINK/USDC": Instrument("LINK/USDC", tick_size=Decimal("0.001"), lot_size=Decimal("0.1"), asset_class="crypto",
                            base_decimals=18, quote_decimals=6),
}
MID = {"WETH/USDC": 300_000, "LINK/USDC": 15_000}  # ticks
RICH = {"WETH": 50 * 10**18, "LINK": 50_000 * 10**18, "USDC": 1_000_000 * 10**6}


def run_flow(chain: Chain, consensus: ConsensusConfig, *, traders: int = 6, orders: int = 300, seed: int = 1,
             max_batch: int = 40) -> tuple[SettlementStack, list[Trade], list[TradeRejected]]:
    """Random limit/market orders from `traders` rich traders plus one nearly broke trader; returns what happened."""
    names = [f"t{i}" for i in range(traders)] + ["broke"]
    kernel = Kernel()
    stack = build_stack(chain, INSTRUMENTS, names, RICH, consensus, taker_fee_bps=5, max_batch=max_batch,
                        max_delay=5_000_000_000, kernel=kernel, overrides={"broke": {"USDC": 10**6}})
    engine = MatchingEngine(INSTRUMENTS.values(), validator=stack.committee)
    trades: list[Trade] = []
    rejected: list[TradeRejected] = []

    def on_event(ev: object) -> None:
        if type(ev) is Trade:
            trades.append(ev)
        elif type(ev) is TradeRejected:
            rejected.append(ev)
        stack.pipeline.on_event(ev)

    rng = random.Random(seed)
    for oid in range(1, orders + 1):
        ts = oid * 50_000_000  # 50 ms apart
        kernel.run(until=ts)
        symbol = rng.choice(list(INSTRUMENTS))
        side = rng.choice((Side.BUY, Side.SELL))
        trader = "broke" if rng.random() < 0.05 else rng.choice(names[:-1])
        qty = rng.randint(1, 30)
        if rng.random() < 0.3:
            cmd = NewOrder(oid, trader, symbol, side, qty, OrderType.MARKET, tif=TimeInForce.IOC)
        else:
            cmd = NewOrder(oid, trader, symbol, side, qty, price=MID[symbol] + side * -rng.randint(-20, 40))
        for ev in engine.process(cmd, ts):
            on_event(ev)
    kernel.run(until=(orders + 1) * 50_000_000)
    stack.pipeline.flush()
    return stack, trades, rejected


def check_settled(stack: SettlementStack) -> None:
    """Ledger == chain, every logged trade provable on chain, log roots == chain roots, nothing lost."""
    p, venue, log = stack.pipeline, stack.venue, stack.committee.log
    report = reconcile(p.ledger, venue.client, accounts=[*venue.accounts.values(), venue.fee_account],
                       tokens=venue.tokens.values())
    assert report.ok, report.summary()
    assert p.accounted() and not p.pending
    assert log.verify().ok
    assert venue.client.last_sequence == log.height == len(p.batches)
    for block in log.blocks:
        assert venue.client.batch_root(block.height) == block.merkle_root
        proofs = [log.proof(t.trade_id) for t in block.trades]
        settled = [p.encoder.settled(t) for t in block.trades]
        assert all(venue.client.verify_trades(block.height, settled, [pr.proof for pr in proofs]))
    assert {t.trade_id for t in log.trades} == p.ledger.settled_trade_ids
