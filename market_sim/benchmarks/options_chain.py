"""On-chain options benchmark (issue 17): gas per option trade (premium) and per expiry payout, settled through the
real pipeline, committee and Settlement contract on the in-process chain (eth-tester).

Each measured batch carries one spot trade; its gas minus that of a batch with the same spot trade alone, divided by
the option trades (k pairs of fresh, funded accounts: two quote-balance writes each) or the expiry's payout positions
(2k, all in the money), is the marginal gas of one premium or one payout.
"""

from __future__ import annotations

from decimal import Decimal

from market_sim.blockchain import Chain
from market_sim.consensus.config import ConsensusConfig
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.settlement.options import OptionSeries, attach_options
from market_sim.settlement.setup import build_stack

INST = Instrument("WETH/USDC", tick_size=Decimal("0.01"), lot_size=Decimal("0.01"), asset_class="crypto",
                  base_decimals=18, quote_decimals=6)


def run(quick: bool = False, progress: bool = True) -> dict:
    k = 10 if quick else 50
    writers = [f"w{i}" for i in range(k)]
    holders = [f"h{i}" for i in range(k)]
    traders = ["s1", "s2", *writers, *holders]
    stack = build_stack(Chain.local(["deployer"], chain_id=1799), {INST.symbol: INST}, traders,
                        {"WETH": 10**20, "USDC": 10**12}, ConsensusConfig(nodes=4, byzantine=0, protocol="bft"),
                        max_batch=10_000)
    desk = attach_options(stack)
    put = desk.list_series(OptionSeries(INST.symbol, "USDC", 310_000, 1_000, False, 10_000, window=500))
    p, committee = stack.pipeline, stack.committee
    tid = [0]

    def spot(ts: int) -> None:
        tid[0] += 1
        i = tid[0]
        buy = NewOrder(2 * i, "s1", INST.symbol, Side.BUY, 1, price=300_000)
        sell = NewOrder(2 * i + 1, "s2", INST.symbol, Side.SELL, 1, price=300_000)
        t = Trade(ts, i, INST.symbol, 300_000, 1, 2 * i, 2 * i + 1, "s1", "s2", Side.BUY)
        if committee.validate_trade(t, buy, sell) is not None:
            raise RuntimeError("the committee refused the benchmark's spot trade")
        p.on_trade(t)

    def batch(ts: int) -> int:
        spot(ts)
        p.flush()
        if p.failed:
            raise RuntimeError(f"benchmark batch failed: {p.failed[0].reason}")
        return p.batches[-1].gas_used

    batch(10)                                   # warm-up (first batch, first writes)
    base = [batch(20)]
    for w, h in zip(writers, holders):
        desk.trade(put, h, w, 1, 5_000_000, now=30)
    with_trades = batch(30)
    base.append(batch(600))
    desk.expire(put)
    with_expiry = batch(1_100)
    base.append(batch(1_200))
    spot_only = round(sum(base) / len(base))
    per_trade = round((with_trades - spot_only) / k)
    per_payout = round((with_expiry - spot_only) / (2 * k))
    (expiry,) = desk.batch_of(p.batches[-2].sequence).expiries
    if progress:
        print(f"options on chain: {k} option trades, {2 * k} expiry payouts; spot-only batch {spot_only:,} gas; "
              f"{per_trade:,} gas per option trade (premium), {per_payout:,} gas per expiry payout")
    return {"option_trades": k, "payout_positions": 2 * k, "spot_only_batch_gas": spot_only,
            "batch_with_option_trades_gas": with_trades, "batch_with_expiry_gas": with_expiry,
            "gas_per_option_trade": per_trade, "gas_per_expiry_payout": per_payout,
            "settlement_price_ticks": expiry.settlement_price}
