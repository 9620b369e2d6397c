"""Margin settlement benchmark (issue 16): gas per settled trade of margin batches against the same trades spot.

The same random trades between `TRADERS` traders (base/quote, every trader funded in both) settle from one chain
snapshot as net-deltas batches (`Settlement.settle`, spot) and as margin batches (`Settlement.settleMargin`, every
touched account checked against maintenance at the batch's certified marks) in two scenarios: every trader on
margin (each net seller borrows what it sold, each net buyer with debt covers, every batch: the worst case), and a
fifth of the traders short selling that way. Target: margin / spot <= 1.5 (steady state, after the batches that
create the debt slots).
"""

from __future__ import annotations

import functools
import random
import sys
from collections import defaultdict

from market_sim.blockchain import Chain
from market_sim.blockchain.abi import to_checksum_address
from market_sim.blockchain.clients.erc20 import TestToken
from market_sim.consensus.signing import batch_digest, validator_keys
from market_sim.settlement.batch import SettlementBatch, SettlementMode, pack_signatures
from market_sim.settlement.client import SettlementClient
from market_sim.settlement.margin import BorrowChange
from market_sim.settlement.trades import SettledTrade

TRADERS = 100
QUICK_TRADERS = 12
BATCH = 500
BATCHES = 6
WARMUP = 2  # batches that create the debt slots (first borrows), left out of the steady-state figures
# share of traders on margin: every one (each net seller borrows every batch: the worst case), a fifth of them, or
# none (margin batches without borrows: the cost of the certified marks and the maintenance checks alone)
SCENARIOS = {"all-margin": 1.0, "short-sellers-20pct": 0.2, "checks-only": 0.0}
TARGET_RATIO = 1.5
MARKS = (10_000, 1)  # value per base unit: base at 10,000 quote units


def _trades(traders: list[str], base: str, quote: str, n: int, rng: random.Random, first_id: int) -> list:
    out = []
    for i in range(n):
        buyer, seller = rng.sample(traders, 2)
        qty = rng.randint(1, 50)
        out.append(SettledTrade(first_id + i, buyer, seller, base, quote, qty, qty * rng.randint(9_000, 11_000), 0, 0))
    return out


def _borrows(batch_trades: list, debts: dict[str, int], base_index: int, margin: set[str]) -> tuple:
    """Borrow changes of the margin accounts: a net seller borrows what it sold, a net buyer with debt repays what
    it bought, keeping 1 open (a partial cover: its debt slot stays written); fee 1 on every changed debt."""
    net: dict[str, int] = defaultdict(int)
    for t in batch_trades:
        net[t.buyer] += t.base_amount
        net[t.seller] -= t.base_amount
    out = []
    for account in sorted(net, key=lambda a: int(a, 16)):
        if account not in margin:
            continue
        delta, debt = net[account], debts.get(account, 0)
        if delta < 0:
            fee = 1 if debt else 0
            out.append(BorrowChange(account, base_index, -delta, fee))
            debts[account] = debt + fee - delta
        elif debt > 1 and delta > 0:
            repay = min(debt, delta)
            out.append(BorrowChange(account, base_index, -repay, 1))
            debts[account] = debt + 1 - repay
    return tuple(out)


def run(quick: bool = False, progress: bool = True) -> dict:
    """Gas per settled trade, spot (settle) and margin (settleMargin), on the same trades."""
    say = functools.partial(print, file=sys.stderr, flush=True) if progress else (lambda *a, **k: None)
    n_traders, size, batches = (QUICK_TRADERS, 100, 3) if quick else (TRADERS, BATCH, BATCHES)
    chain = Chain.local()
    keys = validator_keys(4, seed=11)
    deployer = chain.account("deployer")
    client = SettlementClient.deploy(chain, [k.address for k in keys], 3, deployer)
    tokens = [TestToken.deploy(chain, n, n, 18) for n in ("BASE", "USD")]
    rng = random.Random(16)
    traders = [to_checksum_address(rng.randbytes(20)) for _ in range(n_traders)]
    say(f"margin bench: funding {n_traders} traders x 2 tokens and the pools ...")
    for t in tokens:
        client.list_token(t.address)
        client.contract.set_maintenance(t.address, 3000)
        t.mint(deployer, 10**36)
        client.approve(t.address, sender="deployer")
        for trader in traders:
            client.deposit_for(trader, t.address, 10**30)
        client.contract.lend(t.address, 10**32, sender="deployer")
    base, quote = tokens[0].address, tokens[1].address
    base_index = client.token_index(base)
    work = [_trades(traders, base, quote, size, rng, 1 + b * size) for b in range(batches)]

    def settle(trades: list, mode: SettlementMode, borrows: tuple = ()) -> int:
        state = client.head - 1
        batch = SettlementBatch.build(client.last_sequence + 1, client.last_batch_hash, trades, fee_account=deployer,
                                      token_index=client.token_index, mode=mode, state_block=state,
                                      expires_at=state + 20, borrows=borrows,
                                      marks=MARKS if mode is SettlementMode.MARGIN else ())
        digest = batch_digest(client.domain, *batch.header.as_tuple())
        return client.submit(batch, pack_signatures([(k.address, k.sign(digest)) for k in keys[:3]])).gas_used

    snap = chain.snapshot()
    spot = [settle(trades, SettlementMode.NET) for trades in work]
    total, steady_total = size * batches, size * (batches - WARMUP)

    def per_trade(gas: list[int]) -> tuple[int, int]:
        return round(sum(gas) / total), round(sum(gas[WARMUP:]) / steady_total)

    spot_per, steady_spot = per_trade(spot)
    scenarios = {}
    for name, share in SCENARIOS.items():
        chain.revert(snap)
        snap = chain.snapshot()
        margin_accounts = set(traders[:round(share * n_traders)])
        debts: dict[str, int] = {}
        gas, changes = [], []
        for trades in work:
            borrows = _borrows(trades, debts, base_index, margin_accounts)
            changes.append(len(borrows))
            gas.append(settle(trades, SettlementMode.MARGIN, borrows))
        margin_per, steady_margin = per_trade(gas)
        scenarios[name] = {
            "margin_accounts": len(margin_accounts), "borrow_changes_per_batch": changes, "gas": gas,
            "gas_per_trade": margin_per, "steady_gas_per_trade": steady_margin,
            "ratio": round(margin_per / spot_per, 3), "steady_ratio": round(steady_margin / steady_spot, 3),
            "met": steady_margin / steady_spot <= TARGET_RATIO,
        }
        say(f"  {name:>10}: {margin_per:,} gas/trade ({margin_per / spot_per:.2f}x spot {spot_per:,}); steady state "
            f"{steady_margin:,} vs {steady_spot:,}: {steady_margin / steady_spot:.2f}x")
    return {
        "benchmark": "margin", "chain": "eth-tester (in-process py-evm)", "quick": quick, "traders": n_traders,
        "batch_size": size, "batches": batches, "warmup_batches": WARMUP, "spot_gas": spot,
        "spot_gas_per_trade": spot_per, "steady_spot_gas_per_trade": steady_spot, "scenarios": scenarios,
        "target": {"ratio": TARGET_RATIO, "scenario": "short-sellers-20pct",
                   "met": scenarios["short-sellers-20pct"]["met"]},
    }
