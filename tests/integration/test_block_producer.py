"""BlockProducer: the chain on the simulation clock, the same exact expectations in-process (eth-tester) and on anvil.

Which transactions land in which block for given bids and gas limits, block timestamps, confirmations, reorg
re-inclusion with balances checked, background load and gas-price spikes, drops, reverts, and (anvil, behind a
TcpProxy) the node unreachable for a while.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from market_sim.blockchain import Chain
from market_sim.blockchain.anvil import anvil_binary, start_anvil, stop_anvil
from market_sim.blockchain.clients import ERC20Errors, SettlementContract, TestToken
from market_sim.blockchain.producer import (
    BackgroundLoad, BlockMined, BlockProducer, DropReason, NodeDown, NodeUp, Reorg, Reorged, TxDropped, TxFinal,
    TxIncluded, TxOrphaned, TxState, TxSubmitted,
)
from market_sim.blockchain.proxy import TcpProxy
from market_sim.core.errors import ConfigError, ValidationError
from market_sim.simulation.kernel import Kernel

S = 1_000_000_000
GWEI = 10**9
EPOCH = 2_000_000_000


@pytest.fixture(params=["local", pytest.param("anvil", marks=[pytest.mark.anvil, pytest.mark.slow])])
def node(request) -> Iterator[tuple[Chain, TcpProxy | None]]:
    """A fresh chain: in-process, or a fresh anvil reached through a TcpProxy (so its link can be cut)."""
    if request.param == "local":
        yield Chain.local(), None
        return
    if not anvil_binary().exists():
        pytest.skip(f"anvil binary missing at {anvil_binary()}: run `npm ci`")
    proc, url = start_anvil()
    proxy = TcpProxy(url)
    try:
        chain = Chain.connect(proxy.url)
        chain.w3.provider.exception_retry_configuration = None  # fail at once; the producer does the retrying
        yield chain, proxy
    finally:
        proxy.close()
        stop_anvil(proc)


@pytest.fixture()
def chain(node) -> Chain:
    return node[0]


def producer(chain: Chain, **kwargs) -> tuple[BlockProducer, Kernel, list]:
    kernel = Kernel()
    kwargs.setdefault("block_time", 2 * S)
    kwargs.setdefault("epoch", EPOCH)
    p = BlockProducer(chain, kernel, **kwargs)
    events: list = []
    p.subscribe(events.append)
    return p, kernel, events


def at(kernel: Kernel, t: int, fn, *args) -> None:
    kernel.schedule_at(t, fn, *args)


def placed(p: BlockProducer, ids) -> list[tuple[int | None, int | None]]:
    """(block offset from the first produced block, index in it) per tx id."""
    first = p.blocks[0].number
    return [(None if p.tx(i).block_number is None else p.tx(i).block_number - first, p.tx(i).index) for i in ids]


def test_inclusion_by_priority_fee_under_the_gas_limit(chain):
    p, kernel, events = producer(chain, gas_limit=63_000)  # three transfers a block
    p.start()
    head = chain.block_number
    fees = {"alice": 1, "bob": 5, "carol": 3, "dave": 5, "erin": 2}
    ids: dict[str, int] = {}

    def submit_all():
        for name, fee in fees.items():
            ids[name] = p.submit(chain.prepare_eth("ivan", 7, sender=name), priority_fee=fee * GWEI, label=name)

    at(kernel, S // 2, submit_all)
    kernel.run(until=4 * S)
    # bob and dave bid 5 (bob first in), carol 3; the next block takes erin (2) and alice (1)
    assert placed(p, [ids[n] for n in ("bob", "dave", "carol", "erin", "alice")]) == [
        (0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert [(b.number, b.timestamp, b.sim_time, b.txs, b.gas_used, b.gas_reserved) for b in p.blocks] == [
        (head + 1, EPOCH + 2, 2 * S, 3, 63_000, 63_000), (head + 2, EPOCH + 4, 4 * S, 2, 42_000, 42_000)]
    assert [chain.w3.eth.get_block(b.number)["timestamp"] for b in p.blocks] == [EPOCH + 2, EPOCH + 4]
    included = [e for e in events if isinstance(e, TxIncluded)]
    assert [(e.label, e.wait_ns, e.gas_used, e.status) for e in included] == [
        ("bob", 1_500_000_000, 21_000, 1), ("dave", 1_500_000_000, 21_000, 1), ("carol", 1_500_000_000, 21_000, 1),
        ("erin", 3_500_000_000, 21_000, 1), ("alice", 3_500_000_000, 21_000, 1)]
    # full block 1 (63000 of a 31500 target) raises the base fee by 1/8; effective price = base + tip
    assert [b.base_fee for b in p.blocks] == [GWEI, GWEI + GWEI // 8]
    assert [e.effective_gas_price for e in included[:1] + included[3:4]] == [6 * GWEI, GWEI + GWEI // 8 + 2 * GWEI]
    assert chain.balance("ivan") == chain.w3.eth.get_balance(chain.account("ivan"), head) + 5 * 7
    figures = p.figures()
    assert (figures.blocks, figures.txs_included, figures.wait_p50_ns, figures.wait_max_ns) == (
        2, 5, 1_500_000_000, 3_500_000_000)
    p.stop()


def test_one_senders_transactions_go_in_submission_order_and_wait_for_space(chain):
    p, kernel, _ = producer(chain, gas_limit=100_000)
    p.start()

    def submit_all():
        return [p.submit(chain.prepare_eth("ivan", 1, sender="alice", gas=g), priority_fee=f * GWEI)
                for g, f in ((30_000, 1), (60_000, 9), (50_000, 9))]

    ids: list[int] = []
    at(kernel, S, lambda: ids.extend(submit_all()))
    at(kernel, S, lambda: ids.append(p.submit(chain.prepare_eth("ivan", 1, sender="bob"), priority_fee=2 * GWEI)))
    kernel.run(until=6 * S)
    # alice's high bids cannot overtake her first 1-gwei one (nonce order), so bob's 2 gwei goes first; her second
    # (60k) does not fit next to 21k + 30k, and her third (50k) not next to it: one block each
    assert placed(p, ids) == [(0, 1), (1, 0), (2, 0), (0, 0)]
    p.stop()


def test_timestamps_follow_simulated_time_and_stay_strictly_increasing(chain):
    p, kernel, _ = producer(chain, block_time=S // 2, epoch=EPOCH)
    p.start()
    kernel.run(until=3 * S)
    # sub-second blocks: a second may hold one block only, so the chain runs ahead by whole seconds
    assert [(b.sim_time, b.timestamp - EPOCH) for b in p.blocks] == [
        (S // 2, 0), (S, 1), (3 * S // 2, 2), (2 * S, 3), (5 * S // 2, 4), (3 * S, 5)]
    p.stop()
    late, _, _ = producer(chain, epoch=EPOCH)  # the chain is at EPOCH + 5 now
    with pytest.raises(ConfigError, match="already past the epoch"):
        late.start()


def test_a_bid_below_the_base_fee_waits_for_it_to_fall(chain):
    p, kernel, events = producer(chain)
    p.start()
    tx = []
    at(kernel, S // 2, lambda: tx.append(p.submit(chain.prepare_eth("bob", 1, sender="alice"),
                                                 priority_fee=GWEI // 10, max_fee=7 * GWEI // 10)))
    kernel.run(until=10 * S)
    # empty blocks cut the base fee by 1/8 each: 1e9, 875e6, 765.6e6, 669.9e6 <= 700e6 -> the 4th block
    assert [b.base_fee for b in p.blocks[:4]] == [GWEI, 875_000_000, 765_625_000, 669_921_875]
    assert placed(p, tx) == [(3, 0)]
    assert p.tx(tx[0]).effective_gas_price == 7 * GWEI // 10  # the tip is cut to max fee - base fee
    p.stop()


def test_confirmations_make_a_transaction_final(chain):
    p, kernel, events = producer(chain, confirmations=3)
    p.start()
    ids = []
    at(kernel, S, lambda: ids.append(p.submit(chain.prepare_eth("bob", 1, sender="alice"), label="t")))
    kernel.run(until=10 * S)
    mine = [e for e in events if getattr(e, "tx_id", None) == ids[0]]
    assert [type(e) for e in mine] == [TxSubmitted, TxIncluded, TxFinal]
    included, final = mine[1], mine[2]
    assert (included.ts, final.ts, final.block_number) == (2 * S, 6 * S, included.block_number)
    assert p.tx(ids[0]).state is TxState.FINAL
    p.stop()


def test_full_blocks_and_a_gas_price_spike_make_inclusion_wait(chain):
    # other users fill every block from 2 s to 8 s bidding 50 gwei; our 2-gwei transfer waits for the spike to end
    spike = BackgroundLoad(start=2 * S, end=8 * S, txs_per_block=3, priority_fee=50 * GWEI)
    p, kernel, events = producer(chain, gas_limit=63_000, faults=[spike])
    p.start()
    ids = []
    at(kernel, S, lambda: ids.append(p.submit(chain.prepare_eth("bob", 1, sender="alice"), priority_fee=2 * GWEI,
                                              max_fee=10 * GWEI)))
    kernel.run(until=12 * S)
    assert [(b.txs, b.load_txs, b.gas_used) for b in p.blocks] == [
        (3, 3, 63_000), (3, 3, 63_000), (3, 3, 63_000), (1, 0, 21_000), (0, 0, 0), (0, 0, 0)]
    assert placed(p, ids) == [(3, 0)]
    assert p.tx(ids[0]).wait_ns == 7 * S
    # three full blocks raise the base fee 1/8 each time
    assert [b.base_fee for b in p.blocks[:4]] == [GWEI, 1_125_000_000, 1_265_625_000, 1_423_828_125]
    included = [e for e in events if isinstance(e, TxIncluded)]
    assert [e.tx_id for e in included] == ids  # the load is reported per block, not as our transactions
    figures = p.figures()
    assert (figures.txs_included, figures.load_txs_included, figures.base_fee_max) == (1, 9, 1_423_828_125)
    p.stop()


def test_reorg_orphans_a_block_and_its_transactions_are_included_again(chain):
    token = TestToken.deploy(chain, "Token", "TK", 18)
    settlement = SettlementContract.deploy(chain, chain.account("deployer"), [chain.account("carol")], 1,
                                           chain.account("deployer"))
    settlement.list_token(token.address)
    token.mint(chain.account("alice"), 1_000)
    p, kernel, events = producer(chain, confirmations=3, faults=[Reorg(at=5 * S, depth=2)])
    p.start()
    bob = chain.account("bob")
    deposit = settlement.handle.functions.deposit(token.address, 300)
    ids = []

    def first():
        ids.append(p.submit(token.prepare_transfer(bob, 100, sender="alice", gas=60_000), label="transfer-1"))
        ids.append(p.submit(token.prepare_approve(settlement.address, sender="alice", gas=60_000), label="approve"))

    def second():
        ids.append(p.submit(chain.prepare(deposit, sender="alice", gas=150_000), label="deposit"))
        ids.append(p.submit(token.prepare_transfer(bob, 50, sender="alice", gas=60_000), label="transfer-2"))

    at(kernel, S, first)
    at(kernel, 3 * S, second)
    kernel.run(until=4 * S)
    head = chain.block_number
    assert token.balance_of(bob) == 150 and settlement.balance_of(chain.account("alice"), token.address) == 300
    kernel.run(until=16 * S)
    # at 6 s (the first slot after 5 s) blocks head-1 and head leave the chain: they hold all four transactions
    [reorg] = [e for e in events if isinstance(e, Reorged)]
    assert (reorg.ts, reorg.depth, reorg.orphaned_blocks, reorg.orphaned_txs) == (
        6 * S, 2, (head - 1, head), tuple(ids))
    orphaned = [e for e in events if isinstance(e, TxOrphaned)]
    assert [(e.tx_id, e.block_number) for e in orphaned] == [
        (ids[0], head - 1), (ids[1], head - 1), (ids[2], head), (ids[3], head)]
    # the winning fork: two empty blocks at the orphaned blocks' timestamps, then the current slot's block
    canonical = {b.number: b for b in p.blocks}
    assert [(canonical[n].timestamp, canonical[n].txs, canonical[n].replacement)
            for n in (head - 1, head, head + 1)] == [
        (EPOCH + 2, 0, True), (EPOCH + 4, 0, True), (EPOCH + 6, 4, False)]
    assert [len(chain.w3.eth.get_block(n)["transactions"]) for n in (head - 1, head, head + 1)] == [0, 0, 4]
    assert [p.tx(i).block_number for i in ids] == [head + 1] * 4
    assert [p.tx(i).orphaned for i in ids] == [1] * 4
    # each transaction took effect once: nothing lost, nothing doubled
    assert token.balance_of(bob) == 150 and token.balance_of(chain.account("alice")) == 1_000 - 150 - 300
    assert settlement.balance_of(chain.account("alice"), token.address) == 300
    assert token.balance_of(settlement.address) == 300
    finals = [e for e in events if isinstance(e, TxFinal)]
    assert [(e.tx_id, e.block_number, e.ts) for e in finals] == [(i, head + 1, 10 * S) for i in ids]
    assert p.figures().orphaned_txs == 4 and [r.tx_id for r in p.records()] == ids
    p.stop()


def test_reorg_deeper_than_finality_is_refused(chain):
    with pytest.raises(ConfigError, match="would orphan final blocks"):
        producer(chain, confirmations=2, faults=[Reorg(at=S, depth=2)])


def test_a_revert_is_reported_decoded(chain):
    token = TestToken.deploy(chain, "Token", "TK", 18)
    token.mint(chain.account("alice"), 10)
    p, kernel, events = producer(chain)
    p.start()
    ids = []
    at(kernel, S, lambda: ids.append(p.submit(token.prepare_transfer(chain.account("bob"), 11, sender="alice",
                                                                    gas=60_000))))
    kernel.run(until=2 * S)
    [included] = [e for e in events if isinstance(e, TxIncluded)]
    assert included.status == 0 and not included.ok
    assert included.error.is_(ERC20Errors.ERC20InsufficientBalance)
    assert included.error.tx_hash == included.tx_hash and included.error.gas_used == included.gas_used
    assert p.figures().reverted == 1
    p.stop()


def test_drops_name_their_reason(chain):
    p, kernel, events = producer(chain, gas_limit=21_000, mempool_limit=3)
    p.start()
    ids: dict[str, int] = {}

    def submit_all():
        ids["low"] = p.submit(chain.prepare_eth("ivan", 1, sender="alice"), priority_fee=1, ttl=3 * S)
        ids["mid"] = p.submit(chain.prepare_eth("ivan", 1, sender="bob"), priority_fee=5 * GWEI)
        ids["top"] = p.submit(chain.prepare_eth("ivan", 1, sender="carol"), priority_fee=9 * GWEI)
        ids["gone"] = p.submit(chain.prepare_eth("ivan", 1, sender="dave"), priority_fee=7 * GWEI)
        assert p.cancel(ids["gone"]) and not p.cancel(ids["gone"])
        ids["poor"] = p.submit(chain.prepare_eth("ivan", 10**30, sender="erin"), priority_fee=99 * GWEI)

    at(kernel, S // 2, submit_all)
    kernel.run(until=8 * S)
    dropped = {e.tx_id: (e.reason, e.ts) for e in events if isinstance(e, TxDropped)}
    assert dropped == {
        ids["low"]: (DropReason.EVICTED, S // 2),  # the 4th in a 3-slot mempool: alice bid least
        ids["gone"]: (DropReason.CANCELLED, S // 2),
        ids["poor"]: (DropReason.REJECTED, 2 * S),  # the node refused: not enough ETH for the value
    }
    assert "refused" in p.tx(ids["poor"]).drop_detail
    assert placed(p, [ids["top"], ids["mid"]]) == [(0, 0), (1, 0)]
    with pytest.raises(ValidationError, match="exceeds the block gas limit"):
        p.submit(chain.prepare_eth("ivan", 1, sender="alice", gas=30_000))
    p.stop()


def test_a_transaction_expires_when_its_ttl_passes(chain):
    spike = BackgroundLoad(start=0, end=20 * S, txs_per_block=1, priority_fee=50 * GWEI)
    p, kernel, events = producer(chain, gas_limit=21_000, faults=[spike])
    p.start()
    ids = []
    at(kernel, S, lambda: ids.append(p.submit(chain.prepare_eth("ivan", 1, sender="alice"), ttl=4 * S)))
    kernel.run(until=8 * S)
    [dropped] = [e for e in events if isinstance(e, TxDropped)]
    assert (dropped.tx_id, dropped.reason, dropped.ts) == (ids[0], DropReason.EXPIRED, 6 * S)
    p.stop()


def test_bad_settings_are_clear_errors(chain):
    with pytest.raises(ConfigError, match="block_time"):
        producer(chain, block_time=0)
    with pytest.raises(ConfigError, match="exceeds the node's block gas limit"):
        producer(chain, gas_limit=10**12)
    p, _, _ = producer(chain)
    with pytest.raises(ValidationError, match="PreparedTx"):
        p.submit({"to": chain.account("bob")})
    with pytest.raises(ConfigError, match="gas must be an integer"):
        chain.prepare_eth("bob", 1, gas=20_000)


# ---- the node unreachable (anvil behind a proxy) ---------------------------------------------------------------
@pytest.mark.anvil
def test_node_outage_is_retried_with_backoff_and_nothing_is_lost(node):
    chain, proxy = node
    if proxy is None:
        pytest.skip("an in-process chain cannot be unreachable")
    p, kernel, events = producer(chain)
    p.start()
    ids = []
    at(kernel, S, lambda: ids.append(p.submit(chain.prepare_eth("ivan", 3, sender="alice"))))
    at(kernel, 3 * S, proxy.pause)
    at(kernel, 3 * S, lambda: ids.append(p.submit(chain.prepare_eth("ivan", 4, sender="bob"))))
    at(kernel, 7_200_000_000, proxy.resume)
    kernel.run(until=12 * S)
    down = [e for e in events if isinstance(e, NodeDown)]
    up = [e for e in events if isinstance(e, NodeUp)]
    assert [e.ts for e in down] == [4 * S]
    # retries at 4.1, 4.3, 4.7, 5.5, 7.1 s (backoff 100 ms doubling) all fail; 9.1 s (capped at the block time)
    assert [(e.outage.start, e.outage.end, e.outage.attempts) for e in up] == [(4 * S, 9_100_000_000, 6)]
    mined = [e.block for e in events if isinstance(e, BlockMined)]
    assert [(b.sim_time, b.timestamp - EPOCH, b.txs) for b in mined] == [
        (2 * S, 2, 1), (9_100_000_000, 9, 1), (10 * S, 10, 0), (12 * S, 12, 0)]
    assert [p.tx(i).state for i in ids] == [TxState.FINAL, TxState.FINAL]
    assert p.tx(ids[1]).wait_ns == 6_100_000_000
    assert p.figures().outages[0].end == 9_100_000_000
    p.stop()


@pytest.mark.anvil
def test_outage_in_the_middle_of_a_block_sends_nothing_twice(node, monkeypatch):
    chain, proxy = node
    if proxy is None:
        pytest.skip("an in-process chain cannot be unreachable")
    p, kernel, events = producer(chain)
    p.start()
    before = {n: chain.balance(n) for n in ("ivan",)}
    sends = []
    send_one = p._send_one

    def cut_after_first(record):
        send_one(record)
        sends.append(record.tx_id)
        if len(sends) == 1:
            proxy.pause()  # the first transaction is in the node's pool; the link dies before the rest
            kernel.schedule(S, proxy.resume)

    monkeypatch.setattr(p, "_send_one", cut_after_first)
    ids = []
    at(kernel, S, lambda: ids.extend(p.submit(chain.prepare_eth("ivan", v, sender=n), priority_fee=v * GWEI)
                                     for n, v in (("alice", 3), ("bob", 2), ("carol", 1))))
    kernel.run(until=6 * S)
    assert sends == ids  # each sent once: the retry skipped what the node already held
    assert placed(p, ids) == [(0, 0), (0, 1), (0, 2)]
    assert p.blocks[0].sim_time == 3_500_000_000  # retries at 2.1, 2.3, 2.7 s fail, 3.5 s succeeds
    assert chain.balance("ivan") == before["ivan"] + 6
    assert [(o.start, o.end, o.attempts) for o in p.outages] == [(2 * S, 3_500_000_000, 4)]
    p.stop()


@pytest.mark.anvil
def test_lost_answers_to_a_send_and_to_evm_mine_are_recovered_without_doubling(node, monkeypatch):
    import requests

    chain, proxy = node
    if proxy is None:
        pytest.skip("answers are lost over RPC only")
    p, kernel, events = producer(chain)
    p.start()
    start = chain.balance("ivan")
    lost = {"send": 0, "mine": 0}
    send_one, rpc = p._send_one, chain._rpc

    def send_then_lose(record):
        send_one(record)  # the node took it ...
        if not lost["send"]:
            lost["send"] += 1
            raise requests.exceptions.ConnectionError("answer lost")  # ... and the answer never came back

    def mine_then_lose(method, *params):
        result = rpc(method, *params)
        if method == "evm_mine" and not lost["mine"]:
            lost["mine"] += 1
            raise requests.exceptions.ConnectionError("answer lost")
        return result

    monkeypatch.setattr(p, "_send_one", send_then_lose)
    monkeypatch.setattr(chain, "_rpc", mine_then_lose)
    ids = []
    at(kernel, S, lambda: ids.extend(p.submit(chain.prepare_eth("ivan", v, sender=n)) for n, v in (("alice", 5),
                                                                                                  ("bob", 6))))
    kernel.run(until=6 * S)
    # 2.0 s: alice's answer lost; 2.1 s: her resend is refused as known (the node holds her nonce), bob sent,
    # evm_mine's answer lost; 2.3 s: the head is already the block -- read it, mine nothing more
    assert lost == {"send": 1, "mine": 1}
    assert [(o.start, o.end, o.attempts) for o in p.outages] == [(2 * S, 2_300_000_000, 2)]
    assert placed(p, ids) == [(0, 0), (0, 1)]
    assert [b.txs for b in p.blocks] == [2, 0, 0]
    assert chain.balance("ivan") == start + 11
    p.stop()


@pytest.mark.anvil
def test_node_restarted_with_its_state_loses_its_pool_and_the_producer_resends(tmp_path, monkeypatch):
    # anvil keeps its chain in a state file across a restart but forgets its pool and its automine setting
    import signal

    if not anvil_binary().exists():
        pytest.skip(f"anvil binary missing at {anvil_binary()}: run `npm ci`")
    state = str(tmp_path / "anvil-state.json")
    proc, url = start_anvil(extra_args=("--state", state))
    port = int(url.rsplit(":", 1)[1])
    node = {"proc": proc}
    proxy = TcpProxy(url)

    def stop():
        node["proc"].send_signal(signal.SIGINT)  # anvil writes its state on exit
        node["proc"].wait(timeout=20)

    def restart():
        node["proc"], _ = start_anvil(port=port, extra_args=("--state", state))

    try:
        chain = Chain.connect(proxy.url)
        chain.w3.provider.exception_retry_configuration = None
        p, kernel, events = producer(chain)
        p.start()
        start_balance = chain.balance("ivan")
        sends = []
        send_one = p._send_one

        def restart_after_first(record):
            send_one(record)
            sends.append(record.tx_id)
            if len(sends) == 1:
                stop()  # alice's transfer was in the pool: gone with it
                kernel.schedule(S, restart)

        monkeypatch.setattr(p, "_send_one", restart_after_first)
        ids = []
        at(kernel, S, lambda: ids.extend(p.submit(chain.prepare_eth("ivan", v, sender=n), priority_fee=v * GWEI)
                                         for n, v in (("alice", 3), ("bob", 2))))
        kernel.run(until=6 * S)
        assert sends == [ids[0], ids[0], ids[1]]  # alice's sent again after the restart, bob's once
        assert placed(p, ids) == [(0, 0), (0, 1)]
        assert [(o.start, o.end, o.attempts) for o in p.outages] == [(2 * S, 3_500_000_000, 4)]
        # then one block per slot: automine is off again
        assert [(b.sim_time, b.txs) for b in p.blocks] == [(3_500_000_000, 2), (4 * S, 0), (6 * S, 0)]
        assert chain.balance("ivan") == start_balance + 5
        p.stop()
    finally:
        proxy.close()
        stop_anvil(node["proc"])


def test_a_before_block_hook_submits_into_the_block_being_built(chain):
    p, kernel, _ = producer(chain, gas_limit=42_000)
    p.start()
    ids = []
    at(kernel, S, lambda: ids.extend(p.submit(chain.prepare_eth("ivan", 1, sender=n), priority_fee=GWEI)
                                     for n in ("alice", "bob")))
    p.before_block(lambda now: ids.append(p.submit(chain.prepare_eth("ivan", 1, sender="carol"),
                                                   priority_fee=9 * GWEI, label=f"top@{now}")) if now == 2 * S
                   else None)
    kernel.run(until=4 * S)
    # carol's top-of-block bid, submitted at the 2 s slot itself, takes that block's first place; bob waits
    assert placed(p, ids) == [(0, 1), (1, 0), (0, 0)]
    assert p.tx(ids[2]).label == f"top@{2 * S}" and p.tx(ids[2]).wait_ns == 0
    p.stop()
