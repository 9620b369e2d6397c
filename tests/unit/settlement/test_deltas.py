"""Net deltas: per-token conservation, equality with trade-by-trade booking, calldata encoding; on chain too."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_sim.core.errors import SettlementError
from market_sim.settlement import Ledger, NetDeltas, SettlementBatch, SettledTrade

ACCOUNTS = [to_checksum_address(f"0x{i:040x}") for i in range(0x100, 0x106)]
TOKENS = [to_checksum_address(f"0x{i:040x}") for i in range(0xA00, 0xA03)]
FEE = to_checksum_address("0x" + "fe" * 20)
INDEX = {t: i + 1 for i, t in enumerate(TOKENS)}


@st.composite
def trades(draw, accounts=ACCOUNTS, tokens=TOKENS, max_amount=10**24):
    n = draw(st.integers(1, 25))
    out = []
    for i in range(n):
        buyer, seller = draw(st.permutations(accounts))[:2]
        base, quote = draw(st.permutations(tokens))[:2]
        quote_amount = draw(st.integers(1, max_amount))
        out.append(SettledTrade(i + 1, buyer, seller, base, quote, draw(st.integers(1, max_amount)), quote_amount,
                                draw(st.integers(0, quote_amount // 100)), draw(st.integers(0, quote_amount // 100))))
    return out


def decode(blob: bytes) -> dict[str, dict[str, int]]:
    """What Settlement._applyDeltas reads from the calldata: {account: {token: delta}}."""
    token_at = {i: t for t, i in INDEX.items()}
    out, words = {}, [int.from_bytes(blob[i:i + 32], "big") for i in range(0, len(blob), 32)]
    i = 0
    while i < len(words):
        account, count = to_checksum_address(f"0x{words[i] >> 96:040x}"), words[i] & (2**96 - 1)
        group = {}
        for w in words[i + 1:i + 1 + count]:
            d = w & (2**128 - 1)
            group[token_at[w >> 128]] = d - 2**128 if d >= 2**127 else d
        out[account] = group
        i += 1 + count
    return out


@settings(deadline=None)
@given(trades())
def test_net_deltas_conserve_every_token_and_match_trade_by_trade_booking(ts):
    deltas = NetDeltas.from_trades(ts, FEE, INDEX.__getitem__)
    per_token: dict[int, int] = defaultdict(int)
    for account, entries in deltas.groups:
        assert all(d != 0 for _, d in entries) and [i for i, _ in entries] == sorted({i for i, _ in entries})
        for index, d in entries:
            per_token[index] += d
    assert all(total == 0 for total in per_token.values())  # conserved per token
    assert [int(a, 16) for a, _ in deltas.groups] == sorted(int(a, 16) for a, _ in deltas.groups)
    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in ts:
        expected[t.buyer][t.base_token] += t.base_amount
        expected[t.seller][t.base_token] -= t.base_amount
        expected[t.buyer][t.quote_token] -= t.quote_amount + t.buyer_fee
        expected[t.seller][t.quote_token] += t.quote_amount - t.seller_fee
        expected[FEE][t.quote_token] += t.buyer_fee + t.seller_fee
    nonzero = {a: {tok: d for tok, d in g.items() if d} for a, g in expected.items()}
    nonzero = {a: g for a, g in nonzero.items() if g}
    assert deltas.as_mapping() == nonzero
    assert decode(deltas.encode()) == nonzero
    # the ledger booking a batch equals booking its net deltas
    ledger = Ledger(FEE)
    for token in TOKENS:
        for account in ACCOUNTS:
            ledger.deposit(account, token, 10**30)
    batch = SettlementBatch.build(1, bytes(32), ts, fee_account=FEE, token_index=INDEX.__getitem__)
    ledger.apply(batch)
    for token in TOKENS:
        for account in [*ACCOUNTS, FEE]:
            start = 0 if account == FEE else 10**30
            assert ledger.balance(account, token) == start + nonzero.get(account, {}).get(token, 0)


def test_int128_overflow_is_refused():
    big = NetDeltas.from_mapping({ACCOUNTS[0]: {TOKENS[0]: 2**127}, ACCOUNTS[1]: {TOKENS[0]: -(2**127)}},
                                 INDEX.__getitem__)
    try:
        big.encode()
    except SettlementError as exc:
        assert "int128" in str(exc)
    else:
        raise AssertionError("expected SettlementError")
    edge = {ACCOUNTS[0]: {TOKENS[0]: 2**127 - 1}, ACCOUNTS[1]: {TOKENS[0]: -(2**127)}}
    assert decode(NetDeltas.from_mapping(edge, INDEX.__getitem__).encode()) == edge


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_random_batches_on_chain_conserve_totals_and_match_the_ledger(env_module, data):
    env = env_module
    accounts, tokens = [env.alice, env.bob], [env.base, env.quote]
    snap = env.chain.snapshot()
    try:
        ledger = Ledger(env.fee)
        for a in accounts:
            for t in tokens:
                ledger.deposit(a, t, env.client.balance(a, t))
        before = {t: env.client.token(t).balance_of(env.client.address) for t in tokens}
        for n in range(data.draw(st.integers(1, 3))):
            ts = [replace(t, trade_id=100 * n + t.trade_id)
                  for t in data.draw(trades(accounts=accounts, tokens=tokens, max_amount=10**21))]
            kept, _ = ledger.split_solvent(ts)
            if not kept:
                continue
            batch = env.next_batch(kept)
            env.client.submit(batch, env.certify(batch))
            ledger.apply(batch)
        pairs = [(a, t) for a in [*accounts, env.fee] for t in tokens]
        assert env.client.balances(pairs) == {(a, t): ledger.balance(a, t) for a, t in pairs}
        for t in tokens:  # value conserved per token: custodied total unchanged, equal to the ledger's total
            assert sum(env.client.balance(a, t) for a in [*accounts, env.fee]) == before[t]
    finally:
        env.chain.revert(snap)
