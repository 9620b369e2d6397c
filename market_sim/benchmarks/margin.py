"""Margin settlement benchmark (issue 16): gas per settled trade of margin batches against the same trades spot.

The same random trades between `TRADERS` traders (base/quote) settle as net-deltas batches (`Settlement.settle`,
spot: every trader funded in both tokens) and as margin batches (`Settlement.settleMargin`, every touched account
checked against maintenance at the batch's certified marks) in three scenarios: every trader on margin (the worst
case: each holds no base and starts short `SHORT` base, sold to a desk in an unmeasured setup batch, so every
batch changes every touched trader's debt and charges it a borrow fee), a fifth of the traders short that way,
and none (margin batches without debts: the cost of the certified marks and the maintenance checks alone). Balances
are signed (a debt is a negative balance), so a debt costs no storage of its own. Target: margin / spot <= 1.5 in
the worst case (steady state, after `WARMUP` batches).
"""

from __future__ import annotations

import functools
import random
import sys

from market_sim.blockchain import Chain
from market_sim.blockchain.abi import to_checksum_address
from market_sim.blockchain.clients.erc20 import TestToken
from market_sim.consensus.signing import batch_digest, validator_keys
from market_sim.settlement.batch import SettlementBatch, SettlementMode, pack_signatures
from market_sim.settlement.client import SettlementClient
from market_sim.settlement.deltas import NetDeltas
from market_sim.settlement.margin import MarginBook
from market_sim.settlement.trades import SettledTrade

TRADERS = 100
QUICK_TRADERS = 12
BATCH = 500
BATCHES = 6
WARMUP = 2  # batches left out of the steady-state figures (kept from the debt-slot design, which created slots then)
# share of traders on margin: every one (each starts short: every batch changes their debts, the worst case), a
# fifth of them, or none (margin batches without debts: the certified marks and the maintenance checks alone)
SCENARIOS = {"all-margin": 1.0, "short-sellers-20pct": 0.2, "checks-only": 0.0}
TARGET_RATIO = 1.5
MARKS = (10_000, 1)  # value per base unit: base at 10,000 quote units
FUNDS = 10**30
SHORT = 10**6  # base each margin trader sold short before the measured batches
FEE = 1  # borrow fee per batch on every debt a batch touches


def _trades(traders: list[str], base: str, quote: str, n: int, rng: random.Random, first_id: int) -> list:
    out = []
    for i in range(n):
        buyer, seller = rng.sample(traders, 2)
        qty = rng.randint(1, 50)
        out.append(SettledTrade(first_id + i, buyer, seller, base, quote, qty, qty * rng.randint(9_000, 11_000), 0, 0))
    return out


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
    desk = to_checksum_address(rng.randbytes(20))  # buys the margin traders' setup short sales
    say(f"margin bench: funding {n_traders} traders and the pools ...")
    for t in tokens:
        client.list_token(t.address)
        client.contract.set_maintenance(t.address, 3000)
        t.mint(deployer, 10**36)
        client.approve(t.address, sender="deployer")
        client.contract.lend(t.address, 10**32, sender="deployer")
    base, quote = tokens[0].address, tokens[1].address
    index = client.token_index
    base_index = index(base)
    for trader in [*traders, desk]:
        client.deposit_for(trader, quote, FUNDS)
    client.deposit_for(desk, base, FUNDS)
    work = [_trades(traders, base, quote, size, rng, 1 + b * size) for b in range(batches)]

    def settle(trades: list, mode: SettlementMode, borrows: tuple = ()) -> int:
        state = client.head - 1
        batch = SettlementBatch.build(client.last_sequence + 1, client.last_batch_hash, trades, fee_account=deployer,
                                      token_index=index, mode=mode, state_block=state,
                                      expires_at=state + 20, borrows=borrows,
                                      marks=MARKS if mode is SettlementMode.MARGIN else ())
        digest = batch_digest(client.domain, *batch.header.as_tuple())
        return client.submit(batch, pack_signatures([(k.address, k.sign(digest)) for k in keys[:3]])).gas_used

    snap = chain.snapshot()
    for trader in traders:
        client.deposit_for(trader, base, FUNDS)
    spot = [settle(trades, SettlementMode.NET) for trades in work]
    total, steady_total = size * batches, size * (batches - WARMUP)

    def per_trade(gas: list[int]) -> tuple[int, int]:
        return round(sum(gas) / total), round(sum(gas[WARMUP:]) / steady_total)

    spot_per, steady_spot = per_trade(spot)
    scenarios = {}
    for name, share in SCENARIOS.items():
        chain.revert(snap)
        snap = chain.snapshot()
        margin_accounts = traders[:round(share * n_traders)]
        book = MarginBook(2, maintenance_bps={1: 3000, 2: 3000})
        book.lend(deployer, base_index, 10**32)
        book.lend(deployer, index(quote), 10**32)
        for trader in [*traders, desk]:
            book.deposit(trader, index(quote), FUNDS)
        book.deposit(desk, base_index, FUNDS)
        for trader in traders[len(margin_accounts):]:
            client.deposit_for(trader, base, FUNDS)
            book.deposit(trader, base_index, FUNDS)

        def margin_batch(trades: list) -> int:
            deltas = NetDeltas.from_trades(trades, deployer, index)
            fees = {(a, base_index): FEE for a, _ in deltas.groups if book.debt(a, base_index)}
            borrows = book.plan(deltas, fees)
            batch_gas = settle(trades, SettlementMode.MARGIN, borrows)
            book.apply(SettlementBatch.build(1, bytes(32), trades, fee_account=deployer, token_index=index,
                                             mode=SettlementMode.MARGIN, borrows=borrows, marks=MARKS).margin)
            changes.append(sum(1 for b in borrows if b.principal or b.fee))
            return batch_gas

        changes: list[int] = []
        if margin_accounts:  # the setup short sales (not measured)
            margin_batch([SettledTrade(10**9 + i, desk, a, base, quote, SHORT, SHORT * 10_000, 0, 0)
                          for i, a in enumerate(margin_accounts)])
            changes.clear()
        gas = [margin_batch(trades) for trades in work]
        for a in traders:  # the chain agrees with the validators' mirror
            if client.contract.signed_balance_of(a, base) != book.balances.get((a, base_index), 0):
                raise AssertionError(f"margin bench: {a}'s base balance differs from the MarginBook")
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
        "target": {"ratio": TARGET_RATIO, "scenario": "all-margin", "met": scenarios["all-margin"]["met"]},
    }
