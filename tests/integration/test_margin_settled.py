"""margin-cascade and short-squeeze with on-chain settlement (issue 16) at small size, end to end with the real
committee: every batch is a margin batch; on-chain balances and debts equal the ledger's exactly, the pools equal
the validators' book, reconciliation is clean, refusals name the account below maintenance."""

from __future__ import annotations

import re

import pytest

from market_sim.simulation.catalog import resolve_scenario, scenarios
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

pytestmark = pytest.mark.slow

CASCADE = ["scenario.duration=2min", "processes.XYZ.shock_at=45s", "agents.noise.count=4"]
RUNS = {  # id -> (scenario, overrides)
    "margin-cascade-settled": ("margin-cascade-settled", CASCADE),
    "short-squeeze-settled": ("short-squeeze-settled",
                              ["scenario.duration=2min", "risk.recalls.0.at=60s", "agents.noise.count=4"]),
    # the networked BFT committee on the simulation clock, 12 s blocks: the same margin leaf, signed by quorum
    "margin-cascade-settled-bft": ("margin-cascade-settled",
                                   [*CASCADE, "settlement.certification=bft", "settlement.block_time=12s"]),
    # usurious rates, so that two minutes charge whole base units of borrow fee on chain
    "margin-cascade-settled-fees": ("margin-cascade-settled",
                                    [*CASCADE, "settlement.borrow_bps={USD=2000000,XYZ=2000000}"]),
}
REFUSAL = re.compile(r"below maintenance: 0x[0-9a-fA-F]{40} requires (\d+) of margin at the batch's marks, has (\d+) "
                     r"\(value units: quote base units\)")
EXHAUSTED = re.compile(r"pool exhausted: borrowing [\d,.]+ (USD|XYZ), the pool holds [\d,.]+ (USD|XYZ)")


@pytest.fixture(scope="module", params=sorted(RUNS))
def settled(request):
    name, overrides = RUNS[request.param]
    sim = Simulation(load_scenario(resolve_scenario(name), overrides))
    return name, sim, sim.run()


def test_catalog_lists_the_settled_variants():
    assert {"margin-cascade-settled", "short-squeeze-settled"} <= set(scenarios())


def test_chain_equals_ledger_balances_debts_pools(settled):
    name, sim, out = settled
    run = sim.state("settlement")
    p, venue = run.stack.pipeline, run.stack.venue
    c, planner = venue.client, p.margin
    assert p.mode == "margin" and p.margin is not None and len(p.batches) > 10
    accounts = [*venue.accounts.values(), venue.fee_account]
    debts = 0
    for token, index in planner.token_index.items():
        for account in accounts:
            assert c.balance(account, token) == p.ledger.balance(account, token)
            assert c.contract.debt_of(account, token) == p.ledger.debt(account, token) \
                == planner.book.debt(account, index)
            debts += p.ledger.debt(account, token) > 0
        p_ = planner.book.pool(index)
        assert c.contract.pool(index) == (p_.cash, p_.borrowed, p_.shares)
        held = c.token(token).balance_of(c.address)
        assert held == sum(p.ledger.balance(a, token) for a in accounts) + p_.cash  # custody, exactly
        # the pools were funded before any fee (a share per base unit): their assets grew by exactly the fees
        fees = sum(charge.fee for charge in planner.charges if charge.token == index)
        assert p_.cash + p_.borrowed == p_.shares + fees
    assert debts > 0
    charged = out.tables["settlement_borrow_fees"]  # rows, or empty columns when nothing was charged
    assert (charged if planner.charges else []) == [
        {"batch": c_.sequence, "account": {a: t for t, a in venue.accounts.items()}.get(c_.account, c_.account),
         "asset": planner.assets[planner._token(c_.token)], "debt": c_.debt, "since_ns": c_.since, "at_ns": c_.at,
         "rate_bps": c_.rate_bps, "fee": c_.fee} for c_ in planner.charges]
    assert all(c_.fee > 0 and c_.at > c_.since for c_ in planner.charges)
    if name.endswith("-fees"):
        assert len(planner.charges) > 10 and out.metrics["settlement"].borrow_fees_paid.endswith(
            f"({len(planner.charges)} charges)")
    s = out.metrics["settlement"]
    assert s.reconciled and s.reconciliation_differences == 0 and s.settlement_reverts == 0
    assert out.extra_files["margin_reconciliation.txt"].startswith(b"margin: debts, pools and custody agree")
    assert p.accounted() and not p.pending


def test_short_and_long_debts_and_refusals(settled):
    name, sim, out = settled
    rows = out.tables["settlement_debts"]
    by_asset = {r["asset"] for r in rows if r["account"].startswith("shorts" if "squeeze" in name else "longs")}
    assert by_asset == ({"XYZ"} if "squeeze" in name else {"USD"})  # shorts borrow the base, longs the quote
    assert all(r["book_debt"] == r["ledger_debt"] == r["chain_debt"] > 0 for r in rows)
    failed = out.tables["settlement_failed"]
    below = [REFUSAL.fullmatch(f["reason"]) for f in failed]
    assert any(below)
    for f, m in zip(failed, below):
        if m is None:  # the pool could not lend what the batch needed
            assert EXHAUSTED.fullmatch(f["reason"]), f["reason"]
            continue
        required, available = map(int, m.groups())
        assert required > available
    assert out.tables["settlement_liquidations"]  # accounts below maintenance closed in liquidation batches
    pools = out.tables["settlement_pools"]
    assert all(r["shares"] == r["chain_shares"] > 0 for r in pools)
    if "squeeze" in name:  # the risk section's lenders lend on chain too: shares 1:1 at the first deposit
        assert {(r["lender"], r["shares"]) for r in pools if r["asset"] == "XYZ"} == {("lender-1", 800),
                                                                                      ("lender-2", 300)}
