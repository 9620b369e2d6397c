"""TradeEncoder: exact token amounts and fees from lots/ticks, errors; leaf encoding equals the consensus log's."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import EncodingError
from hypothesis import given
from hypothesis import strategies as st
from eth_utils import to_checksum_address

from market_sim.consensus.log import TradeLog
from market_sim.consensus.merkle import leaf_hash
from market_sim.consensus.signing import SigningDomain
from market_sim.core.errors import SettlementError
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import Side
from market_sim.settlement import SettlementBatch, TradeEncoder, pack_signatures
from market_sim.settlement.batch import BatchCommitment
from market_sim.settlement.setup import trader_address
from market_sim.settlement.trades import SETTLED_TRADE_TYPES, SettledTrade

WETH = Instrument("WETH/USDC", tick_size=Decimal("0.01"), lot_size=Decimal("0.01"), base_decimals=18,
                  quote_decimals=6)
TOKENS = {"WETH": to_checksum_address("0x" + "11" * 20), "USDC": to_checksum_address("0x" + "22" * 20)}
ACCOUNTS = {"a": trader_address("a"), "b": trader_address("b")}
FEE = trader_address("fees")


def encoder(fee_bps: int = 0) -> TradeEncoder:
    return TradeEncoder({WETH.symbol: WETH}, TOKENS, ACCOUNTS, taker_fee_bps=fee_bps)


def trade(tid=1, qty=150, price=300_012, aggressor=Side.BUY, buyer="a", seller="b") -> Trade:
    return Trade(5, tid, WETH.symbol, price, qty, 10, 11, buyer, seller, aggressor)


def test_amounts_are_exact_integers():
    s = encoder().settled(trade())  # 1.50 WETH at 3000.12 USDC
    assert s.base_amount == 150 * 10**16 == WETH.base_units_per_lot * 150
    assert s.quote_amount == 150 * 300_012 * 100 == 4_500_180_000  # 4500.18 USDC (6 decimals)
    assert (s.buyer, s.seller) == (ACCOUNTS["a"], ACCOUNTS["b"])
    assert (s.buyer_fee, s.seller_fee) == (0, 0)


@pytest.mark.parametrize("aggressor,buyer_fee,seller_fee", [(Side.BUY, 2_250_090, 0), (Side.SELL, 0, 2_250_090)])
def test_taker_fee_is_charged_to_the_aggressor(aggressor, buyer_fee, seller_fee):
    s = encoder(5).settled(trade(aggressor=aggressor))
    assert (s.buyer_fee, s.seller_fee) == (buyer_fee, seller_fee)  # 5 bps of 4_500_180_000, rounded down
    deltas = s.deltas(FEE)
    assert (FEE, s.quote_token, buyer_fee + seller_fee) in deltas
    assert sum(d for _, tok, d in deltas if tok == s.quote_token) == 0


def test_leaf_is_the_double_hash_of_the_abi_encoding():
    s = encoder().settled(trade())
    assert abi_decode(SETTLED_TRADE_TYPES, s.encode())[5:7] == (s.base_amount, s.quote_amount)
    assert s.leaf() == leaf_hash(s.encode()) == leaf_hash(encoder().encode(trade()))


@pytest.mark.parametrize("bad,match", [
    (trade(buyer="zed"), "trader 'zed' has no on-chain address"),
    (Trade(0, 9, "NOPE/USD", 1, 1, 1, 2, "a", "b", Side.BUY), "unknown instrument"),
    (trade(qty=0), "must be positive"),
    (trade(price=-1), "must be positive"),
])
def test_bad_trades_are_refused(bad, match):
    with pytest.raises(SettlementError, match=match):
        encoder().settled(bad)


def test_encoder_configuration_errors():
    with pytest.raises(SettlementError, match="no token address for asset 'USDC'"):
        TradeEncoder({WETH.symbol: WETH}, {"WETH": TOKENS["WETH"]}, ACCOUNTS)
    with pytest.raises(SettlementError, match="taker_fee_bps"):
        encoder(10_000)


def test_consensus_log_roots_equal_settlement_roots():
    commitment = BatchCommitment(encoder(5), FEE, {TOKENS["WETH"]: 1, TOKENS["USDC"]: 2}.__getitem__)
    log = TradeLog(SigningDomain(chain_id=1), leaf_encoder=commitment.leaf_encoder,
                   extra_leaves=commitment.extra_leaves)
    trades = [trade(tid=i, qty=10 + i, aggressor=Side.SELL if i % 2 else Side.BUY) for i in range(1, 8)]
    block = log.next_block(trades)
    batch = commitment.build(1, log.head_hash, trades)
    assert block.merkle_root == batch.header.merkle_root and block.hash == batch.batch_hash
    assert len(batch.tree.leaves) == 8  # 7 trades + the deltas leaf
    for i in range(7):
        assert tuple(batch.trade_proof(i)) == tuple(log.tree(trades).proof(i))


def test_pack_signatures_orders_and_refuses_duplicates():
    a, b = "0x" + "0a" * 20, "0x" + "0b" * 20
    assert pack_signatures([(b, b"\x02" * 65), (a, b"\x01" * 65)]) == b"\x01" * 65 + b"\x02" * 65
    with pytest.raises(SettlementError, match="duplicate signer"):
        pack_signatures([(a, b"\x01" * 65), (a.upper().replace("0X", "0x"), b"\x02" * 65)])
    with pytest.raises(SettlementError, match="64 bytes"):
        pack_signatures([(a, b"\x01" * 64)])


def test_empty_batch_is_refused():
    with pytest.raises(SettlementError, match="no trades"):
        SettlementBatch.build(1, bytes(32), [], fee_account=FEE)


_ADDR = st.binary(min_size=20, max_size=20).map(to_checksum_address)


@given(st.integers(0, 2**64 - 1), _ADDR, _ADDR, _ADDR, _ADDR, *[st.integers(0, 2**256 - 1)] * 4)
def test_fast_encoding_is_abi_encode(trade_id, buyer, seller, base, quote, base_amount, quote_amount, fb, fs):
    t = SettledTrade(trade_id, buyer, seller, base, quote, base_amount, quote_amount, fb, fs)
    assert t.encode() == abi_encode(SETTLED_TRADE_TYPES, t.as_tuple())


@pytest.mark.parametrize("field,value", [("trade_id", 2**64), ("quote_amount", -1), ("buyer", "0x" + "ab" * 19),
                                         ("seller", "0x" + "zz" * 20)])
def test_values_abi_encode_refuses_are_still_refused(field, value):
    t = dataclasses.replace(encoder().settled(trade()), **{field: value})
    with pytest.raises(EncodingError):
        t.encode()


def test_a_margin_batch_in_flight_survives_the_journal(tmp_path):
    """A restarted process rebuilds each journaled batch from its trades: a margin batch with its borrows, marks and
    liquidations, so its root is the one the validators signed (before, the margin data was not written and the
    rebuilt batch failed its root check)."""
    from market_sim.consensus.signing import GENESIS_HASH
    from market_sim.settlement.batch import SettlementMode
    from market_sim.settlement.margin import BorrowChange
    from market_sim.settlement.state import Journal

    index = {TOKENS["WETH"]: 1, TOKENS["USDC"]: 2}
    commitment = BatchCommitment(encoder(), FEE, index.__getitem__, SettlementMode.MARGIN)
    trades = (trade(1), trade(2, qty=20, aggressor=Side.SELL))
    borrow = BorrowChange(ACCOUNTS["a"], 2, 4_500_180_000, 7)
    batch = commitment.build(1, GENESIS_HASH, trades, state_block=3, expires_at=9, borrows=[borrow],
                             marks=(300_012_000_000, 1_000_000), liquidated=(ACCOUNTS["b"],))
    Journal(tmp_path / "journal.json").record(batch, trades, b"\x01" * 65)
    loaded = Journal.load(tmp_path / "journal.json", commitment)
    again, source = loaded.in_flight[1]
    assert source == trades and again.header == batch.header and again.margin == batch.margin
    assert again.margin.borrows == (borrow,) and again.margin.liquidated == (ACCOUNTS["b"],)
    assert loaded.certificates[1] == b"\x01" * 65
