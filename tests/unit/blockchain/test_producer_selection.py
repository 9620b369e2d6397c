"""Properties of BlockProducer's block selection and base fee (no block is mined here)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market_sim.blockchain import Chain, PreparedTx
from market_sim.blockchain.producer import BlockProducer, TxRecord
from market_sim.simulation.kernel import Kernel

GWEI = 10**9
SENDERS = [f"0x{i:040x}" for i in range(1, 5)]


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain.local(1)  # only its block gas limit is read


txs = st.lists(st.tuples(st.sampled_from(SENDERS), st.integers(21_000, 120_000), st.integers(0, 10),
                         st.integers(0, 12)), max_size=30)


@given(txs=txs, gas_limit=st.integers(21_000, 400_000), base_gwei=st.integers(0, 5))
def test_selection_fits_the_gas_limit_keeps_nonce_order_and_leaves_nothing_that_fits(chain, txs, gas_limit,
                                                                                    base_gwei):
    p = BlockProducer(chain, Kernel(), block_time=1, gas_limit=gas_limit)
    base = base_gwei * GWEI
    records = []
    for seq, (sender, gas, tip, extra) in enumerate(txs, 1):
        prepared = PreparedTx(sender, SENDERS[0], "0x", min(gas, gas_limit))
        record = TxRecord(seq, prepared, "", 0, seq, tip * GWEI, tip * GWEI + extra * GWEI // 2, None)
        records.append(record)
        p._pending[seq] = record
    chosen, reserved = p._select(base)
    assert reserved == sum(r.prepared.gas for r in chosen) <= gas_limit
    assert len({r.tx_id for r in chosen}) == len(chosen)
    assert all(r.max_fee >= base for r in chosen)
    left = gas_limit - reserved
    picked = {r.tx_id for r in chosen}
    for sender in SENDERS:
        queue = [r for r in records if r.prepared.sender == sender]
        taken = [r for r in queue if r.tx_id in picked]
        assert taken == queue[:len(taken)]  # a prefix, in submission (nonce) order
        if len(taken) < len(queue):  # the sender's next one could not go: under the base fee, or no room
            nxt = queue[len(taken)]
            assert nxt.max_fee < base or nxt.prepared.gas > left or left < 21_000
        for a, b in zip(taken, taken[1:]):
            assert chosen.index(a) < chosen.index(b)
    # among the senders' first transactions, a higher effective tip never comes later
    heads = [r for r in chosen if r is next(q for q in records if q.prepared.sender == r.prepared.sender)]
    tips = [min(r.priority_fee, r.max_fee - base) for r in heads]
    assert tips == sorted(tips, reverse=True)


@given(base=st.integers(0, 10**12), used=st.integers(0, 30_000_000))
def test_base_fee_moves_at_most_an_eighth_toward_half_full_blocks(chain, base, used):
    p = BlockProducer(chain, Kernel(), block_time=1, gas_limit=30_000_000)
    nxt = p._next_base_fee(base, used)
    if used > 15_000_000:
        assert base < nxt <= base + max(base // 8, 1)
    elif used < 15_000_000:
        assert base - base // 8 <= nxt <= base
    else:
        assert nxt == base
